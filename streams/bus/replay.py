"""``topis replay``: feed a recorded AVL trace through the live topics and agents.

The trace is read (canonical CSV, TheTransitClock CSV or GTFS-realtime), each
fix is given its route (ingest does what a real AVL gateway does: the unit's
block or trip says which route it is on; else the same route assignment the
live agent applies to fixes sent with no route,
:mod:`streams.bus.route_assignment`) and published to ``bus.positions``
exactly as live data, by default as fast as the broker takes it. A Faust
worker (:func:`replay_worker`: started here, on the same GTFS feed, with a
consumer group of its own) does the rest; the predictions it publishes on
``bus.predictions`` are collected into the CSV. ``benchmarks/replay_throughput``
times the same harness.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec

from streams.bus import route_assignment
from streams.bus.gtfs import Feed
from topis import topics, wire
from topis.schemas.bus import Prediction, PredictionRound, predictions_of
from topis.schemas.inputs import BusPosition, PositionBatch

if TYPE_CHECKING:
    from kafka import KafkaAdminClient, KafkaConsumer

log = logging.getLogger(__name__)

#: fixes per Kafka message when replaying as fast as possible.
BATCH_FIXES = 50
#: the replay is over when the worker has committed everything and no prediction came for this long, s.
QUIET_S = 5.0

_decode_rounds = msgspec.json.Decoder(list[PredictionRound]).decode


@dataclass(frozen=True)
class Routed:
    """A trace ready to publish: fixes with their route and block set."""

    fixes: list[BusPosition]
    unrouted: int  #: fixes no route could be found for (not published)


def assign_routes(feed: Feed, fixes: list[BusPosition], blocks: dict[str, str] | None) -> Routed:
    """Give every fix its route (and block, when known), in time order (see :mod:`streams.bus.route_assignment`)."""
    state = route_assignment.AssignmentState()
    by_route, unmatched = route_assignment.assign_routes(feed, route_assignment.route_index(feed), state, fixes, blocks)
    out = sorted((f for placed in by_route.values() for f in placed), key=lambda f: f.ts)
    return Routed(out, len(unmatched))


def batches(fixes: list[BusPosition], speed: float | None) -> Iterator[tuple[float, dict[str, list[BusPosition]]]]:
    """(trace time, route → fixes) groups to publish, in time order.

    With ``speed`` None, up to BATCH_FIXES consecutive fixes per route go in one
    message; with a speed, one group per second of trace time (paced by the caller).
    """
    pending: dict[str, list[BusPosition]] = defaultdict(list)
    window_s = 1.0 if speed else float("inf")
    start = None
    for fix in fixes:
        start = fix.ts if start is None else start
        if fix.ts - start >= window_s or len(pending[fix.route_id]) >= BATCH_FIXES:
            yield start, dict(pending)
            pending.clear()
            start = fix.ts
        pending[fix.route_id].append(fix)
    if pending:
        yield start, dict(pending)


def publish_trace(publisher, fixes: list[BusPosition], speed: float | None) -> float:
    """Publish ``fixes`` to ``bus.positions``; return the wall seconds it took."""
    t0 = time.monotonic()
    trace0 = fixes[0].ts if fixes else 0.0
    for trace_ts, by_route in batches(fixes, speed):
        if speed:
            delay_s = (trace_ts - trace0) / speed - (time.monotonic() - t0)
            if delay_s > 0:
                time.sleep(delay_s)
        publisher.send(topics.BUS_POSITIONS.name, by_route)
    publisher.flush()
    return time.monotonic() - t0


def collect_predictions(consumer, done, quiet_s: float = QUIET_S,
                        timeout_s: float = 3600.0) -> tuple[list[Prediction], float | None]:
    """Read ``bus.predictions`` until ``done()`` is true and nothing new came for ``quiet_s``.

    Returns the predictions and the ``time.monotonic()`` at which the last of them arrived
    (None when none came): the end of the replay's work, for its throughput.
    """
    out: list[Prediction] = []
    last_new = time.monotonic()
    last_arrival: float | None = None
    deadline = last_new + timeout_s
    while time.monotonic() < deadline:
        polled = consumer.poll(timeout_ms=100)
        for records in polled.values():
            for record in records:
                out.extend(predictions_of(_decode_rounds(record.value)))
        if polled:
            last_new = last_arrival = time.monotonic()
        elif done() and time.monotonic() - last_new > quiet_s:
            return out, last_arrival
    raise TimeoutError(f"replay did not finish within {timeout_s:.0f} s")


# --- a worker of the replay's own ------------------------------------------------------------


@dataclass
class ReplayWorker:
    """A ``topis worker --gtfs`` process on a consumer group of its own, and the clients that watch it."""

    process: subprocess.Popen
    group: str
    servers: list[str]
    admin: KafkaAdminClient
    predictions: KafkaConsumer  #: assigned to ``bus.predictions``, from its end when the worker started

    def publish(self, fixes: list[BusPosition], speed: float | None) -> tuple[dict, int]:
        """Publish ``fixes`` (see :func:`publish_trace`); the end offsets acknowledged and the messages sent."""
        from topis.broker import acked_end_offsets
        from topis.publish import Publisher

        with Publisher(self.servers) as publisher:
            publisher.keep_acks = True
            publish_trace(publisher, fixes, speed)
            return acked_end_offsets(publisher.acked()), publisher.messages_sent

    def lag(self, end_offsets: dict) -> int:
        """Messages before ``end_offsets`` the worker has not committed yet.

        Raises
        ------
        ChildProcessError
            The worker has exited.
        """
        from topis.broker import group_lag

        if self.process.poll() is not None:
            raise ChildProcessError(f"the worker exited with code {self.process.returncode}")
        return group_lag(self.admin, self.group, end_offsets)


def predictions_consumer(servers: list[str], fetch_max_wait_ms: int = 100) -> KafkaConsumer:
    """A consumer of every ``bus.predictions`` partition, positioned at its end now (no group)."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=servers, group_id=None, fetch_max_wait_ms=fetch_max_wait_ms)
    parts = [TopicPartition(topics.BUS_PREDICTIONS.name, p) for p in range(topics.BUS_PREDICTIONS.partitions)]
    consumer.assign(parts)
    consumer.seek_to_end(*parts)
    for tp in parts:
        consumer.position(tp)  # resolves the lazy seek now, before anything is published
    return consumer


@contextmanager
def replay_worker(broker, gtfs_dir: Path, *, env: dict[str, str] | None = None, name: str = "replay",
                  fetch_max_wait_ms: int = 100, output=None) -> Iterator[ReplayWorker]:
    """Start a worker on ``gtfs_dir`` against ``broker`` and yield it once it consumes; stop it on exit.

    The worker gets a fresh consumer group (``name-XXXXXXXX``) and data folder, so it starts
    from the topics' ends with empty tables and only this replay's predictions are watched.
    ``env`` adds to its environment (e.g. agents switched off); ``output`` is its stdout and
    stderr (default: this process's).

    Raises
    ------
    TimeoutError, ChildProcessError
        The worker did not start consuming in time, or exited before it did.
    """
    from kafka import KafkaAdminClient

    group = f"{name}-{uuid.uuid4().hex[:8]}"
    predictions = predictions_consumer(broker.bootstrap_servers, fetch_max_wait_ms)
    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap_servers)
    try:
        with tempfile.TemporaryDirectory(prefix=f"topis-{name}-") as data_dir:
            worker_env = {**os.environ, "TOPIS_BROKER": broker.url, "TOPIS_STREAMS_APP_ID": group,
                          "TOPIS_STREAMS_DATA_DIR": data_dir, **(env or {})}
            process = subprocess.Popen([sys.executable, "-m", "topis", "worker", "--gtfs", str(gtfs_dir)],
                                       env=worker_env, stdout=output, stderr=output)
            try:
                wait_until_consuming(admin, group, broker.bootstrap_servers, process)
                yield ReplayWorker(process, group, broker.bootstrap_servers, admin, predictions)
            finally:
                process.terminate()
                process.wait(60)
    finally:
        admin.close()
        predictions.close()


def wait_until_consuming(admin, group: str, servers: list[str], worker, timeout_s: float = 300.0) -> None:
    """Send an empty position batch and wait until the worker has committed it (it is then consuming).

    Raises
    ------
    TimeoutError, ChildProcessError
        Not committed within ``timeout_s``, or the worker exited first.
    """
    from topis.broker import acked_end_offsets, wait_until_committed
    from topis.publish import Publisher

    with Publisher(servers) as publisher:
        publisher.keep_acks = True
        publisher.send_raw(topics.BUS_POSITIONS.name, "warm-up", wire.encode(PositionBatch([])))
        publisher.flush()
        end = acked_end_offsets(publisher.acked())
    try:
        wait_until_committed(admin, group, end, timeout_s, consumer_process=worker)
    except TimeoutError:
        raise TimeoutError(f"the worker did not start consuming within {timeout_s:.0f} s") from None

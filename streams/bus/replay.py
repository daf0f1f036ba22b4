"""``topis replay``: feed a recorded AVL trace through the live topics and agents.

The trace is read (canonical CSV, TheTransitClock CSV or GTFS-realtime), each
fix is given its route (ingest does what a real AVL gateway does: the unit's
block or trip says which route it is on; else the same route assignment the
live agent applies to fixes sent with no route,
:mod:`streams.bus.route_assignment`) and published to ``bus.positions``
exactly as live data, by default as fast as the broker takes it. A Faust
worker (started here, on the same GTFS feed) does the rest; the predictions
it publishes on ``bus.predictions`` are collected into the CSV.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass

import msgspec

from streams.bus import route_assignment
from streams.bus.gtfs import Feed
from topis import topics
from topis.schemas.bus import Prediction
from topis.schemas.inputs import BusPosition

log = logging.getLogger(__name__)

#: fixes per Kafka message when replaying as fast as possible.
BATCH_FIXES = 50
#: the replay is over when the worker has committed everything and no prediction came for this long, s.
QUIET_S = 5.0

_decode_predictions = msgspec.json.Decoder(list[Prediction]).decode


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
                out.extend(_decode_predictions(record.value))
        if polled:
            last_new = last_arrival = time.monotonic()
        elif done() and time.monotonic() - last_new > quiet_s:
            return out, last_arrival
    raise TimeoutError(f"replay did not finish within {timeout_s:.0f} s")

"""The dashboard's read model: the latest state the workers publish.

A background thread consumes ``state.vehicles`` and ``state.counters`` (every
partition, no consumer group, from the newest messages) and keeps the newest
snapshot per key. The Dash callbacks read copies; they never touch Kafka or
the workers' agents.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass, field

from topis import topics

log = logging.getLogger(__name__)


@dataclass
class CityState:
    """What the wall shows: latest snapshot per route and per counter key."""

    vehicles_by_route: dict[str, dict] = field(default_factory=dict)
    counters: dict[tuple[str, str], dict] = field(default_factory=dict)  #: (kind, key) -> snapshot
    received_wall_ts: float | None = None  #: when the last read-model message arrived

    def apply(self, topic: str, message: dict, wall_ts: float) -> None:
        """Fold one read-model message (``{"snapshots": [...]}``) into the state."""
        for snapshot in message["snapshots"]:
            if topic == topics.STATE_VEHICLES.name:
                self.vehicles_by_route[snapshot["route_id"]] = snapshot
            elif topic == topics.STATE_COUNTERS.name:
                self.counters[(snapshot["kind"], snapshot["key"])] = snapshot
        self.received_wall_ts = wall_ts

    def copy(self) -> CityState:
        return CityState(dict(self.vehicles_by_route), dict(self.counters), self.received_wall_ts)


class ReadModel:
    """Keeps a :class:`CityState` up to date from Kafka in a daemon thread."""

    def __init__(self, bootstrap_servers: list[str], fetch_max_wait_ms: int = 100):
        self._servers = bootstrap_servers
        self._fetch_max_wait_ms = fetch_max_wait_ms
        self._state = CityState()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="topis-readmodel", daemon=True)
        self.error: str | None = None  #: last consumer error, shown on the wall

    def start(self) -> ReadModel:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def state(self) -> CityState:
        """A consistent copy of the current state."""
        with self._lock:
            return self._state.copy()

    def _run(self) -> None:
        from kafka import KafkaConsumer
        from kafka.errors import KafkaError

        names = [topics.STATE_VEHICLES.name, topics.STATE_COUNTERS.name]
        while not self._stop.is_set():
            try:
                consumer = KafkaConsumer(
                    *names,
                    bootstrap_servers=self._servers,
                    group_id=None,
                    auto_offset_reset="latest",
                    fetch_max_wait_ms=self._fetch_max_wait_ms,
                    enable_auto_commit=False,
                )
                self._consume(consumer)
            except KafkaError as exc:
                self.error = f"read model: {exc}"
                log.warning("read model consumer failed, retrying: %s", exc)
                time.sleep(1.0)

    def _consume(self, consumer) -> None:
        self.error = None
        try:
            while not self._stop.is_set():
                for tp, records in consumer.poll(timeout_ms=200).items():
                    now = time.time()
                    with self._lock:
                        for record in records:
                            self._state.apply(tp.topic, json.loads(record.value), now)
        finally:
            consumer.close()

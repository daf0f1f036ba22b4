"""The real path: embedded broker → simulator batches → a Faust worker process → read model.

The worker's state, as it publishes it, must equal what was sent, computed here
independently from the published events.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections import Counter

import pytest

from topis import topics
from topis.publish import Publisher

pytestmark = pytest.mark.integration

SIM_SECONDS = 120.0
CITY_SEED, CITY_SCALE = 3, 0.5


@pytest.fixture
def sent(fresh_broker):
    """Run the simulator for two simulated minutes and publish everything it produced."""
    from topis.city.generate import generate_city
    from topis.settings import SimSettings
    from topis.sim.feeder import start_ts
    from topis.sim.simulator import Simulator

    city = generate_city(seed=CITY_SEED, scale=CITY_SCALE)
    sim = Simulator(city, seed=5, start_ts=start_ts(SimSettings(start_date="2026-11-24", start_time="08:00")))
    outputs = [sim.step(5.0) for _ in range(int(SIM_SECONDS / 5))]
    with Publisher(fresh_broker.bootstrap_servers) as publisher:
        for out in outputs:
            publisher.send(topics.BUS_POSITIONS.name, out.positions)
            publisher.send(topics.CARD_TAPS.name, out.taps)
            publisher.send(topics.PLATE_READS.name, out.reads)
        publisher.send_raw(topics.BUS_POSITIONS.name, "R-bad", b'{"schema":"bus.position/1","events":[{}]}')
    return outputs


def expected_vehicles(outputs) -> dict[str, tuple]:
    latest: dict[str, tuple] = {}
    for out in outputs:
        for events in out.positions.values():
            for e in events:
                if e.vehicle_id not in latest or e.ts > latest[e.vehicle_id][0]:
                    latest[e.vehicle_id] = (e.ts, e.lat, e.lon)
    return latest


def expected_counts(outputs, attr: str) -> dict[tuple[str, int], int]:
    counts: Counter = Counter()
    for out in outputs:
        for key, events in getattr(out, attr).items():
            counts.update((key, int(e.ts // 60) * 60) for e in events)
    return dict(counts)


def latest_fixes(vehicles_by_route: dict) -> dict[str, tuple]:
    """vehicle_id -> (ts, lat, lon) of the newest state.vehicles snapshot of each route."""
    return {v["vehicle_id"]: (v["ts"], v["lat"], v["lon"]) for s in vehicles_by_route.values() for v in s["vehicles"]}


def counted(counters: dict, kind: str) -> dict[tuple[str, int], int]:
    """(key, minute) -> events counted by the worker, from its state.counters snapshots."""
    return {(key, int(minute)): n for (k, key), s in counters.items() if k == kind for minute, n in s["per_minute"].items()}


def rejected(counters: dict) -> int:
    """Dead letters of bus.positions the worker counted, from its ``rejected`` counters."""
    return sum(s["dead_letters"] for (k, _), s in counters.items() if k == "rejected" and s["source"] == "bus.positions")


def published_state(servers, want: dict, want_taps: dict, want_reads: dict, deadline_s: float):
    """Fold the worker's read-model messages until they equal what was sent (or the deadline)."""
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(topics.STATE_VEHICLES.name, topics.STATE_COUNTERS.name, bootstrap_servers=servers,
                             auto_offset_reset="earliest", fetch_max_wait_ms=100, group_id=None)
    vehicles, counters = {}, {}
    deadline = time.monotonic() + deadline_s
    try:
        while time.monotonic() < deadline:
            for tp, records in consumer.poll(timeout_ms=500).items():
                for record in records:
                    for snap in json.loads(record.value)["snapshots"]:
                        if tp.topic == topics.STATE_VEHICLES.name:
                            vehicles[snap["route_id"]] = snap
                        else:
                            counters[(snap["kind"], snap["key"])] = snap
            if (rejected(counters) == 1 and latest_fixes(vehicles) == want and counted(counters, "taps") == want_taps
                    and counted(counters, "reads") == want_reads):
                return vehicles, counters
    finally:
        consumer.close()
    return vehicles, counters


def test_worker_state_equals_what_was_sent(fresh_broker, sent, tmp_path):
    env = {**os.environ, "TOPIS_BROKER": fresh_broker.url,
           "TOPIS_STREAMS_APP_ID": f"test-{uuid.uuid4().hex[:8]}", "TOPIS_STREAMS_DATA_DIR": str(tmp_path),
           # the worker's network is the simulated city (routes it does not know are re-placed on its own)
           "TOPIS_CITY_SEED": str(CITY_SEED), "TOPIS_CITY_SCALE": str(CITY_SCALE)}
    worker = subprocess.Popen([sys.executable, "-m", "topis", "worker"], env=env)
    try:
        want, want_taps, want_reads = expected_vehicles(sent), expected_counts(sent, "taps"), expected_counts(sent, "reads")
        vehicles, counters = published_state(fresh_broker.bootstrap_servers, want, want_taps, want_reads, deadline_s=180)
    finally:
        worker.terminate()
        assert worker.wait(30) == 0, "worker did not stop cleanly on SIGTERM"

    assert len(want) > 50
    assert latest_fixes(vehicles) == want

    assert sum(want_taps.values()) > 0 and sum(want_reads.values()) > 0
    assert counted(counters, "taps") == want_taps
    assert counted(counters, "reads") == want_reads
    # the malformed message was dead-lettered and counted, and did not stop the agent
    assert rejected(counters) == 1

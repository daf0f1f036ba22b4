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


@pytest.fixture(scope="module")
def sent(embedded_broker):
    """Run the simulator for two simulated minutes and publish everything it produced."""
    from topis.city.generate import generate_city
    from topis.feeder import start_ts
    from topis.settings import SimSettings
    from topis.sim.simulator import Simulator

    city = generate_city(seed=3, scale=0.5)
    sim = Simulator(city, seed=5, start_ts=start_ts(SimSettings(start_date="2026-11-24", start_time="08:00")))
    outputs = [sim.step(5.0) for _ in range(int(SIM_SECONDS / 5))]
    with Publisher(embedded_broker.bootstrap_servers) as publisher:
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


def published_state(servers, want_vehicles: int, deadline_s: float):
    """Fold the worker's read-model messages until every vehicle is seen (or the deadline)."""
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
            seen = sum(len(s["vehicles"]) for s in vehicles.values())
            if seen >= want_vehicles and counters and "R-bad" in vehicles:
                return vehicles, counters
    finally:
        consumer.close()
    return vehicles, counters


def test_worker_state_equals_what_was_sent(embedded_broker, sent, tmp_path):
    env = {**os.environ, "TOPIS_BROKER": embedded_broker.url,
           "TOPIS_STREAMS_APP_ID": f"test-{uuid.uuid4().hex[:8]}", "TOPIS_STREAMS_DATA_DIR": str(tmp_path)}
    worker = subprocess.Popen([sys.executable, "-m", "topis", "worker"], env=env)
    try:
        want = expected_vehicles(sent)
        vehicles, counters = published_state(embedded_broker.bootstrap_servers, len(want), deadline_s=180)
    finally:
        worker.terminate()
        assert worker.wait(30) == 0, "worker did not stop cleanly on SIGTERM"

    got = {v["vehicle_id"]: (v["ts"], v["lat"], v["lon"]) for s in vehicles.values() for v in s["vehicles"]}
    assert len(want) > 50
    assert got == want

    taps = {(key, int(minute)): n for (kind, key), s in counters.items() if kind == "taps"
            for minute, n in s["per_minute"].items()}
    reads = {(key, int(minute)): n for (kind, key), s in counters.items() if kind == "reads"
             for minute, n in s["per_minute"].items()}
    assert sum(taps.values()) > 0 and sum(reads.values()) > 0
    assert taps == expected_counts(sent, "taps")
    assert reads == expected_counts(sent, "reads")
    # the malformed message was dead-lettered and counted, and did not stop the agent
    assert vehicles["R-bad"]["dead_letters"] == 1

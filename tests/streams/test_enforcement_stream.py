"""Plate reads through the real broker and a Faust worker into a real SQLite case store.

The cases must equal what the same rules make in one batch over the same
reads: nothing lost, nothing doubled — also when the worker is killed
mid-stream and a new one takes over (at-least-once redelivery).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid

import pytest

from topis import topics
from topis.broker import acked_end_offsets, group_lag
from topis.publish import Publisher

pytestmark = pytest.mark.integration

CITY_SEED, CITY_SCALE = 3, 0.5


@pytest.fixture(scope="module")
def reads():
    """90 simulated minutes of plate reads on a weekday morning, by camera, in steps."""
    from topis.city.generate import generate_city
    from topis.settings import SimSettings
    from topis.sim.feeder import start_ts
    from topis.sim.simulator import Simulator

    city = generate_city(seed=CITY_SEED, scale=CITY_SCALE)
    sim = Simulator(city, seed=11, start_ts=start_ts(SimSettings(start_date="2026-11-24", start_time="07:30")))
    return city, [sim.step(60.0).reads for _ in range(90)]


def batch_cases(city, steps) -> dict[str, set[str]]:
    from enforcement import engine
    from enforcement.inputs import from_city

    cameras, registry, holidays = from_city(city)
    state = engine.new_state(engine.RuleBook(cameras, registry, frozenset(holidays)))
    merged: dict[str, set[str]] = {}
    for by_camera in steps:
        for camera_id in sorted(by_camera):
            _, out = engine.process(state, by_camera[camera_id])
            for case in out.cases.values():
                merged.setdefault(case.case_id, set()).update(e.read_id for e in case.evidence)
    return merged


def publish(servers, steps, section_of) -> dict:
    from topis.sim.feeder import reads_by_key

    with Publisher(servers) as publisher:
        publisher.keep_acks = True
        for by_camera in steps:
            publisher.send(topics.PLATE_READS.name, reads_by_key(by_camera, section_of))
        publisher.flush()
        return acked_end_offsets(publisher.acked())


def wait_drained(admin, group, end, timeout_s=480):
    deadline = time.monotonic() + timeout_s
    while group_lag(admin, group, end):
        assert time.monotonic() < deadline, f"worker still behind by {group_lag(admin, group, end)}"
        time.sleep(0.5)


@pytest.mark.parametrize("kill", [False, True], ids=["one-worker", "killed-mid-stream"])
def test_cases_equal_batch_rules(fresh_broker, reads, tmp_path, kill):
    from kafka import KafkaAdminClient

    from enforcement.store import CaseStore

    city, steps = reads
    group = f"enf-{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "TOPIS_BROKER": fresh_broker.url, "TOPIS_STREAMS_APP_ID": group,
           "TOPIS_STREAMS_DATA_DIR": str(tmp_path), "TOPIS_STREAMS_BUS_OPERATIONS": "false", "TOPIS_STREAMS_DEMAND": "false",
           "TOPIS_STREAMS_PLANNING": "false",
           "TOPIS_CITY_SEED": str(CITY_SEED), "TOPIS_CITY_SCALE": str(CITY_SCALE)}
    env.pop("TOPIS_ENFORCEMENT_DB_URL", None)
    admin = KafkaAdminClient(bootstrap_servers=fresh_broker.bootstrap_servers)
    half = len(steps) // 2
    section_of = {c.camera_id: c.section_id for c in city.cameras}

    first = subprocess.Popen([sys.executable, "-m", "topis", "worker"], env=env)
    try:
        end = publish(fresh_broker.bootstrap_servers, steps[:half], section_of)
        deadline = time.monotonic() + 480
        total = sum(end.values())
        while group_lag(admin, group, end) > (total // 2 if kill else 0):  # part-way: kill it, no goodbye
            assert time.monotonic() < deadline and first.poll() is None
            time.sleep(0.2)
    finally:
        first.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        first.wait(60)

    rest = publish(fresh_broker.bootstrap_servers, steps[half:], section_of)
    end = {tp: max(end.get(tp, 0), rest.get(tp, 0)) for tp in {*end, *rest}}
    second = subprocess.Popen([sys.executable, "-m", "topis", "worker"], env=env)
    expected = batch_cases(city, steps)
    try:
        wait_drained(admin, group, end)
        # offsets are committed only after the batch's outcome is in the store: drained means stored
        store = CaseStore(f"sqlite:///{tmp_path / 'cases.sqlite'}")
        stored = {c.case_id: {e.read_id for e in c.evidence} for c in store.list_cases(with_evidence=True)}
    finally:
        second.terminate()
        assert second.wait(60) == 0
        admin.close()

    assert len(expected) > 20
    assert set(stored) == set(expected), "cases differ from the batch rules"
    assert stored == expected, "evidence differs from the batch rules"
    evidence_rows = sum(len(c.evidence) for c in store.list_cases(with_evidence=True))
    assert evidence_rows == sum(len(v) for v in expected.values()), "a read was stored twice"

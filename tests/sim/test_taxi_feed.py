"""The simulator's feeder publishes taxi.positions to the real embedded broker, as it records them."""

from __future__ import annotations

import pytest

from topis import topics, wire
from topis.geo import cell_key, grid_cell
from topis.schemas.probes import TaxiPositionBatch
from topis.settings import CitySettings, SimSettings
from topis.sim import feeder, recording

pytestmark = pytest.mark.integration


def test_simulation_publishes_taxi_positions_by_cell(fresh_broker, tmp_path):
    from kafka import KafkaConsumer, TopicPartition

    record = tmp_path / "run.jsonl"
    sim = SimSettings(speed=200.0, tick_s=0.05, start_date="2026-11-24", start_time="08:00", taxis_per_scale=400.0)
    feeder.run_simulation(fresh_broker.bootstrap_servers, CitySettings(seed=3, scale=0.3), sim, duration_s=60.0,
                          record_path=str(record), truth_dir=str(tmp_path / "truth"))
    recorded = [m for m in recording.read(record) if m.topic == topics.TAXI_POSITIONS.name]

    spec = topics.TAXI_POSITIONS
    consumer = KafkaConsumer(bootstrap_servers=fresh_broker.bootstrap_servers, enable_auto_commit=False,
                             consumer_timeout_ms=3000, auto_offset_reset="earliest")
    consumer.assign([TopicPartition(spec.name, p) for p in range(spec.partitions)])
    got = list(consumer)
    consumer.close()

    assert sorted((r.key.decode(), r.value) for r in got) == sorted((m.key, m.value) for m in recorded)
    n_fixes = 0
    for r in got:
        fixes = wire.decode(r.value, spec.value).arrays()
        assert {cell_key(a, b) for a, b in zip(*grid_cell(fixes.lat, fixes.lon))} == {r.key.decode()}
        n_fixes += len(fixes.ts)
    # 120 taxis (400 per scale x 0.3), a fix per 10 s for 60 s, less ~5 % lost
    assert 0.85 * 120 * 6 < n_fixes <= 120 * 6
    partitions_of_key: dict[str, set[int]] = {}
    for r in got:
        partitions_of_key.setdefault(r.key.decode(), set()).add(r.partition)
    assert all(len(p) == 1 for p in partitions_of_key.values()) and len({r.partition for r in got}) >= 2
    truth = (tmp_path / "truth" / "taxi_fixes.csv").read_text().splitlines()
    assert sum(line.endswith(",1") for line in truth[1:]) == n_fixes
    assert isinstance(wire.decode(got[0].value, TaxiPositionBatch), TaxiPositionBatch)

"""Fixes sent with no route, through a real broker and a Faust worker on the tiny feed.

The worker places them on R1 (the only route whose shape they follow, with trip E1 running),
republishes them on bus.positions keyed R1, matches them there (predictions for trip E1),
and counts the one fix that no route fits.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid

import msgspec
import pytest
from busops_fixtures import at, fix

from topis import topics, wire
from topis.publish import Publisher
from topis.schemas.inputs import BusPosition, PositionBatch

pytestmark = pytest.mark.integration


def eastbound_without_route() -> list[BusPosition]:
    """v1 runs east from A at 5 m/s from 08:00 (a fix every 30 s from 07:59:30); v2 is 2 km off every road."""
    fixes = [fix(max(0.0, 5.0 * (at(7, 59, 30) + 30 * k - at(8, 0))), at(7, 59, 30) + 30 * k, route="")
             for k in range(12)]
    return [*fixes, fix(500.0, at(8, 1), vehicle="v2", route="", y_m=2000.0)]


def test_fixes_without_route_are_placed_matched_and_counted(fresh_broker, tiny_dir, tmp_path):
    sent = eastbound_without_route()
    with Publisher(fresh_broker.bootstrap_servers) as publisher:
        publisher.send(topics.BUS_POSITIONS.name, {"": sent[:6]})
        publisher.send(topics.BUS_POSITIONS.name, {"": sent[6:]})
    env = {**os.environ, "TOPIS_BROKER": fresh_broker.url, "TOPIS_STREAMS_APP_ID": f"unrouted-{uuid.uuid4().hex[:8]}",
           "TOPIS_STREAMS_DATA_DIR": str(tmp_path), "TOPIS_STREAMS_ENFORCEMENT": "false",
           "TOPIS_STREAMS_DEMAND": "false", "TOPIS_STREAMS_PLANNING": "false"}
    worker = subprocess.Popen([sys.executable, "-m", "topis", "worker", "--gtfs", str(tiny_dir)], env=env)
    try:
        placed, predictions, counter = _collect(fresh_broker.bootstrap_servers, deadline_s=120)
    finally:
        worker.terminate()
        worker.wait(30)
    assert [(f.vehicle_id, f.route_id, f.ts) for f in placed] == [("v1", "R1", f.ts) for f in sent[:12]]
    assert {(p.vehicle_id, p.route_id, p.trip_id) for p in predictions} == {("v1", "R1", "E1")}
    assert counter is not None and (counter["routed"], counter["unmatched"]) == (12, 1)
    assert sum(counter["per_minute"].values()) == 1


def _collect(servers, deadline_s: float):
    from kafka import KafkaConsumer

    from topis.schemas.bus import PredictionRound, predictions_of

    consumer = KafkaConsumer(topics.BUS_POSITIONS.name, topics.BUS_PREDICTIONS.name, topics.STATE_COUNTERS.name,
                             bootstrap_servers=servers, auto_offset_reset="earliest", fetch_max_wait_ms=100,
                             group_id=None)
    placed, predictions, counter = [], [], None
    deadline = time.monotonic() + deadline_s
    try:
        while time.monotonic() < deadline:
            for tp, records in consumer.poll(timeout_ms=500).items():
                for r in records:
                    if tp.topic == topics.BUS_POSITIONS.name and r.key == b"R1":
                        placed.extend(wire.decode(r.value, PositionBatch).events)
                    elif tp.topic == topics.BUS_PREDICTIONS.name:
                        predictions.extend(predictions_of(msgspec.json.decode(r.value, type=list[PredictionRound])))
                    elif tp.topic == topics.STATE_COUNTERS.name:
                        for snap in json.loads(r.value)["snapshots"]:
                            if snap["kind"] == "unrouted" and snap["key"] == "":
                                counter = snap
            if len(placed) >= 12 and predictions and counter and counter["routed"] + counter["unmatched"] >= 13:
                break
    finally:
        consumer.close()
    return placed, predictions, counter

"""Live re-planning through the real broker: demand aggregates in, a Faust worker's planning
agents compute in their process pool, proposals out on plans.proposed in the dashboard's shape.

The network is a hand-made GTFS feed (routes LP1, LP2 by day, N9 at night) so that stale
messages other tests left on the session broker (other cities' routes) cannot match it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid

import numpy as np
import pytest
from planning_fixtures import OWL, SQUIRREL, write_gtfs

from streams.demand.aggregates import encode
from topis import topics
from topis.publish import Publisher

pytestmark = pytest.mark.integration


def proposals_consumer(servers):
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=servers, enable_auto_commit=False)
    tp = TopicPartition(topics.PLANS.name, 0)
    consumer.assign([tp])
    consumer.seek_to_end(tp)
    consumer.position(tp)  # resolve the end now: only what this test's worker publishes is read
    return consumer


def collect(consumer, kinds, worker, timeout_s=90.0):
    got: dict[str, dict] = {}
    deadline = time.monotonic() + timeout_s
    while set(kinds) - set(got):
        assert time.monotonic() < deadline, f"no {sorted(set(kinds) - set(got))} proposal in {timeout_s:g} s"
        assert worker.poll() is None, "worker died"
        for records in consumer.poll(timeout_ms=500).values():
            for r in records:
                plan = json.loads(r.value)
                if any(row.get("route") in ("LP1", "LP2", "N9") for row in plan["current"]["rows"]):
                    got[plan["kind"]] = plan
    return got


def test_requests_and_schedule_publish_proposals_the_dashboard_reads(embedded_broker, tmp_path):
    from click.testing import CliRunner

    from dashboard.pages.plans import compare_routes, kpi_changes
    from optimizer import headways
    from streams.planning.cli import request

    servers = embedded_broker.bootstrap_servers
    env = {**os.environ, "TOPIS_BROKER": embedded_broker.url, "TOPIS_STREAMS_APP_ID": f"plan-{uuid.uuid4().hex[:8]}",
           "TOPIS_STREAMS_DATA_DIR": str(tmp_path / "data"), "TOPIS_STREAMS_GTFS_DIR": str(write_gtfs(tmp_path / "gtfs")),
           "TOPIS_STREAMS_BUS_OPERATIONS": "false", "TOPIS_STREAMS_DEMAND": "false",
           "TOPIS_STREAMS_ENFORCEMENT": "false", "TOPIS_STREAMS_PLANNING": "true",
           "TOPIS_STREAMS_PLAN_HEADWAYS_EVERY_S": "3600", "TOPIS_STREAMS_PLAN_SCHEDULE_EVERY_S": "0",
           "TOPIS_STREAMS_AGGREGATE_INTERVAL_S": "1"}  # scheduled plans wait one aggregate interval
    consumer = proposals_consumer(servers)
    with Publisher(servers) as pub:
        for sq in SQUIRREL:
            pub.send_raw(topics.DEMAND_SQUIRREL.name, sq.route_id, encode(sq))
        pub.send_raw(topics.DEMAND_OWL.name, "night", encode(OWL))
        pub.send_raw(topics.PLAN_REQUESTS.name, "x", b"not json")  # ignored, not fatal
    log_path = tmp_path / "worker.log"
    with log_path.open("w") as log_file:
        worker = subprocess.Popen([sys.executable, "-m", "topis", "worker", "--loglevel", "info"], env=env,
                                  stdout=log_file, stderr=subprocess.STDOUT)
    try:
        got = collect(consumer, ["headways"], worker)  # on schedule, as soon as the inputs are in
        for kind in ("squirrel", "owl"):  # on request only (schedule 0)
            result = CliRunner().invoke(request, [kind, "--by", "test"], env={"TOPIS_BROKER": embedded_broker.url})
            assert result.exit_code == 0, result.output
        got.update(collect(consumer, ["squirrel", "owl"], worker))
    finally:
        worker.terminate()
        code = worker.wait(60)
        consumer.close()
    assert code == 0, log_path.read_text()[-3000:]

    hw = got["headways"]
    assert hw["plan_id"].startswith("headways-") and hw["plan_id"].endswith("T08")
    problem = headways.HeadwayProblem(["LP1", "LP2"], np.array([1200.0, 120.0]), np.array([50.0, 40.0]), 9,
                                      peak_load_per_h=np.array([900.0, 60.0]))
    expected = headways.allocate(problem)
    assert [(r["route"], r["buses"]) for r in hw["proposed"]["rows"]] == list(zip(["LP1", "LP2"], expected.buses.tolist()))
    assert [(r["route"], r["buses"], r["headway_min"]) for r in hw["current"]["rows"]] == [("LP1", 5, 10.0),
                                                                                          ("LP2", 4, 10.0)]
    rows = {r["route"]: r for r in compare_routes(hw["current"]["rows"], hw["proposed"]["rows"])}
    assert rows["LP1"]["change"] == "changed" and rows["LP1"]["buses_proposed"] > 5
    cost = {k["kpi"]: k for k in kpi_changes(hw["kpis"])}["cost_pax_min_per_h"]
    assert cost["improves"] is True

    sq = got["squirrel"]
    changes = {r["route"]: r["change"] for r in compare_routes(sq["current"]["rows"], sq["proposed"]["rows"])}
    assert changes["LP1"] == "same" and changes["LP2"] == "same"
    assert [r for r, c in changes.items() if c == "new"] == ["LP1-S0"]  # the overloaded A-B-C run
    over = {k["kpi"]: k for k in kpi_changes(sq["kpis"])}["over_capacity_pax_km_per_h"]
    assert over["current"] > 0 and over["improves"] is True
    assert sq["proposed"]["geojson"]["features"]

    owl = got["owl"]
    assert [r["route"] for r in owl["current"]["rows"]] == ["N9"]
    assert owl["kpis"]["buses"]["current"] == 2
    assert {k["kpi"] for k in kpi_changes(owl["kpis"])} >= {"night_demand_covered_pct", "att_min"}
    log_text = log_path.read_text()
    assert "plans.requests: ignored" in log_text

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

from streams.aggregates import ODMatrix, OwlInput, SegmentLoads, SquirrelInput, encode
from topis import topics
from topis.publish import Publisher

pytestmark = pytest.mark.integration


def write_gtfs(folder):
    """Stops A, B, C on a line (~880 m apart). LP1: A-B-C and back every 10 min, 20 min a trip;
    LP2: A-B and back every 10 min, 15 min a trip; N9: A-C and back at 01:00 and 01:30, 20 min."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "agency.txt").write_text("agency_id,agency_name,agency_url,agency_timezone\nT,T,http://x,Asia/Seoul\n")
    (folder / "stops.txt").write_text("stop_id,stop_name,stop_lat,stop_lon\n"
                                      "A,A,37.5,127.0\nB,B,37.5,127.01\nC,C,37.5,127.02\n")
    (folder / "routes.txt").write_text("route_id,route_short_name,route_type\nLP1,LP1,3\nLP2,LP2,3\nN9,N9,3\n")
    (folder / "calendar.txt").write_text("service_id,monday,tuesday,wednesday,thursday,friday,saturday,sunday,"
                                         "start_date,end_date\nALL,1,1,1,1,1,1,1,20200101,20351231\n")
    trips, times = ["route_id,service_id,trip_id,direction_id"], ["trip_id,arrival_time,departure_time,stop_id,stop_sequence"]

    def add(route, direction, start_s, stops, step_s):
        tid = f"{route}-{direction}-{start_s}"
        trips.append(f"{route},ALL,{tid},{direction}")
        for k, stop in enumerate(stops):
            t = start_s + k * step_s
            hms = f"{t // 3600:02d}:{t % 3600 // 60:02d}:{t % 60:02d}"
            times.append(f"{tid},{hms},{hms},{stop},{k + 1}")

    for hour in (7, 8):
        for start in range(hour * 3600, (hour + 1) * 3600, 600):
            add("LP1", 0, start, "ABC", 600)
            add("LP1", 1, start, "CBA", 600)
            add("LP2", 0, start, "AB", 900)
            add("LP2", 1, start, "BA", 900)
    for start in (25 * 3600, 25 * 3600 + 1800):
        add("N9", 0, start, "AC", 1200)
        add("N9", 1, start, "CA", 1200)
    (folder / "trips.txt").write_text("\n".join(trips) + "\n")
    (folder / "stop_times.txt").write_text("\n".join(times) + "\n")
    return folder


def loads(route, direction, hour, stops, passengers, passes):
    return SegmentLoads(route, direction, hour, [f"{a}>{b}" for a, b in zip(stops, stops[1:])], list(stops[:-1]),
                        list(stops[1:]), [p / 6 for p in passengers], list(passengers), list(passes))


# hour 8 only, all 6 runs an hour seen: boardings = rides, LP1 1200/h with a peak of 900/h over a
# capacity of 6 x 60 = 360/h; LP2 120/h, peak 60/h.
SQUIRREL = [SquirrelInput("LP1", 0.0, [loads("LP1", 0, 8, "ABC", [600.0, 900.0], [6, 6]),
                                       loads("LP1", 1, 8, "CBA", [300.0, 300.0], [6, 6])], 1200, 0.1),
            SquirrelInput("LP2", 0.0, [loads("LP2", 0, 8, "AB", [60.0], [6]),
                                       loads("LP2", 1, 8, "BA", [60.0], [6])], 120, 0.1)]
OWL = OwlInput(0.0, ODMatrix("stop", [0, 1, 2, 3, 4], ["A", "B"], [0, 1], [1, 0], [30.0, 10.0]), None, 40, 0.0)


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
    from optimizer.cli.service import request

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

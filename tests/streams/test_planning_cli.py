"""``topis plan live``: hand-made aggregates on a broker of the test's own → the agent's plan, printed and written.

The network is the hand-made feed of test_planning_stream (LP1 A-B-C every 10 min, 5 buses,
cycle 50 min; LP2 A-B every 10 min, 4 buses, cycle 40 min; N9 at night, 2 buses).
"""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pytest
from click.testing import CliRunner
from planning_fixtures import OWL, SQUIRREL, loads, write_gtfs

from streams.demand.aggregates import encode
from streams.planning.cli import live
from topis import topics
from topis.publish import Publisher
from topis.schemas.demand import SquirrelInput

#: city clock 08:40 on Tue 24 Nov 2026 in Seoul
CLOCK_TS = dt.datetime(2026, 11, 24, 8, 40, tzinfo=dt.timezone(dt.timedelta(hours=9))).timestamp()
#: LP1 probes at 1000 km/h: its live cycle 50 - 40 + 3.5 km at 1000 km/h clamps to half the timetable's, 25 min
SPEED_BIN = {"link_id": "l1", "bin_start_ts": CLOCK_TS - 300, "dist_m": 10_000.0, "time_s": 36.0}


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no topis.toml here
    return {"TOPIS_BROKER": None, "TOPIS_CONFIG": None, "TOPIS_STREAMS_GTFS_DIR": None,
            "TOPIS_STREAMS_AGGREGATE_INTERVAL_S": "60"}


def publish(broker, squirrel=(), owl=None, speeds=()):
    with Publisher(broker.bootstrap_servers) as pub:
        for sq in squirrel:
            pub.send_raw(topics.DEMAND_SQUIRREL.name, sq.route_id, encode(sq))
        if owl is not None:
            pub.send_raw(topics.DEMAND_OWL.name, "night", encode(owl))
        for route, bins in speeds:
            pub.send_raw(topics.LINK_SPEEDS.name, route, json.dumps(bins).encode())


def invoke(broker_url, gtfs, *args, env):
    return CliRunner().invoke(live, [*args, "--broker", broker_url, "--gtfs", str(gtfs), "--timeout", "20"], env=env)


@pytest.mark.integration
def test_live_plans_equal_the_optimizer_on_the_same_inputs(fresh_broker, tmp_path, env):
    from optimizer import headways
    from optimizer import live as opt_live
    from streams.bus.gtfs import load_feed
    from streams.planning import live as planning

    gtfs = write_gtfs(tmp_path / "gtfs")
    older = SquirrelInput("LP1", 0.0, [loads("LP1", 0, 8, "ABC", [6.0, 6.0], [6, 6])], 12, 0.1)
    other_city = SquirrelInput("R77", 0.0, [loads("R77", 0, 8, "AB", [600.0], [6])], 600, 0.1)
    publish(fresh_broker, [older, other_city, *SQUIRREL], OWL, [("LP1", [SPEED_BIN])])  # newest LP1 wins

    out = invoke(fresh_broker.url, gtfs, "headways", "--json", str(tmp_path / "hw.json"),
                 "--out-csv", str(tmp_path / "hw.csv"), env=env)
    assert out.exit_code == 0, out.output
    got = json.loads((tmp_path / "hw.json").read_text())
    # by hand: 9 buses for boardings 1200 / 120 per hour, cycles 25 (live) / 40 min, peaks 900 / 60 per hour
    problem = headways.HeadwayProblem(["LP1", "LP2"], np.array([1200.0, 120.0]), np.array([25.0, 40.0]), 9,
                                      peak_load_per_h=np.array([900.0, 60.0]))
    services = planning.services_from_feed(load_feed(gtfs), {"ALL"}, 8)
    expected = opt_live.headway_proposal(problem, np.array([5, 4]), "2026-11-24T08", CLOCK_TS,
                                         "08:00-09:00 on 2026-11-24")
    assert [(s.route_id, s.buses, s.cycle_time_min) for s in services[:2]] == [("LP1", 5, 50.0), ("LP2", 4, 40.0)]
    assert got == json.loads(json.dumps(expected))
    proposed = dict(zip(["LP1", "LP2"], headways.allocate(problem).buses.tolist()))
    assert sum(proposed.values()) == 9 and proposed["LP1"] > 5
    lines = out.stdout.splitlines()
    lp1 = next(line.split() for line in lines if line.startswith("LP1"))
    assert lp1[:3] == ["LP1", "5", str(proposed["LP1"])]
    assert any(line.startswith("cost_pax_min_per_h") for line in lines)
    csv_lines = (tmp_path / "hw.csv").read_text().splitlines()
    assert csv_lines[0] == "route,buses,headway_min,boardings_per_h,cycle_time_min"
    assert csv_lines[1].startswith(f"LP1,{proposed['LP1']},")

    out = invoke(fresh_broker.url, gtfs, "squirrel", "--json", str(tmp_path / "sq.json"),
                 "--out-geojson", str(tmp_path / "sq.geojson"), "--out-csv", str(tmp_path / "sq.csv"), env=env)
    assert out.exit_code == 0, out.output
    sq = json.loads((tmp_path / "sq.json").read_text())
    job = planning.PlanJob("squirrel", sq["window"], "rush hours 07, 08, 17, 18 h on 2026-11-24", 8, CLOCK_TS,
                           tuple(services), (load_feed(gtfs).origin_lon, load_feed(gtfs).origin_lat),
                           {s: (37.5, lon) for s, lon in (("A", 127.0), ("B", 127.01), ("C", 127.02))},
                           tuple(encode(s) for s in SQUIRREL))
    assert sq == json.loads(json.dumps(planning.run_job(job)))
    assert [r["route"] for r in sq["proposed"]["rows"] if "sequence" in r][0] == "LP1-S0"  # the overloaded run
    assert "LP1-S0" in out.stdout
    assert json.loads((tmp_path / "sq.geojson").read_text())["features"]
    assert (tmp_path / "sq.csv").read_text().startswith("route,sequence,stop,headway_min,parent,buses\nLP1-S0,1,")

    out = invoke(fresh_broker.url, gtfs, "owl", "--json", str(tmp_path / "owl.json"), env=env)
    assert out.exit_code == 0, out.output
    owl = json.loads((tmp_path / "owl.json").read_text())
    assert [r["route"] for r in owl["current"]["rows"]] == ["N9"] and owl["kpis"]["buses"]["current"] == 2
    assert "N9 (2 buses every 30 min)" in out.stdout


@pytest.mark.integration
def test_live_plan_errors_say_what_is_missing(fresh_broker, tmp_path, env):
    gtfs = write_gtfs(tmp_path / "gtfs")
    out = invoke(fresh_broker.url, gtfs, "squirrel", env=env)
    assert out.exit_code == 1
    assert "no demand message on demand.squirrel yet" in out.output
    assert "TOPIS_STREAMS_AGGREGATE_INTERVAL_S (60 s)" in out.output

    publish(fresh_broker, [SquirrelInput("R77", 0.0, [loads("R77", 0, 8, "AB", [600.0], [6])], 600, 0.1)])
    out = invoke(fresh_broker.url, gtfs, "headways", env=env)
    assert out.exit_code == 1 and "1 message(s) on demand.squirrel, none for a route of this network" in out.output

    noon = SquirrelInput("LP1", 0.0, [loads("LP1", 0, 12, "ABC", [60.0, 60.0], [6, 6])], 60, 0.1)  # no LP1 at noon
    publish(fresh_broker, [noon])
    out = invoke(fresh_broker.url, gtfs, "headways", env=env)
    assert out.exit_code == 1
    assert "no headways plan: no regular route running in the window has demand yet" in out.output

    out = invoke(fresh_broker.url, gtfs, "owl", env=env)
    assert out.exit_code == 1 and "no demand message on demand.owl yet" in out.output


def test_live_plan_usage_errors(tmp_path, env):
    from topis.broker import free_port

    gtfs = write_gtfs(tmp_path / "gtfs")
    url = f"kafka://127.0.0.1:{free_port()}"  # nothing listens there
    out = CliRunner().invoke(live, ["headways", "--broker", url, "--gtfs", str(gtfs), "--timeout", "1"], env=env)
    assert out.exit_code == 1 and f"cannot reach the broker {url}" in out.output
    out = CliRunner().invoke(live, ["headways", "--gtfs", str(gtfs)], env=env)
    assert out.exit_code == 2 and "needs a running broker" in out.output
    out = CliRunner().invoke(live, ["headways", "--broker", "localhost", "--gtfs", str(gtfs)], env=env)
    assert out.exit_code == 2 and "kafka://" in out.output
    out = CliRunner().invoke(live, ["headways", "--broker", url, "--out-geojson", "x.geojson"], env=env)
    assert out.exit_code == 2 and "no lines" in out.output
    assert "topis plan live squirrel" in CliRunner().invoke(live, ["--help"]).output


def test_registered_under_topis_plan():
    from topis.cli import main

    out = CliRunner().invoke(main, ["plan", "live", "--help"])
    assert out.exit_code == 0 and "Plan KIND now from the live demand aggregates" in out.output


@pytest.mark.integration
def test_reading_goes_past_the_listed_end_to_the_last_record(fresh_broker, tmp_path):
    # Tansu lists a partition's end as its last batch's base offset + 1: here offset 5 of 8 records
    from streams.bus.gtfs import load_feed
    from streams.planning.cli import read_inputs
    from streams.planning.live import LivePlanner
    from topis.settings import StreamSettings

    publish(fresh_broker, SQUIRREL * 2, speeds=[("LP1", [SPEED_BIN])])
    publish(fresh_broker, SQUIRREL * 2)
    with Publisher(fresh_broker.bootstrap_servers) as pub:
        pub.send_raw(topics.LINK_SPEEDS.name, "LP2", b'{"not": "bins"}')
    planner = LivePlanner(load_feed(write_gtfs(tmp_path / "gtfs")), StreamSettings())
    counts = read_inputs(fresh_broker.bootstrap_servers, planner, timeout_s=20.0)
    assert counts.complete and counts.undecodable == 1
    assert counts.by_topic == {topics.DEMAND_SQUIRREL.name: 8, topics.DEMAND_OWL.name: 0, topics.LINK_SPEEDS.name: 2}
    assert sorted(planner.squirrel) == ["LP1", "LP2"] and planner.clock_ts == CLOCK_TS

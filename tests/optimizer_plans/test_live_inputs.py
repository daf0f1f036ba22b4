"""streams.planning.live: the live plan inputs (timetable now, demand rates, speeds) worked out by hand."""

from __future__ import annotations

import datetime as dt

import numpy as np
import planning_fixtures
import pytest

from optimizer import live
from streams.demand.aggregates import encode
from streams.planning import live as planning
from topis.schemas.demand import ODMatrix, OwlInput, SegmentLoads, SquirrelInput


def write_gtfs(folder):
    """The planning fixtures' feed with LP1 every 10 min from 07:50 and LP2 from 08:00, to 09:00."""
    return planning_fixtures.write_gtfs(folder, lp1_starts_s=range(7 * 3600 + 50 * 60, 9 * 3600, 600),
                                        lp2_starts_s=range(8 * 3600, 9 * 3600, 600))


@pytest.fixture(scope="module")
def feed(tmp_path_factory):
    from streams.bus.gtfs import load_feed

    return load_feed(write_gtfs(tmp_path_factory.mktemp("gtfs")))


def test_services_from_the_timetable_hour(feed):
    # LP1 at 08 h: 6 departures per direction (08:00-08:50; 07:50 is outside) -> 10 min;
    # running 20 + 20 min; buses = ceil((40 + 2 x 5 layover) / 10) = 5, cycle 50.
    # LP2: 6 per direction, 15 + 15 min -> ceil(40 / 10) = 4 buses, cycle 40. N9 does not run.
    svc = {s.route_id: s for s in planning.services_from_feed(feed, {"ALL"}, 8)}
    assert set(svc) == {"LP1", "LP2"}
    lp1 = svc["LP1"]
    assert (lp1.kind, lp1.buses, lp1.headway_min, lp1.cycle_time_min, lp1.run_min) == ("regular", 5, 10.0, 50.0, 40.0)
    assert lp1.stop_ids == ("A", "B", "C", "C", "B", "A")
    assert lp1.length_m == pytest.approx(4 * 883, rel=0.01)
    assert (svc["LP2"].buses, svc["LP2"].cycle_time_min) == (4, 40.0)
    assert planning.services_from_feed(feed, {"WD"}, 8) == []


def test_night_services_are_after_midnight_of_the_service_day(feed):
    # N9 at 25:00 and 25:30 -> 2 per direction (30 min), running 40 min -> ceil(50 / 30) = 2 buses
    [n9] = planning.services_from_feed(feed, {"ALL"}, 1)
    assert (n9.route_id, n9.kind, n9.buses, n9.headway_min, n9.cycle_time_min) == ("N9", "owl", 2, 30.0, 60.0)


def test_latest_hour_follows_the_longest_gap():
    assert planning.latest_hour({7, 8, 9}) == 9
    assert planning.latest_hour({22, 23, 0, 1}) == 1
    assert planning.latest_hour([5]) == 5
    assert planning.latest_hour([]) is None


def test_demand_hour_is_the_newest_hour_most_routes_have():
    assert planning.demand_hour({"a": {7, 8}, "b": {7, 8}, "c": {7, 8, 9}}) == 8  # 9 h: 1 route of 3
    assert planning.demand_hour({"a": {8, 9}, "b": {8, 9}, "c": {8}}) == 9  # 2 of 3
    assert planning.demand_hour({"a": {23, 0}, "b": {23}}) == 0  # 1 of 2 is half
    assert planning.demand_hour({"a": {22}, "b": {23}, "c": {0}}, min_route_share=0.6) == 0  # none has 60 %
    assert planning.demand_hour({}) is None


def test_hour_windows():
    assert planning.hour_window_s(1) == ((3600.0, 7200.0), (90_000.0, 93_600.0))


def _loads(route, direction, hour, stops, passengers, passes):
    segs = [f"{a}>{b}" for a, b in zip(stops, stops[1:])]
    return SegmentLoads(route, direction, hour, segs, list(stops[:-1]), list(stops[1:]),
                        [p / 2 for p in passengers], list(passengers), list(passes))


def test_route_demand_scales_partial_hours_by_runs_seen(feed):
    # LP1 runs 6 an hour. Hour 8, dir 0: 100 + 150 crossings, 3 runs seen -> x2 = 500/h; dir 1: 80 + 40,
    # 3 runs -> 240/h; 740 crossings an hour. All hours: 100 + 150 + 80 + 40 + 999 + 999 = 2368 crossings
    # by 296 rides (8 segments a ride), so 740 crossings are 92.5 boardings an hour. Peak 150 x 2 = 300/h.
    svc = {s.route_id: s for s in planning.services_from_feed(feed, {"ALL"}, 8)}
    sq = SquirrelInput("LP1", 0.0, [_loads("LP1", 0, 8, "ABC", [100.0, 150.0], [3, 2]),
                                    _loads("LP1", 1, 8, "CBA", [80.0, 40.0], [3, 3]),
                                    _loads("LP1", 0, 7, "ABC", [999.0, 999.0], [1, 1])], 296, 0.0)
    other = SquirrelInput("ZZ", 0.0, [_loads("ZZ", 0, 8, "AB", [5.0], [1])], 1, 0.0)
    no_rides = SquirrelInput("LP2", 0.0, [_loads("LP2", 0, 8, "AB", [5.0], [1])], 0, 0.0)
    boardings, peak = planning.route_demand([sq, other, no_rides], svc, 8)
    assert boardings == {"LP1": pytest.approx(92.5)}
    assert peak == {"LP1": pytest.approx(300.0)}
    assert planning.route_demand([sq], svc, 9) == ({}, {})


def test_peak_profiles_chain_directions_into_a_cycle(feed):
    svc = {s.route_id: s for s in planning.services_from_feed(feed, {"ALL"}, 8)}
    sq = SquirrelInput("LP1", 0.0, [_loads("LP1", 0, 8, "ABC", [300.0, 500.0], [6, 6]),
                                    _loads("LP1", 0, 7, "ABC", [400.0, 100.0], [6, 6]),
                                    _loads("LP1", 1, 8, "CBA", [60.0, 30.0], [3, 3])], 0, 0.0)
    xy = {"A": np.array([0.0, 0.0]), "B": np.array([880.0, 0.0]), "C": np.array([1760.0, 0.0])}
    [p] = planning.peak_profiles([sq], svc, xy, (7, 8), 60.0)
    assert p.stop_ids.tolist() == ["A", "B", "C", "C", "B", "A"]
    # per link the higher of 07 h and 08 h; dir 1 doubled (3 of 6 runs); 0 on the joining links
    assert p.load_per_h.tolist() == [400.0, 500.0, 0.0, 120.0, 60.0, 0.0]
    assert p.capacity_per_h == 360.0
    assert p.link_m.tolist() == [880.0, 880.0, 0.0, 880.0, 880.0, 0.0]


def test_route_speed_is_space_mean_of_recent_bins():
    bins = [{"bin_start_ts": 100.0, "dist_m": 6000.0, "time_s": 1200.0},
            {"bin_start_ts": 400.0, "dist_m": 4000.0, "time_s": 600.0},
            {"bin_start_ts": 0.0, "dist_m": 99999.0, "time_s": 1.0}]
    assert planning.route_speed_kph(bins, since_ts=100.0) == pytest.approx(10000 / 1800 * 3.6)
    assert planning.route_speed_kph([], 0.0) is None


def test_service_date_without_a_clock_is_the_next_weekday(feed):
    saturday = dt.datetime(2026, 11, 28, 12, tzinfo=feed.tz).timestamp()
    assert planning.service_date(feed, None, saturday) == dt.date(2026, 11, 30)
    assert planning.service_date(feed, saturday, 0.0) == dt.date(2026, 11, 28)


def test_run_job_headways_end_to_end(feed):
    # every crossing is in hour 8 and every run seen, so boardings = rides: LP1 1200/h, LP2 120/h;
    # the fleet 5 + 4 = 9 is shared as the allocator shares it for those figures, and the busy route gains.
    services = tuple(planning.services_from_feed(feed, {"ALL"}, 8))
    inputs = [SquirrelInput("LP1", 0.0, [_loads("LP1", 0, 8, "ABC", [600.0, 900.0], [6, 6]),
                                         _loads("LP1", 1, 8, "CBA", [300.0, 300.0], [6, 6])], 1200, 0.0),
              SquirrelInput("LP2", 0.0, [_loads("LP2", 0, 8, "AB", [60.0], [6]),
                                         _loads("LP2", 1, 8, "BA", [60.0], [6])], 120, 0.0)]
    stops = {s.stop_id: (s.lat, s.lon) for s in feed.stops.values()}
    job = planning.PlanJob("headways", "2026-11-24T08", "08-09", 8, 1.0, services, (127.0, 37.5), stops,
                           tuple(encode(i) for i in inputs))
    p = planning.run_job(job)
    from optimizer import headways

    problem = headways.HeadwayProblem(["LP1", "LP2"], np.array([1200.0, 120.0]), np.array([50.0, 40.0]), 9,
                                      peak_load_per_h=np.array([900.0, 60.0]))
    expected = headways.allocate(problem)
    assert [r["buses"] for r in p["proposed"]["rows"]] == expected.buses.tolist()
    assert sum(r["buses"] for r in p["proposed"]["rows"]) <= 9
    assert p["proposed"]["rows"][0]["buses"] > 5  # the busy route gains
    owl_job = planning.PlanJob("owl", "2026-11-24-night", "night", 1, 1.0, tuple(planning.services_from_feed(
        feed, {"ALL"}, 1)), (127.0, 37.5), stops, owl=encode(OwlInput(0.0, ODMatrix("stop", [0], ["A", "B"], [0], [1],
                                                                                    [12.0]), None, 12, 0.0)))
    p = planning.run_job(owl_job)
    assert p["kind"] == "owl" and p["kpis"]["buses"]["current"] == 2
    with pytest.raises(live.NoPlan):
        planning.run_job(planning.PlanJob("owl", "w", "w", 1, 1.0, (), (127.0, 37.5), stops))


def test_planner_schedule_requests_and_one_job_per_kind(feed):
    from streams.planning.agents import LivePlanner
    from topis.settings import StreamSettings

    settings = StreamSettings(aggregate_interval_s=60.0, plan_headways_every_s=300.0, plan_schedule_every_s=0.0)
    planner = LivePlanner(feed, settings)
    assert planner.due(1000.0) == []  # no input yet
    planner.request("owl")
    assert planner.due(1000.0) == [("owl", True)]  # a request does not wait for inputs
    planner.note_squirrel("XX", encode(SquirrelInput("XX", 0.0, [], 0, 0.0)), 900.0)
    assert planner.squirrel == {} and planner.first_input_ts is None  # not a route of this feed
    planner.note_squirrel("LP1", encode(SquirrelInput("LP1", 0.0, [_loads("LP1", 0, 8, "AB", [1.0], [1])], 1, 0.0)),
                          1000.0)
    assert planner.hours_seen == {"LP1": frozenset({8})}
    assert planner.due(1059.0) == []  # scheduled plans wait one aggregate interval after the first input
    assert planner.due(1060.0) == [("headways", False)]
    assert planner.due(1300.0) == []  # next headways at 1360; Squirrel only on request (schedule 0)
    planner.in_flight.add("headways")
    planner.request("squirrel")
    planner.request("headways")
    assert planner.due(1400.0) == [("squirrel", True)]  # headways is in flight: its request waits
    assert planner.due(1400.5) == []
    planner.in_flight.clear()
    assert planner.due(1401.0) == [("headways", True)]
    with pytest.raises(ValueError, match="unknown plan kind"):
        planner.request("network")


def test_request_command_needs_the_workers_broker(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from streams.planning.cli import request

    monkeypatch.chdir(tmp_path)  # no topis.toml here
    result = CliRunner().invoke(request, ["squirrel"], env={"TOPIS_BROKER": None, "TOPIS_CONFIG": None})
    assert result.exit_code == 2 and "needs a running broker" in result.output
    result = CliRunner().invoke(request, ["network"])
    assert result.exit_code == 2 and "'network' is not one of" in result.output
    assert "topis plan request squirrel" in CliRunner().invoke(request, ["--help"]).output


def test_stopping_the_pool_terminates_a_running_plan():
    # shutdown(wait=False) alone would leave the process sleeping and the interpreter waiting for it at exit
    import concurrent.futures
    import multiprocessing
    import time

    from streams.planning.agents import stop_processes

    pool = concurrent.futures.ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
    running = pool.submit(time.sleep, 120)
    deadline = time.monotonic() + 60
    while not running.running():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    processes = list(pool._processes.values())
    t0 = time.monotonic()
    stop_processes(pool)
    # the pool's manager thread may reap the process first: is_alive() turns False a moment later
    while processes and any(p.is_alive() for p in processes) and time.monotonic() - t0 < 10:
        time.sleep(0.05)
    assert processes and not any(p.is_alive() for p in processes)
    assert time.monotonic() - t0 < 10  # not the 120 s the plan would have run


def test_planner_jobs_use_the_city_clock_and_the_hour_most_routes_have(feed):
    from streams.planning.agents import LivePlanner
    from topis.settings import StreamSettings

    planner = LivePlanner(feed, StreamSettings())
    lp1 = SquirrelInput("LP1", 0.0, [_loads("LP1", 0, h, "AB", [1.0], [1]) for h in (7, 8)], 1, 0.0)
    lp2 = SquirrelInput("LP2", 0.0, [_loads("LP2", 0, 8, "AB", [1.0], [1])], 1, 0.0)
    planner.note_squirrel("LP1", encode(lp1), 1.0)
    planner.note_squirrel("LP2", encode(lp2), 1.0)
    clock = dt.datetime(2026, 11, 24, 8, 40, tzinfo=feed.tz).timestamp()
    planner.note_speeds("LP1", [{"link_id": "l1", "bin_start_ts": clock - 300, "dist_m": 900.0, "time_s": 180.0}])
    job = planner.job("headways", 5.0)
    assert (job.hour_local, job.window, job.created_ts) == (8, "2026-11-24T08", clock)
    assert job.speeds_kph == {"LP1": pytest.approx(18.0)}
    assert {s.route_id for s in job.services} == {"LP1", "LP2"} and job.owl is None
    night = planner.job("owl", 5.0)
    assert (night.hour_local, night.window, night.squirrel) == (1, "2026-11-24-night", ())
    assert [s.route_id for s in night.services] == ["N9"]

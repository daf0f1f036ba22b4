"""optimizer.live: proposals in the plans.proposed shape, on inputs small enough to work out by hand."""

from __future__ import annotations

import json

import numpy as np
import pytest

from dashboard.pages.plans import compare_routes, kpi_changes
from optimizer import live, owl, squirrel
from topis.geo import Projection

PROJ = Projection(37.5, 127.0)


def service(route_id, buses, headway_min, *, run_min=40.0, length_m=12_000.0, stops=("a", "b"), kind=None):
    return live.RouteService(route_id, kind or live.route_kind(route_id), buses, headway_min, buses * headway_min,
                             run_min, length_m, tuple(stops), np.array([[127.0, 37.5], [127.01, 37.5]]))


def test_route_kind_follows_seoul_numbering():
    assert [live.route_kind(r) for r in ("N37", "8221", "470", "82", "8221A")] == \
        ["owl", "squirrel", "regular", "regular", "regular"]


def test_plan_id_is_kind_and_window():
    assert live.plan_id("headways", "2026-11-24T08") == "headways-2026-11-24T08"
    with pytest.raises(ValueError, match="plan kind"):
        live.plan_id("network", "x")


def test_live_cycle_retimes_the_moving_part():
    s = service("1", 6, 10.0, run_min=40.0, length_m=12_000.0)  # cycle 60
    assert live.live_cycle_min(s, 24.0, moving_share=0.7) == pytest.approx(60 - 28 + 30)
    assert live.live_cycle_min(s, None) == 60.0
    assert live.live_cycle_min(s, float("nan")) == 60.0
    assert live.live_cycle_min(s, 1.0) == 120.0  # 12 km at 1 km/h: clamped to 2 x the timetable
    assert live.live_cycle_min(s, 1000.0, moving_share=0.7) == pytest.approx(60 - 28 + 0.72)
    assert live.live_cycle_min(s, 24.0) == pytest.approx(60 - 40 + 30)  # default: all running re-timed
    assert live.live_cycle_min(s, 1000.0) == 30.0  # 20.7 min clamped to half the timetable


def test_headway_proposal_moves_buses_to_the_busy_route():
    # cycle 60 min, 3 buses each (20 min); waiting = B x h / 2 = 30 B / n.
    # From the 2-bus floor (30 min max headway) the gains are A: 9000, 3000 ... and
    # B: 2250, 750 ...: both spare buses go to A -> 4 and 2 (sqrt rule: sqrt(600):sqrt(150) = 2:1).
    services = [service("A", 3, 20.0), service("B", 3, 20.0), service("N1", 2, 30.0), service("C", 3, 20.0)]
    problem, chosen = live.headway_problem(services, {"A": 600.0, "B": 150.0, "N1": 50.0}, {})
    assert [s.route_id for s in chosen] == ["A", "B"]  # night route and a route without demand left out
    assert problem.fleet == 6
    p = live.headway_proposal(problem, np.array([3, 3]), "2026-11-24T08", 1_795_000_000.0, "08:00-09:00")
    assert p["plan_id"] == "headways-2026-11-24T08" and p["kind"] == "headways"
    assert [(r["route"], r["buses"], r["headway_min"]) for r in p["proposed"]["rows"]] == [("A", 4, 15.0), ("B", 2, 30.0)]
    assert [(r["route"], r["buses"], r["headway_min"]) for r in p["current"]["rows"]] == [("A", 3, 20.0), ("B", 3, 20.0)]
    assert p["kpis"]["waiting_pax_min_per_h"] == {"current": 7500.0, "proposed": 6750.0, "unit": "pax·min/h",
                                                  "better": "lower"}
    assert p["kpis"]["buses"]["current"] == p["kpis"]["buses"]["proposed"] == 6
    changes = {r["route"]: r["change"] for r in compare_routes(p["current"]["rows"], p["proposed"]["rows"])}
    assert changes == {"A": "changed", "B": "changed"}
    waiting = next(k for k in kpi_changes(p["kpis"]) if k["kpi"] == "waiting_pax_min_per_h")
    assert waiting["change"] == -750.0 and waiting["improves"] is True
    json.dumps(p)  # plain JSON


def test_headway_problem_needs_demand():
    with pytest.raises(live.NoPlan, match="demand"):
        live.headway_problem([service("A", 3, 20.0)], {}, {})


def test_headway_problem_takes_live_cycles():
    problem, _ = live.headway_problem([service("A", 3, 20.0)], {"A": 100.0}, {"A": 50.0}, {"A": 66.0})
    assert problem.cycle_time_min.tolist() == [66.0] and problem.peak_load_per_h.tolist() == [50.0]


def _profile():
    # 4 stops 1 km apart on a line (the last link returns 3 km); 6 buses/h x 60 = 360/h.
    xy = np.array([[0.0, 0.0], [1000.0, 0.0], [2000.0, 0.0], [3000.0, 0.0]])
    link_m = np.array([1000.0, 1000.0, 1000.0, 3000.0])
    return squirrel.PeakProfile("R1", np.array(["s0", "s1", "s2", "s3"]), xy, link_m,
                                np.array([500.0, 500.0, 100.0, 0.0]), 6.0, 60.0)


def test_squirrel_proposal_adds_a_short_turn_over_the_overloaded_section():
    # links 0-1 carry 500 > 360: 140 over on 2 km = 280 pax.km/h. The short turn s0..s2 runs
    # 2 x 2 km x 1.3 at 15 km/h + 6 min = 26.8 min a cycle: a bus adds 60/26.8 x 60 = 134.3/h,
    # so the 1st bus saves 268.7, the 2nd the last 11.4 pax.km/h, a 3rd nothing.
    services = [service("R1", 3, 10.0, stops=("s0", "s1", "s2", "s3")), service("8001", 2, 10.0)]
    settings = squirrel.SquirrelSettings(spare_fleet=10)
    p = live.squirrel_proposal([_profile()], services, settings, PROJ.to_lonlat, "2026-11-24-peak", 1.0)
    assert p["plan_id"] == "squirrel-2026-11-24-peak"
    assert p["kpis"]["over_capacity_pax_km_per_h"]["current"] == pytest.approx(280.0)
    assert p["kpis"]["over_capacity_pax_km_per_h"]["proposed"] == 0.0
    assert p["kpis"]["short_turn_buses"] == {"current": 0.0, "proposed": 2.0, "unit": "buses", "better": "lower"}
    assert p["kpis"]["max_load_per_capacity"]["current"] == pytest.approx(500 / 360, abs=1e-3)
    new = [r for r in p["proposed"]["rows"] if r["route"] == "R1-S0"]
    assert [r["stop"] for r in new] == ["s0", "s1", "s2"] and new[0]["buses"] == 2
    assert new[0]["headway_min"] == pytest.approx(13.4)
    changes = {r["route"]: r["change"] for r in compare_routes(p["current"]["rows"], p["proposed"]["rows"])}
    assert changes == {"R1": "same", "8001": "same", "R1-S0": "new"}
    [line] = p["proposed"]["geojson"]["features"]
    assert line["geometry"]["coordinates"][0] == [127.0, 37.5]
    assert [f["properties"]["route"] for f in p["current"]["geojson"]["features"]] == ["R1"]


def test_squirrel_proposal_without_overload_proposes_nothing_new():
    prof = _profile()
    calm = squirrel.PeakProfile(prof.route_no, prof.stop_ids, prof.xy_m, prof.link_m, prof.load_per_h / 10, 6.0, 60.0)
    p = live.squirrel_proposal([calm], [service("R1", 3, 10.0)], squirrel.SquirrelSettings(), PROJ.to_lonlat, "w", 1.0)
    assert p["proposed"]["rows"] == p["current"]["rows"]
    assert "geojson" not in p["proposed"] and "geojson" not in p["current"]  # nothing to draw
    assert p["kpis"]["max_load_per_capacity"]["current"] == pytest.approx(50 / 360, abs=1e-3)
    with pytest.raises(live.NoPlan):
        live.squirrel_proposal([], [], squirrel.SquirrelSettings(), PROJ.to_lonlat, "w", 1.0)


def test_owl_proposal_covers_what_todays_route_misses():
    # s0 (0 m), s1 (300 m), s2 (600 m); trips s0->s2 and s1->s2, 10 each: weights 10, 10, 20.
    # Today's N1 stops at s0 and at a far stop: within 400 m it covers s0, s1 = 50 %.
    # The design seeds at s2 (covers s1, s2: 30) and grows to s0: 100 % with one route.
    od = np.zeros((3, 3))
    od[0, 2] = od[1, 2] = 10.0
    xy = np.array([[0.0, 0.0], [300.0, 0.0], [600.0, 0.0]])
    today = [service("N1", 2, 30.0, stops=("s0", "far"), run_min=30.0), service("100", 5, 10.0)]
    demand = live.owl_demand_with_routes(["s0", "s1", "s2"], xy, od, today, {"s0": xy[0], "far": np.array([5000.0, 0.0])})
    assert demand.stop_ids.tolist() == ["s0", "s1", "s2", "far"]
    settings = owl.OwlSettings(fleet=2)
    p = live.owl_proposal(demand, today, settings, PROJ.to_lonlat, "2026-11-24-night", 1.0)
    assert p["kpis"]["night_demand_covered_pct"]["current"] == 50.0
    assert p["kpis"]["night_demand_covered_pct"]["proposed"] == 100.0
    assert p["kpis"]["night_demand_covered_pct"]["better"] == "higher"
    assert p["kpis"]["routes"]["current"] == p["kpis"]["routes"]["proposed"] == 1.0
    assert {r["stop"] for r in p["proposed"]["rows"]} == {"s0", "s2"}
    assert [r["route"] for r in p["current"]["rows"]] == ["N1"]
    changes = {r["route"]: r["change"] for r in compare_routes(p["current"]["rows"], p["proposed"]["rows"])}
    assert changes == {"N1": "removed", "O1": "new"}
    cover = next(k for k in kpi_changes(p["kpis"]) if k["kpi"] == "night_demand_covered_pct")
    assert cover["improves"] is True


def test_owl_proposal_needs_night_demand():
    demand = owl.NightDemand.from_od(np.array(["a", "b"]), np.zeros((2, 2)), np.zeros((2, 2)))
    with pytest.raises(live.NoPlan, match="night demand"):
        live.owl_proposal(demand, [], owl.OwlSettings(), PROJ.to_lonlat, "w", 1.0)

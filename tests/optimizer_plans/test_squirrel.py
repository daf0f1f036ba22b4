"""Squirrel planner on a toy route with a known overloaded section."""

import numpy as np
import pytest

from optimizer import squirrel as sq


def toy_profile():
    # 10 stops 500 m apart on a line (a one-way cycle); links 3-5 carry 600/h against 7.5 buses x 60 = 450/h
    xy = np.column_stack([np.arange(10) * 500.0, np.zeros(10)])
    load = np.array([100, 200, 400, 600, 600, 600, 300, 100, 50, 0], dtype=float)
    link = np.full(10, 500.0)
    return sq.PeakProfile("R1", np.array([f"S{i}" for i in range(10)]), xy, link, load, 7.5, 60.0)


def test_overloaded_sections_edges():
    assert sq.overloaded_sections(np.array([1, 2, 3]), 5) == []
    assert sq.overloaded_sections(np.array([9, 9, 9]), 5) == [(0, 2)]
    # wraps past the start: links 4, 0, 1
    assert sq.overloaded_sections(np.array([9, 9, 0, 0, 9]), 5, min_links=2) == [(4, 1)]
    assert sq.section_links(4, 1, 5).tolist() == [4, 0, 1]
    # runs merged across a 1-link gap, short runs dropped
    assert sq.overloaded_sections(np.array([0, 9, 9, 0, 9, 0, 0, 9, 0]), 5, min_links=2, merge_gap=1) == [(1, 4)]
    assert sq.overloaded_sections(np.array([0, 9, 0, 0, 9, 9, 0]), 5, min_links=2, merge_gap=0) == [(4, 5)]


def test_short_turn_covers_the_section_and_relieves_it():
    settings = sq.SquirrelSettings(spare_fleet=10, speed_kph=15, layover_min=6, detour_factor=1.0)
    prof = toy_profile()
    cands = sq.design_short_turns(prof, settings)
    assert len(cands) == 1
    st = cands[0]
    assert (st.first_link, st.last_link) == (3, 5)
    assert st.stop_ids == ["S3", "S4", "S5", "S6"]
    assert st.section_m == 1500
    assert st.cycle_min == pytest.approx(2 * 1.5 / 15 * 60 + 6)  # 18 min
    plan = sq.plan([prof], settings)
    (chosen,) = plan.short_turns
    # before: 150 pax/h over x 1.5 km = 225 pax-km/h; one bus every 18 min adds 200/h: fully relieved
    assert chosen.excess_before_pax_km_per_h == pytest.approx(225)
    assert chosen.buses == 1 and chosen.excess_after_pax_km_per_h == 0
    assert plan.unused_fleet == 9  # more buses gain nothing
    (c,) = plan.crowding
    assert c.max_load_ratio_before == pytest.approx(600 / 450)
    assert c.max_load_ratio_after == pytest.approx(600 / 650)


def test_scarce_fleet_goes_where_it_relieves_most():
    settings = sq.SquirrelSettings(spare_fleet=1, detour_factor=1.0)
    big = toy_profile()
    small = sq.PeakProfile("R2", big.stop_ids, big.xy_m, big.link_m, np.minimum(big.load_per_h, 500), 7.5, 60.0)
    plan = sq.plan([small, big], settings)
    assert {s.parent: s.buses for s in plan.short_turns} == {"R1": 1, "R2": 0}


def test_peak_profile_from_hourly_counts():
    # 3-stop loop, 31 days: 310 ride A->B at 08 h every month-day => 10/day x 1.1 weekday factor
    board = np.zeros((3, 24))
    alight = np.zeros((3, 24))
    board[0, 8], alight[1, 8] = 310, 310
    board[1, 17], alight[2, 17] = 62, 62
    xy = np.array([[0.0, 0.0], [1000.0, 0.0], [1000.0, 1000.0]])
    prof = sq.peak_profile("L", np.array(["A", "B", "C"]), xy, board, alight, sq.SquirrelSettings())
    assert prof.load_per_h.tolist() == pytest.approx([11.0, 2.2, 0.0])
    assert prof.link_m.tolist() == pytest.approx([1000, 1000, 2**0.5 * 1000])
    assert prof.capacity_per_h == pytest.approx(7.5 * 60)


def test_parent_routes_and_covered_links():
    routes = {"2211": {"a", "b", "c", "d"}, "145": {"c", "d"}, "8221": {"a", "b", "c"}}
    assert sq.parent_routes({"a", "b", "c"}, routes) == [("2211", 3), ("145", 1)]
    prof = toy_profile()
    assert sq.covered_links(prof, {"S3", "S4", "S5"}).tolist() == [3, 4]


def test_plan_is_picklable_for_a_process_pool():
    import pickle

    plan = sq.plan([toy_profile()], sq.SquirrelSettings(spare_fleet=2, detour_factor=1.0))
    again = pickle.loads(pickle.dumps(plan))
    assert again.totals() == plan.totals()

"""The live planner's route speeds use the taxis' bins on the links its buses cover."""

from __future__ import annotations

import pytest


def bin_(link, start, dist_m, time_s, source="bus"):
    return {"link_id": link, "bin_start_ts": start, "dist_m": dist_m, "time_s": time_s, "source": source}


def planner():
    from streams.planning.live import LivePlanner

    planner = LivePlanner.__new__(LivePlanner)
    planner.bins, planner.taxi_bins, planner.clock_ts, planner._trimmed_since = {}, {}, None, float("-inf")
    return planner


def test_taxi_bins_on_a_routes_links_join_its_speed_and_others_do_not():
    p = planner()
    p.note_speeds("R1", [bin_("L1", 0.0, 1000.0, 100.0)])  # 36 km/h from the buses
    p.note_speeds("taxi:1:1", [bin_("L1", 0.0, 3000.0, 150.0, "taxi"), bin_("L9", 0.0, 9000.0, 1.0, "taxi")])
    p.note_speeds("taxi:1:2", [bin_("L1", 0.0, 1000.0, 50.0, "taxi")])  # the same link's bin from the next cell
    assert p.route_speeds()["R1"] == pytest.approx(60.0)  # (1000 + 3000 + 1000) m in (100 + 150 + 50) s
    assert "taxi:1:1" not in p.route_speeds()


def test_old_taxi_bins_are_forgotten_with_the_window():
    from streams.planning.live import SPEED_WINDOW_S

    p = planner()
    p.note_speeds("taxi:1:1", [bin_("L1", 0.0, 1000.0, 100.0, "taxi")])
    p.note_speeds("R1", [bin_("L1", SPEED_WINDOW_S + 600.0, 1000.0, 100.0)])
    assert p.taxi_bins == {}
    assert p.route_speeds()["R1"] == 36.0

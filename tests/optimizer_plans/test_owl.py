"""Owl planner on a toy grid."""

import numpy as np
import pytest

from optimizer import headways, owl


def cross_city():
    """11 x 11 stops 500 m apart; night demand only on the middle row and column."""
    xs, ys = np.meshgrid(np.arange(11) * 500.0, np.arange(11) * 500.0)
    xy = np.column_stack([xs.ravel(), ys.ravel()])
    on_cross = (xy[:, 0] == 2500) | (xy[:, 1] == 2500)
    board = np.where(on_cross, 100.0, 0.0)
    return owl.NightDemand(np.array([f"s{i}" for i in range(len(xy))]), xy, board, board.copy())


SETTINGS = owl.OwlSettings(fleet=12, walk_m=300, cell_m=400, max_hop_m=600, max_route_min=60,
                           min_headway_min=5, max_headway_min=60, layover_min=0, speed_kph=30, detour_factor=1.0)


def test_cross_demand_gives_two_crossing_routes_covering_everything():
    demand = cross_city()
    plan = owl.design(demand, SETTINGS)
    assert plan.kpis.demand_covered_share == pytest.approx(1.0)
    assert len(plan.routes) == 2
    # two arms each (straight or L-shaped: equal on a Manhattan metric), 11 stops 500 m apart, meeting at the centre
    assert sorted(len(r.stops) for r in plan.routes) == [11, 11]
    assert all(60 in r.stops for r in plan.routes)
    for r in plan.routes:
        steps = np.abs(np.diff(demand.xy_m[r.stops], axis=0)).sum(axis=1)
        assert np.all(steps == 500)
    on_cross = set(np.flatnonzero(demand.board > 0).tolist())
    assert {s for r in plan.routes for s in r.stops} == on_cross
    assert all(r.one_way_min == pytest.approx(10.0) for r in plan.routes)  # 5 km at 30 km/h
    # cycle 20 min, min headway 5 min: 4 buses each, 4 of the 12 left over
    assert [r.buses for r in plan.routes] == [4, 4] and [r.headway_min for r in plan.routes] == [5.0, 5.0]
    # they cross at the centre: every trip needs at most one transfer
    assert plan.kpis.d2_pct == pytest.approx(0) and plan.kpis.dun_pct == pytest.approx(0)


def test_fleet_too_small_is_a_clear_error():
    with pytest.raises(headways.InfeasibleFleet, match="cannot run a single night route"):
        owl.design(cross_city(), owl.OwlSettings(**{**SETTINGS.__dict__, "fleet": 1, "max_headway_min": 10}))


def test_road_time_and_coverage():
    s = owl.OwlSettings(detour_factor=1.5, speed_kph=30)
    assert owl.road_time_min(np.array([0.0, 0.0]), np.array([300.0, 400.0]), s) == pytest.approx(700 * 1.5 / 500)
    demand = cross_city()
    mask = owl.covered_mask(demand, [60], 500)  # the centre stop (5, 5) covers itself and its 4 neighbours
    assert mask.sum() == 5


def test_given_travel_matrix_is_used():
    demand = cross_city()
    n = len(demand.stop_ids)
    with_matrix = owl.NightDemand(demand.stop_ids, demand.xy_m, demand.board, demand.alight, np.full((n, n), 2.0))
    assert owl.path_min(with_matrix, [0, 1, 2], SETTINGS) == 4.0


def test_od_matrix_input_drives_the_att():
    # 3 x 1 km line of stops with trips only between the two ends: a direct route, ATT = ride time
    xy = np.column_stack([np.arange(7) * 500.0, np.zeros(7)])
    od = np.zeros((7, 7))
    od[0, 6] = od[6, 0] = 50
    demand = owl.NightDemand.from_od(np.array([f"s{i}" for i in range(7)]), xy, od)
    assert demand.board.tolist() == [50, 0, 0, 0, 0, 0, 50]
    settings = owl.OwlSettings(fleet=4, walk_m=300, cell_m=400, max_hop_m=600, max_route_min=60, min_headway_min=5,
                               detour_factor=1.0, speed_kph=30, zone_m=400, min_route_share=0.0)
    route = owl.OwlRoute("A", list(range(7)), owl.path_min(demand, list(range(7)), settings), buses=2, headway_min=6)
    k = owl.network_kpis(demand, [route], settings)
    assert k.att_min == pytest.approx(6.0)  # 3 km at 30 km/h
    assert k.d0_pct == pytest.approx(100)
    with pytest.raises(ValueError, match="non-negative"):
        owl.NightDemand.from_od(np.array(["a", "b"]), np.zeros((2, 2)), -np.ones((2, 2)))

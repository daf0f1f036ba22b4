"""Evaluator: hand-computed fixtures and the Numba kernels against plain-Python twins."""

from __future__ import annotations

import math

import numpy as np
import pytest
from network_twins import (
    random_instance,
    random_routes,
    twin_journeys,
    twin_kpis,
    twin_ride_costs,
    twin_shortest_rides,
)

from optimizer import _kernels
from optimizer.evaluate import (
    RouteLimits,
    evaluate,
    feasibility_violations,
    flatten_routes,
    format_routes,
    journey_matrices,
    read_routes,
)
from optimizer.instance import make_instance

#: compares Numba kernels with their twins; `make test` runs these again with NUMBA_DISABLE_JIT=1
pytestmark = pytest.mark.kernels

INF = math.inf


def _line_instance(t13=10.0):
    # roads 0-1 (2), 1-2 (3), 2-3 (4), 1-3 (t13); demand 0->3: 10, 1->2: 20, 0->1: 10
    tt = np.full((4, 4), INF)
    np.fill_diagonal(tt, 0.0)
    for a, b, t in ((0, 1, 2), (1, 2, 3), (2, 3, 4), (1, 3, t13)):
        tt[a, b] = tt[b, a] = t
    demand = np.zeros((4, 4))
    demand[0, 3], demand[1, 2], demand[0, 1] = 10, 20, 10
    return make_instance("line", tt, demand)


def test_hand_computed_transfer_journey():
    inst = _line_instance()
    e = evaluate(inst, [[0, 1, 2], [2, 3]])
    # 0->3: 5 min on route 1, 5 min transfer, 4 min on route 2 = 14 (1 transfer)
    assert e.att_min == pytest.approx((10 * 14 + 20 * 3 + 10 * 2) / 40)
    assert e.trt_min == 9
    assert (e.d0_pct, e.d1_pct, e.d2_pct, e.dun_pct) == pytest.approx((75, 25, 0, 0))
    assert e.feasible


def test_direct_route_beats_transfer():
    inst = _line_instance(t13=10.0)
    e = evaluate(inst, [[0, 1, 2], [2, 3], [0, 1, 3]])
    assert e.att_min == pytest.approx((10 * 12 + 20 * 3 + 10 * 2) / 40)
    assert e.d0_pct == pytest.approx(100)


def test_equal_times_count_the_journey_with_fewer_transfers():
    inst = _line_instance(t13=12.0)  # direct 0-1-3 takes 14, same as the transfer journey
    e = evaluate(inst, [[0, 1, 2], [2, 3], [0, 1, 3]])
    assert e.att_min == pytest.approx(5.5)
    assert e.d0_pct == pytest.approx(100)


def test_more_than_two_transfers_is_dun():
    tt = np.full((5, 5), INF)
    np.fill_diagonal(tt, 0.0)
    for a in range(4):
        tt[a, a + 1] = tt[a + 1, a] = 1.0
    demand = np.zeros((5, 5))
    demand[0, 4] = demand[4, 0] = 1.0
    demand[0, 3] = 2.0
    inst = make_instance("chain", tt, demand)
    e = evaluate(inst, [[0, 1], [1, 2], [2, 3], [3, 4]])
    # 0->4: 4 rides, 3 transfers = 4 + 15 min; 0->3: 2 transfers = 3 + 10 min
    assert e.att_min == pytest.approx((2 * 19 + 2 * 13) / 4)
    assert (e.d0_pct, e.d1_pct, e.d2_pct, e.dun_pct) == pytest.approx((0, 0, 50, 50))


def test_disconnected_set_reports_unserved_demand_and_violation():
    inst = _line_instance()
    e = evaluate(inst, [[0, 1], [2, 3]])
    assert not e.feasible
    assert any("not connected" in v for v in e.violations)
    # only 0->1 (10 trips, 2 min) is served; 30 of 40 trips have no journey
    assert e.att_min == pytest.approx(2.0)
    assert e.unserved_pct == pytest.approx(75)
    assert e.dun_pct == pytest.approx(75)


def test_zero_demand_gives_zero_att():
    inst = make_instance("empty", _line_instance().travel_time_min, np.zeros((4, 4)))
    e = evaluate(inst, [[0, 1, 2, 3]])
    assert e.att_min == 0.0 and e.d0_pct == 0.0 and e.feasible


def test_violations_name_each_broken_rule():
    inst = _line_instance()
    problems = feasibility_violations(inst, [[0, 2], [1, 1], [3]], RouteLimits(2, 2, 3))
    text = " | ".join(problems)
    assert "3 routes, expected 2" in text
    assert "no road between consecutive nodes 1 and 3" in text
    assert "not a simple path" in text
    assert "route 3: 1 nodes, outside 2..3" in text
    e = evaluate(inst, [[0, 2], [2, 3]])
    assert math.isnan(e.att_min) and not e.feasible


def test_uncovered_node_is_a_violation():
    inst = _line_instance()
    assert feasibility_violations(inst, [[0, 1, 2]]) == ["nodes not covered by any route: [4]"]


def test_route_file_round_trip(tmp_path):
    routes = [[0, 1, 2], [2, 3]]
    path = tmp_path / "routes.txt"
    path.write_text("# comment\n" + format_routes(routes) + "\n")
    assert path.read_text().splitlines()[1] == "1 2 3"
    assert read_routes(path) == routes


@pytest.mark.parametrize("seed", range(12))
def test_kernels_match_twins_on_random_route_sets(seed):
    n = 5 + seed
    tt, demand = random_instance(n, seed)
    routes = random_routes(tt, n_routes=1 + seed % 5, max_nodes=2 + seed % 6, seed=seed)
    stops, offsets = flatten_routes(routes)
    w = _kernels.ride_costs(tt, stops, offsets, 5.0)
    np.testing.assert_array_equal(w, twin_ride_costs(tt, routes, 5.0))
    cost, rides = _kernels.shortest_rides(w)
    twin_cost, twin_rides = twin_shortest_rides(w)
    np.testing.assert_array_equal(cost, twin_cost)
    np.testing.assert_array_equal(rides, twin_rides)
    # the end-to-end answer equals Dijkstra over the (node, route) transit graph
    inst = make_instance("random", tt, demand)
    time_min, transfers = journey_matrices(inst, routes)
    twin_time, twin_transfers = twin_journeys(tt, routes, 5.0)
    np.testing.assert_array_equal(time_min, twin_time)
    np.testing.assert_array_equal(transfers, twin_transfers)
    att, shares = twin_kpis(twin_time, twin_transfers, demand)
    e = evaluate(inst, routes)
    total = sum(shares)
    if math.isinf(att):
        assert math.isinf(e.att_min)
    else:
        assert e.att_min == pytest.approx(att, rel=1e-12)
    assert [e.d0_pct, e.d1_pct, e.d2_pct] == pytest.approx([100 * s / total for s in shares[:3]])
    assert e.dun_pct == pytest.approx(100 * (shares[3] + shares[4]) / total)
    att_fast, unserved = _kernels.att_objective(tt, stops, offsets, demand, 5.0)
    assert unserved == pytest.approx(shares[4])
    if not math.isinf(att):
        assert att_fast == pytest.approx(att, rel=1e-12)


def test_padded_objective_matches_flat_and_counts_uncovered():
    tt, demand = random_instance(9, 3)
    routes = random_routes(tt, 3, 5, 3)
    stops, offsets = flatten_routes(routes)
    padded = np.zeros((3, 5), dtype=np.int64)
    lengths = np.array([len(r) for r in routes], dtype=np.int64)
    for r, route in enumerate(routes):
        padded[r, : len(route)] = route
    att, unserved, uncovered = _kernels.att_objective_padded(tt, padded, lengths, demand, 5.0, np.empty((9, 9)))
    assert (att, unserved) == _kernels.att_objective(tt, stops, offsets, demand, 5.0)
    assert uncovered == 9 - len(set(stops.tolist()))


def test_one_route_and_empty_demand_twin_cases():
    tt, _ = random_instance(6, 0)
    routes = random_routes(tt, 1, 6, 0)
    time_min, transfers = journey_matrices(make_instance("r", tt, np.zeros((6, 6))), routes)
    twin_time, twin_transfers = twin_journeys(tt, routes, 5.0)
    np.testing.assert_array_equal(time_min, twin_time)
    np.testing.assert_array_equal(transfers, twin_transfers)
    assert set(np.unique(transfers[np.isfinite(time_min)])) <= {0}


@pytest.mark.parametrize("seed", range(8))
def test_incremental_growth_matches_full_recomputation(seed):
    tt, demand = random_instance(10 + seed, seed)
    routes = random_routes(tt, 3, 4, seed)
    max_nodes = 12
    padded = np.zeros((3, max_nodes), dtype=np.int64)
    lengths = np.array([len(r) for r in routes], dtype=np.int64)
    for r, route in enumerate(routes):
        padded[r, : len(route)] = route
    n = tt.shape[0]
    cost = np.empty((n, n))
    _kernels.att_objective_padded(tt, padded, lengths, demand, 5.0, cost)
    rng = np.random.default_rng(seed)
    for _ in range(6):  # grow a random route at a random end, several times over
        r = int(rng.integers(3))
        route = list(padded[r, : lengths[r]])
        at_end = bool(rng.integers(2))
        end = route[-1] if at_end else route[0]
        options = [v for v in np.flatnonzero(np.isfinite(tt[end])) if v not in route]
        if not options or len(route) == max_nodes:
            continue
        v = int(rng.choice(options))
        new = route + [v] if at_end else [v] + route
        lo = 0 if at_end else 1
        padded[r, : len(new)] = new
        lengths[r] = len(new)
        got = _kernels.att_objective_extended(cost, tt, padded, lengths, r, lo, lo + len(route), demand, 5.0)
        full_cost = np.empty((n, n))
        want = _kernels.att_objective_padded(tt, padded, lengths, demand, 5.0, full_cost)
        np.testing.assert_array_equal(cost, full_cost)
        assert got == want

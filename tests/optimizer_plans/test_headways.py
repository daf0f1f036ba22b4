"""Headway allocation against the square-root oracle, brute force and CP-SAT."""

import itertools

import numpy as np
import pytest

from optimizer import headways as hw


def problem(b, c, fleet, **kw):
    return hw.HeadwayProblem([f"r{i}" for i in range(len(b))], np.asarray(b, float), np.asarray(c, float), fleet, **kw)


def test_hand_made_square_root_rule():
    # K_r = sqrt(B c): 100*64 -> 80, 25*64 -> 40: continuous 2:1 split of 12 buses = 8, 4.
    p = problem([100, 25], [64, 64], 12, min_headway_min=1, max_headway_min=120)
    plan = hw.allocate(p)
    assert plan.buses.tolist() == [8, 4]
    assert np.allclose(hw.continuous_buses(p), [8, 4])
    assert plan.headway_min.tolist() == [8.0, 16.0]
    assert plan.waiting_pax_min_per_h == pytest.approx(100 * 4 + 25 * 8)


def kkt_certificate(p, buses):
    """Greedy optimum <=> one lambda brackets every route's marginal gains."""
    k2 = np.asarray(p.boardings_per_h) * np.asarray(p.cycle_time_min) / 2
    lower = k2 / (buses * (buses + 1))  # gain of one more bus
    upper = np.where(buses > 1, k2 / np.maximum(buses * (buses - 1), 1), np.inf)  # gain of the last bus
    return lower.max() <= upper.min() + 1e-9


@pytest.mark.parametrize("seed", range(20))
def test_random_within_rounding_of_continuous_optimum(seed):
    rng = np.random.default_rng(seed)
    r = int(rng.integers(2, 40))
    b = rng.uniform(10, 2000, r)
    c = rng.uniform(30, 200, r)
    fleet = int(rng.integers(5 * r, 30 * r))
    p = problem(b, c, fleet, min_headway_min=0.01, max_headway_min=1e6)
    plan = hw.allocate(p)
    assert plan.buses.sum() == fleet
    cont = hw.continuous_buses(p)
    k = np.sqrt(b * c)
    # Huntington-Hill rounding: |n - n*| <= 1/2 + R K_r / (2 sum K) (+ the sqrt(n(n-1)) slack)
    bound = 0.5 + r * k / (2 * k.sum()) + 1 / (8 * np.maximum(plan.buses - 1, 1))
    assert np.all(np.abs(plan.buses - cont) <= bound + 1e-9)
    assert np.abs(plan.buses - cont).max() < 1.5
    assert kkt_certificate(p, plan.buses)


@pytest.mark.parametrize("seed", range(8))
def test_matches_brute_force_with_bounds_and_crowding(seed):
    rng = np.random.default_rng(100 + seed)
    b = rng.uniform(50, 800, 3)
    c = rng.uniform(40, 120, 3)
    peak = rng.uniform(100, 1500, 3)
    p = problem(b, c, 18, min_headway_min=5, max_headway_min=40, peak_load_per_h=peak, capacity_per_bus=60)
    lo, hi = hw.validate(p)
    best = min(
        (sum(hw.route_cost(p, r, n[r]) for r in range(3)), n)
        for n in itertools.product(*[range(lo[r], hi[r] + 1) for r in range(3)])
        if sum(n) <= p.fleet
    )
    plan = hw.allocate(p)
    assert plan.cost == pytest.approx(best[0], rel=1e-9)
    assert np.all(plan.headway_min >= 5 - 1e-9) and np.all(plan.headway_min <= 40 + 1e-9)


def test_cp_sat_agrees_with_greedy():
    rng = np.random.default_rng(7)
    b, c, peak = rng.uniform(50, 900, 12), rng.uniform(40, 150, 12), rng.uniform(0, 2000, 12)
    p = problem(b, c, 150, min_headway_min=3, max_headway_min=30, peak_load_per_h=peak)
    greedy = hw.allocate(p)
    model = hw.build_model(p)
    exact = hw.extract(model, hw.solve(model, time_limit_s=20))
    # CP-SAT works on costs rounded to 1/COST_SCALE; both optima agree to that rounding
    assert exact.cost == pytest.approx(greedy.cost, abs=25 / hw.COST_SCALE)


def test_crowding_pulls_buses_to_the_overloaded_route():
    base = problem([300, 300], [60, 60], 10, min_headway_min=2, max_headway_min=60)
    crowded = problem([300, 300], [60, 60], 10, min_headway_min=2, max_headway_min=60,
                      peak_load_per_h=np.array([600.0, 0.0]), capacity_per_bus=60)
    assert hw.allocate(base).buses.tolist() == [5, 5]
    plan = hw.allocate(crowded)
    assert plan.buses[0] > plan.buses[1]
    assert plan.excess_pax_per_h < 600 - 60 * 5


def test_fleet_too_small_for_max_headway_is_a_clear_error():
    p = problem([100, 100], [90, 90], 5, min_headway_min=5, max_headway_min=30)
    with pytest.raises(hw.InfeasibleFleet, match="needs 6 buses"):
        hw.allocate(p)


def test_contradictory_bounds_and_bad_inputs():
    with pytest.raises(hw.InfeasibleFleet, match="no whole number"):
        hw.allocate(problem([100], [10], 5, min_headway_min=6, max_headway_min=8))
    with pytest.raises(ValueError, match="cycle_time_min"):
        hw.allocate(problem([100], [0], 5))
    with pytest.raises(ValueError, match="boardings"):
        hw.allocate(problem([-1], [30], 5))


def test_spare_buses_unused_at_min_headway():
    p = problem([100], [30], 50, min_headway_min=5, max_headway_min=30)
    plan = hw.allocate(p)
    assert plan.buses.tolist() == [6]
    assert hw.buses_for_headway(30, 7) == 5

"""Network designer: feasibility, determinism, improvement, anytime behaviour."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from optimizer.candidates import candidate_routes, initial_route_set
from optimizer.design import design_network
from optimizer.evaluate import RouteLimits, evaluate
from optimizer.instance import InstanceError, load_instance
from optimizer.synthetic import synthetic_city

TRNDP = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "trndp"
needs_data = pytest.mark.skipif(not TRNDP.is_dir(), reason=f"reference data not found at {TRNDP}")


@pytest.fixture(scope="module")
def city():
    return synthetic_city(20, 36, seed=4)


def test_candidates_respect_node_limits(city):
    limits = RouteLimits(4, 3, 6)
    pool = candidate_routes(city, limits)
    assert pool
    for path in pool:
        assert 3 <= len(path) <= 6 and len(set(path)) == len(path)
        assert all(city.travel_time_min[a, b] < float("inf") for a, b in zip(path, path[1:]))


def test_initial_set_covers_every_node(city):
    limits = RouteLimits(5, 2, 8)
    routes = initial_route_set(city, limits, candidate_routes(city, limits), seed=1)
    assert len(routes) == 5
    assert {v for r in routes for v in r} == set(range(city.n))


def test_design_is_feasible_and_deterministic(city):
    limits = RouteLimits(5, 2, 8)
    runs = [design_network(city, limits, seconds=60, seed=7, max_iterations=2500, progress=False) for _ in range(2)]
    assert runs[0].routes == runs[1].routes
    assert runs[0].iterations == 2500
    e = evaluate(city, runs[0].routes, limits)
    assert e.feasible, e.violations
    assert e.att_min == pytest.approx(runs[0].evaluation.att_min)
    other = design_network(city, limits, seconds=60, seed=8, max_iterations=2500, progress=False)
    assert other.evaluation.feasible


def test_design_improves_on_its_start(city):
    limits = RouteLimits(5, 2, 8)
    result = design_network(city, limits, seconds=60, seed=3, max_iterations=6000, progress=False)
    start = result.initial_evaluation
    assert result.evaluation.att_min < start.att_min or not start.feasible
    assert result.trace and result.trace[-1][2] == pytest.approx(result.evaluation.att_min)


def test_anytime_returns_best_so_far_at_the_time_limit(city):
    design_network(city, RouteLimits(5, 2, 8), seconds=60, max_iterations=10, progress=False)  # load kernels
    t0 = time.perf_counter()
    result = design_network(city, RouteLimits(5, 2, 8), seconds=4.0, seed=0, progress=False)
    # the search stops at the limit; the final full evaluation adds a little (more on a busy machine)
    assert 4.0 <= result.elapsed_s < 5.0
    assert time.perf_counter() - t0 < 8.0
    assert result.evaluation.feasible and result.iterations > 0


def test_warm_start_never_gets_worse(city):
    limits = RouteLimits(5, 2, 8)
    first = design_network(city, limits, seconds=60, seed=1, max_iterations=1500, progress=False)
    again = design_network(city, limits, seconds=60, seed=2, max_iterations=1500, initial=first.routes, progress=False)
    assert again.evaluation.att_min <= first.evaluation.att_min + 1e-9


def test_impossible_limits_raise(city):
    with pytest.raises(InstanceError, match="limits cannot be met"):
        design_network(city, RouteLimits(2, 2, 5), seconds=1, progress=False)


@needs_data
def test_mandl_six_routes_beats_mumford_2013_quickly():
    inst = load_instance(TRNDP / "mumford_format" / "Mandl")
    limits = RouteLimits(6, 2, 8)
    result = design_network(inst, limits, seconds=60, seed=1, max_iterations=60000, progress=False)
    assert result.evaluation.feasible
    # Mumford (2013) Table III best passenger set: ATT 10.27
    assert result.evaluation.att_min < 10.27


def test_broken_initial_set_is_rejected(city):
    limits = RouteLimits(2, 2, 19)
    far = [v for v in range(city.n) if city.travel_time_min[0, v] == float("inf") and v != 0][0]
    with pytest.raises(InstanceError, match="initial route set: .*no road between consecutive nodes 1 and"):
        design_network(city, RouteLimits(3, 2, 19), seconds=5, initial=[[0, far], [1, 2], [3, 4]], progress=False)
    with pytest.raises(InstanceError, match="1 routes, expected 2"):
        design_network(city, limits, seconds=5, initial=[[0, 1]], progress=False)

"""Stop-tour kernels against plain twins; running order of hand-made routes."""

import itertools
import math

import numpy as np
import pytest

from optimizer import _plan_kernels as k
from optimizer import stop_order

#: compares Numba kernels with their twins; `make test` runs these again with NUMBA_DISABLE_JIT=1
pytestmark = pytest.mark.kernels


def nn_twin(dist, start):
    n = len(dist)
    tour, seen = [start], {start}
    while len(tour) < n:
        last = tour[-1]
        j = min((j for j in range(n) if j not in seen), key=lambda j: (dist[last][j], j))
        tour.append(j)
        seen.add(j)
    return tour


def length_twin(dist, tour):
    return sum(dist[tour[i]][tour[(i + 1) % len(tour)]] for i in range(len(tour)))


def no_improving_2opt(dist, tour):
    n = len(tour)
    for i in range(n - 1):
        for j in range(i + 2, n if i > 0 else n - 1):
            a, b, c, d = tour[i], tour[i + 1], tour[j], tour[(j + 1) % n]
            if dist[a][c] + dist[b][d] < dist[a][b] + dist[c][d] - 1e-6:
                return False
    return True


@pytest.mark.parametrize("seed", range(10))
def test_kernels_match_twins_on_random_points(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(4, 40))
    dist = stop_order.distance_matrix_m(rng.uniform(0, 1000, (n, 2)))
    start = int(rng.integers(n))
    nn = k.nearest_neighbour_tour(dist, start)
    assert nn.tolist() == nn_twin(dist, start)
    assert k.tour_length(dist, nn) == pytest.approx(length_twin(dist, nn.tolist()))
    better = k.improve_tour(dist, nn)
    assert sorted(better.tolist()) == list(range(n))
    assert k.tour_length(dist, better) <= k.tour_length(dist, nn) + 1e-9
    assert no_improving_2opt(dist, better.tolist())


def test_improve_tour_small_cases_are_optimal():
    rng = np.random.default_rng(3)
    for _ in range(5):
        xy = rng.uniform(0, 100, (7, 2))
        dist = stop_order.distance_matrix_m(xy)
        best = min(length_twin(dist, (0, *p)) for p in itertools.permutations(range(1, 7)))
        assert k.tour_length(dist, stop_order.closed_tour(xy)) == pytest.approx(best)


def test_tiny_inputs():
    assert stop_order.closed_tour(np.zeros((0, 2))).tolist() == []
    assert stop_order.closed_tour(np.array([[0.0, 0.0], [1.0, 1.0]])).tolist() == [0, 1]
    assert stop_order.open_path(np.array([[0.0, 0.0]])).tolist() == [0]


def test_open_path_on_a_line():
    xy = np.array([[x, 0.0] for x in [300, 0, 200, 100, 400]])
    path = stop_order.open_path(xy).tolist()
    assert path in ([1, 3, 2, 0, 4], [4, 0, 2, 3, 1])


def two_way_street(n=8, spacing=400.0, half_width=15.0, stagger=60.0):
    """Stops in pairs across an east-west street; the south side is eastbound (drive on the right)."""
    names, xy = [], []
    for i in range(n):
        names += [f"s{i}", f"s{i}"]
        xy += [[i * spacing, -half_width], [i * spacing + stagger, half_width]]
    return np.array(names), np.array(xy)


def test_directional_cycle_separates_the_two_sides():
    names, xy = two_way_street()
    rng = np.random.default_rng(0)
    perm = rng.permutation(len(names))  # the file lists stops in no useful order
    order, is_loop = stop_order.directional_cycle(names[perm], xy[perm])
    assert not is_loop
    cyc = xy[perm][order]
    # rotate to the west-most south stop; then eastbound south side, westbound north side
    k = int(np.argmin(cyc[:, 0] + 1e6 * (cyc[:, 1] > 0)))
    cyc = np.roll(cyc, -k, axis=0)
    assert np.all(cyc[:8, 1] < 0) and np.all(np.diff(cyc[:8, 0]) > 0)
    assert np.all(cyc[8:, 1] > 0) and np.all(np.diff(cyc[8:, 0]) < 0)


def test_directional_cycle_of_a_one_way_loop_is_anticlockwise_with_stops_on_the_right():
    # a square loop of 1 km sides; stops 10 m inside the square => on the right only when clockwise?
    # Kerb on the right of travel: anticlockwise travel has the outside on the right.
    t = np.linspace(0, 2 * math.pi, 16, endpoint=False)
    xy = np.column_stack([1000 * np.cos(t), 1000 * np.sin(t)]) * 1.01  # stops just outside the road circle
    names = np.array([f"L{i}" for i in range(16)])
    order, is_loop = stop_order.directional_cycle(names, xy)
    assert is_loop
    ang = np.unwrap(np.arctan2(xy[order, 1], xy[order, 0]))
    assert np.all(np.diff(ang) > 0)  # anticlockwise

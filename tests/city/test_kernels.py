"""The Numba shortest-path kernel against its plain-Python twin on seeded random graphs."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
from kernel_twins import shortest_path_py

from topis.city.routes import road_index, shortest_path

#: compares Numba kernels with their twins; `make test` runs these again with NUMBA_DISABLE_JIT=1
pytestmark = pytest.mark.kernels


def random_road_graph(seed: int, n: int, p: float) -> nx.DiGraph:
    rng = np.random.default_rng(seed)
    g = nx.DiGraph()
    for k in range(n):
        g.add_node(k, x_m=float(rng.uniform(0, 1000)), y_m=float(rng.uniform(0, 1000)))
    link = 0
    for u in range(n):
        for v in range(n):
            if u != v and rng.random() < p:
                g.add_edge(u, v, link_id=f"L{link:06d}", length_m=float(rng.uniform(50, 500)), speed_limit_kph=50.0,
                           road_class="collector" if rng.random() < 0.5 else "arterial")
                link += 1
    return g


@pytest.mark.parametrize("seed", range(8))
def test_kernel_matches_python_twin(seed):
    g = random_road_graph(seed, 40, 0.08)
    index = road_index(g)
    rng = np.random.default_rng(100 + seed)
    weight = rng.uniform(0.0, 10.0, len(index.edge_uv))
    weight[rng.random(len(weight)) < 0.1] = 0.0  # zero-cost links
    for _ in range(20):
        a, b = (int(x) for x in rng.choice(index.nodes, 2))
        try:
            expected = shortest_path_py(index, weight, a, b)
        except ValueError:
            with pytest.raises(ValueError, match="no path"):
                shortest_path(index, weight, a, b)
            continue
        got = shortest_path(index, weight, a, b)
        cost = lambda path: sum(weight[index.edge_uv.index((u, v))] for u, v in zip(path[:-1], path[1:]))  # noqa: E731
        assert got[0] == a and got[-1] == b
        assert cost(got) == pytest.approx(cost(expected))


def test_path_to_itself_and_bad_weights():
    g = random_road_graph(1, 10, 0.3)
    index = road_index(g)
    weight = np.ones(len(index.edge_uv))
    assert shortest_path(index, weight, 3, 3) == [3] == shortest_path_py(index, weight, 3, 3)
    with pytest.raises(ValueError, match="non-negative"):
        shortest_path(index, np.full(len(weight), np.nan), 0, 1)
    with pytest.raises(ValueError, match="non-negative"):
        shortest_path(index, np.array([]), 0, 1)
    with pytest.raises(ValueError, match="unknown node"):
        shortest_path(index, weight, 0, 99)


def test_unreachable_on_a_graph_without_edges():
    g = nx.DiGraph()
    g.add_node(0, x_m=0.0, y_m=0.0)
    g.add_node(1, x_m=1.0, y_m=0.0)
    index = road_index(g)
    with pytest.raises(ValueError, match="no path"):
        shortest_path(index, np.zeros(0), 0, 1)

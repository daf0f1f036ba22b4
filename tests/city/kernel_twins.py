"""Plain-Python twins of the city generator's Numba kernels (``topis/city/_kernels.py``), for tests only.

Each twin is the slow, obviously-correct spec its kernel is compared with on seeded random inputs.
"""

from __future__ import annotations

import heapq
import math

import numpy as np

from topis.city.routes import RoadIndex


def shortest_path_py(index: RoadIndex, weight: np.ndarray, src: int, dst: int) -> list[int]:
    """Dijkstra in plain Python: the twin of :func:`topis.city._kernels.dijkstra_path` behind
    :func:`topis.city.routes.shortest_path` (node ids in and out)."""
    s, t = index.pos[src], index.pos[dst]
    dist = {s: 0.0}
    prev: dict[int, int] = {}
    heap = [(0.0, s)]
    done = set()
    while heap:
        d, a = heapq.heappop(heap)
        if a in done:
            continue
        if a == t:
            break
        done.add(a)
        for b, e in index.adjacency[a]:
            nd = d + weight[e]
            if nd < dist.get(b, math.inf):
                dist[b], prev[b] = nd, a
                heapq.heappush(heap, (nd, b))
    if t not in dist:
        raise ValueError(f"no path from {src} to {dst}")
    path = [t]
    while path[-1] != s:
        path.append(prev[path[-1]])
    return [int(index.nodes[k]) for k in reversed(path)]

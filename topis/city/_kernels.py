"""Numba kernels of the city generator. Arrays in, arrays out; the public wrappers validate.

Each kernel has a plain-Python twin in ``tests/city/kernel_twins.py``, used by the
tests on seeded random inputs.
"""

from __future__ import annotations

import heapq

import numpy as np
from numba import njit


@njit(cache=True)
def dijkstra_path(indptr: np.ndarray, indices: np.ndarray, edge_ids: np.ndarray, weight: np.ndarray,
                  src: int, dst: int) -> np.ndarray:
    """Shortest path from ``src`` to ``dst`` on a CSR graph; node positions, empty if unreachable.

    ``indices[indptr[a]:indptr[a + 1]]`` are the successors of node ``a`` and
    ``edge_ids`` the matching positions in ``weight`` (non-negative).
    Ties are broken by node position, as the Python twin does.
    """
    n = len(indptr) - 1
    dist = np.full(n, np.inf)
    prev = np.full(n, -1, dtype=np.int64)
    done = np.zeros(n, dtype=np.bool_)
    dist[src] = 0.0
    heap = [(0.0, src)]
    while len(heap) > 0:
        d, a = heapq.heappop(heap)
        if done[a]:
            continue
        if a == dst:
            break
        done[a] = True
        for j in range(indptr[a], indptr[a + 1]):
            b = indices[j]
            nd = d + weight[edge_ids[j]]
            if nd < dist[b]:
                dist[b] = nd
                prev[b] = a
                heapq.heappush(heap, (nd, b))
    if not np.isfinite(dist[dst]):
        return np.empty(0, dtype=np.int64)
    count = 1
    k = dst
    while k != src:
        k = prev[k]
        count += 1
    path = np.empty(count, dtype=np.int64)
    k = dst
    for i in range(count - 1, -1, -1):
        path[i] = k
        k = prev[k]
    return path

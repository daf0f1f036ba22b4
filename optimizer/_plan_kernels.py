"""Numba kernels of the service planners (stop-tour improvement).

Kernels trust their inputs (C-contiguous float64 distance matrix, int64 tour);
public wrappers in :mod:`optimizer.stop_order` validate. Each has a plain-Python
twin in ``tests/optimizer_plans/test_stop_order.py``.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def nearest_neighbour_tour(dist, start):
    """Closed tour by nearest neighbour from ``start`` (ties: lowest index)."""
    n = dist.shape[0]
    tour = np.empty(n, dtype=np.int64)
    seen = np.zeros(n, dtype=np.bool_)
    tour[0] = start
    seen[start] = True
    for k in range(1, n):
        last = tour[k - 1]
        best = -1
        best_d = np.inf
        for j in range(n):
            if not seen[j] and dist[last, j] < best_d:
                best_d = dist[last, j]
                best = j
        tour[k] = best
        seen[best] = True
    return tour


@njit(cache=True)
def tour_length(dist, tour):
    """Length of the closed tour."""
    n = tour.size
    total = 0.0
    for k in range(n):
        total += dist[tour[k], tour[(k + 1) % n]]
    return total


@njit(cache=True)
def improve_tour(dist, tour):
    """2-opt and or-opt (moves of 1-3 consecutive stops) until no move gains.

    Returns a new tour; the input is not modified.
    """
    n = tour.size
    t = tour.copy()
    if n < 4:
        return t
    improved = True
    while improved:
        improved = False
        # 2-opt: reverse t[i+1..j]
        for i in range(n - 1):
            a, b = t[i], t[i + 1]
            for j in range(i + 2, n if i > 0 else n - 1):
                c, d = t[j], t[(j + 1) % n]
                delta = dist[a, c] + dist[b, d] - dist[a, b] - dist[c, d]
                if delta < -1e-9:
                    t[i + 1:j + 1] = t[i + 1:j + 1][::-1].copy()
                    a, b = t[i], t[i + 1]
                    improved = True
        # or-opt: move a segment of length s elsewhere (either orientation)
        for s in range(1, 4):
            for i in range(n):
                if s >= n - 2:
                    break
                p = t[(i - 1) % n]
                f = t[i]
                l = t[(i + s - 1) % n]
                q = t[(i + s) % n]
                remove_gain = dist[p, f] + dist[l, q] - dist[p, q]
                best_delta = -1e-9
                best_k = -1
                best_rev = False
                for k in range(n):
                    # insert between t[k] and t[k+1]; both outside the segment
                    offset = (k - i) % n
                    if offset < s or offset == n - 1:
                        continue  # edge touches the segment: no move
                    x = t[k]
                    y = t[(k + 1) % n]
                    add = dist[x, f] + dist[l, y] - dist[x, y]
                    add_rev = dist[x, l] + dist[f, y] - dist[x, y]
                    if add - remove_gain < best_delta:
                        best_delta = add - remove_gain
                        best_k = k
                        best_rev = False
                    if add_rev - remove_gain < best_delta:
                        best_delta = add_rev - remove_gain
                        best_k = k
                        best_rev = True
                if best_k >= 0:
                    seg = np.empty(s, dtype=np.int64)
                    for m in range(s):
                        seg[m] = t[(i + m) % n]
                    if best_rev:
                        seg = seg[::-1].copy()
                    anchor = t[best_k]
                    rest = np.empty(n - s, dtype=np.int64)
                    r = 0
                    for m in range(n):
                        if (m - i) % n >= s:
                            rest[r] = t[m]
                            r += 1
                    out = np.empty(n, dtype=np.int64)
                    o = 0
                    for m in range(n - s):
                        out[o] = rest[m]
                        o += 1
                        if rest[m] == anchor:
                            for z in range(s):
                                out[o] = seg[z]
                                o += 1
                    t = out
                    improved = True
    return t

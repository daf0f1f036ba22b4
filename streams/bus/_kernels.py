"""Numba kernels of the bus matcher (:mod:`streams.bus.matching`). Arrays in, numbers out.

Each kernel has a plain-Python twin in ``tests/busops/matching_twins.py``; the tests
compare them on seeded random shapes, points and windows. The wrappers in
:mod:`streams.bus.gtfs` convert; these trust their inputs (finite coordinates,
``cum_m`` non-decreasing with at least two vertices).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit


@njit(cache=True)
def project_window(x_m, y_m, cum_m, px_m, py_m, lo_m, hi_m):
    """Nearest point of a polyline to (px, py) among its part between ``lo_m`` and ``hi_m`` along it.

    Returns ``(dist_m, offset_m, found)``: the distance along the polyline of the nearest
    point and the point's distance from it; ``found`` is False when the window holds no
    segment. A segment the window cuts is measured from the window's end.
    """
    n = len(cum_m)
    lo_i = max(np.searchsorted(cum_m, lo_m, side="right") - 1, 0)
    hi_i = min(np.searchsorted(cum_m, hi_m, side="left"), n - 1)
    best_off = math.inf
    best_along = 0.0
    found = False
    for i in range(lo_i, hi_i):
        x0, y0 = x_m[i], y_m[i]
        dx, dy = x_m[i + 1] - x0, y_m[i + 1] - y0
        seg2 = dx * dx + dy * dy
        t = ((px_m - x0) * dx + (py_m - y0) * dy) / (seg2 if seg2 > 0 else 1.0)
        t = min(max(t, 0.0), 1.0)
        raw = cum_m[i] + t * (cum_m[i + 1] - cum_m[i])
        along = min(max(raw, lo_m), hi_m)
        if along != raw:
            off = np.hypot(px_m - np.interp(along, cum_m, x_m), py_m - np.interp(along, cum_m, y_m))
        else:
            off = np.hypot(px_m - (x0 + t * dx), py_m - (y0 + t * dy))
        if not found or off < best_off:
            best_off, best_along, found = off, along, True
    return best_along, best_off, found

"""Plain-Python twins of the bus matcher's Numba kernels (:mod:`streams.bus._kernels`)."""

from __future__ import annotations

import math

import numpy as np


def project_window(x_m, y_m, cum_m, px_m, py_m, lo_m, hi_m):
    """Twin of :func:`streams.bus._kernels.project_window`: the same, as numpy over every segment."""
    lo_i = max(int(np.searchsorted(cum_m, lo_m, side="right")) - 1, 0)
    hi_i = min(int(np.searchsorted(cum_m, hi_m, side="left")), len(cum_m) - 1)
    x0, y0 = x_m[lo_i:hi_i], y_m[lo_i:hi_i]
    dx, dy = x_m[lo_i + 1:hi_i + 1] - x0, y_m[lo_i + 1:hi_i + 1] - y0
    seg2 = dx * dx + dy * dy
    t = np.clip(((px_m - x0) * dx + (py_m - y0) * dy) / np.where(seg2 > 0, seg2, 1.0), 0.0, 1.0)
    off = np.hypot(px_m - (x0 + t * dx), py_m - (y0 + t * dy))
    raw = cum_m[lo_i:hi_i] + t * (cum_m[lo_i + 1:hi_i + 1] - cum_m[lo_i:hi_i])
    along = np.clip(raw, lo_m, hi_m)
    clipped = along != raw
    if clipped.any():
        off[clipped] = np.hypot(px_m - np.interp(along[clipped], cum_m, x_m),
                                py_m - np.interp(along[clipped], cum_m, y_m))
    if len(off) == 0:
        return 0.0, math.inf, False
    k = int(np.argmin(off))
    return float(along[k]), float(off[k]), True

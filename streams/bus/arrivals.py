"""Stop arrivals and departures, interpolated between matched fixes.

The matcher (:mod:`streams.bus.matching`) gives each accepted fix a trip and a
distance along the trip's shape. Between two consecutive fixes of a trip the
bus is assumed to move at constant speed, so the time it reached a stop's
distance is a linear interpolation. That is how TheTransitClock determines
arrivals, and it is also how :mod:`streams.bus.accuracy` derives ground truth.

A stop's *arrival* is when the bus reached the stop's distance along the shape
less ``approach_m``; its *departure* is when it passed the stop's distance plus
``depart_m`` (so a bus standing at a stop between fixes shows a dwell). The
events are :class:`topis.schemas.bus.StopArrival` and
:class:`~topis.schemas.bus.StopDeparture`.
"""

from __future__ import annotations

import numpy as np


def crossing_times(ts0: float, dist0_m: float, ts1: float, dist1_m: float,
                   marks_m: np.ndarray) -> np.ndarray:
    """Times at which a bus moving from ``dist0_m`` to ``dist1_m`` passed each mark.

    Parameters
    ----------
    ts0, dist0_m
        Earlier fix: time (epoch s) and distance along the shape (m).
    ts1, dist1_m
        Later fix; ``ts1 > ts0``.
    marks_m
        Distances along the shape (m) in ``(dist0_m, dist1_m]``.

    Returns
    -------
    numpy.ndarray
        Epoch seconds, linear in distance between the two fixes. When the bus did
        not move (``dist1_m == dist0_m``) every mark gets ``ts1``.
    """
    marks = np.asarray(marks_m, dtype=float)
    span = dist1_m - dist0_m
    if span <= 0.0:
        return np.full(marks.shape, float(ts1))
    frac = np.clip((marks - dist0_m) / span, 0.0, 1.0)
    return ts0 + frac * (ts1 - ts0)


def passed_between(stop_dist_m: np.ndarray, dist0_m: float, dist1_m: float, offset_m: float = 0.0) -> np.ndarray:
    """Indices of stops whose mark (stop distance + ``offset_m``) lies in ``(dist0_m, dist1_m]``."""
    marks = np.asarray(stop_dist_m) + offset_m
    lo = int(np.searchsorted(marks, dist0_m, side="right"))
    hi = int(np.searchsorted(marks, dist1_m, side="right"))
    return np.arange(lo, hi)

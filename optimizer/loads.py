"""Load profiles: passengers on board between consecutive stops of a route.

A Seoul route number is one cyclic service: from the first terminal (usually the
garage) out to the far turn-around and back, or round a loop. Its stops, in
running order, form a cycle, and the load on the link after stop ``i`` is

    load_i = sum_{k <= i} (boardings_k - alightings_k)  + load_before_start

Card data has fewer alighting taps than boardings (not everyone taps out;
May 2022: 137.0 M alightings for 140.2 M boardings), so alightings are scaled to
the boardings total before summing: untapped alightings are assumed to follow
the tapped ones. On a cycle the start is chosen where the cumulative sum is
lowest, so that the load is >= 0 everywhere and 0 at one point - the terminal
where everyone has alighted (Seoul routes empty at the garage terminal). Loads
carried through the far turn-around, as on a loop, are kept: nothing forces the
load to zero there.

Travelled the wrong way round, a cycle's profile becomes ``max(load) - load``
(the cumulative sum changes sign), so loads alone cannot tell the direction of
a route whose load is flat; :mod:`optimizer.stop_order` takes the direction
from the side of the road the stops are on instead.
"""

from __future__ import annotations

import numpy as np


def scaled_net_flow(board: np.ndarray, alight: np.ndarray) -> np.ndarray:
    """Boardings minus alightings scaled to the boardings total (along axis 0).

    Parameters
    ----------
    board, alight : ndarray, shape (n,) or (n, k)
        Counts per stop in running order (``k`` periods, e.g. hours).

    Returns
    -------
    ndarray, float, same shape: net flow per stop; sums to 0 per column unless
    there are no alightings at all (then the raw boardings).
    """
    board = np.asarray(board, dtype=float)
    alight = np.asarray(alight, dtype=float)
    total_b = board.sum(axis=0)
    total_a = alight.sum(axis=0)
    scale = np.divide(total_b, total_a, out=np.zeros_like(np.asarray(total_b, dtype=float)), where=total_a > 0)
    return board - alight * scale


def cyclic_link_loads(board: np.ndarray, alight: np.ndarray) -> np.ndarray:
    """Load on the link after each stop of a cyclic route, lowest load 0.

    Parameters
    ----------
    board, alight : ndarray, shape (n,) or (n, k)

    Returns
    -------
    ndarray, float, shape like ``board``: ``load[i]`` rides from stop ``i`` to
    stop ``i + 1`` (the last link returns to stop 0).

    Examples
    --------
    >>> cyclic_link_loads([5, 0, 0, 3, 0], [0, 2, 3, 0, 3]).tolist()
    [5.0, 3.0, 0.0, 3.0, 0.0]
    """
    cum = np.cumsum(scaled_net_flow(board, alight), axis=0)
    return cum - cum.min(axis=0)


def path_link_loads(board: np.ndarray, alight: np.ndarray) -> np.ndarray:
    """Load after each stop of a one-way path that starts empty (no shift); the
    last entry is what is left on board after the last stop (0 when balanced)."""
    return np.cumsum(scaled_net_flow(board, alight), axis=0)


def start_index(board: np.ndarray, alight: np.ndarray) -> int:
    """Stop at which a cyclic route starts empty: the one after the lowest cumulative load."""
    cum = np.cumsum(scaled_net_flow(board, alight))
    return int((np.argmin(cum) + 1) % cum.size)


def pax_km_over_capacity(load_per_h: np.ndarray, capacity_per_h: float | np.ndarray, link_m: np.ndarray) -> float:
    """Passenger-km per hour riding above capacity: sum of max(0, load - capacity) x link km."""
    excess = np.maximum(0.0, np.asarray(load_per_h, dtype=float) - capacity_per_h)
    return float(np.sum(excess * np.asarray(link_m, dtype=float)) / 1000.0)

"""Running order of a route's stops, rebuilt from stop coordinates.

The Seoul ridership file lists a route's stops in ARS-id order, not running
order, so the order is rebuilt. The stops of one route number (both
directions) are the stops of one cyclic service. Stops of the same name across
a road are paired, a short open path through the pairs (nearest neighbour,
2-opt, or-opt) gives the street order from one terminal to the other, and the
side of the road each stop is on gives its direction (Korea drives on the
right: :func:`directional_cycle`). The cycle starts where the bus is emptiest
(:func:`optimizer.loads.start_index`). A plain shortest closed tour through all
stops is not enough: with staggered stops, zig-zagging across the road costs
about as much as going out on one side and back on the other.

Checked on the May 2022 data (``tests/optimizer_plans/test_seoul_data.py``):
route 470's rebuilt order follows its real itinerary, and for 79 % of routes
the emptiest point lies within 10 % of the cycle of a terminal (one of the two
stops farthest apart) against 41 % if the direction were reversed. The
direction labels in the N routes' names are not stop directions (every stop
appears under both), so they cannot serve as ground truth.

Limits: stops without coordinates (outside Seoul's stop table, ~6 % of
boardings, mostly Gyeonggi termini) are left out and reported; a stop served in
both directions under one ARS id appears once; routes using different streets
per direction, or doubling back, can be misordered locally.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from optimizer import _plan_kernels, loads
from optimizer.seoul import Ridership, StopLocations

log = logging.getLogger(__name__)

#: nearest-neighbour starts tried per route before keeping the shortest improved tour.
TOUR_STARTS = 4
#: stops of the same name closer than this are the two sides of one street.
PAIR_RADIUS_M = 300.0
#: an open path whose ends are closer than this is a loop route.
LOOP_GAP_M = 800.0


@dataclass(frozen=True)
class RouteSequence:
    """One route's located stops in running order (a cycle starting at the terminal).

    Attributes
    ----------
    route_no : str
    ars_id : ndarray of str, shape (n,)
    stop_name : ndarray of str
    xy_m : ndarray, shape (n, 2), metres (see :func:`optimizer.seoul.to_metres`)
    board, alight : ndarray, int64, shape (n, 24), month totals per hour
    direction : ndarray of str, the file's route name per stop (direction label
        where the file has one)
    link_m : ndarray, shape (n,), straight-line metres to the next stop (cyclic)
    unlocated_board_share : float, share of the route's boardings at stops
        without coordinates (left out)
    """

    route_no: str
    ars_id: np.ndarray
    stop_name: np.ndarray
    xy_m: np.ndarray
    board: np.ndarray
    alight: np.ndarray
    direction: np.ndarray
    link_m: np.ndarray
    unlocated_board_share: float

    @property
    def length_m(self) -> float:
        """Straight-line length of the whole cycle."""
        return float(self.link_m.sum())


def distance_matrix_m(xy_m: np.ndarray) -> np.ndarray:
    """Euclidean distances (n, n) in metres."""
    xy_m = np.asarray(xy_m, dtype=float)
    diff = xy_m[:, None, :] - xy_m[None, :, :]
    return np.ascontiguousarray(np.sqrt((diff**2).sum(axis=2)))


def closed_tour(xy_m: np.ndarray, starts: int = TOUR_STARTS) -> np.ndarray:
    """Short closed tour through points (indices), orientation and start arbitrary.

    Parameters
    ----------
    xy_m : ndarray, shape (n, 2)
    starts : int, nearest-neighbour starts to try (spread over the points).

    Returns
    -------
    ndarray of int64, a permutation of ``range(n)``.
    """
    return tour_of_matrix(distance_matrix_m(xy_m), starts)


def tour_of_matrix(dist: np.ndarray, starts: int = TOUR_STARTS) -> np.ndarray:
    """Closed tour on a symmetric distance matrix: nearest neighbour + 2-opt + or-opt, best of ``starts``."""
    n = dist.shape[0]
    if n <= 3:
        return np.arange(n, dtype=np.int64)
    dist = np.ascontiguousarray(dist, dtype=np.float64)
    best, best_len = None, np.inf
    for start in np.unique(np.linspace(0, n - 1, min(starts, n)).astype(np.int64)):
        tour = _plan_kernels.improve_tour(dist, _plan_kernels.nearest_neighbour_tour(dist, start))
        length = _plan_kernels.tour_length(dist, tour)
        if length < best_len - 1e-9:
            best, best_len = tour, length
    return best


def open_path(xy_m: np.ndarray) -> np.ndarray:
    """Short Hamiltonian path through points: a closed tour with a dummy point at
    distance 0 from all, cut at the dummy."""
    n = len(xy_m)
    if n <= 2:
        return np.arange(n, dtype=np.int64)
    dist = np.zeros((n + 1, n + 1))
    dist[:n, :n] = distance_matrix_m(xy_m)
    tour = tour_of_matrix(dist)
    k = int(np.flatnonzero(tour == n)[0])
    return np.concatenate([tour[k + 1:], tour[:k]]).astype(np.int64)


def group_same_name(names: np.ndarray, xy_m: np.ndarray, radius_m: float = PAIR_RADIUS_M) -> np.ndarray:
    """Group label per stop: stops of the same name within ``radius_m`` of the
    group's first stop share a label (the two sides of a road, usually)."""
    labels = np.full(len(names), -1, dtype=np.int64)
    first: dict[str, list[int]] = {}
    next_label = 0
    for i, name in enumerate(names.tolist()):
        for j in first.get(name, []):
            if np.hypot(*(xy_m[i] - xy_m[j])) <= radius_m:
                labels[i] = labels[j]
                break
        else:
            labels[i] = next_label
            next_label += 1
            first.setdefault(name, []).append(i)
    return labels


def _cross(t: np.ndarray, v: np.ndarray) -> np.ndarray:
    return t[..., 0] * v[..., 1] - t[..., 1] * v[..., 0]


def directional_cycle(names: np.ndarray, xy_m: np.ndarray) -> tuple[np.ndarray, bool]:
    """Cyclic running order of a route's stops using the right-hand-traffic rule.

    Stops of the same name across a road are grouped; an open path through the
    groups gives the street order from one terminal to the other; at each group
    the stop on the right of that direction of travel is outbound, the others
    inbound (Korea drives on the right and buses stop at the kerb). The cycle is
    the outbound stops then the inbound ones in reverse. When the path's ends
    are close (< ``LOOP_GAP_M``), the route is a one-way loop: the cycle is the
    closed tour of the groups, oriented so that most stops lie on the right.

    Returns
    -------
    order : ndarray of int, the cycle (start not yet chosen)
    is_loop : bool
    """
    labels = group_same_name(names, xy_m)
    m = int(labels.max()) + 1
    centre = np.zeros((m, 2))
    np.add.at(centre, labels, xy_m)
    centre /= np.bincount(labels, minlength=m)[:, None]
    path = open_path(centre)
    is_loop = m > 3 and np.hypot(*(centre[path[0]] - centre[path[-1]])) < LOOP_GAP_M
    if is_loop:
        path = tour_of_matrix(distance_matrix_m(centre))
    pos = centre[path]
    ahead = np.roll(pos, -1, axis=0) if is_loop else np.vstack([pos[1:], pos[-1:] + (pos[-1:] - pos[-2:-1])])
    behind = np.roll(pos, 1, axis=0) if is_loop else np.vstack([pos[:1] - (pos[1:2] - pos[:1]), pos[:-1]])
    tangent = ahead - behind
    outbound, inbound = [], []
    right_votes = 0.0
    for k, g in enumerate(path.tolist()):
        members = np.flatnonzero(labels == g)
        # side relative to the centreline: the group centre for pairs, the chord for single stops
        ref = pos[k] if members.size > 1 else (behind[k] + ahead[k]) / 2
        side = _cross(tangent[k], xy_m[members] - ref)
        right_votes += float(np.sum(np.sign(side)))
        along = (xy_m[members] - pos[k]) @ tangent[k]
        for i in members[np.argsort(along)]:
            (inbound if side[members.tolist().index(i)] > 0 and not is_loop else outbound).append(int(i))
    if is_loop:
        order = np.array(outbound, dtype=np.int64)
        return (order[::-1] if right_votes > 0 else order), True
    return np.array(outbound + inbound[::-1], dtype=np.int64), False


def cycle_links_m(xy_m: np.ndarray) -> np.ndarray:
    """Straight-line metres from each point to the next, the last back to the first."""
    xy_m = np.asarray(xy_m, dtype=float)
    return np.sqrt(((np.roll(xy_m, -1, axis=0) - xy_m) ** 2).sum(axis=1))


def route_sequence(ridership: Ridership, stops: StopLocations, route_no: str,
                   stop_index: dict[str, int] | None = None, stop_xy_m: np.ndarray | None = None) -> RouteSequence:
    """Rebuild one route's running order from the ridership rows and stop coordinates.

    Rows of the same ARS id (both directions, or a stop passed twice) are summed.

    Raises
    ------
    KeyError
        If the route has no rows, or fewer than 2 located stops.
    """
    rows = ridership.rows_of(route_no)
    if rows.size == 0:
        raise KeyError(f"route {route_no!r} not in the ridership data")
    index = stop_index if stop_index is not None else stops.index()
    ars_all = ridership.ars_id[rows]
    located = np.array([a in index for a in ars_all.tolist()], dtype=bool)
    total = ridership.board[rows].sum()
    unlocated = float(ridership.board[rows[~located]].sum() / total) if total > 0 else 0.0
    rows = rows[located]
    ars, first, inverse = np.unique(ridership.ars_id[rows], return_index=True, return_inverse=True)
    if ars.size < 2:
        raise KeyError(f"route {route_no!r} has fewer than 2 stops with coordinates")
    board = np.zeros((ars.size, 24), dtype=np.int64)
    alight = np.zeros((ars.size, 24), dtype=np.int64)
    np.add.at(board, inverse, ridership.board[rows])
    np.add.at(alight, inverse, ridership.alight[rows])
    stop_rows = np.array([index[a] for a in ars.tolist()])
    xy = (stop_xy_m if stop_xy_m is not None else stops.xy_m())[stop_rows]
    names = ridership.stop_name[rows][first]
    cycle, _ = directional_cycle(names, xy)
    order = np.roll(cycle, -loads.start_index(board.sum(axis=1)[cycle], alight.sum(axis=1)[cycle]))
    return RouteSequence(
        route_no=route_no,
        ars_id=ars[order],
        stop_name=ridership.stop_name[rows][first][order],
        xy_m=xy[order],
        board=board[order],
        alight=alight[order],
        direction=ridership.route_name[rows][first][order],
        link_m=cycle_links_m(xy[order]),
        unlocated_board_share=unlocated,
    )


def all_route_sequences(ridership: Ridership, stops: StopLocations, route_nos: list[str] | None = None,
                        progress: bool = False) -> dict[str, RouteSequence]:
    """:func:`route_sequence` for many routes (default all); routes with < 2 located stops are skipped."""
    from tqdm import tqdm

    index, xy_all = stops.index(), stops.xy_m()
    out: dict[str, RouteSequence] = {}
    for route_no in tqdm(route_nos or ridership.routes(), desc="stop order", unit="route", disable=not progress):
        try:
            out[route_no] = route_sequence(ridership, stops, route_no, index, xy_all)
        except KeyError as exc:
            log.info("skipped: %s", exc)
    return out


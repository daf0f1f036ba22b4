"""Link speeds from bus probes: space-mean speed per road link per 5-minute bin.

Taxi probes take another path: map matching (:mod:`streams.traffic.mapmatch`) and
link traversals (:mod:`streams.traffic.traversal_speeds`), published with ``source="taxi"``.

Each bus fix is mapped onto the nearest road link (shapely ``STRtree`` over
the link geometries, within ``max_snap_m``) and given its distance along the
link. Consecutive fixes of one vehicle form a *pair*; a pair counts when both
fixes are on the same link or on adjacent links (sharing an end node), and its
network distance is the distance along the link(s) between them. A pair that
spans two links gives each link its share of the distance and of the time
(time split in proportion to distance).

Discarded pairs:

* time gap ``<= 0`` (duplicates, out of order) or ``> max_gap_s``;
* *teleports*: implied speed above ``max_speed_kph``, or a straight-line jump
  that the network distance cannot explain;
* *dwell at stops*: a fix within ``stop_radius_m`` of a bus stop that
  reports a speed below ``dwell_speed_kph``, or a pair that moved less than
  ``dwell_move_m`` with a fix near a stop. Dropping every pair that touches a
  dwelling fix keeps the door-open time out of the approach and departure. A bus standing still elsewhere
  (queue, signal) is kept: that is what congestion looks like;
* *frozen positions*: both fixes have bit-identical coordinates. A working
  receiver jitters by decimetres even at rest; one that repeats its last
  fix is not measuring, and would read as a bus stuck in a jam.

Per link and bin (bin of the midpoint time of each link's share) the speed is
space-mean: total distance / total time, ``n_probes`` the distinct vehicles.

Streaming: :func:`advance` keeps each vehicle's last fix and the open bins in
:class:`LinkSpeedState` and emits bins once the watermark (latest fix time
minus ``lateness_s``) has passed their end. Bins carry ``dist_m`` and
``time_s`` so partial results of several partitions can be summed exactly
(:func:`merge`). :func:`link_speeds` runs a whole batch at once.
"""

from __future__ import annotations

import logging
import math
import operator
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property

import msgspec
import numpy as np
import shapely

from streams.traffic.traversal_speeds import confidence
from topis.geo import Projection
from topis.schemas.inputs import BusPosition
from topis.schemas.traffic import LinkSpeed

log = logging.getLogger(__name__)


class Link(msgspec.Struct, frozen=True):
    """One road link of the link table."""

    link_id: str
    geometry: list[tuple[float, float]]  #: (lat, lon) vertices, WGS84 degrees, in digitised order
    length_m: float  #: official length; distances along the link are scaled to it


class SpeedRules(msgspec.Struct, frozen=True):
    """Thresholds of the probe filter."""

    bin_s: float = 300.0  #: bin length
    max_snap_m: float = 30.0  #: a fix further than this from every link is unmapped
    max_gap_s: float = 180.0  #: pairs further apart in time are not used
    max_speed_kph: float = 130.0  #: faster pairs are teleports
    dwell_move_m: float = 10.0  #: moving less than this near a stop is dwell
    dwell_speed_kph: float = 3.0  #: a fix near a stop reporting less than this speed is dwelling
    stop_radius_m: float = 30.0  #: how near a stop counts as at the stop
    lateness_s: float = 120.0  #: a bin is emitted once fixes this much past its end arrived


@dataclass(frozen=True)
class LinkNetwork:
    """Links projected to local metres with a spatial index and end-node topology."""

    link_ids: list[str]
    lines: np.ndarray  #: shapely LineStrings in local metres
    scale: np.ndarray  #: length_m / geometric length, per link
    length_m: np.ndarray
    start_node: np.ndarray  #: node id of each link's first vertex
    end_node: np.ndarray
    lat0: float
    lon0: float
    tree: shapely.STRtree = field(repr=False)
    stop_tree: shapely.STRtree = field(repr=False)  #: bus stop points in local metres (may be empty)

    def to_xy(self, lat, lon) -> tuple[np.ndarray, np.ndarray]:
        """Local metres (east, north) of WGS84 points."""
        return self.projection.to_xy(np.asarray(lat, float), np.asarray(lon, float))

    @cached_property
    def projection(self) -> Projection:
        """The projection of :meth:`to_xy`."""
        return Projection(self.lat0, self.lon0)

    @cached_property
    def scale_list(self) -> list[float]:
        """``scale`` as Python floats (per-fix reads without numpy scalars)."""
        return self.scale.tolist()

    @cached_property
    def ends_list(self) -> list[tuple[int, int, float]]:
        """``(start_node, end_node, length_m)`` of each link as Python numbers (per-pair reads)."""
        return list(zip(self.start_node.tolist(), self.end_node.tolist(), self.length_m.tolist()))


def build_network(links: Sequence[Link], stops_lat_lon: Iterable[tuple[float, float]] = (), node_snap_m: float = 1.0) -> LinkNetwork:
    """Project the link table, index it, and find which links share end nodes.

    Raises
    ------
    ValueError
        If a link has fewer than two vertices or a non-positive length.
    """
    if not links:
        raise ValueError("link table is empty")
    for ln in links:
        if len(ln.geometry) < 2 or not ln.length_m > 0:
            raise ValueError(f"link {ln.link_id!r}: needs >= 2 vertices and length_m > 0")
    all_ll = np.array([p for ln in links for p in ln.geometry], dtype=float)
    proj = Projection.around(all_ll[:, 0], all_ll[:, 1])
    lat0, lon0 = proj.lat0, proj.lon0
    lines, ends = [], []
    for ln in links:
        ll = np.asarray(ln.geometry, dtype=float)
        x, y = proj.to_xy(ll[:, 0], ll[:, 1])
        lines.append(shapely.linestrings(np.column_stack([x, y])))
        ends.append(((x[0], y[0]), (x[-1], y[-1])))
    lines_arr = np.array(lines, dtype=object)
    geom_len = shapely.length(lines_arr)
    length_m = np.array([ln.length_m for ln in links], dtype=float)
    node_of: dict[tuple[int, int], int] = {}
    start_node = np.empty(len(links), dtype=np.int64)
    end_node = np.empty(len(links), dtype=np.int64)
    for i, (a, b) in enumerate(ends):
        start_node[i] = node_of.setdefault(_snap(a, node_snap_m), len(node_of))
        end_node[i] = node_of.setdefault(_snap(b, node_snap_m), len(node_of))
    stops = np.asarray(list(stops_lat_lon), dtype=float).reshape(-1, 2)
    sx, sy = proj.to_xy(stops[:, 0], stops[:, 1])
    return LinkNetwork(
        link_ids=[ln.link_id for ln in links], lines=lines_arr,
        scale=length_m / np.maximum(geom_len, 1e-9), length_m=length_m,
        start_node=start_node, end_node=end_node, lat0=lat0, lon0=lon0,
        tree=shapely.STRtree(lines_arr), stop_tree=shapely.STRtree(shapely.points(sx, sy)),
    )


def road_network(feed=None, city=None) -> LinkNetwork:
    """The links a worker measures: a real ``feed``'s stop-to-stop shapes when given, else the demo city's roads.

    ``city`` is a :class:`topis.city.model.City` or a callable returning one
    (called only when needed); the demo city's link ids match the wall map.
    """
    if feed is not None:
        return build_network(links_from_feed(feed))
    return build_network(links_from_city(city() if callable(city) else city))


def links_from_city(city) -> list[Link]:
    """The link table of the demo city (:class:`topis.city.model.City`): its directed road links."""
    out = []
    for _, _, d in city.graph.edges(data=True):
        lon, lat = d["geometry"].xy
        out.append(Link(d["link_id"], list(zip(lat, lon)), float(d["length_m"])))
    return out


def links_from_feed(feed) -> list[Link]:
    """Stop-to-stop links from a GTFS feed's shapes (:class:`streams.bus.gtfs.Feed`).

    Where no road network is at hand, the stretch of shape between two
    consecutive stops is the link (id ``"FROM>TO"``, shared by every route that
    serves both stops in that order). Trips without a shape are skipped.
    """
    out: dict[str, Link] = {}
    for trip_id in sorted(feed.trips):
        trip = feed.trips[trip_id]
        shape = feed.shapes.get(trip.shape_id)
        if shape is None or len(shape.cum_m) < 2:
            continue
        for k in range(len(trip.stop_ids) - 1):
            link_id = f"{trip.stop_ids[k]}>{trip.stop_ids[k + 1]}"
            d0, d1 = float(trip.dist_m[k]), float(trip.dist_m[k + 1])
            if link_id in out or not d1 > d0:
                continue
            inner = (shape.cum_m > d0) & (shape.cum_m < d1)
            cum = np.concatenate([[d0], shape.cum_m[inner], [d1]])
            lat = np.interp(cum, shape.cum_m, shape.lat)
            lon = np.interp(cum, shape.cum_m, shape.lon)
            out[link_id] = Link(link_id, list(zip(lat.tolist(), lon.tolist())), d1 - d0)
    return [out[k] for k in sorted(out)]


def _snap(xy: tuple[float, float], snap_m: float) -> tuple[int, int]:
    return (round(xy[0] / snap_m), round(xy[1] / snap_m))


def map_fixes(
    net: LinkNetwork,
    x_m: np.ndarray,
    y_m: np.ndarray,
    max_snap_m: float,
    heading_deg: np.ndarray | None = None,
    tie_m: float = 2.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Nearest link of each point and distance along it (scaled to ``length_m``).

    Links within ``tie_m`` of the nearest one are ties (the two directions of
    a two-way road share a geometry). A tie goes to the link whose direction
    at that point is closest to the fix's ``heading_deg`` (clockwise from
    north), or to the lowest link index where the heading is NaN or absent.

    The batches are small (one message), so after the vectorised shapely calls the
    candidates are picked in plain Python, and bearings are computed only for ties.

    Returns
    -------
    (link index int64, along_m float64)
        ``-1`` and NaN for points further than ``max_snap_m`` from every link.
    """
    n = len(x_m)
    if n == 0:
        return np.full(0, -1, dtype=np.int64), np.full(0, np.nan)
    pts = shapely.points(np.column_stack((x_m, y_m)))
    pt_idx, ln_idx = net.tree.query(pts, predicate="dwithin", distance=max_snap_m)
    row_lines, row_pts = net.lines[ln_idx], pts[pt_idx]
    dist_m = shapely.distance(row_pts, row_lines).tolist()
    pos_m = shapely.line_locate_point(row_lines, row_pts).tolist()
    link_of_row = ln_idx.tolist()
    rows_of: dict[int, list[int]] = {}  # point -> its candidate rows (query order)
    for r, p in enumerate(pt_idx.tolist()):
        rows_of.setdefault(p, []).append(r)
    for p, rows in rows_of.items():
        if len(rows) > 1:  # keep the ties: rows within tie_m of the nearest
            nearest_m = min(dist_m[r] for r in rows)
            rows_of[p] = [r for r in rows if dist_m[r] <= nearest_m + tie_m]
    off_heading = _tie_heading_diff_deg(rows_of, heading_deg, row_lines, pos_m)
    link, along = [-1] * n, [math.nan] * n
    scale = net.scale_list
    for p, rows in rows_of.items():
        best = rows[0]
        if len(rows) > 1:  # lowest cost wins, the first row among equals (as a stable sort would)
            best_cost = math.inf
            for r in rows:
                cost = link_of_row[r] * 1e-9 + off_heading.get(r, 0.0)  # lowest index wins among equals
                if cost < best_cost:
                    best, best_cost = r, cost
        link[p] = link_of_row[best]
        along[p] = pos_m[best] * scale[link[p]]
    return np.array(link, dtype=np.int64), np.array(along, dtype=float)


def _tie_heading_diff_deg(rows_of: dict[int, list[int]], heading_deg, row_lines: np.ndarray, pos_m: list[float]) -> dict[int, float]:
    """Row -> how far its link's direction is from its fix's heading (degrees), for rows of tied points.

    Only points with a heading and more than one candidate need the bearing; rows
    whose difference is NaN are left out (they cost nothing, as if the heading were absent).
    """
    if heading_deg is None:
        return {}
    head = np.asarray(heading_deg, dtype=float).tolist()
    rows, heads = [], []
    for p, rs in rows_of.items():
        if len(rs) > 1 and not math.isnan(head[p]):
            rows += rs
            heads += [head[p]] * len(rs)
    if not rows:
        return {}
    diff = _angle_diff_deg(_line_bearing_deg(row_lines[rows], np.array([pos_m[r] for r in rows])), np.array(heads)).tolist()
    return {r: d for r, d in zip(rows, diff) if not math.isnan(d)}


def _line_bearing_deg(lines: np.ndarray, pos_m: np.ndarray) -> np.ndarray:
    """Bearing (clockwise from north) of each line at distance ``pos_m`` along it: from 1 m before to 1 m after."""
    length = shapely.length(lines)
    ends = shapely.line_interpolate_point(np.concatenate([lines, lines]),
                                          np.concatenate([np.clip(pos_m - 1.0, 0.0, length), np.clip(pos_m + 1.0, 0.0, length)]))
    xy = shapely.get_coordinates(ends)
    a, b = xy[: len(lines)], xy[len(lines):]
    return np.degrees(np.arctan2(b[:, 0] - a[:, 0], b[:, 1] - a[:, 1])) % 360.0


def _angle_diff_deg(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Absolute difference of two bearings, 0..180 (NaN where either is NaN)."""
    return np.abs((a - b + 180.0) % 360.0 - 180.0)


def pair_distances(net: LinkNetwork, l1: np.ndarray, s1: np.ndarray, l2: np.ndarray, s2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Network distance of each fix pair, and the part of it on the first link.

    Same link: ``|s2 - s1|``, all on the first link. Adjacent links: through the
    shared end node (the shortest if they share both). Otherwise NaN.
    :func:`_pair_distance` is the same for one pair.

    Returns
    -------
    (dist_m, dist_on_first_m)
    """
    dist = np.full(len(l1), np.nan)
    first = np.full(len(l1), np.nan)
    same = l1 == l2
    dist[same] = np.abs(s2[same] - s1[same])
    first[same] = dist[same]
    len1, len2 = net.length_m[l1], net.length_m[l2]
    for end1, end2 in ((0, 0), (0, 1), (1, 0), (1, 1)):
        n1 = net.start_node[l1] if end1 == 0 else net.end_node[l1]
        n2 = net.start_node[l2] if end2 == 0 else net.end_node[l2]
        part1 = s1 if end1 == 0 else len1 - s1
        part2 = s2 if end2 == 0 else len2 - s2
        cand = (~same) & (n1 == n2)
        better = cand & ~(part1 + part2 >= dist)  # NaN-safe: true where dist is NaN or larger
        dist[better] = part1[better] + part2[better]
        first[better] = part1[better]
    return dist, first


def _pair_distance(net: LinkNetwork, l1: int, s1: float, l2: int, s2: float) -> tuple[float, float]:
    """:func:`pair_distances` of one pair of mapped fixes (same arithmetic, same order)."""
    if l1 == l2:
        return abs(s2 - s1), abs(s2 - s1)
    dist = first = math.nan
    ends1, ends2 = net.ends_list[l1], net.ends_list[l2]  # (start node, end node, length_m)
    for end1, end2 in ((0, 0), (0, 1), (1, 0), (1, 1)):
        if ends1[end1] == ends2[end2]:
            part1 = s1 if end1 == 0 else ends1[2] - s1
            part2 = s2 if end2 == 0 else ends2[2] - s2
            if not part1 + part2 >= dist:  # NaN-safe: true where dist is NaN or larger
                dist, first = part1 + part2, part1
    return dist, first


class _Fix(msgspec.Struct, frozen=True):
    ts: float
    x_m: float
    y_m: float
    link: int
    along_m: float
    speed_kph: float = -1.0  #: reported speed; -1 when not reported (keeps the state JSON-safe)


class LinkSpeedState(msgspec.Struct):
    """Streaming state: each vehicle's last fix and the open bins (serialisable)."""

    last_fix: dict[str, _Fix] = msgspec.field(default_factory=dict)
    #: link index -> bin start ts -> [dist_m, time_s, *vehicle ids]
    open_bins: dict[int, dict[int, list]] = msgspec.field(default_factory=dict)
    watermark_ts: float = 0.0
    pairs_used: int = 0
    pairs_dropped: dict[str, int] = msgspec.field(default_factory=dict)  #: reason -> count
    #: ``floor(watermark / bin_s)`` when the open bins were last looked through for closed ones: until it
    #: moves on, no bin can close but one that a late pair reopened (``late``)
    scanned_bin: int = -1
    late: bool = False  #: since that look, a pair went into a bin that had closed


def advance(
    state: LinkSpeedState, positions: Iterable[BusPosition], net: LinkNetwork, rules: SpeedRules = SpeedRules()
) -> tuple[LinkSpeedState, list[LinkSpeed]]:
    """Fold a batch of fixes into the state; return the bins the watermark closed."""
    fixes = sorted(positions, key=_vehicle_then_ts)
    return state, advance_mapped(state, fixes, map_positions(net, fixes, rules), net, rules)


def advance_routes(
    states: dict[str, LinkSpeedState], positions_by_route: dict[str, list[BusPosition]], net: LinkNetwork,
    rules: SpeedRules = SpeedRules(),
) -> dict[str, list[LinkSpeed]]:
    """:func:`advance` for several routes at once (each with its own state): the bins each route closed.

    The fixes of every route are mapped onto the links in one vectorised call
    (:func:`map_positions`), whose cost is mostly per call: a worker's batch of
    many small messages costs about what one large message does. Each route's
    result is what :func:`advance` gives for the same fixes.
    """
    mapped = map_routes(net, positions_by_route, rules)
    return {route: advance_mapped(states[route], fixes, rows, net, rules) for route, (fixes, rows) in mapped.items()}


def map_routes(net: LinkNetwork, positions_by_route: dict[str, list[BusPosition]], rules: SpeedRules = SpeedRules(),
               ) -> dict[str, tuple[list[BusPosition], list[_Row]]]:
    """Each route's fixes sorted as :func:`advance` folds them, and their rows, mapped in one call for all routes."""
    sorted_by_route = {route: sorted(fixes, key=_vehicle_then_ts) for route, fixes in positions_by_route.items()}
    rows = map_positions(net, [p for fixes in sorted_by_route.values() for p in fixes], rules)
    out, start = {}, 0
    for route, fixes in sorted_by_route.items():
        out[route] = (fixes, rows[start:start + len(fixes)])
        start += len(fixes)
    return out


def advance_mapped(state: LinkSpeedState, fixes: list[BusPosition], mapped: list[_Row], net: LinkNetwork,
                   rules: SpeedRules = SpeedRules()) -> list[LinkSpeed]:
    """:func:`advance` of fixes already sorted and mapped (:func:`map_routes`): the bins the watermark closed."""
    if fixes:
        latest_ts = _fold(state, fixes, mapped, net, rules)
        state.watermark_ts = max(state.watermark_ts, latest_ts - rules.lateness_s)
    return _emit(state, net, rules, state.watermark_ts)


_vehicle_then_ts = operator.attrgetter("vehicle_id", "ts")


def flush(state: LinkSpeedState, net: LinkNetwork, rules: SpeedRules = SpeedRules()) -> list[LinkSpeed]:
    """Emit every open bin (end of a replay)."""
    return _emit(state, net, rules, math.inf)


def link_speeds(positions: Iterable[BusPosition], net: LinkNetwork, rules: SpeedRules = SpeedRules()) -> list[LinkSpeed]:
    """Link speeds of a whole batch of fixes, sorted by (bin, link)."""
    state, out = advance(LinkSpeedState(), positions, net, rules)
    return sorted(out + flush(state, net, rules), key=lambda s: (s.bin_start_ts, s.link_id))


#: a fix as the pair filter reads it: (ts, x_m, y_m, link, along_m, speed_kph); speed -1 when not reported
_Row = tuple[float, float, float, int, float, float]


def map_positions(net: LinkNetwork, fixes: Sequence[BusPosition], rules: SpeedRules = SpeedRules()) -> list[_Row]:
    """Each fix as the pair filter reads it (:data:`_Row`): projected and mapped onto its link (:func:`map_fixes`)."""
    if not fixes:
        return []
    cols = np.array([(p.ts, p.lat, p.lon, math.nan if p.heading_deg is None else p.heading_deg,
                      -1.0 if p.speed_kph is None else p.speed_kph) for p in fixes])
    ts, lat, lon, heading, speed = cols.T
    x, y = net.to_xy(lat, lon)
    link, along = map_fixes(net, x, y, rules.max_snap_m, heading)
    return list(zip(ts.tolist(), x.tolist(), y.tolist(), link.tolist(), along.tolist(), speed.tolist()))


def _fold(state: LinkSpeedState, fixes: list[BusPosition], rows: list[_Row], net: LinkNetwork, rules: SpeedRules) -> float:
    """Pair each mapped fix (sorted by vehicle, then time; ``rows`` from :func:`map_positions`) with its
    vehicle's previous fix, and keep the last.

    Returns the latest fix time of the batch.
    """
    veh = [p.vehicle_id for p in fixes]
    # previous fix of each fix: the one before it in the batch, or the state's last fix
    pairs: list[tuple[str, _Row, _Row]] = []
    for i, v in enumerate(veh):
        if i > 0 and veh[i - 1] == v:
            pairs.append((v, rows[i - 1], rows[i]))
        elif (f := state.last_fix.get(v)) is not None:
            pairs.append((v, (f.ts, f.x_m, f.y_m, f.link, f.along_m, f.speed_kph), rows[i]))
    for i, v in enumerate(veh):
        if i + 1 == len(veh) or veh[i + 1] != v:
            old = state.last_fix.get(v)
            t, xi, yi, li, si, vi = rows[i]
            if old is None or t >= old.ts:
                state.last_fix[v] = _Fix(t, xi, yi, li, si if li >= 0 else 0.0, vi)  # 0.0: JSON-safe (no NaN)
    _pairs(state, pairs, net, rules)
    return max(p.ts for p in fixes)


def _drop(state: LinkSpeedState, reason: str, n: int) -> None:
    if n:
        state.pairs_dropped[reason] = state.pairs_dropped.get(reason, 0) + int(n)


#: the reasons a pair is discarded, in the order they are tested (and counted)
_REASONS = ("unmapped", "time_gap", "not_adjacent", "teleport", "frozen_position", "dwell_at_stop")


def _pairs(state: LinkSpeedState, pairs: list[tuple[str, _Row, _Row]], net: LinkNetwork, rules: SpeedRules) -> None:
    """Filter the fix pairs (the first failed test is the reason counted) and add the kept ones to their bins."""
    dropped = dict.fromkeys(_REASONS, 0)
    max_gap_s, max_speed_kph, max_jump_extra_m = rules.max_gap_s, rules.max_speed_kph, 2 * rules.max_snap_m
    mapped = []  # (vehicle, first fix, second fix, dist_m, dist_on_first_m)
    for v, a, b in pairs:
        if a[3] < 0 or b[3] < 0:
            dropped["unmapped"] += 1
        elif (dt := b[0] - a[0]) <= 0 or dt > max_gap_s:
            dropped["time_gap"] += 1
        elif math.isnan((d := _pair_distance(net, a[3], a[4], b[3], b[4]))[0]):
            dropped["not_adjacent"] += 1
        else:
            mapped.append((v, a, b, *d))
    jump_m = np.hypot([b[1] - a[1] for _, a, b, _, _ in mapped], [b[2] - a[2] for _, a, b, _, _ in mapped]).tolist()
    moving = []  # the mapped pairs that may count, and whether each might be dwell at a stop
    dwell_move_m, dwell_speed_kph = rules.dwell_move_m, rules.dwell_speed_kph
    for (v, a, b, dist, first), jump in zip(mapped, jump_m):
        if dist / (b[0] - a[0]) * 3.6 > max_speed_kph or jump > dist + max_jump_extra_m:
            dropped["teleport"] += 1
        elif a[1] == b[1] and a[2] == b[2]:
            dropped["frozen_position"] += 1
        else:
            still = dist < dwell_move_m
            slow1 = still or 0 <= a[5] < dwell_speed_kph  # would be dwell if the first fix is near a stop
            slow2 = still or 0 <= b[5] < dwell_speed_kph
            moving.append((v, a, b, dist, first, slow1, slow2))
    # dwell: a fix near a stop that is slow, or either fix near a stop when the pair hardly moved
    ends = [(a, b) for _, a, b, _, _, slow1, slow2 in moving if slow1 or slow2]
    near = iter(_near_stop(net, [f[1] for ab in ends for f in ab], [f[2] for ab in ends for f in ab], rules))
    kept = []
    for v, a, b, dist, first, slow1, slow2 in moving:
        near1, near2 = (next(near), next(near)) if slow1 or slow2 else (False, False)
        if near1 and slow1 or near2 and slow2:
            dropped["dwell_at_stop"] += 1
        else:
            kept.append((v, a, b, dist, first))
    for reason, n in dropped.items():
        _drop(state, reason, n)
    state.pairs_used += len(kept)
    for v, a, b, d, d1 in kept:
        tt = b[0] - a[0]
        t_first = tt * d1 / d if d > 0 else tt
        _add(state, a[3], a[0] + t_first / 2, d1, t_first, v, rules)
        if b[3] != a[3]:
            _add(state, b[3], a[0] + t_first + (tt - t_first) / 2, d - d1, tt - t_first, v, rules)


def _near_stop(net: LinkNetwork, x_m: list[float], y_m: list[float], rules: SpeedRules) -> list[bool]:
    """Whether each point is within ``stop_radius_m`` of a bus stop (no query without points or stops)."""
    near = [False] * len(x_m)
    if x_m and len(net.stop_tree):
        pt_idx, _ = net.stop_tree.query(shapely.points(x_m, y_m), predicate="dwithin", distance=rules.stop_radius_m)
        for i in pt_idx.tolist():
            near[i] = True
    return near


def _add(state: LinkSpeedState, link: int, mid_ts: float, dist_m: float, time_s: float, vehicle: str, rules: SpeedRules) -> None:
    start = int(math.floor(mid_ts / rules.bin_s) * rules.bin_s)
    if start + rules.bin_s <= state.watermark_ts:
        state.late = True
    acc = state.open_bins.setdefault(link, {}).setdefault(start, [0.0, 0.0])
    acc[0] += dist_m
    acc[1] += time_s
    if vehicle not in acc[2:]:
        acc.append(vehicle)


def _emit(state: LinkSpeedState, net: LinkNetwork, rules: SpeedRules, watermark_ts: float) -> list[LinkSpeed]:
    """Pop the bins that end by ``watermark_ts`` (sorted by link, then start) and the links left without bins.

    The open bins are looked through only when the watermark passed a bin's end
    since the last look, or a late pair went into a closed bin: not on every message.
    """
    if math.isfinite(watermark_ts):  # a flush (inf) always looks
        watermark_bin = math.floor(watermark_ts / rules.bin_s)
        if watermark_bin == state.scanned_bin and not state.late:
            return []
        state.scanned_bin = watermark_bin
    state.late = False
    closing, emptied = [], []
    for link, bins in state.open_bins.items():
        closing += [(link, start) for start in bins if start + rules.bin_s <= watermark_ts]
        if not bins:
            emptied.append(link)
    out = []
    for link, start in sorted(closing):
        bins = state.open_bins[link]
        d, t, *vehicles = bins.pop(start)
        if t > 0:
            out.append(LinkSpeed(net.link_ids[link], float(start), d / t * 3.6, len(vehicles), d, t))
        if not bins:
            emptied.append(link)
    for link in emptied:
        del state.open_bins[link]
    return out


def merge(partials: Iterable[LinkSpeed]) -> list[LinkSpeed]:
    """Sum partial results of the same (link, bin, source) from several partitions.

    ``n_probes`` is summed, which is exact when each vehicle is in one partition. Bus and
    taxi bins of one link stay apart; a taxi bin's confidence is recomputed from the sums.
    """
    acc: dict[tuple[float, str, str], list[float]] = {}
    for s in partials:
        a = acc.setdefault((s.bin_start_ts, s.link_id, s.source), [0.0, 0.0, 0, 0.0])
        a[0] += s.dist_m
        a[1] += s.time_s
        a[2] += s.n_probes
        a[3] += s.time_sq_s2
    out = []
    for (start, link, source), (d, t, n, t2) in sorted(acc.items()):
        if t > 0:
            conf = float(confidence(n, t, t2)) if source == "taxi" else None
            out.append(LinkSpeed(link, start, d / t * 3.6, int(n), d, t, source=source, confidence=conf, time_sq_s2=t2))
    return out

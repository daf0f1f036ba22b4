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
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

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
        return Projection(self.lat0, self.lon0).to_xy(np.asarray(lat, float), np.asarray(lon, float))


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

    Returns
    -------
    (link index int64, along_m float64)
        ``-1`` and NaN for points further than ``max_snap_m`` from every link.
    """
    n = len(x_m)
    link = np.full(n, -1, dtype=np.int64)
    along = np.full(n, np.nan)
    if n == 0:
        return link, along
    pts = shapely.points(x_m, y_m)
    pt_idx, ln_idx = net.tree.query(pts, predicate="dwithin", distance=max_snap_m)
    if len(pt_idx) == 0:
        return link, along
    dist = shapely.distance(pts[pt_idx], net.lines[ln_idx])
    best = np.full(n, np.inf)
    np.minimum.at(best, pt_idx, dist)
    keep = dist <= best[pt_idx] + tie_m
    pt_idx, ln_idx, dist = pt_idx[keep], ln_idx[keep], dist[keep]
    pos = shapely.line_locate_point(net.lines[ln_idx], pts[pt_idx])
    cost = ln_idx.astype(float) * 1e-9  # lowest index wins among equals
    if heading_deg is not None:
        head = np.asarray(heading_deg, dtype=float)[pt_idx]
        diff = _angle_diff_deg(_line_bearing_deg(net.lines[ln_idx], pos), head)
        cost = cost + np.where(np.isnan(diff), 0.0, diff)
    order = np.lexsort((cost, pt_idx))
    first = np.ones(len(order), dtype=bool)
    first[1:] = pt_idx[order][1:] != pt_idx[order][:-1]
    sel = order[first]
    link[pt_idx[sel]] = ln_idx[sel]
    along[pt_idx[sel]] = pos[sel] * net.scale[ln_idx[sel]]
    return link, along


def _line_bearing_deg(lines: np.ndarray, pos_m: np.ndarray) -> np.ndarray:
    """Bearing (clockwise from north) of each line at distance ``pos_m`` along it."""
    length = shapely.length(lines)
    a = shapely.line_interpolate_point(lines, np.clip(pos_m - 1.0, 0.0, length))
    b = shapely.line_interpolate_point(lines, np.clip(pos_m + 1.0, 0.0, length))
    return np.degrees(np.arctan2(shapely.get_x(b) - shapely.get_x(a), shapely.get_y(b) - shapely.get_y(a))) % 360.0


def _angle_diff_deg(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Absolute difference of two bearings, 0..180 (NaN where either is NaN)."""
    return np.abs((a - b + 180.0) % 360.0 - 180.0)


def pair_distances(net: LinkNetwork, l1: np.ndarray, s1: np.ndarray, l2: np.ndarray, s2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Network distance of each fix pair, and the part of it on the first link.

    Same link: ``|s2 - s1|``, all on the first link. Adjacent links: through the
    shared end node (the shortest if they share both). Otherwise NaN.

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


def advance(
    state: LinkSpeedState, positions: Iterable[BusPosition], net: LinkNetwork, rules: SpeedRules = SpeedRules()
) -> tuple[LinkSpeedState, list[LinkSpeed]]:
    """Fold a batch of fixes into the state; return the bins the watermark closed."""
    fixes = sorted(positions, key=lambda p: (p.vehicle_id, p.ts))
    if fixes:
        _fold(state, fixes, net, rules)
        state.watermark_ts = max(state.watermark_ts, max(p.ts for p in fixes) - rules.lateness_s)
    return state, _emit(state, net, rules, state.watermark_ts)


def flush(state: LinkSpeedState, net: LinkNetwork, rules: SpeedRules = SpeedRules()) -> list[LinkSpeed]:
    """Emit every open bin (end of a replay)."""
    return _emit(state, net, rules, math.inf)


def link_speeds(positions: Iterable[BusPosition], net: LinkNetwork, rules: SpeedRules = SpeedRules()) -> list[LinkSpeed]:
    """Link speeds of a whole batch of fixes, sorted by (bin, link)."""
    state, out = advance(LinkSpeedState(), positions, net, rules)
    return sorted(out + flush(state, net, rules), key=lambda s: (s.bin_start_ts, s.link_id))


def _fold(state: LinkSpeedState, fixes: list[BusPosition], net: LinkNetwork, rules: SpeedRules) -> None:
    veh = [p.vehicle_id for p in fixes]
    ts = np.array([p.ts for p in fixes])
    x, y = net.to_xy([p.lat for p in fixes], [p.lon for p in fixes])
    heading = np.array([np.nan if p.heading_deg is None else p.heading_deg for p in fixes])
    speed = np.array([-1.0 if p.speed_kph is None else p.speed_kph for p in fixes])
    link, along = map_fixes(net, x, y, rules.max_snap_m, heading)
    # previous fix of each fix: the one before it in the batch, or the state's last fix
    prev = [state.last_fix.get(v) if i == 0 or veh[i - 1] != v else None for i, v in enumerate(veh)]
    has_prev = np.array([i > 0 and veh[i - 1] == v or prev[i] is not None for i, v in enumerate(veh)])
    p_ts, p_x, p_y, p_l, p_s, p_v = (np.roll(a, 1) for a in (ts, x, y, link, along, speed))
    for i, f in enumerate(prev):
        if f is not None:
            p_ts[i], p_x[i], p_y[i], p_l[i], p_s[i], p_v[i] = f.ts, f.x_m, f.y_m, f.link, f.along_m, f.speed_kph
    for i, v in enumerate(veh):
        old = state.last_fix.get(v)
        if (i + 1 == len(veh) or veh[i + 1] != v) and (old is None or ts[i] >= old.ts):
            s_m = float(along[i]) if link[i] >= 0 else 0.0  # keeps the state JSON-safe (no NaN)
            state.last_fix[v] = _Fix(float(ts[i]), float(x[i]), float(y[i]), int(link[i]), s_m, float(speed[i]))
    i = np.flatnonzero(has_prev)
    _pairs(state, [veh[k] for k in i], (p_ts[i], p_x[i], p_y[i], p_l[i], p_s[i], p_v[i]),
           (ts[i], x[i], y[i], link[i], along[i], speed[i]), net, rules)


def _drop(state: LinkSpeedState, reason: str, n: int) -> None:
    if n:
        state.pairs_dropped[reason] = state.pairs_dropped.get(reason, 0) + int(n)


def _pairs(state, veh, first_fix, second_fix, net, rules) -> None:
    t1, x1, y1, l1, s1, v1 = first_fix
    t2, x2, y2, l2, s2, v2 = second_fix
    dt = t2 - t1
    ok = (l1 >= 0) & (l2 >= 0)
    _drop(state, "unmapped", np.sum(~ok))
    bad_dt = ok & ((dt <= 0) | (dt > rules.max_gap_s))
    _drop(state, "time_gap", np.sum(bad_dt))
    ok &= ~bad_dt
    dist, first = pair_distances(net, np.where(ok, l1, 0), s1, np.where(ok, l2, 0), s2)
    far = ok & np.isnan(dist)
    _drop(state, "not_adjacent", np.sum(far))
    ok &= ~far
    jump_m = np.hypot(x2 - x1, y2 - y1)
    with np.errstate(invalid="ignore", divide="ignore"):
        fast = ok & ((dist / dt * 3.6 > rules.max_speed_kph) | (jump_m > dist + 2 * rules.max_snap_m))
    _drop(state, "teleport", np.sum(fast))
    ok &= ~fast
    frozen = ok & (x1 == x2) & (y1 == y2)
    _drop(state, "frozen_position", np.sum(frozen))
    ok &= ~frozen
    slow1 = (v1 >= 0) & (v1 < rules.dwell_speed_kph)
    slow2 = (v2 >= 0) & (v2 < rules.dwell_speed_kph)
    still = dist < rules.dwell_move_m
    cand = np.flatnonzero(ok & (still | slow1 | slow2))
    near1 = _near_stop(net, x1[cand], y1[cand], rules)
    near2 = _near_stop(net, x2[cand], y2[cand], rules)
    dwell = np.zeros(len(ok), dtype=bool)
    dwell[cand] = (near1 & (slow1[cand] | still[cand])) | (near2 & (slow2[cand] | still[cand]))
    _drop(state, "dwell_at_stop", np.sum(dwell))
    ok &= ~dwell
    state.pairs_used += int(ok.sum())
    for i in np.flatnonzero(ok):
        d, d1, tt = float(dist[i]), float(first[i]), float(dt[i])
        t_first = tt * d1 / d if d > 0 else tt
        _add(state, int(l1[i]), float(t1[i]) + t_first / 2, d1, t_first, veh[i], rules)
        if l2[i] != l1[i]:
            _add(state, int(l2[i]), float(t1[i]) + t_first + (tt - t_first) / 2, d - d1, tt - t_first, veh[i], rules)


def _near_stop(net: LinkNetwork, x: np.ndarray, y: np.ndarray, rules: SpeedRules) -> np.ndarray:
    """Whether each point is within ``stop_radius_m`` of a bus stop."""
    near = np.zeros(len(x), dtype=bool)
    if len(x):
        pt_idx, _ = net.stop_tree.query(shapely.points(x, y), predicate="dwithin", distance=rules.stop_radius_m)
        near[pt_idx] = True
    return near


def _add(state: LinkSpeedState, link: int, mid_ts: float, dist_m: float, time_s: float, vehicle: str, rules: SpeedRules) -> None:
    start = int(math.floor(mid_ts / rules.bin_s) * rules.bin_s)
    acc = state.open_bins.setdefault(link, {}).setdefault(start, [0.0, 0.0])
    acc[0] += dist_m
    acc[1] += time_s
    if vehicle not in acc[2:]:
        acc.append(vehicle)


def _emit(state: LinkSpeedState, net: LinkNetwork, rules: SpeedRules, watermark_ts: float) -> list[LinkSpeed]:
    out = []
    for link in sorted(state.open_bins):
        bins = state.open_bins[link]
        for start in sorted(b for b in bins if b + rules.bin_s <= watermark_ts):
            d, t, *vehicles = bins.pop(start)
            if t > 0:
                out.append(LinkSpeed(net.link_ids[link], float(start), d / t * 3.6, len(vehicles), d, t))
        if not bins:
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

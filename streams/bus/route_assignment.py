"""Route assignment of AVL fixes that arrive without a (known) route.

Real AVL gateways often send a bus's position with no route, or with a route
the GTFS feed does not know. The bus pipeline is keyed by route (a route's
buses, headways and predictions are computed together), so such a fix must be
given a route before it can be matched to a trip. :func:`assign_route` decides,
per fix, in this order:

1. the fix's own route, when the feed knows it;
2. the route of the trip the unit is signed on to;
3. the route of the vehicle's block, when the block runs a single route;
4. geometry over the vehicle's recent fixes: every route with a shape within
   ``max_offset_m`` of the fix and a trip running around the fix time is
   scored by the mean distance of the vehicle's recent fixes to its nearest
   shape; routes within ``tie_m`` of the best are tied, and among them the
   vehicle keeps the route it had (hysteresis) or else takes the one whose
   best trip is closest to schedule (:func:`streams.bus.matching.find_trip`).
   A vehicle whose recent fixes lie within ``tie_m`` of its route on average
   keeps it without the others being scored (they could at best tie with it),
   as long as the route has a trip running.

A fix no route fits (a bus in the depot, deadheading off every shape, or out
of service hours) gets ``None`` and is counted in :class:`AssignmentState`.

The live agent (:mod:`streams.bus.agents`) keeps one :class:`AssignmentState`
per source key ("" for fixes sent with no route), places each batch with
:func:`place_fixes` and republishes each placed fix on ``bus.positions`` keyed
by its route, so a route's state stays in one partition; it publishes
:func:`unrouted_counter` on ``state.counters``. ``topis replay`` uses the same
:func:`assign_routes` at ingest.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import msgspec
import numpy as np

from streams.bus.gtfs import Feed, Shape
from streams.bus.matching import MatchParams, VehicleState, find_trip
from streams.live.state import count_per_minute
from topis.schemas.inputs import BusPosition
from topis.schemas.state import CountersMessage, CounterSnapshot

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AssignmentParams:
    """Tuning of route assignment; defaults suit 10–60 s AVL in a city."""

    max_offset_m: float = 80.0  #: a route is a candidate when one of its shapes passes this close to the fix
    window_s: float = 600.0  #: recent fixes of the vehicle considered, seconds back from the newest
    keep: int = 12  #: at most this many recent fixes
    tie_m: float = 25.0  #: routes whose mean offset is within this of the best are tied
    far_m: float = 200.0  #: a recent fix farther than this from every shape of a route counts as this far


@dataclass(frozen=True, eq=False)
class RouteIndex:
    """Shapes of each route and routes of each shape, built once per feed with :func:`route_index`."""

    shapes_by_route: dict[str, tuple[str, ...]]
    routes_by_shape: dict[str, tuple[str, ...]]
    #: route → (first departure s, last arrival s, trip id) of its trips, seconds after the service-day start
    trip_spans: dict[str, tuple[np.ndarray, np.ndarray, tuple[str, ...]]]
    #: shape → its segments (x0, y0, dx, dy, squared length), metres
    segments: dict[str, tuple[np.ndarray, ...]]


def route_index(feed: Feed) -> RouteIndex:
    """The :class:`RouteIndex` of ``feed``."""
    by_route: dict[str, set[str]] = {}
    by_shape: dict[str, set[str]] = {}
    spans: dict[str, list[tuple[float, float, str]]] = {}
    for trip in feed.trips.values():
        by_route.setdefault(trip.route_id, set()).add(trip.shape_id)
        by_shape.setdefault(trip.shape_id, set()).add(trip.route_id)
        spans.setdefault(trip.route_id, []).append((trip.start_s, trip.end_s, trip.trip_id))
    return RouteIndex({r: tuple(sorted(s)) for r, s in by_route.items()},
                      {s: tuple(sorted(r)) for s, r in by_shape.items()},
                      {r: (np.array([t[0] for t in rows]), np.array([t[1] for t in rows]), tuple(t[2] for t in rows))
                       for r, rows in spans.items()},
                      {sid: _segments(feed.shapes[sid]) for sid in by_shape if sid in feed.shapes})


def _segments(shape: Shape) -> tuple[np.ndarray, ...]:
    if len(shape.x_m) < 2:  # a one-point shape: a zero-length segment
        return shape.x_m[:1], shape.y_m[:1], np.zeros(1), np.zeros(1), np.zeros(1)
    dx, dy = np.diff(shape.x_m), np.diff(shape.y_m)
    return shape.x_m[:-1], shape.y_m[:-1], dx, dy, dx * dx + dy * dy


def running_trips(index: RouteIndex, route_id: str, ts: float, day_starts_ts: list[float],
                  params: MatchParams) -> list[str]:
    """Trips of a route whose span, widened by the matcher's early/late windows, holds ``ts`` on one of
    the service days starting at ``day_starts_ts`` (the only trips :func:`find_trip` can pick)."""
    if route_id not in index.trip_spans:
        return []
    start_s, end_s, ids = index.trip_spans[route_id]
    hit = np.zeros(len(ids), bool)
    for day_ts in day_starts_ts:
        t = ts - day_ts
        hit |= (start_s - params.early_window_s <= t) & (t <= end_s + params.late_window_s)
    return [ids[i] for i in np.flatnonzero(hit)]


class VehicleRoute(msgspec.Struct):
    """What route assignment remembers of one vehicle. Mutable."""

    route_id: str | None = None  #: route given to its last placed fix
    recent: list[tuple[float, float, float]] = []  #: (ts, x_m, y_m) of its recent fixes, oldest first


class AssignmentState(msgspec.Struct):
    """Route assignment state of one source key (e.g. every fix sent with no route). Mutable."""

    vehicles: dict[str, VehicleRoute] = {}
    routed: int = 0  #: fixes given a route
    unmatched: int = 0  #: fixes no route fits
    newest_ts: float = 0.0  #: newest fix time seen, epoch seconds
    #: unmatched fixes per minute ("minute start ts" → count; kept by :func:`place_fixes`)
    unmatched_per_minute: dict[str, int] = {}


def declared_route(feed: Feed, fix: BusPosition, blocks: dict[str, str] | None = None) -> str | None:
    """The route the fix itself says it is on (its route, its trip's, its block's), when the feed knows it."""
    if fix.route_id in feed.routes:
        return fix.route_id
    if fix.trip_id in feed.trips:
        return feed.trips[fix.trip_id].route_id
    block = fix.block_id or (blocks or {}).get(fix.vehicle_id)
    if block in feed.trips_by_block:
        routes = {feed.trips[t].route_id for t in feed.trips_by_block[block]}
        if len(routes) == 1:
            return next(iter(routes))
    return None


def shape_offsets_m(shape: Shape, x_m: np.ndarray, y_m: np.ndarray,
                    segments: tuple[np.ndarray, ...] | None = None) -> np.ndarray:
    """Distance of each point (x_m[i], y_m[i]) to the polyline ``shape``, metres.

    Parameters
    ----------
    shape : Shape
        The polyline, in the feed's metric projection.
    x_m, y_m : numpy.ndarray
        Points, metres east/north in the same projection.
    segments : tuple of numpy.ndarray, optional
        The shape's segments as kept in :attr:`RouteIndex.segments` (computed when not given).

    Returns
    -------
    numpy.ndarray
        One distance per point.
    """
    x0, y0, dx, dy, seg2 = segments if segments is not None else _segments(shape)
    px, py = np.asarray(x_m, float)[:, None], np.asarray(y_m, float)[:, None]
    t = np.clip(((px - x0) * dx + (py - y0) * dy) / np.where(seg2 > 0, seg2, 1.0), 0.0, 1.0)
    return np.hypot(px - (x0 + t * dx), py - (y0 + t * dy)).min(axis=1)


def route_offsets_m(feed: Feed, index: RouteIndex, route_id: str, x_m: np.ndarray, y_m: np.ndarray,
                    far_m: float) -> np.ndarray:
    """Distance of each point to the nearest shape of a route, metres, capped at ``far_m``."""
    best = np.full(len(x_m), far_m)
    for sid in index.shapes_by_route.get(route_id, ()):
        best = np.minimum(best, shape_offsets_m(feed.shapes[sid], x_m, y_m, index.segments.get(sid)))
    return best


def nearest_route(feed: Feed, index: RouteIndex, memo: VehicleRoute, fix: BusPosition, x_m: float, y_m: float,
                  params: AssignmentParams = AssignmentParams()) -> str | None:
    """The route whose shapes lie nearest the vehicle's recent fixes (``memo.recent``, ending with this fix).

    Only routes with a shape within ``max_offset_m`` of this fix and a trip running around its time
    compete; see the module docstring for ties. Returns None when no route fits.
    """
    points = np.array(memo.recent, float).reshape(-1, 3)
    match = MatchParams(max_offset_m=params.max_offset_m)
    days = [day_ts for _, day_ts in feed.service_days(fix.ts)]
    if memo.route_id is not None:
        own = route_offsets_m(feed, index, memo.route_id, points[:, 1], points[:, 2], params.far_m)
        if own[-1] <= params.max_offset_m and own.mean() <= params.tie_m \
                and running_trips(index, memo.route_id, fix.ts, days, match):
            return memo.route_id  # no other route can do better than tie with it
    near = {r for sid in feed.shapes_near(x_m, y_m, params.max_offset_m) for r in index.routes_by_shape.get(sid, ())}
    scores: dict[str, float] = {}
    for route_id in sorted(near):
        if route_offsets_m(feed, index, route_id, points[-1:, 1], points[-1:, 2], params.far_m)[0] \
                <= params.max_offset_m:
            scores[route_id] = float(route_offsets_m(feed, index, route_id, points[:, 1], points[:, 2],
                                                     params.far_m).mean())
    prev = memo.recent[-2] if len(memo.recent) >= 2 else (0.0, 0.0, 0.0)
    probe = VehicleState(fix.vehicle_id, last_ts=prev[0], last_x_m=prev[1], last_y_m=prev[2])
    cost: dict[str, float] = {}
    best: float | None = None
    for route_id in sorted(scores, key=lambda r: (scores[r], r)):  # nearest first: schedules only for the tied
        if best is not None and scores[route_id] > best + params.tie_m:
            break
        trips = running_trips(index, route_id, fix.ts, days, match)
        cand = find_trip(feed, fix, x_m, y_m, probe, match, trips) if trips else None
        if cand is not None:
            cost[route_id] = cand.cost
            best = scores[route_id] if best is None else best
    if not cost:
        return None
    if memo.route_id in cost:
        return memo.route_id
    return min(cost, key=lambda r: (cost[r], scores[r], r))


def assign_route(feed: Feed, index: RouteIndex, state: AssignmentState, fix: BusPosition,
                 blocks: dict[str, str] | None = None, params: AssignmentParams = AssignmentParams()) -> str | None:
    """Route of one fix (see the module docstring), or None; updates ``state`` (memory and counts).

    A fix not newer than the vehicle's last one (duplicate, out of order) gets the vehicle's
    current route without changing its memory.
    """
    state.newest_ts = max(state.newest_ts, fix.ts)
    route = declared_route(feed, fix, blocks)
    memo = state.vehicles.get(fix.vehicle_id)
    if route is not None:
        if memo is not None:
            memo.route_id = route
    elif memo is not None and memo.recent and fix.ts <= memo.recent[-1][0]:
        route = memo.route_id
    else:
        if memo is None:
            memo = state.vehicles[fix.vehicle_id] = VehicleRoute()
        x, y = feed.project(fix.lat, fix.lon)
        recent = [p for p in memo.recent if fix.ts - p[0] <= params.window_s]
        del recent[: max(0, len(recent) - (params.keep - 1))]
        memo.recent = [*recent, (fix.ts, x, y)]
        route = nearest_route(feed, index, memo, fix, x, y, params)
        if route is not None:
            memo.route_id = route
    if route is None:
        state.unmatched += 1
    else:
        state.routed += 1
    return route


def assign_routes(feed: Feed, index: RouteIndex, state: AssignmentState, fixes: list[BusPosition],
                  blocks: dict[str, str] | None = None,
                  params: AssignmentParams = AssignmentParams()) -> tuple[dict[str, list[BusPosition]], list[BusPosition]]:
    """Place a batch of fixes (processed in time order) on routes.

    Returns
    -------
    (route → its fixes with ``route_id`` (and a known block) set, fixes no route fits)
    """
    routed: dict[str, list[BusPosition]] = {}
    unmatched: list[BusPosition] = []
    for fix in sorted(fixes, key=lambda f: f.ts):
        route = assign_route(feed, index, state, fix, blocks, params)
        if route is None:
            unmatched.append(fix)
            continue
        block = fix.block_id or (blocks or {}).get(fix.vehicle_id)
        routed.setdefault(route, []).append(msgspec.structs.replace(fix, route_id=route, block_id=block))
    return routed, unmatched


def forget_vehicles(state: AssignmentState, before_ts: float) -> list[str]:
    """Drop the memory of vehicles whose newest fix is older than ``before_ts``."""
    gone = [v for v, m in state.vehicles.items() if not m.recent or m.recent[-1][0] < before_ts]
    for v in gone:
        del state.vehicles[v]
    return gone


def place_fixes(feed: Feed, index: RouteIndex, state: AssignmentState,
                fixes: list[BusPosition]) -> dict[str, list[BusPosition]]:
    """:func:`assign_routes`, with the fixes no route fits counted per minute in ``state`` (updated in place).

    Returns route → its placed fixes, for the agent to republish keyed by route.
    """
    routed, unmatched = assign_routes(feed, index, state, fixes)
    state.unmatched_per_minute = count_per_minute(state.unmatched_per_minute, [f.ts for f in unmatched],
                                                  state.newest_ts)
    return routed


def unrouted_counter(key: str, state: AssignmentState, forget_s: float, received_ts: float) -> CountersMessage:
    """The ``state.counters`` message of one source key's route assignment (kind ``unrouted``).

    First forgets the vehicles silent for ``forget_s`` (event time) before the
    newest fix (``state`` updated in place), so the state stays bounded.
    """
    forget_vehicles(state, state.newest_ts - forget_s)
    return CountersMessage([CounterSnapshot("unrouted", key, state.unmatched_per_minute, state.newest_ts, received_ts,
                                            0, routed=state.routed, unmatched=state.unmatched)])

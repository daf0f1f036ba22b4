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
   best trip is closest to schedule (:func:`streams.matching.find_trip`).

A fix no route fits (a bus in the depot, deadheading off every shape, or out
of service hours) gets ``None`` and is counted in :class:`AssignmentState`.

The live agent (:mod:`streams.bus_agents`) keeps one :class:`AssignmentState`
per source key ("" for fixes sent with no route) and republishes each placed
fix on ``bus.positions`` keyed by its route, so a route's state stays in one
partition; ``topis replay`` uses the same function at ingest.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import msgspec

from streams.gtfs import Feed, project_all
from streams.matching import MatchParams, VehicleState, find_trip
from topis.wire import BusPosition

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AssignmentParams:
    """Tuning of route assignment; defaults suit 10–60 s AVL in a city."""

    max_offset_m: float = 80.0  #: a route is a candidate when one of its shapes passes this close to the fix
    window_s: float = 600.0  #: recent fixes of the vehicle considered, seconds back from the newest
    keep: int = 6  #: at most this many recent fixes
    tie_m: float = 25.0  #: routes whose mean offset is within this of the best are tied
    far_m: float = 200.0  #: a recent fix farther than this from every shape of a route counts as this far


@dataclass(frozen=True, eq=False)
class RouteIndex:
    """Shapes of each route and routes of each shape, built once per feed with :func:`route_index`."""

    shapes_by_route: dict[str, tuple[str, ...]]
    routes_by_shape: dict[str, tuple[str, ...]]


def route_index(feed: Feed) -> RouteIndex:
    """The :class:`RouteIndex` of ``feed``."""
    by_route: dict[str, set[str]] = {}
    by_shape: dict[str, set[str]] = {}
    for trip in feed.trips.values():
        by_route.setdefault(trip.route_id, set()).add(trip.shape_id)
        by_shape.setdefault(trip.shape_id, set()).add(trip.route_id)
    return RouteIndex({r: tuple(sorted(s)) for r, s in by_route.items()},
                      {s: tuple(sorted(r)) for s, r in by_shape.items()})


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
    #: unmatched fixes per minute ("minute start ts" → count; kept by the agent with livestate.count_per_minute)
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


def route_offsets_m(feed: Feed, index: RouteIndex, route_id: str, points: list[tuple[float, float, float]],
                    far_m: float) -> list[float]:
    """Distance of each (ts, x_m, y_m) point to the nearest shape of a route, metres, capped at ``far_m``."""
    out = []
    for _, x, y in points:
        best = far_m
        for sid in index.shapes_by_route.get(route_id, ()):
            _, off = project_all(feed.shapes[sid], x, y)
            if len(off):
                best = min(best, float(off.min()))
        out.append(best)
    return out


def nearest_route(feed: Feed, index: RouteIndex, memo: VehicleRoute, fix: BusPosition, x_m: float, y_m: float,
                  params: AssignmentParams = AssignmentParams()) -> str | None:
    """The route whose shapes lie nearest the vehicle's recent fixes (``memo.recent``, ending with this fix).

    Only routes with a shape within ``max_offset_m`` of this fix and a trip running around its time
    compete; see the module docstring for ties. Returns None when no route fits.
    """
    near = {r for sid in feed.shapes_near(x_m, y_m, params.max_offset_m) for r in index.routes_by_shape.get(sid, ())}
    scores: dict[str, float] = {}
    for route_id in sorted(near):
        offsets = route_offsets_m(feed, index, route_id, memo.recent, params.far_m)
        if offsets and offsets[-1] <= params.max_offset_m:
            scores[route_id] = sum(offsets) / len(offsets)
    prev = memo.recent[-2] if len(memo.recent) >= 2 else (0.0, 0.0, 0.0)
    probe = VehicleState(fix.vehicle_id, last_ts=prev[0], last_x_m=prev[1], last_y_m=prev[2])
    cost: dict[str, float] = {}
    for route_id in sorted(scores, key=scores.__getitem__):
        cand = find_trip(feed, fix, x_m, y_m, probe, MatchParams(max_offset_m=params.max_offset_m),
                         feed.trips_by_route.get(route_id, []))
        if cand is not None:
            cost[route_id] = cand.cost
    if not cost:
        return None
    best = min(scores[r] for r in cost)
    tied = [r for r in cost if scores[r] <= best + params.tie_m]
    if memo.route_id in tied:
        return memo.route_id
    return min(tied, key=lambda r: (cost[r], scores[r], r))


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


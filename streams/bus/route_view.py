"""What a controller sees of one route: pure functions over the bus pipeline's events.

The statuses a bus can be shown in are :data:`topis.schemas.state.STATUSES`.

``LiveRoute`` bundles the pipeline state (:class:`streams.bus.pipeline.RouteState`)
with a small view of it kept for the dashboard: each bus's latest match and
headway, recent time-space (Marey) points per trip, and recent alerts. The
agent runs each batch through :func:`advance` (the pipeline, then :func:`fold`)
and publishes :func:`snapshot` (a :class:`topis.schemas.state.RouteSnapshot`)
to ``state.routes``.
"""

from __future__ import annotations

import bisect
from operator import itemgetter

import msgspec

from streams.bus.headways import HeadwayParams, headway_summary
from streams.bus.pipeline import RouteModel, RouteState
from streams.bus.pipeline import advance as advance_pipeline
from topis.schemas.bus import (
    BunchingAlert,
    BusAlert,
    BusEvent,
    GappingAlert,
    HeadwayObservation,
    MatchedPosition,
    Prediction,
    PredictionRound,
    rounds_of,
)
from topis.schemas.inputs import BusPosition
from topis.schemas.state import BusStatus, RouteBus, RouteSnapshot

#: Marey points kept per route: this far back from the newest fix, seconds.
MAREY_WINDOW_S = 2 * 3600.0
#: at most one Marey point per trip this often (fixes come every few seconds), seconds.
MAREY_STEP_S = 30.0
_ts = itemgetter(0)  #: the time of a Marey point

#: next arrivals published per stop (the pages show at most three).
NEXT_ARRIVALS_PER_STOP = 3
#: alerts kept per route for the dashboard.
MAX_ALERTS = 50
#: a bus whose last fix is older than this (route clock) has a stale GPS, seconds.
STALE_GPS_S = 120.0


class RouteView(msgspec.Struct):
    """Dashboard-facing memory of one route. Mutable; serialisable with msgspec."""

    matched: dict[str, MatchedPosition] = {}  #: vehicle → latest matched fix
    last_fix: dict[str, tuple[float, float, float]] = {}  #: vehicle → (ts, lat, lon) of its latest fix
    headway: dict[str, HeadwayObservation] = {}  #: vehicle → latest headway observation
    marey: dict[str, list[tuple[float, float]]] = {}  #: trip → [(ts, dist_m)] within MAREY_WINDOW_S
    alerts: list[BusAlert] = []  #: newest last
    clock_ts: float = 0.0  #: newest fix time seen on the route


class LiveRoute(msgspec.Struct):
    """Everything the bus agent keeps per route."""

    pipeline: RouteState
    view: RouteView = msgspec.field(default_factory=RouteView)


def fold(view: RouteView, fixes, events: list) -> RouteView:
    """Fold a batch's raw fixes and pipeline events into ``view`` (in place; returned)."""
    for fix in fixes:
        held = view.last_fix.get(fix.vehicle_id)
        if held is None or fix.ts > held[0]:
            view.last_fix[fix.vehicle_id] = (fix.ts, fix.lat, fix.lon)
        view.clock_ts = max(view.clock_ts, fix.ts)
    for ev in events:
        if isinstance(ev, MatchedPosition):
            view.matched[ev.vehicle_id] = ev
            points = view.marey.setdefault(ev.trip_id, [])
            if not points or ev.ts - points[-1][0] >= MAREY_STEP_S:
                points.append((round(ev.ts), round(ev.dist_m)))
        elif isinstance(ev, HeadwayObservation):
            view.headway[ev.vehicle_id] = ev
        elif isinstance(ev, (BunchingAlert, GappingAlert)):
            view.alerts.append(ev)
    del view.alerts[:-MAX_ALERTS]
    _trim_marey(view.marey, view.clock_ts - MAREY_WINDOW_S)
    return view


def _trim_marey(marey: dict[str, list], oldest_ts: float) -> None:
    """Drop the points older than ``oldest_ts`` (in place), and the trips left without any.

    A trip's points are in time order (each is appended ``MAREY_STEP_S`` after the
    last), so only trips whose first point is too old are cut, by bisection.
    """
    for trip in [t for t, pts in marey.items() if not pts or pts[0][0] < oldest_ts]:
        kept = marey[trip][bisect.bisect_left(marey[trip], oldest_ts, key=_point_ts):]
        if kept:
            marey[trip] = kept
        else:
            del marey[trip]


_point_ts = itemgetter(0)


def status_of(vehicle_id: str, view: RouteView, route: RouteState, params: HeadwayParams) -> BusStatus:
    """One of STATUSES for a bus, judged on the route's own clock (event time)."""
    ts, _, _ = view.last_fix[vehicle_id]
    if view.clock_ts - ts > STALE_GPS_S:
        return "stale_gps"
    vs = route.vehicles.get(vehicle_id)
    if vs is None or vs.trip_id is None:
        return "unassigned"
    if vs.off_route:
        return "off_route"
    obs = view.headway.get(vehicle_id)
    if obs is not None and obs.ratio is not None:
        if obs.ratio < params.bunching_ratio:
            return "bunched"
        if obs.ratio > params.gapping_ratio:
            return "gapped"
    return "on_headway"


def _vehicle_row(vid: str, live: LiveRoute, params: HeadwayParams) -> RouteBus:
    ts, lat, lon = live.view.last_fix[vid]
    m = live.view.matched.get(vid)
    obs = live.view.headway.get(vid)
    return RouteBus(
        vid, ts, lat, lon, status_of(vid, live.view, live.pipeline, params),
        trip_id=m.trip_id if m else None, dist_m=m.dist_m if m else None,
        schedule_deviation_s=m.schedule_deviation_s if m else None,
        headway_s=obs.headway_s if obs else None,
        scheduled_headway_s=obs.scheduled_headway_s if obs else None,
        hold_s=obs.hold_s if obs else None,
    )


def next_arrivals(route: RouteState, now_ts: float,
                  per_stop: int = NEXT_ARRIVALS_PER_STOP) -> dict[str, list[tuple[str, float]]]:
    """Stop ("dir|stop") → the ``per_stop`` soonest [(vehicle, predicted arrival ts, whole seconds)] from each
    bus's latest predictions."""
    out: dict[str, list[tuple[str, float]]] = {}
    for vid, by_stop in route.predicted.items():
        for key, ts in by_stop.items():
            if ts >= now_ts:
                out.setdefault(key, []).append((vid, round(ts)))
    return {k: sorted(v, key=lambda p: p[1])[:per_stop] for k, v in out.items()}


def marey_update(marey: dict[str, list[tuple[float, float]]], sent: dict[str, float] | None
                 ) -> tuple[dict[str, list[tuple[float, float]]], dict[str, float]]:
    """The Marey points to publish and, per trip, the time of the newest one published then.

    ``sent`` None: all of ``marey`` (a full set). Otherwise only each trip's
    points after the newest ``sent`` says went out before (a trip's points come
    in time order), so that a route's snapshot every second does not repeat two
    hours of points each time.
    """
    if sent is None:
        points = marey
    else:
        points = {trip: new for trip, pts in marey.items()
                  if (new := pts[bisect.bisect_right(pts, sent.get(trip, float("-inf")), key=_ts):])}
    newest = {trip: pts[-1][0] for trip, pts in marey.items() if pts}
    return points, newest


def snapshot(route_id: str, live: LiveRoute, params: HeadwayParams, published_ts: float,
             max_age_s: float = 600.0, marey: dict | None = None, marey_full: bool = True) -> RouteSnapshot:
    """Read-model message of one route for ``state.routes``.

    ``marey``: the points to send (:func:`marey_update`), by default all the
    route's; ``marey_full=False`` says they only add to those sent before.
    """
    view = live.view
    vehicles = [_vehicle_row(vid, live, params) for vid in sorted(view.last_fix)
                if view.clock_ts - view.last_fix[vid][0] <= max_age_s]
    return RouteSnapshot(
        route_id=route_id,
        published_ts=published_ts,
        clock_ts=view.clock_ts,
        vehicles=vehicles,
        marey=dict(view.marey if marey is None else marey),
        marey_full=marey_full,
        alerts=view.alerts[-10:],
        headways=headway_summary(live.pipeline.headways),
        next_arrivals=next_arrivals(live.pipeline, view.clock_ts),
    )


def emitted(events: list) -> tuple[list[BusEvent], list[PredictionRound]]:
    """Split events into those for ``bus.events`` (arrivals, departures, headways, alerts) and the
    predictions for ``bus.predictions``, as rounds."""
    predictions = [e for e in events if isinstance(e, Prediction)]
    published = [e for e in events if not isinstance(e, (Prediction, MatchedPosition))]
    return published, rounds_of(predictions)


def blocks_of(fixes: list[BusPosition]) -> dict[str, str] | None:
    """Vehicle → block of the fixes that say their block (None when none does)."""
    blocks = {f.vehicle_id: f.block_id for f in fixes if f.block_id}
    return blocks or None


def advance(live: LiveRoute, fixes: list[BusPosition], model: RouteModel,
            predict: bool = True) -> tuple[list[BusEvent], list[PredictionRound]]:
    """Run one batch of a route's fixes through the pipeline and the view (``live`` updated in place).

    ``predict=False`` leaves out the arrival predictions (see :func:`streams.bus.pipeline.advance`).

    Returns what to publish: the events for ``bus.events`` and the prediction
    rounds for ``bus.predictions`` (see :func:`emitted`).
    """
    _, events = advance_pipeline(live.pipeline, fixes, model, blocks_of(fixes), predict)
    fold(live.view, fixes, events)
    return emitted(events)

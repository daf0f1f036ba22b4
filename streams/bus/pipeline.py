"""The whole bus path over one route's state: fixes → matches → arrivals → headways → predictions.

``advance(state, fixes, model)`` is what a Faust agent keyed by route calls
for each batch of positions; ``run(feed, fixes)`` replays a whole trace through
the same function offline (tests, benchmarks, the accuracy command).

State is one :class:`RouteState` per route (plain msgspec data; the Kafka key
is the route id). :func:`advance` updates the state it is given and returns it
with the events produced, in time order: MatchedPosition, StopArrival,
StopDeparture, HeadwayObservation, BunchingAlert, GappingAlert, Prediction.

Fixes whose ``route_id`` is empty or unknown to the feed are placed on a route
by :func:`match_unassigned` (block, previous match, or a match over every trip).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

import msgspec

from streams.bus.gtfs import Feed
from streams.bus.headways import (
    HeadwayParams,
    HeadwayState,
    ScheduleIndex,
    SchedulePattern,
    observe_arrival,
    observe_departure,
    stop_key,
)
from streams.bus.matching import MatchParams, VehicleState, find_trip, match_fix
from streams.bus.predictions import (
    PredictParams,
    StopPattern,
    TravelTimes,
    learn_dwell,
    learn_segment,
    learn_taps,
    predict_trip,
)
from topis.schemas.bus import (
    BunchingAlert,
    GappingAlert,
    HeadwayObservation,
    MatchedPosition,
    Prediction,
    StopArrival,
    StopDeparture,
)
from topis.schemas.inputs import BusPosition, CardTap

log = logging.getLogger(__name__)

Event = (MatchedPosition | StopArrival | StopDeparture | HeadwayObservation | BunchingAlert | GappingAlert
         | Prediction)


class RouteState(msgspec.Struct):
    """Everything the bus path remembers about one route. Mutable; serialisable with msgspec."""

    route_id: str
    vehicles: dict[str, VehicleState] = {}
    travel: TravelTimes = msgspec.field(default_factory=TravelTimes)
    headways: HeadwayState = msgspec.field(default_factory=HeadwayState)
    #: vehicle → (trip id, stop index, ts) of its last arrival, to learn segment times
    last_arrival: dict[str, tuple[str, int, float]] = {}
    #: vehicle → {"dir|stop": predicted arrival ts} from its latest predictions
    predicted: dict[str, dict[str, float]] = {}
    predicted_at: dict[str, float] = {}  #: vehicle → when its latest predictions were made
    fixes: int = 0  #: fixes given to advance()


@dataclass(eq=False)
class RouteModel:
    """Static inputs of a route's pipeline: the feed, control stops and tuning."""

    feed: Feed
    route_id: str
    control_stops: frozenset[str]
    match: MatchParams = MatchParams()
    predict: PredictParams = PredictParams()
    headway: HeadwayParams = HeadwayParams()
    _schedules: dict[float, ScheduleIndex] = field(default_factory=dict, repr=False)
    _day_types: dict[frozenset[str], SchedulePattern] = field(default_factory=dict, repr=False)
    _patterns: dict[tuple, StopPattern] = field(default_factory=dict, repr=False)
    #: trip id → its stop pattern, the latest trips only
    _pattern_of: dict[str, StopPattern] = field(default_factory=dict, repr=False)
    #: trip id → (the day's timetable index, scheduled headway at each stop), the latest trips only
    _headways: dict[str, tuple[ScheduleIndex, list[float | None]]] = field(default_factory=dict, repr=False)

    def schedule(self, day_ts: float) -> ScheduleIndex:
        """Timetable index of the route on the service day starting at ``day_ts`` (cached: the
        arrivals' order once per set of services running, the latest few days placed on their day)."""
        idx = self._schedules.get(day_ts)
        if idx is None:
            day = dt.datetime.fromtimestamp(day_ts + 43_200, self.feed.tz).date()
            active = self.feed.calendar.active(day)
            trips = [self.feed.trips[t] for t in self.feed.trips_by_route.get(self.route_id, ())
                     if self.feed.trips[t].service_id in active]
            services = frozenset(t.service_id for t in trips)
            pattern = self._day_types.get(services)
            if pattern is None:
                pattern = self._day_types[services] = ScheduleIndex.pattern(trips)
            idx = self._schedules[day_ts] = ScheduleIndex.on_day(pattern, day_ts)
            for old in sorted(self._schedules)[:-SCHEDULE_DAYS_KEPT]:  # a worker runs for weeks
                del self._schedules[old]
        return idx

    def stop_pattern(self, trip) -> StopPattern:
        """The lookup keys of a trip's stops, shared by the route's trips that stop alike (cached)."""
        pattern = self._pattern_of.get(trip.trip_id)
        if pattern is None:
            key = (trip.direction_id, trip.stop_ids)
            pattern = self._patterns.get(key)
            if pattern is None:
                pattern = self._patterns[key] = StopPattern(trip.direction_id, trip.stop_ids)
            _keep_latest(self._pattern_of, trip.trip_id, pattern)
        return pattern

    def scheduled_headways(self, trip, day_ts: float) -> list[float | None]:
        """The trip's scheduled headway at each of its stops on the service day at ``day_ts``
        (:meth:`ScheduleIndex.scheduled_headway_s`), kept for the :data:`TRIPS_KEPT` latest trips."""
        idx = self.schedule(day_ts)
        kept = self._headways.get(trip.trip_id)
        if kept is not None and kept[0] is idx:
            return kept[1]
        keys = self.stop_pattern(trip).stop_keys
        headways = [idx.scheduled_headway_s(key, trip.trip_id) for key in keys]
        _keep_latest(self._headways, trip.trip_id, (idx, headways))
        return headways


#: trips per route whose stop pattern and scheduled headways are kept (far more than run on a route at once)
TRIPS_KEPT = 256


def _keep_latest(kept: dict, key, value) -> None:
    """Store ``value`` under ``key``, dropping the longest kept beyond :data:`TRIPS_KEPT` (trips start in
    time order, so those are the trips done)."""
    kept.pop(key, None)
    kept[key] = value
    if len(kept) > TRIPS_KEPT:
        del kept[next(iter(kept))]


#: service days whose timetable index a route keeps (yesterday's late trips, today, tomorrow's early ones)
SCHEDULE_DAYS_KEPT = 4


def default_control_stops(feed: Feed, route_id: str) -> frozenset[str]:
    """Timepoints when the feed marks some stops as timepoints and others not; else each trip's
    first stop and the stop halfway along it."""
    trips = [feed.trips[t] for t in feed.trips_by_route.get(route_id, ())]
    marked = {bool(v) for t in trips for v in t.timepoint}
    if marked == {True, False}:
        return frozenset(s for t in trips for s, tp in zip(t.stop_ids, t.timepoint) if tp)
    return frozenset(s for t in trips for s in (t.stop_ids[0], t.stop_ids[len(t.stop_ids) // 2]))


def route_model(feed: Feed, route_id: str, control_stops: Iterable[str] | None = None,
                match: MatchParams | None = None, predict: PredictParams | None = None,
                headway: HeadwayParams | None = None) -> RouteModel:
    """Build the :class:`RouteModel` of one route of a feed."""
    if route_id not in feed.routes:
        raise KeyError(f"route {route_id!r} is not in the feed")
    stops = frozenset(control_stops) if control_stops is not None else default_control_stops(feed, route_id)
    return RouteModel(feed, route_id, stops, match or MatchParams(), predict or PredictParams(),
                      headway or HeadwayParams())


def _hour(feed: Feed, ts: float) -> int:
    return dt.datetime.fromtimestamp(ts, feed.tz).hour


def advance(state: RouteState, fixes: list[BusPosition], model: RouteModel,
            blocks: dict[str, str] | None = None, predict: bool = True) -> tuple[RouteState, list[Event]]:
    """Feed a batch of one route's fixes through matching, arrivals, headways and predictions.

    Parameters
    ----------
    state
        The route's state; updated in place and returned.
    fixes
        Positions of buses on this route (any order; processed by time).
    model
        The route's static model.
    blocks
        Optional vehicle → block id assignments, for sources that give them apart from the
        fixes (a fix's own ``block_id`` is used in any case).
    predict
        False skips the arrival predictions (a worker far behind: predictions for the past
        help nobody); matching, arrivals, headways and the learned travel times go on.

    Returns
    -------
    (RouteState, list of events)
    """
    events: list[Event] = []
    for fix in sorted(fixes, key=lambda f: f.ts):
        state.fixes += 1
        vs = state.vehicles.get(fix.vehicle_id)
        if vs is None:
            vs = state.vehicles[fix.vehicle_id] = VehicleState(fix.vehicle_id)
        if blocks and fix.vehicle_id in blocks:
            vs.block_id = blocks[fix.vehicle_id]
        if fix.route_id != model.route_id:
            fix = msgspec.structs.replace(fix, route_id=model.route_id)
        matched = match_fix(model.feed, vs, fix, model.match)
        for ev in matched:
            events.append(ev)
            if isinstance(ev, StopArrival):
                events.extend(_on_arrival(state, ev, model))
            elif isinstance(ev, StopDeparture):
                observe_departure(state.headways, ev)
                if ev.stop_index == 0:
                    # buses wait at the first stop for their departure: the first segment and the
                    # headway there run from the departure, not from when the bus showed up
                    state.last_arrival[ev.vehicle_id] = (ev.trip_id, 0, ev.ts)
                    events.extend(_headway(state, _as_arrival(ev, model), model))
                else:
                    learn_dwell(state.travel, ev.stop_id, ev.dwell_s, model.predict)
        if predict and matched and _due(state, vs.vehicle_id, fix.ts, matched, model.predict.repredict_every_s):
            events.extend(_predict(state, vs, fix.ts, model))
        if state.fixes % 2000 == 0:
            forget_vehicles(state, fix.ts - VEHICLE_FORGET_S)
    return state, events


#: a vehicle silent on the route for this long is dropped from the route's state, seconds.
VEHICLE_FORGET_S = 3 * 3600.0


def forget_vehicles(state: RouteState, before_ts: float) -> list[str]:
    """Drop vehicles whose last fix is older than ``before_ts`` (gone to another route, or home)."""
    gone = [v for v, vs in state.vehicles.items() if vs.last_ts < before_ts]
    for v in gone:
        del state.vehicles[v]
        state.last_arrival.pop(v, None)
        state.predicted.pop(v, None)
        state.predicted_at.pop(v, None)
    return gone


def _due(state: RouteState, vehicle_id: str, now_ts: float, matched: list, every_s: float) -> bool:
    """Whether the bus is predicted again now: at a stop event, or ``every_s`` after its last predictions."""
    if every_s <= 0 or any(not isinstance(ev, MatchedPosition) for ev in matched):
        return True
    return now_ts - state.predicted_at.get(vehicle_id, -1e18) >= every_s


def _on_arrival(state: RouteState, ev: StopArrival, model: RouteModel) -> list[Event]:
    prev = state.last_arrival.get(ev.vehicle_id)
    state.last_arrival[ev.vehicle_id] = (ev.trip_id, ev.stop_index, ev.ts)
    trip = model.feed.trips[ev.trip_id]
    if prev is not None and prev[0] == ev.trip_id and prev[1] == ev.stop_index - 1:
        i = prev[1]
        sched = float(trip.arrival_s[i + 1] - (trip.departure_s[i] if i == 0 else trip.arrival_s[i]))
        learn_segment(state.travel, trip.stop_ids[i], ev.stop_id, ev.ts, ev.ts - prev[2],
                      _hour(model.feed, prev[2]), model.predict, sched, ev.vehicle_id)
    return [] if ev.stop_index == 0 else _headway(state, ev, model)


def _headway(state: RouteState, ev: StopArrival, model: RouteModel) -> list[Event]:
    trip = model.feed.trips[ev.trip_id]
    key = stop_key(ev.direction_id, ev.stop_id)
    followers = [p[key] for v, p in state.predicted.items() if v != ev.vehicle_id and key in p]
    day_ts = ev.scheduled_ts - float(trip.arrival_s[ev.stop_index])
    return observe_arrival(state.headways, ev, model.schedule(day_ts), model.headway,
                           ev.stop_id in model.control_stops, followers)


def _as_arrival(dep: StopDeparture, model: RouteModel) -> StopArrival:
    """A first-stop departure in the shape of an arrival, for headways there."""
    trip = model.feed.trips[dep.trip_id]
    scheduled = dep.scheduled_ts - float(trip.departure_s[0]) + float(trip.arrival_s[0])
    return StopArrival(dep.vehicle_id, dep.route_id, dep.trip_id, dep.direction_id, dep.stop_id,
                       dep.stop_sequence, 0, dep.ts, scheduled, float(trip.dist_m[0]))


def _predict(state: RouteState, vs: VehicleState, now_ts: float, model: RouteModel) -> list[Prediction]:
    if vs.trip_id is None:
        state.predicted.pop(vs.vehicle_id, None)
        state.predicted_at.pop(vs.vehicle_id, None)
        return []
    trip = model.feed.trips[vs.trip_id]
    pattern = model.stop_pattern(trip)
    leader, sched_h = _others_at_stops(state, vs, trip, pattern, now_ts, model)
    preds = predict_trip(trip, vs.day_ts, vs.vehicle_id, vs.dist_m, vs.next_arrival, vs.next_departure > 0,
                         vs.recent, now_ts, state.travel, _hour(model.feed, now_ts), model.predict,
                         leader, sched_h, vs.arrival_ts_by_index.get(vs.next_arrival - 1), pattern)
    # the predictions are for consecutive stops from next_arrival on
    keys = pattern.stop_keys[vs.next_arrival:vs.next_arrival + len(preds)]
    state.predicted[vs.vehicle_id] = dict(zip(keys, [p.predicted_arrival_ts for p in preds]))
    state.predicted_at[vs.vehicle_id] = now_ts
    return preds


def _others_at_stops(state: RouteState, vs: VehicleState, trip, pattern: StopPattern, now_ts: float,
                     model: RouteModel):
    """Other buses' arrivals (last actual, latest predicted) at the stops ahead that have a learned dwell
    and a scheduled headway."""
    leader: dict[int, list[float]] = {}
    sched_h: dict[int, float] = {}
    dwell, rates = state.travel.dwell_s, state.travel.boardings_per_s
    if model.predict.method != "topis" or not (dwell or rates):
        return leader, sched_h
    _forget_stale_predictions(state, now_ts, model.predict.stale_after_s)
    stops = trip.stop_ids
    end = min(len(stops), vs.next_arrival + model.predict.bus_ahead_stops)
    ahead = [j for j in range(vs.next_arrival, end) if stops[j] in dwell or stops[j] in rates]
    if not ahead:
        return leader, sched_h
    headways = model.scheduled_headways(trip, vs.day_ts)
    others = [p for v, p in state.predicted.items() if v != vs.vehicle_id]
    last_arrival = state.headways.last_arrival
    for j in ahead:
        if not headways[j]:
            continue
        key = pattern.stop_keys[j]
        times = [p[key] for p in others if key in p]
        last = last_arrival.get(key)
        if last is not None and last[1] != vs.vehicle_id:
            times.append(last[0])
        if times:
            leader[j], sched_h[j] = times, headways[j]
    return leader, sched_h


def _forget_stale_predictions(state: RouteState, now_ts: float, stale_after_s: float) -> None:
    """Drop the predictions of buses that stopped reporting (none made within ``stale_after_s``)."""
    if not state.predicted_at or now_ts - min(state.predicted_at.values()) <= stale_after_s:
        return  # the oldest is fresh, so all are
    for v in [v for v, t in state.predicted_at.items() if now_ts - t > stale_after_s]:
        state.predicted.pop(v, None)
        state.predicted_at.pop(v, None)


def observe_taps(state: RouteState, taps: list[CardTap], model: RouteModel) -> RouteState:
    """Fold a batch of the route's card taps into its boarding rates (dwell in predictions)."""
    ons = sorted((t for t in taps if t.direction == "on"), key=lambda t: t.ts)
    learn_taps(state.travel, [t.stop_id for t in ons], [t.ts for t in ons], model.predict)
    return state


def match_unassigned(feed: Feed, fix: BusPosition, vehicle_routes: dict[str, str],
                     blocks: dict[str, str] | None = None) -> str | None:
    """Route of a fix: its own when the feed knows it, else its block's, its last one, or a fresh match.

    ``vehicle_routes`` (vehicle → route) is updated with the answer.
    """
    if fix.route_id in feed.routes:
        vehicle_routes[fix.vehicle_id] = fix.route_id
        return fix.route_id
    if fix.trip_id in feed.trips:
        route = feed.trips[fix.trip_id].route_id
    else:
        block = fix.block_id or (blocks or {}).get(fix.vehicle_id)
        route = vehicle_routes.get(fix.vehicle_id)
        if route is None and block in feed.trips_by_block:
            routes = {feed.trips[t].route_id for t in feed.trips_by_block[block]}
            route = next(iter(routes)) if len(routes) == 1 else None
        if route is None:
            x, y = feed.project(fix.lat, fix.lon)
            cand = find_trip(feed, fix, x, y, VehicleState(fix.vehicle_id, block_id=block), MatchParams())
            route = cand.trip.route_id if cand is not None else None
    if route is not None:
        vehicle_routes[fix.vehicle_id] = route
    return route


@dataclass
class Result:
    """Everything an offline run produced."""

    events: list[Event]
    states: dict[str, RouteState]
    fixes: int
    unrouted: int  #: fixes no route could be found for
    elapsed_s: float

    def of(self, kind: type) -> list:
        return [e for e in self.events if isinstance(e, kind)]

    @property
    def fixes_per_s(self) -> float:
        return self.fixes / self.elapsed_s if self.elapsed_s > 0 else float("inf")


def run(feed: Feed, fixes: Iterable[BusPosition], blocks: dict[str, str] | None = None,
        control_stops: Iterable[str] | None = None, match: MatchParams | None = None,
        predict: PredictParams | None = None, headway: HeadwayParams | None = None,
        progress=None, taps: Iterable[CardTap] = ()) -> Result:
    """Replay a whole trace through :func:`advance`, one fix at a time, in time order.

    ``taps`` (optional card taps) are folded in by :func:`observe_taps` as their time comes.
    ``progress`` is an optional callable given the number of fixes done since its last call.
    """
    start = time.perf_counter()
    states: dict[str, RouteState] = {}
    models: dict[str, RouteModel] = {}
    vehicle_routes: dict[str, str] = {}
    events: list[Event] = []
    n = unrouted = 0
    pending = sorted(taps, key=lambda t: t.ts)
    k = 0

    def model_of(route: str) -> RouteModel:
        if route not in models:
            models[route] = route_model(feed, route, control_stops, match, predict, headway)
        return models[route]

    for fix in sorted(fixes, key=lambda f: f.ts):
        while k < len(pending) and pending[k].ts <= fix.ts:
            tap = pending[k]
            k += 1
            if tap.route_id in feed.routes:
                observe_taps(states.setdefault(tap.route_id, RouteState(tap.route_id)), [tap], model_of(tap.route_id))
        n += 1
        route = match_unassigned(feed, fix, vehicle_routes, blocks)
        if route is None:
            unrouted += 1
            continue
        model = model_of(route)
        state = states.setdefault(route, RouteState(route))
        _, evs = advance(state, [fix], model, blocks)
        events.extend(evs)
        if progress is not None and n % 500 == 0:
            progress(500)
    return Result(events, states, n, unrouted, time.perf_counter() - start)

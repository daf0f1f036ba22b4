"""Match AVL fixes to trips and distances along their shapes; emit stop arrivals/departures.

TheTransitClock-style matching, per vehicle, over explicit state
(:class:`VehicleState`, plain data serialisable with msgspec):

1. A fix older than (or as old as) the last accepted one is dropped: duplicates
   and out-of-order fixes never move a bus backwards.
2. A bus already on a trip is projected onto the trip's shape within a window
   ahead of its last distance (at most ``max_speed_mps`` since the last fix, a
   little behind for GPS noise); the distance never decreases.
3. A bus with no trip, or that left its trip's shape, is matched from scratch:
   every candidate trip (its block's when the block is known, else its route's,
   else every trip whose shape passes near) running around the fix time on an
   active service day is scored by schedule deviation at the projected
   distance, plus a penalty when the bus's heading or motion points against the
   shape, less a bonus for the trip the unit says it is signed on to. A bus waiting at
   the start of a trip before its departure is on *layover* (no penalty).
4. Stops passed between two fixes get arrival/departure times interpolated
   linearly in distance (:func:`streams.bus.arrivals.crossing_times`).
5. Reaching the last stop completes the trip; the next fix looks for the next
   trip (layover at the terminal, deadheading to another one, or none).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import msgspec
import numpy as np

from streams.bus.arrivals import crossing_times, passed_between
from streams.bus.gtfs import Feed, Trip, project_all, project_to_shape, shape_bearing_deg
from topis.schemas.bus import MatchedPosition, StopArrival, StopDeparture
from topis.schemas.inputs import BusPosition

log = logging.getLogger(__name__)


class VehicleState(msgspec.Struct):
    """Matching state of one vehicle. Mutable: :func:`match_fix` updates it in place."""

    vehicle_id: str
    block_id: str | None = None  #: block assignment, when the AVL source gives one
    last_block: str | None = None  #: block of the trip it last completed (a soft hint for the next)
    layover_since: float | None = None  #: waiting at its trip's first stop since (arrival not yet reported)
    last_ts: float = 0.0  #: time of the last accepted fix (0: none yet)
    last_x_m: float = 0.0  #: where it was, metres in the feed's projection
    last_y_m: float = 0.0
    trip_id: str | None = None
    day_ts: float = 0.0  #: epoch seconds of the current trip's service day start
    dist_m: float = 0.0  #: distance along the trip's shape at ``dist_ts``
    dist_ts: float = 0.0
    next_arrival: int = 0  #: index of the first stop whose arrival is not yet emitted
    next_departure: int = 0  #: index of the first stop whose departure is not yet emitted
    arrival_ts_by_index: dict[int, float] = {}  #: arrivals awaiting their departure
    off_route: int = 0  #: consecutive fixes that left the trip's shape
    backward: int = 0  #: consecutive fixes clearly behind the bus's distance (wrong trip or direction?)
    completed: list[str] = []  #: recently completed trips (service day ts + trip id)
    recent: list[tuple[float, float]] = []  #: (ts, dist_m) of recent fixes on the trip
    dropped_stale: int = 0  #: fixes dropped as duplicate or out of order
    dropped_outlier: int = 0  #: fixes dropped as impossible jumps


@dataclass(frozen=True)
class MatchParams:
    """Tuning of the matcher; defaults suit 10–60 s AVL on city buses."""

    max_offset_m: float = 80.0  #: farthest a fix may lie from the shape
    max_speed_mps: float = 30.0  #: fastest plausible progress along the shape
    back_tolerance_m: float = 60.0  #: GPS noise allowed behind the last distance
    max_deviation_s: float = 3600.0  #: farthest from schedule a new match may be
    heading_penalty_s: float = 1800.0  #: cost added when heading opposes the shape
    signed_trip_bonus_s: float = 600.0  #: cost taken off the trip the unit reports it is signed on to
    #: cost per second of waiting at a first stop before the trip's departure, against 1 per second
    #: of running late: a bus 2 min late at the terminal is late for its trip, not 8 min early for the next
    layover_weight: float = 0.5
    same_block_bonus_s: float = 300.0  #: cost taken off trips of the block of the trip last completed
    sign_switch_max_cost_s: float = 600.0  #: a bus on a trip moves to a newly signed one only this cheap
    early_window_s: float = 2700.0  #: a trip is a candidate from this long before its start
    late_window_s: float = 3600.0  #: ... to this long after its scheduled end
    off_route_limit: int = 3  #: consecutive off-shape (or backward) fixes before the trip is dropped
    backward_m: float = 40.0  #: a fix this far behind the bus's distance counts as moving backward
    end_tolerance_m: float = 40.0  #: this close to the last stop completes the trip
    approach_m: float = 0.0  #: arrival = reaching stop distance minus this
    depart_m: float = 25.0  #: departure = passing stop distance plus this
    first_depart_m: float = 60.0  #: departure mark at a trip's first stop (layover jitter)
    recent_keep: int = 12  #: (ts, dist) pairs kept for pace estimates


@dataclass(frozen=True)
class Candidate:
    trip: Trip
    day_ts: float
    dist_m: float
    offset_m: float
    cost: float
    layover: bool


Event = MatchedPosition | StopArrival | StopDeparture


def _angle_diff(a: float, b: float) -> float:
    d = abs(a - b) % 360.0
    return 360.0 - d if d > 180.0 else d


def _passes(along: np.ndarray, off: np.ndarray, max_off: float) -> list[tuple[float, float]]:
    """Best (dist, offset) of each contiguous run of segments within ``max_off``."""
    idx = np.flatnonzero(off <= max_off)
    if len(idx) == 0:
        return []
    breaks = np.flatnonzero(np.diff(idx) > 1) + 1
    out = []
    for run in np.split(idx, breaks):
        k = run[int(np.argmin(off[run]))]
        out.append((float(along[k]), float(off[k])))
    return out


def candidate_trips(feed: Feed, fix: BusPosition, state: VehicleState, x_m: float, y_m: float,
                    max_offset_m: float) -> list[str]:
    """Trip ids to consider for a fresh match: the block's, else the route's, else every trip whose
    shape passes near the fix; always with the trip the unit is signed on to, if the feed has it."""
    if state.block_id and state.block_id in feed.trips_by_block:
        ids = feed.trips_by_block[state.block_id]
    elif fix.route_id and fix.route_id in feed.trips_by_route:
        ids = feed.trips_by_route[fix.route_id]
    else:
        ids = [t for sid in feed.shapes_near(x_m, y_m, max_offset_m) for t in feed.trips_by_shape.get(sid, ())]
    if fix.trip_id and fix.trip_id in feed.trips and fix.trip_id not in ids:
        ids = [*ids, fix.trip_id]
    return ids


def find_trip(feed: Feed, fix: BusPosition, x_m: float, y_m: float, state: VehicleState,
              params: MatchParams, trip_ids: list[str] | None = None) -> Candidate | None:
    """Best trip and distance for a fix with no usable current trip, or None.

    Cost = |schedule deviation| (0 while on layover before the start) + heading penalty.
    """
    ids = candidate_trips(feed, fix, state, x_m, y_m, params.max_offset_m) if trip_ids is None else trip_ids
    motion = None
    if state.last_ts > 0.0 and fix.ts - state.last_ts < 300.0:
        dx, dy = x_m - state.last_x_m, y_m - state.last_y_m
        if math.hypot(dx, dy) > 30.0:
            motion = math.degrees(math.atan2(dx, dy)) % 360.0
    heading = fix.heading_deg if fix.heading_deg is not None else motion
    passes_by_shape: dict[str, list[tuple[float, float]]] = {}
    bearings: dict[tuple[str, float], float] = {}  # many trips share a shape: its bearing at a pass, once
    best: Candidate | None = None
    done = set(state.completed)
    for day, day_ts in feed.service_days(fix.ts):
        active = feed.calendar.active(day)
        for tid in ids:
            trip = feed.trips[tid]
            if trip.service_id not in active or f"{day_ts:.0f}/{tid}" in done:
                continue
            if not (day_ts + trip.start_s - params.early_window_s <= fix.ts
                    <= day_ts + trip.end_s + params.late_window_s):
                continue
            passes = passes_by_shape.get(trip.shape_id)
            if passes is None:
                along, off = project_all(feed.shapes[trip.shape_id], x_m, y_m)
                passes = passes_by_shape[trip.shape_id] = _passes(along, off, params.max_offset_m)
            for dist, off in passes:
                if dist > trip.dist_m[-1] + params.end_tolerance_m or dist < trip.dist_m[0] - 200.0:
                    continue
                bearing = None
                if heading is not None:
                    bearing = bearings.get((trip.shape_id, dist))
                    if bearing is None:
                        bearing = bearings[(trip.shape_id, dist)] = shape_bearing_deg(feed.shapes[trip.shape_id], dist)
                cand = _score(trip, day_ts, dist, off, fix.ts, heading, bearing, params,
                              signed=tid == fix.trip_id,
                              same_block=bool(state.last_block) and trip.block_id == state.last_block)
                if best is None or cand.cost < best.cost:
                    best = cand
    if best is None or best.cost > params.max_deviation_s:
        return None
    return best


def _score(trip: Trip, day_ts: float, dist: float, off: float, ts: float, heading: float | None,
           shape_bearing: float | None, params: MatchParams, signed: bool = False,
           same_block: bool = False) -> Candidate:
    start_ts = day_ts + trip.start_s
    layover = dist <= trip.dist_m[0] + params.first_depart_m and ts <= start_ts + 60.0
    if layover:
        cost = params.layover_weight * (start_ts - ts)  # waiting for its departure: nearer ones preferred
    else:
        cost = abs(ts - (day_ts + trip.scheduled_s_at(dist)))
    if heading is not None and not layover:
        if _angle_diff(heading, shape_bearing) > 100.0:
            cost += params.heading_penalty_s
    cost += off  # tie-break towards the nearer shape
    if signed:  # the unit says it is on this trip: believe it unless the schedule says otherwise
        cost -= params.signed_trip_bonus_s
    if same_block:  # a bus usually goes on with the next trip of the block it just ran
        cost -= params.same_block_bonus_s
    return Candidate(trip, day_ts, dist, off, cost, layover)


def match_fix(feed: Feed, state: VehicleState, fix: BusPosition,
              params: MatchParams = MatchParams()) -> list[Event]:
    """Advance one vehicle by one fix; return the events it produced (updates ``state``).

    Returns an empty list for a dropped fix (stale, outlier) or a fix matching no trip.
    """
    if fix.ts <= state.last_ts:
        state.dropped_stale += 1
        return []
    if fix.block_id:
        state.block_id = fix.block_id
    x, y = feed.project(fix.lat, fix.lon)
    events: list[Event] = []
    trip = feed.trips.get(state.trip_id) if state.trip_id else None
    if trip is not None and fix.trip_id and fix.trip_id != trip.trip_id and fix.trip_id in feed.trips:
        # the unit signed on to another trip (the next one, or ours was a wrong guess): follow it
        # if it fits where and when the bus is
        cand = find_trip(feed, fix, x, y, state, params, [fix.trip_id])
        if cand is not None and cand.cost <= params.sign_switch_max_cost_s:
            _start_trip(state, cand, fix, params, events)
            state.last_ts, state.last_x_m, state.last_y_m = fix.ts, x, y
            return events
    accepted = False
    if trip is not None:
        accepted = _follow(feed, state, trip, fix, x, y, params, events)
        if accepted is None:  # an outlier: keep the fix out of the state entirely
            state.dropped_outlier += 1
            return events
    if not accepted and (trip is None or state.off_route >= params.off_route_limit):
        cand = find_trip(feed, fix, x, y, state, params)
        if cand is not None and trip is not None and cand.trip is trip and cand.day_ts == state.day_ts:
            state.off_route = state.backward = 0  # still the best trip: keep its progress
        elif cand is not None:
            _start_trip(state, cand, fix, params, events)
        elif trip is not None:
            log.debug("vehicle %s left trip %s", state.vehicle_id, trip.trip_id)
            state.trip_id = None
    state.last_ts, state.last_x_m, state.last_y_m = fix.ts, x, y
    return events


def _follow(feed: Feed, state: VehicleState, trip: Trip, fix: BusPosition, x: float, y: float,
            params: MatchParams, events: list[Event]) -> bool | None:
    """Try to keep the vehicle on its trip. True = advanced, False = off the shape, None = outlier."""
    shape = feed.shapes[trip.shape_id]
    elapsed = fix.ts - state.dist_ts
    lo = state.dist_m - params.back_tolerance_m
    hi = state.dist_m + params.max_speed_mps * elapsed + params.back_tolerance_m
    dist, off = project_to_shape(shape, x, y, lo, hi)
    if off > params.max_offset_m:
        # is it further along than a bus could have gone (a GPS spike), or off the route?
        far, far_off = project_to_shape(shape, x, y, hi, math.inf)
        if far_off <= params.max_offset_m and state.off_route < params.off_route_limit - 1:
            state.off_route += 1
            return None
        state.off_route += 1
        return False
    state.off_route = 0
    state.backward = state.backward + 1 if dist < state.dist_m - params.backward_m else 0
    if state.backward >= params.off_route_limit:
        # moving steadily against the shape: this is not the trip; match afresh
        state.off_route = params.off_route_limit
        return False
    dist = max(dist, state.dist_m)
    if state.layover_since is not None:
        marks = departure_marks(trip, params)
        leaving = float(crossing_times(state.dist_ts, state.dist_m, fix.ts, dist, marks[:1])[0]) \
            if dist > marks[0] else None
        _first_stop_service(state, trip, fix.ts, leaving, events)
    _emit_stops(state, trip, state.dist_ts, state.dist_m, fix.ts, dist, params, events)
    state.dist_m, state.dist_ts = dist, fix.ts
    _remember(state, fix.ts, dist, params)
    layover = state.next_departure == 0 and fix.ts < state.day_ts + trip.start_s + 60.0
    events.append(_position(state, trip, fix, dist, off, layover))
    if dist >= trip.dist_m[-1] - params.end_tolerance_m:
        _complete(state, trip, fix.ts, params, events)
    return True


def _remember(state: VehicleState, ts: float, dist: float, params: MatchParams) -> None:
    state.recent.append((ts, dist))
    if len(state.recent) > params.recent_keep:
        del state.recent[: len(state.recent) - params.recent_keep]


def _start_trip(state: VehicleState, cand: Candidate, fix: BusPosition, params: MatchParams,
                events: list[Event]) -> None:
    trip = cand.trip
    state.trip_id, state.day_ts = trip.trip_id, cand.day_ts
    state.dist_m, state.dist_ts, state.off_route, state.backward = cand.dist_m, fix.ts, 0, 0
    state.recent = [(fix.ts, cand.dist_m)]
    state.arrival_ts_by_index = {}
    # stops already behind the bus when it is first seen are not reported
    state.next_arrival = int(np.searchsorted(trip.dist_m - params.approach_m, cand.dist_m, side="right"))
    state.next_departure = int(np.searchsorted(departure_marks(trip, params), cand.dist_m, side="right"))
    state.layover_since = None
    if state.next_arrival == 1 and state.next_departure == 0:
        # standing at the first stop (layover): its service there starts at the scheduled departure
        # (or when it shows up, if later); the arrival is reported then, or when it leaves
        state.next_arrival = 0
        state.layover_since = fix.ts
        _first_stop_service(state, trip, fix.ts, None, events)
    events.append(_position(state, trip, fix, cand.dist_m, cand.offset_m, cand.layover))


def _first_stop_service(state: VehicleState, trip: Trip, now_ts: float, leaving_ts: float | None,
                        events: list[Event]) -> None:
    """Report the arrival at a trip's first stop of a bus on layover there, once service starts.

    Service starts at the scheduled departure, or when the bus showed up if that is later; never
    after the bus is seen leaving (``leaving_ts``).
    """
    if state.layover_since is None:
        return
    start = max(state.layover_since, state.day_ts + float(trip.departure_s[0]))
    if leaving_ts is not None:
        start = min(start, leaving_ts)
    elif start > now_ts:
        return
    state.layover_since = None
    _emit_arrivals(state, trip, [0], np.array([start]), 0.0, events)


def _emit_stops(state: VehicleState, trip: Trip, ts0: float, d0: float, ts1: float, d1: float,
                params: MatchParams, events: list[Event]) -> None:
    if d1 <= d0:
        return
    start = len(events)
    arr_marks = trip.dist_m - params.approach_m
    idx = [i for i in passed_between(arr_marks, d0, d1) if i >= state.next_arrival]
    dep_marks = departure_marks(trip, params)
    if idx:
        times = crossing_times(ts0, d0, ts1, d1, arr_marks[idx])
        if idx[0] == 0:
            # the first stop: service there starts at the scheduled departure (see _first_stop_service)
            state.layover_since = float(times[0])
            leaving = [float(crossing_times(ts0, d0, ts1, d1, dep_marks[:1])[0])] if d1 >= dep_marks[0] else []
            if len(idx) > 1:
                leaving.append(float(times[1]))
            if leaving:
                _first_stop_service(state, trip, ts1, min(leaving), events)
            idx, times = idx[1:], times[1:]
        if idx:
            _emit_arrivals(state, trip, idx, times, ts1 - ts0, events)
    idx = [i for i in passed_between(dep_marks, d0, d1) if i >= state.next_departure]
    if idx:
        times = crossing_times(ts0, d0, ts1, d1, dep_marks[idx])
        for i, t in zip(idx, times):
            arr = state.arrival_ts_by_index.pop(int(i), None)
            events.append(StopDeparture(
                state.vehicle_id, trip.route_id, trip.trip_id, trip.direction_id, trip.stop_ids[i],
                int(trip.stop_sequence[i]), int(i), float(t), state.day_ts + float(trip.departure_s[i]),
                None if arr is None else max(0.0, float(t) - arr)))
        state.next_departure = int(idx[-1]) + 1
    # arrivals and departures of several stops passed in one gap, in time order
    events[start:] = sorted(events[start:], key=lambda e: (e.ts, isinstance(e, StopDeparture)))


def departure_marks(trip: Trip, params: MatchParams) -> np.ndarray:
    """Distance along the shape past which the bus has left each stop."""
    marks = trip.dist_m + params.depart_m
    marks[0] = trip.dist_m[0] + params.first_depart_m
    return np.maximum.accumulate(marks)


def _emit_arrivals(state: VehicleState, trip: Trip, idx, times, gap_s: float, events: list[Event]) -> None:
    for i, t in zip(idx, times):
        i = int(i)
        events.append(StopArrival(
            state.vehicle_id, trip.route_id, trip.trip_id, trip.direction_id, trip.stop_ids[i],
            int(trip.stop_sequence[i]), i, float(t), state.day_ts + float(trip.arrival_s[i]),
            float(trip.dist_m[i]), float(gap_s)))
        state.arrival_ts_by_index[i] = float(t)
    state.next_arrival = int(idx[-1]) + 1


def _complete(state: VehicleState, trip: Trip, ts: float, params: MatchParams, events: list[Event]) -> None:
    last = len(trip.stop_ids) - 1
    if state.next_arrival <= last:
        _emit_arrivals(state, trip, [last], np.array([ts]), 0.0, events)
    state.completed.append(f"{state.day_ts:.0f}/{trip.trip_id}")
    state.last_block = trip.block_id
    del state.completed[:-20]
    state.trip_id = None
    state.arrival_ts_by_index = {}
    state.recent = []


def _position(state: VehicleState, trip: Trip, fix: BusPosition, dist: float, off: float,
              layover: bool) -> MatchedPosition:
    sched = state.day_ts + trip.scheduled_s_at(dist)
    return MatchedPosition(state.vehicle_id, trip.route_id, trip.trip_id, trip.direction_id, fix.ts,
                           float(dist), fix.lat, fix.lon, float(off), fix.ts - sched, layover)

"""Stage 3 of the demand path, keyed by route_id: rides → loads on vehicles and segments.

Rides come from the card stage (:mod:`streams.demand.od`) re-keyed by route. A ride
boarding at stop index ``b`` of a pattern and alighting at ``a`` (or spread
over several stops with shares) loads the segments ``b .. a-1`` (segment
``k`` runs from stop ``k`` to stop ``k+1``). Loads are kept

* per bus run (vehicle, run number, pattern): the load each bus carried over
  each segment, from which the peak load of an hour is the highest load of
  any bus crossing the segment in that hour;
* per pattern, local hour and segment: passengers crossing.

A bus is assumed to cross a segment at the time interpolated along the
ride's distance between its boarding and (estimated) alighting; the local
hour of that time is the bucket. Boardings and alightings per stop and hour
(alightings including the inferred ones, fractional) are kept too.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable

import msgspec

from streams.demand.taps import RoutePatterns, local_hour
from topis.schemas.demand import Ride, SegmentLoads, SquirrelInput

log = logging.getLogger(__name__)

_FALLBACK_S_PER_STOP = 90.0


class RunLoad(msgspec.Struct):
    """Load one bus carried on each segment during one run of a pattern."""

    pattern_index: int
    load_pax: list[float]  #: per segment
    hour_local: list[int]  #: hour the bus crossed each segment; -1 where unknown
    last_ts: float = 0.0  #: latest boarding seen on the run


class RouteLoadState(msgspec.Struct):
    """State of one route in the load stage (serialisable with msgspec)."""

    route_id: str
    #: pattern index -> hour -> passengers crossing each segment
    passengers: dict[int, dict[int, list[float]]] = msgspec.field(default_factory=dict)
    #: "vehicle|run_no|pattern" -> load of that run
    runs: dict[str, RunLoad] = msgspec.field(default_factory=dict)
    #: pattern -> hour -> (peak load, bus passes) of runs already settled
    settled_peak: dict[int, dict[int, list[float]]] = msgspec.field(default_factory=dict)
    settled_passes: dict[int, dict[int, list[int]]] = msgspec.field(default_factory=dict)
    #: stop_id -> hour -> [boardings, alightings incl. inferred]
    stop_counts: dict[str, dict[int, list[float]]] = msgspec.field(default_factory=dict)
    rides_by_method: dict[str, int] = msgspec.field(default_factory=dict)
    rides_unplaced: int = 0  #: rides that load no segment (off-pattern or unknown alighting)


def advance(state: RouteLoadState, rides: Iterable[Ride], model: RoutePatterns) -> tuple[RouteLoadState, list[str]]:
    """Fold a batch of the route's rides into its loads.

    Returns the state (updated in place) and the keys of the bus runs whose
    loads changed (``"vehicle|run_no|pattern"``).
    """
    touched: set[str] = set()
    for ride in rides:
        if ride.route_id != state.route_id:
            continue
        state.rides_by_method[ride.alight_method] = state.rides_by_method.get(ride.alight_method, 0) + 1
        _count_stops(state, ride)
        key = _load_segments(state, ride, model)
        if key is None:
            state.rides_unplaced += 1
        else:
            touched.add(key)
    return state, sorted(touched)


def _count_stops(state: RouteLoadState, ride: Ride) -> None:
    _bump(state.stop_counts, ride.board_stop_id, local_hour(ride.board_ts), 0, 1.0)
    hour = local_hour(ride.alight_ts)
    for a in ride.alightings:
        _bump(state.stop_counts, a.stop_id, hour, 1, a.share)


def _bump(table: dict[str, dict[int, list[float]]], stop_id: str, hour: int, col: int, v: float) -> None:
    row = table.setdefault(stop_id, {}).setdefault(hour, [0.0, 0.0])
    row[col] += v


def _load_segments(state: RouteLoadState, ride: Ride, model: RoutePatterns) -> str | None:
    p_idx, b = ride.pattern_index, ride.board_stop_index
    placed = [(a.stop_index, a.share) for a in ride.alightings if a.stop_index is not None and b is not None and a.stop_index > b]
    if p_idx is None or b is None or not placed:
        return None
    n_seg = len(model.patterns[p_idx].stop_ids) - 1
    key = f"{ride.vehicle_id}|{ride.run_no}|{p_idx}"
    run = state.runs.get(key)
    if run is None:
        run = state.runs[key] = RunLoad(p_idx, [0.0] * n_seg, [-1] * n_seg)
    run.last_ts = max(run.last_ts, ride.board_ts)
    by_hour = state.passengers.setdefault(p_idx, {})
    speed_mps, s_per_stop = _ride_pace(model, ride, p_idx, b, placed)
    remaining = sum(share for _, share in placed)
    off_at = {}
    for idx, share in placed:
        off_at[idx] = off_at.get(idx, 0.0) + share
    for k in range(b, max(off_at)):
        remaining -= off_at.get(k, 0.0)
        if remaining <= 1e-12:
            break
        if run.hour_local[k] < 0:
            run.hour_local[k] = local_hour(_cross_ts(model, ride, p_idx, b, k, speed_mps, s_per_stop))
        hour = run.hour_local[k]
        run.load_pax[k] += remaining
        row = by_hour.get(hour)
        if row is None:
            row = by_hour[hour] = [0.0] * n_seg
        row[k] += remaining
    return key


def _ride_pace(model: RoutePatterns, ride: Ride, p_idx: int, b: int, placed: list[tuple[int, float]]) -> tuple[float, float]:
    """Speed (m/s) of the ride to its mean alighting, or NaN with a time per stop instead."""
    duration_s = ride.alight_ts - ride.board_ts
    mean_idx = sum(i * s for i, s in placed) / sum(s for _, s in placed)
    mean_along = sum(model.along_m(p_idx, i) * s for i, s in placed) / sum(s for _, s in placed)
    dist_m = mean_along - model.along_m(p_idx, b)
    if duration_s > 0 and dist_m > 0 and not math.isnan(dist_m):
        return dist_m / duration_s, math.nan
    if duration_s > 0:
        return math.nan, duration_s / max(mean_idx - b, 1e-9)
    return math.nan, _FALLBACK_S_PER_STOP


def _cross_ts(model: RoutePatterns, ride: Ride, p_idx: int, b: int, k: int, speed_mps: float, s_per_stop: float) -> float:
    """Estimated time the bus is midway along segment ``k``."""
    if not math.isnan(speed_mps):
        mid_m = 0.5 * (model.along_m(p_idx, k) + model.along_m(p_idx, k + 1)) - model.along_m(p_idx, b)
        return ride.board_ts + mid_m / speed_mps
    return ride.board_ts + (k - b + 0.5) * s_per_stop


def settle(state: RouteLoadState, before_ts: float) -> RouteLoadState:
    """Fold runs whose last boarding is before ``before_ts`` into the settled peaks and drop them.

    Keeps state bounded on a long-running worker; call it hourly with a
    ``before_ts`` a few hours back (rides can arrive hours late).
    """
    for key in [k for k, r in state.runs.items() if r.last_ts < before_ts]:
        run = state.runs.pop(key)
        _fold_run(state.settled_peak, state.settled_passes, run)
    return state


def _fold_run(peak: dict[int, dict[int, list[float]]], passes: dict[int, dict[int, list[int]]], run: RunLoad) -> None:
    n_seg = len(run.load_pax)
    for k, (load, hour) in enumerate(zip(run.load_pax, run.hour_local)):
        if hour < 0 or load <= 0:
            continue
        p_row = peak.setdefault(run.pattern_index, {}).setdefault(hour, [0.0] * n_seg)
        c_row = passes.setdefault(run.pattern_index, {}).setdefault(hour, [0] * n_seg)
        p_row[k] = max(p_row[k], load)
        c_row[k] += 1


def vehicle_segment_loads(state: RouteLoadState, vehicle_id: str) -> dict[str, RunLoad]:
    """Runs of one vehicle still held in the state, keyed ``"vehicle|run_no|pattern"``."""
    prefix = f"{vehicle_id}|"
    return {k: r for k, r in state.runs.items() if k.startswith(prefix)}


def squirrel_input(state: RouteLoadState, model: RoutePatterns, now_ts: float) -> SquirrelInput:
    """Segment load profiles of the route per direction and hour, for the Squirrel planner."""
    peak = {p: {h: list(r) for h, r in by_h.items()} for p, by_h in state.settled_peak.items()}
    passes = {p: {h: list(r) for h, r in by_h.items()} for p, by_h in state.settled_passes.items()}
    for run in state.runs.values():
        _fold_run(peak, passes, run)
    profiles = []
    for p_idx in sorted(set(state.passengers) | set(peak)):
        pat = model.patterns[p_idx]
        stops = list(pat.stop_ids)
        n_seg = len(stops) - 1
        for hour in sorted(set(state.passengers.get(p_idx, {})) | set(peak.get(p_idx, {}))):
            profiles.append(SegmentLoads(
                route_id=pat.route_id, direction_id=pat.direction_id, hour_local=hour,
                segment_ids=[RoutePatterns.segment_id(a, b) for a, b in zip(stops, stops[1:])],
                from_stop_ids=stops[:-1], to_stop_ids=stops[1:],
                peak_load_pax=peak.get(p_idx, {}).get(hour, [0.0] * n_seg),
                passengers_pax=state.passengers.get(p_idx, {}).get(hour, [0.0] * n_seg),
                bus_passes=passes.get(p_idx, {}).get(hour, [0] * n_seg),
            ))
    n_rides = sum(state.rides_by_method.values())
    inferred = state.rides_by_method.get("chain", 0) + state.rides_by_method.get("distribution", 0)
    return SquirrelInput(
        route_id=state.route_id, generated_at_ts=now_ts, profiles=profiles, rides=n_rides,
        inferred_alighting_share=inferred / n_rides if n_rides else 0.0,
    )


def stop_hour_table(state: RouteLoadState) -> list[tuple[str, int, float, float]]:
    """``(stop_id, hour_local, boardings_pax, alightings_pax)`` with inferred alightings, sorted."""
    return [
        (stop_id, hour, on, off)
        for stop_id, by_hour in sorted(state.stop_counts.items())
        for hour, (on, off) in sorted(by_hour.items())
    ]

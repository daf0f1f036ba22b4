"""Headways per route, direction and stop; bunching and gapping alerts; holding advice.

Every stop arrival is compared with the previous bus's arrival at the same
stop in the same direction (the *actual* headway) and with the timetable's
headway there (the trip's scheduled arrival minus the previous scheduled
trip's, :class:`ScheduleIndex`). A ratio below ``bunching_ratio`` (default
0.5) raises a :class:`BunchingAlert`, above ``gapping_ratio`` (1.5) a
:class:`GappingAlert`.

Holding advice at control stops follows the even-spacing rule of Berrebi,
Hans, Chiabaut, Laurent and Fortin (2018): hold the bus so that its gap to the
bus ahead equals an even split of the gap between the bus ahead and the
followers' predicted arrivals (:func:`even_spacing_hold_s`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import msgspec
import numpy as np

from topis.schemas.bus import BunchingAlert, GappingAlert, HeadwayObservation, StopArrival, StopDeparture
from topis.schemas.state import HeadwaySummary


@dataclass(frozen=True)
class HeadwayParams:
    bunching_ratio: float = 0.5
    gapping_ratio: float = 1.5
    max_hold_s: float = 300.0  #: never advise holding longer than this
    followers: int = 1  #: followers whose predicted arrivals the even split uses


class HeadwayState(msgspec.Struct):
    """Last arrival/departure per direction × stop and running headway sums. Mutable."""

    last_arrival: dict[str, tuple[float, str, str]] = {}  #: "dir|stop" → (ts, vehicle, trip)
    last_departure: dict[str, tuple[float, str, str]] = {}  #: "dir|stop" → (ts, vehicle, trip)
    sums: dict[str, tuple[int, float, float]] = {}  #: "dir|stop" → (n, Σh, Σh²) of headway_s


def stop_key(direction_id: int | None, stop_id: str) -> str:
    return f"{'' if direction_id is None else direction_id}|{stop_id}"


class ScheduleIndex:
    """Scheduled arrivals per direction × stop on one service day, to look up timetable headways.

    The order of the day's arrivals depends only on which trips run; :meth:`pattern`
    builds that once (for a day type) and :meth:`on_day` places it on a service day.
    """

    def __init__(self, trips, day_ts: float):
        pattern = ScheduleIndex.pattern(trips)
        self.times, self.position = _on_day(pattern, day_ts), pattern.position

    @staticmethod
    def pattern(trips) -> SchedulePattern:
        """The arrivals of ``trips`` in order at each stop, in seconds of the service day.

        Trips that stop alike (same direction and stops) are stacked into one array and each
        stop's column taken at once; ties in time are broken by trip id. A trip that calls at
        a stop twice (a loop) is ranked at its later call there.
        """
        alike: dict[tuple, list] = {}
        for trip in trips:
            alike.setdefault((trip.direction_id, trip.stop_ids), []).append(trip)
        times: dict[str, list[np.ndarray]] = {}
        ids: dict[str, list[np.ndarray]] = {}
        for (direction_id, stop_ids), group in alike.items():
            arrival_s = np.array([t.arrival_s for t in group], dtype=float).reshape(len(group), len(stop_ids))
            trip_ids = np.array([t.trip_id for t in group])
            for j, sid in enumerate(stop_ids):
                key = stop_key(direction_id, sid)
                times.setdefault(key, []).append(arrival_s[:, j])
                ids.setdefault(key, []).append(trip_ids)
        offsets_s, position = {}, {}
        for key, parts in times.items():
            t, tid = np.concatenate(parts), np.concatenate(ids[key])
            order = np.lexsort((tid, t))  # by time, then trip id
            offsets_s[key] = t[order]
            position[key] = dict(zip(tid[order].tolist(), range(len(order))))
        return SchedulePattern(offsets_s, position)

    @classmethod
    def on_day(cls, pattern: SchedulePattern, day_ts: float) -> ScheduleIndex:
        """The index of ``pattern`` on the service day starting at ``day_ts`` (epoch seconds)."""
        idx = cls.__new__(cls)
        idx.times, idx.position = _on_day(pattern, day_ts), pattern.position
        return idx

    def scheduled_headway_s(self, key: str, trip_id: str) -> float | None:
        """This trip's scheduled arrival minus the previous scheduled trip's, at a stop."""
        i = self.position.get(key, {}).get(trip_id)
        if not i:  # unknown, or the first trip of the day
            return None
        h = float(self.times[key][i] - self.times[key][i - 1])
        return h if h > 0 else None

    def next_scheduled_ts(self, key: str, after_ts: float) -> float | None:
        t = self.times.get(key)
        if t is None:
            return None
        i = int(np.searchsorted(t, after_ts, side="right"))
        return float(t[i]) if i < len(t) else None


@dataclass(frozen=True)
class SchedulePattern:
    """A day type's scheduled arrivals per direction × stop: seconds of the service day, in order."""

    offsets_s: dict[str, np.ndarray]  #: key → sorted arrival offsets from the day's start
    position: dict[str, dict[str, int]]  #: key → trip id → rank in the day's arrivals


def _on_day(pattern: SchedulePattern, day_ts: float) -> dict[str, np.ndarray]:
    return {key: day_ts + offsets for key, offsets in pattern.offsets_s.items()}


def even_spacing_hold_s(now_ts: float, leader_ts: float, follower_ts: list[float], max_hold_s: float) -> float:
    """Even-spacing holding time (Berrebi et al. 2018) at a control stop.

    Parameters
    ----------
    now_ts
        When the bus is ready to leave the control stop.
    leader_ts
        When the bus ahead left (or reached) that stop.
    follower_ts
        Predicted arrivals of the next ``k`` buses behind at that stop, ascending.
    max_hold_s
        Cap on the advice.

    Returns
    -------
    float
        ``clip(leader + (t_k - leader) / (k + 1) - now, 0, max_hold_s)`` seconds: the
        bus leaves when its gap ahead equals the even split of the gap between the
        bus ahead and the k-th follower. With no follower known, 0.

    Examples
    --------
    Bus ahead left 100 s ago, the follower is due in 500 s: the even split of the
    600 s gap is 300 s, so hold 200 s.

    >>> even_spacing_hold_s(1000.0, 900.0, [1500.0], 600.0)
    200.0
    """
    if not follower_ts:
        return 0.0
    k = len(follower_ts)
    target = leader_ts + (follower_ts[-1] - leader_ts) / (k + 1)
    return float(min(max(target - now_ts, 0.0), max_hold_s))


def observe_arrival(state: HeadwayState, arrival: StopArrival, schedule: ScheduleIndex | None,
                    params: HeadwayParams, control_stop: bool = False,
                    follower_ts: list[float] | None = None) -> list:
    """Headway events for one arrival: an observation, maybe an alert (updates ``state``).

    ``follower_ts`` are the predicted arrivals at this stop of the buses behind
    (ascending); when missing, the next scheduled arrival stands in for them.
    """
    key = stop_key(arrival.direction_id, arrival.stop_id)
    prev = state.last_arrival.get(key)
    state.last_arrival[key] = (arrival.ts, arrival.vehicle_id, arrival.trip_id)
    if prev is None or prev[1] == arrival.vehicle_id or arrival.ts <= prev[0]:
        return []
    headway = arrival.ts - prev[0]
    sched = schedule.scheduled_headway_s(key, arrival.trip_id) if schedule is not None else None
    ratio = headway / sched if sched else None
    hold = None
    if control_stop:
        dep = state.last_departure.get(key)
        leader_ts = dep[0] if dep is not None and dep[1] == prev[1] else prev[0]
        followers = sorted(t for t in (follower_ts or []) if t > arrival.ts)[: params.followers]
        if not followers and schedule is not None:
            nxt = schedule.next_scheduled_ts(key, arrival.scheduled_ts)
            followers = [nxt] if nxt is not None else []
        hold = even_spacing_hold_s(arrival.ts, leader_ts, followers, params.max_hold_s)
    n, s1, s2 = state.sums.get(key, (0, 0.0, 0.0))
    state.sums[key] = (n + 1, s1 + headway, s2 + headway * headway)
    obs = HeadwayObservation(arrival.route_id, arrival.direction_id, arrival.stop_id, arrival.vehicle_id,
                             arrival.trip_id, prev[1], prev[2], arrival.ts, headway, sched, ratio, hold)
    out: list = [obs]
    if ratio is not None and ratio < params.bunching_ratio:
        out.append(BunchingAlert(obs, params.bunching_ratio, control_stop, hold))
    elif ratio is not None and ratio > params.gapping_ratio:
        out.append(GappingAlert(obs, params.gapping_ratio, control_stop, hold))
    return out


def observe_departure(state: HeadwayState, departure: StopDeparture) -> None:
    """Remember the departure: holding advice measures the gap from the leader's departure."""
    key = stop_key(departure.direction_id, departure.stop_id)
    state.last_departure[key] = (departure.ts, departure.vehicle_id, departure.trip_id)


def headway_cv(n: int, total_s: float, total_sq: float) -> float:
    """Coefficient of variation std/mean of headways from their count, sum and sum of squares.

    Uses the population standard deviation; NaN for fewer than 2 headways.
    """
    if n < 2 or total_s <= 0.0:
        return math.nan
    mean = total_s / n
    var = max(total_sq / n - mean * mean, 0.0)
    return math.sqrt(var) / mean


def headway_summary(state: HeadwayState) -> dict[str, HeadwaySummary]:
    """Per "dir|stop": n, mean_headway_s, std_headway_s, headway_cv (NaN where undefined)."""
    out = {}
    for key, (n, s1, s2) in state.sums.items():
        mean = s1 / n if n else math.nan
        cv = headway_cv(n, s1, s2)
        out[key] = HeadwaySummary(n, mean, cv * mean if n >= 2 else math.nan, cv)
    return out


def marey_points(events) -> dict[str, list[tuple[float, float]]]:
    """Time-space (Marey) series per trip from MatchedPosition events: trip → [(ts, dist_m), ...]."""
    out: dict[str, list[tuple[float, float]]] = {}
    for e in events:
        if type(e).__name__ == "MatchedPosition":
            out.setdefault(e.trip_id, []).append((e.ts, e.dist_m))
    return out

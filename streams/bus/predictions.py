"""Arrival predictions: every active bus → every downstream stop of its trip.

Two predictors share one travel-time store (:class:`TravelTimes`, plain data):

* ``"transitclock"`` — TheTransitClock's Kalman travel-time filter, per segment
  (stop to next stop): historical mean and variance of the segment's recent
  traversals, the last vehicle's traversal time and the filter error carried
  from the previous segment (:func:`kalman_step`). With no history a segment
  falls back to its scheduled running time, as TheTransitClock falls back to
  schedule-derived travel times.
* ``"topis"`` (default) — measured better on the WMATA S2 trace and the demo
  city (``benchmarks/eta_accuracy.py``):
  - **segment times** = the scheduled time moved towards the segment's own
    recent traversals by ``n / (n + segment_prior_n)`` (an empirical-Bayes
    shrinkage: three noisy traversals do not outvote the timetable), using the
    traversals at this **hour of day** when there are any;
  - **dwell already spent** at the stop the bus stands at is not predicted again;
  - **the bus ahead**: a bus close behind another picks up fewer riders and
    dwells less, one far behind more. With card taps the stop's boarding rate
    gives the change (``board_s`` × rate × change in headway); without, the
    learned dwell scales with the headway (:func:`dwell_change_s`);
  - options measured and left off by default because they lowered accuracy:
    the bus's own recent pace (``own_pace``) and the route's recent pace
    (``use_route_pace``).

Predicted times are epoch seconds UTC, rounded to whole seconds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import repeat
from typing import Literal

import msgspec
import numpy as np

from streams.bus.stop_pattern import StopPattern, segment_key, stop_pattern  # noqa: F401 (re-exported)
from topis.schemas.bus import Prediction


class KalmanResult(msgspec.Struct, frozen=True):
    """One step of the Kalman travel-time filter."""

    prediction_s: float  #: predicted travel time of the segment, seconds
    filter_error: float  #: filter error to carry to the next segment (s²)
    gain: float  #: Kalman gain g given to the historical mean


def historical_mean_variance(history_s: list[float]) -> tuple[float, float]:
    """Mean and population variance of historical segment times, as TheTransitClock computes them.

    TheTransitClock sums integer durations and divides in integer arithmetic, so the
    mean of whole seconds is truncated; the variance divides by ``n`` (not ``n - 1``).

    Raises
    ------
    ValueError
        If ``history_s`` is empty.
    """
    if not history_s:
        raise ValueError("cannot average an empty history")
    n = len(history_s)
    mean = float(math.trunc(sum(history_s) / n)) if all(float(h).is_integer() for h in history_s) \
        else sum(history_s) / n
    var = sum((h - mean) ** 2 for h in history_s) / n
    return mean, var


def kalman_step(last_vehicle_s: float, history_s: list[float], last_error: float) -> KalmanResult:
    """TheTransitClock's Kalman filter for one segment's travel time.

    Parameters
    ----------
    last_vehicle_s
        Travel time of the segment by the last vehicle that covered it, seconds.
    history_s
        Historical travel times of the segment (TheTransitClock: the same trip on
        the last days), seconds.
    last_error
        Filter error from the previous segment's step (s²).

    Returns
    -------
    KalmanResult
        ``g = (e + var) / (e + 2 var)``, prediction ``(1 - g) * last + g * mean``,
        filter error ``var * g``. For history 380/420/400 s, last vehicle 300 s and
        e = 72.4: g ≈ 0.5598, prediction ≈ 355.98 s, error ≈ 149.3.
    """
    mean, var = historical_mean_variance(history_s)
    return kalman_from_moments(last_vehicle_s, mean, var, last_error)


def kalman_from_moments(last_vehicle_s: float, mean: float, var: float, last_error: float) -> KalmanResult:
    """:func:`kalman_step` given the history's mean and population variance."""
    denom = last_error + 2.0 * var
    gain = 1.0 if denom <= 0.0 else (last_error + var) / denom
    prediction = (1.0 - gain) * last_vehicle_s + gain * mean
    return KalmanResult(prediction, var * gain, gain)


# --------------------------------------------------------------------------- travel-time store


class TravelTimes(msgspec.Struct):
    """Observed segment times (arrival to next arrival), per segment and per segment × hour of day.

    Keys: ``"FROM>TO"`` (stop ids) and ``"FROM>TO@H"`` (H = local hour). Mutable;
    :func:`learn_segment` and :func:`learn_dwell` update it in place.
    """

    by_segment: dict[str, list[float]] = {}  #: recent traversal times, seconds, newest last
    by_hour: dict[str, list[float]] = {}  #: the same, per hour of day
    last: dict[str, tuple[float, float]] = {}  #: last vehicle: (ts it finished, seconds)
    errors: dict[str, float] = {}  #: Kalman filter error left by the last step on the segment (s²)
    dwell_s: dict[str, float] = {}  #: smoothed dwell per stop, seconds
    moments: dict[str, tuple[float, float]] = {}  #: key → (mean, variance) of its history, kept current
    boardings_per_s: dict[str, float] = {}  #: smoothed boarding rate per stop, from card taps
    tap_counts: dict[str, int] = {}  #: boardings per stop in the current tap window
    tap_window_start: float = 0.0  #: start of the current tap window, epoch seconds
    #: recent traversals on the route: (ts done, actual s, scheduled s, vehicle), oldest first
    pace: list[tuple[float, float, float, str]] = []


@dataclass(frozen=True)
class PredictParams:
    """Tuning of the predictor."""

    method: Literal["topis", "transitclock"] = "topis"
    history_keep: int = 3  #: traversals kept per key (TheTransitClock: the last 3 days)
    min_history: int = 1  #: traversals needed before history replaces the schedule
    last_vehicle_max_age_s: float = 1800.0  #: an older last-vehicle time is not used
    initial_error: float = 50.0  #: Kalman filter error before any step (s²)
    #: stretch predictions by the bus's own recent pace vs expected. Off by default: on the
    #: WMATA traces it lowered the bucket score (S2 89.9% → 84.9%); schedule-relative
    #: running times already carry most of the signal at 30 s AVL.
    own_pace: bool = False
    pace_lookback_s: float = 600.0  #: own-pace window behind the bus
    pace_min_elapsed_s: float = 90.0  #: shortest window that gives a pace
    pace_decay_m: float = 2500.0  #: own pace fades over this distance ahead
    pace_bounds: tuple[float, float] = (0.6, 2.0)
    pace_shrink_s: float = 120.0  #: pace over t seconds gets weight t / (t + this)
    dwell_alpha: float = 0.2  #: smoothing of learned dwell
    dwell_headway_bounds: tuple[float, float] = (0.4, 1.6)  #: dwell × clip(headway / scheduled)
    max_horizon_s: float = 5400.0  #: no predictions further ahead than this
    stale_after_s: float = 900.0  #: another bus's predictions older than this are forgotten
    #: between stops, a bus's predictions are made again at most this often (event seconds); a
    #: bus reaching or leaving a stop is always predicted again. 0 = at every fix (offline scoring).
    repredict_every_s: float = 0.0
    board_s: float = 2.5  #: seconds of dwell per boarding (front door, card tap)
    tap_window_s: float = 900.0  #: boarding rates are counted over windows this long
    tap_alpha: float = 0.3  #: smoothing of boarding rates from one window to the next
    bus_ahead_stops: int = 15  #: the bus ahead changes dwell at this many stops ahead (shift carries on)
    #: scale scheduled times by the other buses' recent pace (:func:`route_pace`). Off by default:
    #: on the demo city it lowered the score (89.5% → 83.8% on routes 100-101) because the pace
    #: measured over the last half hour lags what the next buses will do.
    use_route_pace: bool = False
    pace_keep: int = 400  #: route traversals kept for the route's pace
    route_pace_window_s: float = 1800.0  #: route pace looks back this far
    route_pace_prior_s: float = 900.0  #: scheduled seconds of evidence that give the pace half weight
    segment_prior_n: float = 3.0  #: traversals that give a segment's own history half weight (chosen on the demo city)
    depart_m: float = 25.0  #: matcher's departure mark past a stop (see MatchParams.depart_m)


def learn_segment(tt: TravelTimes, from_stop: str, to_stop: str, done_ts: float, seconds: float,
                  hour: int, params: PredictParams, scheduled_s: float | None = None,
                  vehicle_id: str = "") -> None:
    """Record one traversal of a segment (arrival at ``from_stop`` to arrival at ``to_stop``).

    With ``scheduled_s`` the traversal also feeds the route's pace (actual vs scheduled).
    """
    if not math.isfinite(seconds) or seconds < 0.0:
        return
    if scheduled_s is not None and scheduled_s > 0.0:
        tt.pace.append((done_ts, seconds, scheduled_s, vehicle_id))
        del tt.pace[:-params.pace_keep]
    key = segment_key(from_stop, to_stop)
    keep = params.history_keep
    for store, k in ((tt.by_segment, key), (tt.by_hour, f"{key}@{hour}")):
        hist = store.setdefault(k, [])
        hist.append(seconds)
        del hist[:-keep]
        tt.moments[k] = historical_mean_variance(hist)
    tt.last[key] = (done_ts, seconds)


def learn_dwell(tt: TravelTimes, stop_id: str, dwell: float | None, params: PredictParams) -> None:
    """Smooth a measured dwell into the stop's dwell estimate (None: not measured, ignored)."""
    if dwell is None or not math.isfinite(dwell):
        return
    old = tt.dwell_s.get(stop_id)
    tt.dwell_s[stop_id] = dwell if old is None else old + params.dwell_alpha * (dwell - old)


def route_pace(tt: TravelTimes, now_ts: float, vehicle_id: str, params: PredictParams) -> float:
    """Actual over scheduled running time of the route's other buses lately, shrunk towards 1.

    Parameters
    ----------
    tt
        Travel-time store with recent traversals (``tt.pace``).
    now_ts
        Current time; traversals older than ``params.route_pace_window_s`` are ignored.
    vehicle_id
        The bus being predicted: its own traversals are left out (as TheTransitClock's
        "last vehicle" is another bus).

    Returns
    -------
    float
        ``1 + w (Σ actual / Σ scheduled - 1)`` with ``w = Σ scheduled / (Σ scheduled +
        route_pace_prior_s)``: a few minutes of evidence move the estimate a little,
        an hour's worth moves it nearly all the way.
    """
    act = sched = 0.0
    for ts, a, sc, v in reversed(tt.pace):
        if now_ts - ts > params.route_pace_window_s:
            break
        if v != vehicle_id:
            act += a
            sched += sc
    if sched <= 0.0:
        return 1.0
    lo, hi = params.pace_bounds
    ratio = min(max(act / sched, lo), hi)
    return 1.0 + (ratio - 1.0) * sched / (sched + params.route_pace_prior_s)


def segment_time(tt: TravelTimes, key: str, hour: int, scheduled_s: float, now_ts: float,
                 error: float, params: PredictParams, pace: float = 1.0) -> tuple[float, float]:
    """Predicted travel time of one segment and the filter error to carry on.

    TheTransitClock: Kalman on (last vehicle, history) when both exist, else the
    historical mean, else the scheduled time. topis: the scheduled time scaled by
    the route's recent pace, moved towards the segment's own history (this hour's
    when it has any, else all hours) by ``n / (n + segment_prior_n)`` for ``n``
    traversals: an empirical-Bayes estimate that a few noisy traversals cannot
    swing far.
    """
    if params.method == "topis":
        base = scheduled_s * pace
        hist = tt.by_hour.get(f"{key}@{hour}") or tt.by_segment.get(key)
        if not hist:
            return base, error
        w = len(hist) / (len(hist) + params.segment_prior_n)
        return base + w * (sum(hist) / len(hist) - base), error
    hist_key = key
    if params.method == "topis" and f"{key}@{hour}" in tt.by_hour:
        hist_key = f"{key}@{hour}"
    hist = tt.by_hour.get(hist_key) if hist_key != key else tt.by_segment.get(key)
    if not hist or len(hist) < params.min_history:
        return scheduled_s, error
    mean, var = tt.moments.get(hist_key) or historical_mean_variance(hist)
    last = tt.last.get(key)
    if last is not None and now_ts - last[0] <= params.last_vehicle_max_age_s:
        res = kalman_from_moments(last[1], mean, var, error)
        return res.prediction_s, res.filter_error
    return mean, error


def segment_times(trip, tt: TravelTimes, now_ts: float, hour: int, params: PredictParams, first: int = 0,
                  pace: float = 1.0, pattern: StopPattern | None = None) -> np.ndarray:
    """Predicted time of every segment of a trip (``len(stops) - 1`` values, seconds).

    Segments before ``first`` keep their scheduled times (they are behind the bus).
    Updates the carried Kalman filter errors in ``tt.errors``. Each value is what
    :func:`segment_time` gives for the segment, to the bit; ``pattern`` is the trip's
    :class:`StopPattern` (made here when not given).
    """
    pattern = pattern or stop_pattern(trip)
    keys = pattern.segment_keys
    out = trip.segment_s.astype(float)
    if params.method != "topis":
        for k in range(first, len(keys)):
            key = keys[k]
            err = tt.errors.get(key, params.initial_error)
            out[k], new_err = segment_time(tt, key, hour, float(out[k]), now_ts, err, params, pace)
            if new_err != err:
                tt.errors[key] = new_err
        return out
    if pace != 1.0:
        out[first:] *= pace
    _shrink_to_history(out, first, pattern, hour, tt, params.segment_prior_n)
    if math.isnan(params.initial_error):
        # segment_time leaves the error as it is, but a NaN error is unequal to itself and was stored
        for key in keys[first:]:
            tt.errors.setdefault(key, params.initial_error)
    return out


def _shrink_to_history(seg_s: np.ndarray, first: int, pattern: StopPattern, hour: int, tt: TravelTimes,
                       prior_n: float) -> None:
    """:func:`segment_time`'s topis estimate, in place, for the segments from ``first`` with history.

    ``seg_s`` holds the scheduled times already scaled by the route's pace; segments
    with no traversals keep them, the others move towards their mean as there.
    """
    keys, hour_keys = pattern.segment_keys, pattern.hour_keys(hour)
    for k in pattern.with_history(tt, hour):
        hist = tt.by_hour.get(hour_keys[k]) or tt.by_segment.get(keys[k])
        if k >= first and hist:
            base = float(seg_s[k])
            w = len(hist) / (len(hist) + prior_n)
            seg_s[k] = base + w * (sum(hist) / len(hist) - base)


def own_pace(trip, seg_s: np.ndarray, recent: list[tuple[float, float]], now_ts: float,
             params: PredictParams) -> float:
    """Ratio of the bus's actual to expected time over its recent progress, shrunk towards 1.

    Parameters
    ----------
    trip
        The bus's trip (``dist_m`` of its stops).
    seg_s
        Expected time of each segment, seconds.
    recent
        ``(ts, dist_m)`` of the bus's recent fixes on the trip, oldest first.
    now_ts
        Time of the latest fix.

    Returns
    -------
    float
        1.0 when there is too little recent progress to judge.
    """
    window = [(t, d) for t, d in recent if t >= now_ts - params.pace_lookback_s]
    if len(window) < 2:
        return 1.0
    (t0, d0), (t1, d1) = window[0], window[-1]
    elapsed = t1 - t0
    if elapsed < params.pace_min_elapsed_s:
        return 1.0
    cum = np.r_[0.0, np.cumsum(seg_s)]
    expected = float(np.interp(d1, trip.dist_m, cum) - np.interp(d0, trip.dist_m, cum))
    if expected <= 1.0:
        return 1.0
    lo, hi = params.pace_bounds
    rho = min(max(elapsed / expected, lo), hi)
    weight = elapsed / (elapsed + params.pace_shrink_s)
    return 1.0 + (rho - 1.0) * weight


def predict_trip(trip, day_ts: float, vehicle_id: str, dist_m: float, next_index: int, departed_first: bool,
                 recent: list[tuple[float, float]], now_ts: float, tt: TravelTimes, hour: int,
                 params: PredictParams, leader_arrival_ts: dict[int, list[float]] | None = None,
                 scheduled_headway_s: dict[int, float] | None = None,
                 arrived_ts: float | None = None, pattern: StopPattern | None = None) -> list[Prediction]:
    """Arrival predictions of one bus at every stop of its trip from ``next_index`` on.

    Parameters
    ----------
    trip
        The bus's :class:`streams.bus.gtfs.Trip`.
    day_ts
        Epoch seconds of the trip's service day start.
    dist_m, next_index
        Where the bus is: distance along the shape and first stop not yet reached.
    departed_first
        Whether the bus has left the trip's first stop (no layover hold applies).
    recent
        ``(ts, dist_m)`` of its recent fixes, for its own pace (topis method only).
    now_ts
        Time of the fix the predictions are made at.
    tt, hour, params
        Travel-time store, local hour of day, tuning.
    leader_arrival_ts, scheduled_headway_s
        For the topis method: arrivals (actual or predicted) of other buses at stop
        index ``j`` and the scheduled headway there; the latest one before this bus
        is the bus ahead, and dwell there scales with the predicted headway over
        the scheduled one.
    arrived_ts
        When the bus reached stop ``next_index - 1``, if it has not left it yet: the
        dwell already spent there is not predicted again.
    pattern
        The trip's :class:`StopPattern`, when the caller keeps one (made here when not).
    """
    n = len(trip.stop_ids)
    if next_index >= n:
        return []
    topis = params.method == "topis"
    first = 0 if topis and params.own_pace else max(next_index - 1, 0)
    pace = route_pace(tt, now_ts, vehicle_id, params) if topis and params.use_route_pace else 1.0
    seg = segment_times(trip, tt, now_ts, hour, params, first, pace, pattern)
    if topis and params.own_pace:
        rho = own_pace(trip, seg, recent, now_ts, params)
        if rho != 1.0:
            ahead_m = np.maximum(trip.dist_m[:-1] - dist_m, 0.0)
            seg = seg * (1.0 + (rho - 1.0) * np.exp(-ahead_m / params.pace_decay_m))
    cum = np.empty(n)
    cum[0] = 0.0
    np.cumsum(seg, out=cum[1:])
    here = _time_along(trip, cum, dist_m, next_index, tt, params, now_ts, arrived_ts) if topis \
        else float(np.interp(dist_m, trip.dist_m, cum))
    eta = now_ts + cum[next_index:] - here
    if not departed_first:
        # a bus on layover starts service at its first stop no earlier than scheduled
        leave = max(now_ts + cum[0] - here, day_ts + float(trip.departure_s[0]))
        js = np.arange(next_index, n)
        eta = np.maximum(eta, leave + cum[js] - cum[0])
    if topis and leader_arrival_ts and scheduled_headway_s:
        eta = _bus_ahead_dwell(trip, eta, next_index, tt, leader_arrival_ts, scheduled_headway_s, params)
    return _predictions(trip, vehicle_id, next_index, eta, now_ts, params.max_horizon_s)


def _predictions(trip, vehicle_id: str, next_index: int, eta: np.ndarray, now_ts: float,
                 max_horizon_s: float) -> list[Prediction]:
    """One :class:`Prediction` per stop from ``next_index`` on, up to the first one beyond the horizon.

    Arrivals are no earlier than ``now_ts``, rounded to whole seconds half to even as
    ``float(round(t))`` does.
    """
    beyond = np.flatnonzero(eta - now_ts > max_horizon_s)
    count = int(beyond[0]) if len(beyond) else len(eta)
    arrival = np.maximum(eta[:count], now_ts)
    if math.isfinite(arrival.sum()):  # a NaN or an infinity would make the sum one too
        rounded = (np.rint(arrival) + 0.0).tolist()  # + 0.0: round() gives 0.0 where rint gives -0.0
    else:
        rounded = [float(round(t)) for t in arrival.tolist()]  # round() raises on NaN and infinity, as ever
    sequence = trip.stop_sequence[next_index:next_index + count].tolist()  # int64 in a feed: ints, as int() gives
    return list(map(Prediction, repeat(vehicle_id), repeat(trip.route_id), repeat(trip.trip_id),
                    trip.stop_ids[next_index:], sequence, repeat(now_ts), rounded))


def _time_along(trip, cum: np.ndarray, dist_m: float, next_index: int, tt: TravelTimes,
                params: PredictParams, now_ts: float, arrived_ts: float | None) -> float:
    """Where the bus is in expected time along its trip, counting dwell as spent at the stop.

    A segment's time is the dwell at its first stop plus running time. Running time
    is spread evenly over the segment's length; the dwell is spent within
    ``depart_m`` past the stop, or, while the bus is still there, as long as it has
    been there (``arrived_ts``).
    """
    i = next_index - 1
    if i < 0:
        return float(np.interp(dist_m, trip.dist_m, cum))
    c0, c1 = cum[i:i + 2].tolist()
    d0, d1 = trip.dist_m[i:i + 2].tolist()
    seg = c1 - c0
    dwell = min(tt.dwell_s.get(trip.stop_ids[i], 0.0), 0.8 * seg)
    frac = min(max((dist_m - d0) / (d1 - d0), 0.0), 1.0) if d1 > d0 else 1.0
    mark = min(params.depart_m, 0.5 * (d1 - d0))
    spent = dwell * (min(max((dist_m - d0) / mark, 0.0), 1.0) if mark > 0 else 1.0)
    if arrived_ts is not None and dist_m - d0 <= mark:
        spent = max(spent, min(max(now_ts - arrived_ts, 0.0), dwell))
    return float(c0 + (seg - dwell) * frac + spent)


def dwell_change_s(tt: TravelTimes, stop_id: str, headway_s: float, scheduled_headway_s: float,
                   params: PredictParams) -> float:
    """Extra dwell (negative: less) at a stop when the bus runs ``headway_s`` behind the bus ahead
    instead of the timetable's ``scheduled_headway_s``.

    With a boarding rate from card taps (:func:`learn_taps`): ``board_s × rate × (h - h_sched)``,
    the riders who gathered in the extra (or missing) time. Otherwise the learned dwell,
    scaled by ``clip(h / h_sched) - 1``. 0 when the stop has neither.
    """
    rate = tt.boardings_per_s.get(stop_id)
    if rate is not None:
        lo, hi = params.dwell_headway_bounds
        h = min(max(headway_s, lo * scheduled_headway_s), hi * scheduled_headway_s)
        return params.board_s * rate * (h - scheduled_headway_s)
    dwell = tt.dwell_s.get(stop_id)
    if dwell is None:
        return 0.0
    lo, hi = params.dwell_headway_bounds
    return dwell * (min(max(headway_s / scheduled_headway_s, lo), hi) - 1.0)


def learn_taps(tt: TravelTimes, stop_ids: list[str], ts: list[float], params: PredictParams) -> None:
    """Fold boarding taps (stop, time; in time order) into each stop's boarding rate.

    Taps are counted in windows of ``tap_window_s``; when a window closes, each stop's
    rate (boardings per second) moves towards the window's count by ``tap_alpha``
    (stops with no tap in the window towards 0).
    """
    for stop, t in zip(stop_ids, ts):
        if tt.tap_window_start <= 0.0:
            tt.tap_window_start = t
        while t >= tt.tap_window_start + params.tap_window_s:
            for sid in set(tt.boardings_per_s) | set(tt.tap_counts):
                sample = tt.tap_counts.get(sid, 0) / params.tap_window_s
                old = tt.boardings_per_s.get(sid)
                tt.boardings_per_s[sid] = sample if old is None else old + params.tap_alpha * (sample - old)
            tt.tap_counts = {}
            tt.tap_window_start += params.tap_window_s
        tt.tap_counts[stop] = tt.tap_counts.get(stop, 0) + 1


def _bus_ahead_dwell(trip, eta: np.ndarray, first: int, tt: TravelTimes, leader: dict[int, list[float]],
                     sched_headway: dict[int, float], params: PredictParams) -> np.ndarray:
    """Shift arrivals by the change in dwell that the headway to the bus ahead implies.

    The shift grows stop by stop over the ``bus_ahead_stops`` from ``first`` (each
    stop's arrival moves by the changes at the stops before it) and carries on
    beyond. Only stops in ``leader`` can change it.
    """
    end = min(len(trip.stop_ids), first + params.bus_ahead_stops)
    shift = 0.0
    changes = []  # (first index it applies to, shift from there on)
    eta_ts = eta[:end - first].tolist()
    for j in [j for j in sorted(leader) if first <= j < end]:
        sched = sched_headway.get(j)
        arrival = eta_ts[j - first] + shift
        ahead = [t for t in leader[j] if t < arrival]
        if not ahead or not sched or sched <= 0.0:
            continue
        shift += dwell_change_s(tt, trip.stop_ids[j], arrival - max(ahead), sched, params)
        changes.append((j - first + 1, shift))
    if not changes:
        return eta + shift
    shift_s = np.zeros(len(eta))
    for i, s in changes:
        shift_s[i:] = s
    return eta + shift_s

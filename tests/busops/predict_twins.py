"""The arrival predictor as it was before it was made faster: the slow, obviously-correct twin.

Verbatim copies of ``streams.bus.predictions`` (segment_time … _bus_ahead_dwell) and
``streams.bus.pipeline`` (``_predict``, ``_others_at_stops``) at commit 1abba0a, used only by
``test_predict_equivalence.py`` and ``benchmarks/predict_speed.py``: the fast code must give
the same predictions, bit for bit, and leave the same travel-time store.
"""

from __future__ import annotations

import datetime as dt

import numpy as np

from streams.bus.headways import stop_key
from streams.bus.predictions import (
    PredictParams,
    TravelTimes,
    historical_mean_variance,
    kalman_from_moments,
    route_pace,
    segment_key,
)
from topis.schemas.bus import Prediction


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


def segment_times(trip, tt: TravelTimes, now_ts: float, hour: int,
                  params: PredictParams, first: int = 0, pace: float = 1.0) -> np.ndarray:
    """Predicted time of every segment of a trip (``len(stops) - 1`` values, seconds).

    Segments before ``first`` keep their scheduled times (they are behind the bus).
    Updates the carried Kalman filter errors in ``tt.errors``.
    """
    n = len(trip.stop_ids)
    sched = trip.segment_s
    out = sched.astype(float)
    for k in range(first, n - 1):
        key = segment_key(trip.stop_ids[k], trip.stop_ids[k + 1])
        err = tt.errors.get(key, params.initial_error)
        out[k], new_err = segment_time(tt, key, hour, float(sched[k]), now_ts, err, params, pace)
        if new_err != err:
            tt.errors[key] = new_err
    return out


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
                 arrived_ts: float | None = None) -> list[Prediction]:
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
    """
    n = len(trip.stop_ids)
    if next_index >= n:
        return []
    topis = params.method == "topis"
    first = 0 if topis and params.own_pace else max(next_index - 1, 0)
    pace = route_pace(tt, now_ts, vehicle_id, params) if topis and params.use_route_pace else 1.0
    seg = segment_times(trip, tt, now_ts, hour, params, first, pace)
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
    out = []
    for j in range(next_index, n):
        t = float(eta[j - next_index])
        if t - now_ts > params.max_horizon_s:
            break
        out.append(Prediction(vehicle_id, trip.route_id, trip.trip_id, trip.stop_ids[j],
                              int(trip.stop_sequence[j]), now_ts, float(round(max(t, now_ts)))))
    return out


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
    seg = cum[i + 1] - cum[i]
    dwell = min(tt.dwell_s.get(trip.stop_ids[i], 0.0), 0.8 * seg)
    d0, d1 = float(trip.dist_m[i]), float(trip.dist_m[i + 1])
    frac = min(max((dist_m - d0) / (d1 - d0), 0.0), 1.0) if d1 > d0 else 1.0
    mark = min(params.depart_m, 0.5 * (d1 - d0))
    spent = dwell * (min(max((dist_m - d0) / mark, 0.0), 1.0) if mark > 0 else 1.0)
    if arrived_ts is not None and dist_m - d0 <= mark:
        spent = max(spent, min(max(now_ts - arrived_ts, 0.0), dwell))
    return float(cum[i] + (seg - dwell) * frac + spent)


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


def _bus_ahead_dwell(trip, eta: np.ndarray, first: int, tt: TravelTimes, leader: dict[int, list[float]],
                     sched_headway: dict[int, float], params: PredictParams) -> np.ndarray:
    """Shift arrivals by the change in dwell that the headway to the bus ahead implies."""
    lo, hi = params.dwell_headway_bounds
    shift = 0.0
    out = eta.copy()
    for j in range(first, min(len(trip.stop_ids), first + params.bus_ahead_stops)):
        out[j - first] += shift
        sched = sched_headway.get(j)
        ahead = [t for t in leader.get(j, ()) if t < out[j - first]]
        if not ahead or not sched or sched <= 0.0:
            continue
        headway = out[j - first] - max(ahead)
        shift += dwell_change_s(tt, trip.stop_ids[j], headway, sched, params)
    out[min(len(trip.stop_ids), first + params.bus_ahead_stops) - first:] += shift
    return out


def _predict(state, vs, now_ts: float, model) -> list[Prediction]:
    if vs.trip_id is None:
        state.predicted.pop(vs.vehicle_id, None)
        state.predicted_at.pop(vs.vehicle_id, None)
        return []
    trip = model.feed.trips[vs.trip_id]
    leader, sched_h = _others_at_stops(state, vs, trip, now_ts, model)
    preds = predict_trip(trip, vs.day_ts, vs.vehicle_id, vs.dist_m, vs.next_arrival, vs.next_departure > 0,
                         vs.recent, now_ts, state.travel, dt.datetime.fromtimestamp(now_ts, model.feed.tz).hour, model.predict,
                         leader, sched_h, vs.arrival_ts_by_index.get(vs.next_arrival - 1))
    state.predicted[vs.vehicle_id] = {stop_key(trip.direction_id, p.stop_id): p.predicted_arrival_ts
                                      for p in preds}
    state.predicted_at[vs.vehicle_id] = now_ts
    return preds


def _others_at_stops(state, vs, trip, now_ts: float, model):
    """Other buses' arrivals (last actual, latest predicted) at the stops ahead that have a learned dwell."""
    leader: dict[int, list[float]] = {}
    sched_h: dict[int, float] = {}
    if model.predict.method != "topis" or not (state.travel.dwell_s or state.travel.boardings_per_s):
        return leader, sched_h
    stale = [v for v, t in state.predicted_at.items() if now_ts - t > model.predict.stale_after_s]
    for v in stale:  # buses that stopped reporting
        state.predicted.pop(v, None)
        state.predicted_at.pop(v, None)
    others = [p for v, p in state.predicted.items() if v != vs.vehicle_id]
    sched = model.schedule(vs.day_ts)
    for j in range(vs.next_arrival, min(len(trip.stop_ids), vs.next_arrival + model.predict.bus_ahead_stops)):
        if trip.stop_ids[j] not in state.travel.dwell_s and trip.stop_ids[j] not in state.travel.boardings_per_s:
            continue
        key = stop_key(trip.direction_id, trip.stop_ids[j])
        times = [p[key] for p in others if key in p]
        last = state.headways.last_arrival.get(key)
        if last is not None and last[1] != vs.vehicle_id:
            times.append(last[0])
        h = sched.scheduled_headway_s(key, trip.trip_id) if times else None
        if h:
            leader[j], sched_h[j] = times, h
    return leader, sched_h

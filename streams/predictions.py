"""Arrival predictions: every active bus → every downstream stop of its trip.

Two predictors share one travel-time store (:class:`TravelTimes`, plain data):

* ``"transitclock"`` — TheTransitClock's Kalman travel-time filter, per segment
  (stop to next stop): historical mean and variance of the segment's recent
  traversals, the last vehicle's traversal time and the filter error carried
  from the previous segment (:func:`kalman_step`). With no history a segment
  falls back to its scheduled running time, as TheTransitClock falls back to
  schedule-derived travel times.
* ``"topis"`` (default) — the same filter, with three additions:
  - **time-of-day history**: segment means are kept per hour of day, so a
    morning-peak traversal does not predict a midday one;
  - **the bus's own pace**: the ratio of its observed to expected running time
    over its last few segments, decaying with distance ahead;
  - **dwell** learned per stop (or from card taps when given, at so many
    seconds per boarding), scaled by the headway to the **bus ahead**: a bus
    close behind another picks up fewer riders (dwell ∝ headway).

Predicted times are epoch seconds UTC.
"""

from __future__ import annotations

import math

import msgspec


class Prediction(msgspec.Struct, frozen=True, tag="bus.prediction/1", tag_field="schema"):
    """Predicted arrival of a bus at a downstream stop of its trip."""

    vehicle_id: str  #: fleet number
    route_id: str  #: route of the trip
    trip_id: str  #: GTFS trip
    stop_id: str  #: GTFS stop
    stop_sequence: int  #: GTFS stop_sequence of the stop in the trip
    made_at_ts: float  #: when the prediction was made (the fix time), epoch seconds UTC
    predicted_arrival_ts: float  #: predicted arrival, epoch seconds UTC


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
    denom = last_error + 2.0 * var
    gain = 1.0 if denom <= 0.0 else (last_error + var) / denom
    prediction = (1.0 - gain) * last_vehicle_s + gain * mean
    return KalmanResult(prediction, var * gain, gain)

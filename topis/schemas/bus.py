"""What the bus pipeline says: matched fixes, stop arrivals and departures, headways, alerts, predictions.

``bus.events`` carries a JSON list of :data:`BusEvent` (each tagged with its
``schema``) per message, ``bus.predictions`` a list of :class:`PredictionRound`
(one bus's predictions made at one fix, as columns: a seventh of the bytes of
as many :class:`Prediction` objects, the same fields); both are keyed by route. :class:`MatchedPosition` stays inside the worker (the
route view folds it into ``state.routes``) but shares the vocabulary.
"""

from __future__ import annotations

from itertools import groupby
from operator import attrgetter

import msgspec


class MatchedPosition(msgspec.Struct, frozen=True, tag="bus.matched/1", tag_field="schema"):
    """An accepted fix placed on a trip: one point of the route's time-space (Marey) diagram."""

    vehicle_id: str  #: fleet number
    route_id: str  #: route of the trip
    trip_id: str  #: GTFS trip
    direction_id: int | None  #: GTFS direction of the trip
    ts: float  #: fix time, epoch seconds UTC
    dist_m: float  #: distance along the trip's shape, metres
    lat: float  #: fix latitude, WGS84
    lon: float  #: fix longitude, WGS84
    offset_m: float  #: distance of the fix from the shape, metres
    schedule_deviation_s: float  #: fix time minus scheduled time at dist_m (positive = late)
    layover: bool = False  #: waiting at the start of the trip before its departure


class StopArrival(msgspec.Struct, frozen=True, tag="stop.arrival/1", tag_field="schema"):
    """A bus reached a stop of its trip."""

    vehicle_id: str  #: fleet number
    route_id: str  #: route of the trip
    trip_id: str  #: GTFS trip
    direction_id: int | None  #: GTFS direction of the trip
    stop_id: str  #: GTFS stop
    stop_sequence: int  #: GTFS stop_sequence of the stop in the trip
    stop_index: int  #: 0-based position of the stop in the trip
    ts: float  #: time reached, epoch seconds UTC (interpolated between fixes)
    scheduled_ts: float  #: scheduled arrival, epoch seconds UTC
    dist_m: float  #: distance of the stop along the trip's shape
    gap_s: float = 0.0  #: time between the two fixes the time was interpolated from


class StopDeparture(msgspec.Struct, frozen=True, tag="stop.departure/1", tag_field="schema"):
    """A bus left a stop of its trip."""

    vehicle_id: str  #: fleet number
    route_id: str  #: route of the trip
    trip_id: str  #: GTFS trip
    direction_id: int | None  #: GTFS direction of the trip
    stop_id: str  #: GTFS stop
    stop_sequence: int  #: GTFS stop_sequence of the stop in the trip
    stop_index: int  #: 0-based position of the stop in the trip
    ts: float  #: time left, epoch seconds UTC
    scheduled_ts: float  #: scheduled departure, epoch seconds UTC
    dwell_s: float | None  #: departure minus arrival, seconds (None when the arrival was not seen)


class HeadwayObservation(msgspec.Struct, frozen=True, tag="bus.headway/1", tag_field="schema"):
    """Actual vs scheduled headway of one bus at one stop."""

    route_id: str  #: route
    direction_id: int | None  #: GTFS direction
    stop_id: str  #: stop
    vehicle_id: str  #: the bus that arrived
    trip_id: str  #: its trip
    leader_vehicle_id: str  #: the bus ahead
    leader_trip_id: str  #: its trip
    ts: float  #: arrival time, epoch seconds UTC
    headway_s: float  #: arrival minus the bus ahead's arrival, seconds
    scheduled_headway_s: float | None  #: timetable headway at this stop for this trip, seconds
    ratio: float | None  #: headway_s / scheduled_headway_s
    hold_s: float | None = None  #: even-spacing holding advice at a control stop, seconds


class BunchingAlert(msgspec.Struct, frozen=True, tag="bus.bunching/1", tag_field="schema"):
    """Headway below ``bunching_ratio`` × scheduled: the bus is too close behind the one ahead."""

    observation: HeadwayObservation  #: the headway that raised it
    threshold_ratio: float  #: the configured ratio
    control_stop: bool  #: the stop is a control stop (hold_s applies there)
    hold_s: float | None  #: even-spacing hold of this bus at a control stop, seconds


class GappingAlert(msgspec.Struct, frozen=True, tag="bus.gapping/1", tag_field="schema"):
    """Headway above ``gapping_ratio`` × scheduled: a gap opened ahead of this bus."""

    observation: HeadwayObservation  #: the headway that raised it
    threshold_ratio: float  #: the configured ratio
    control_stop: bool  #: the stop is a control stop
    hold_s: float | None  #: even-spacing hold of this bus, seconds (0 = go now)


class Prediction(msgspec.Struct, frozen=True, tag="bus.prediction/1", tag_field="schema"):
    """Predicted arrival of a bus at a downstream stop of its trip."""

    vehicle_id: str  #: fleet number
    route_id: str  #: route of the trip
    trip_id: str  #: GTFS trip
    stop_id: str  #: GTFS stop
    stop_sequence: int  #: GTFS stop_sequence of the stop in the trip
    made_at_ts: float  #: when the prediction was made (the fix time), epoch seconds UTC
    predicted_arrival_ts: float  #: predicted arrival, epoch seconds UTC


class PredictionRound(msgspec.Struct, frozen=True, tag="bus.prediction_round/1", tag_field="schema"):
    """The predictions one bus's fix made: its trip's stops ahead, as columns (one per stop)."""

    vehicle_id: str  #: fleet number
    route_id: str  #: route of the trip
    trip_id: str  #: GTFS trip
    made_at_ts: float  #: when the predictions were made (the fix time), epoch seconds UTC
    stop_ids: list[str]  #: GTFS stops, in trip order
    stop_sequences: list[int]  #: GTFS stop_sequence of each
    predicted_arrival_ts: list[float]  #: predicted arrival at each, epoch seconds UTC

    def predictions(self) -> list[Prediction]:
        """The round as one :class:`Prediction` per stop."""
        return [Prediction(self.vehicle_id, self.route_id, self.trip_id, stop, seq, self.made_at_ts, ts)
                for stop, seq, ts in zip(self.stop_ids, self.stop_sequences, self.predicted_arrival_ts)]


def rounds_of(predictions: list[Prediction]) -> list[PredictionRound]:
    """Predictions grouped into rounds: each run of the same vehicle, trip and time made, in order."""
    rounds: list[PredictionRound] = []
    for (vehicle_id, trip_id, made_at_ts), run in groupby(predictions, _round_key):
        run = list(run)
        rounds.append(PredictionRound(vehicle_id, run[0].route_id, trip_id, made_at_ts, [p.stop_id for p in run],
                                      [p.stop_sequence for p in run], [p.predicted_arrival_ts for p in run]))
    return rounds


_round_key = attrgetter("vehicle_id", "trip_id", "made_at_ts")


def predictions_of(rounds: list[PredictionRound]) -> list[Prediction]:
    """Every prediction of ``rounds``, in order (the inverse of :func:`rounds_of`)."""
    return [p for r in rounds for p in r.predictions()]


#: one event on ``bus.events``.
BusEvent = StopArrival | StopDeparture | HeadwayObservation | BunchingAlert | GappingAlert
#: a bunching or gapping alert (kept in the route view, shown on the wall).
BusAlert = BunchingAlert | GappingAlert

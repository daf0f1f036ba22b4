"""Open feed (TOPIS Open API-like): GTFS-realtime and JSON arrivals, as pure builders.

The dashboard's server serves them over HTTP (:mod:`dashboard.openfeed`):

* :func:`build_vehicle_positions` — a GTFS-realtime ``FeedMessage`` of
  VehiclePositions, one entity per vehicle (its latest fix).
* :func:`build_trip_updates` — a ``FeedMessage`` of TripUpdates, one entity
  per trip: the stops of its latest prediction round, ``stop_time_update``
  ordered by ``stop_sequence``, ``arrival.time`` in epoch seconds.
* :func:`arrivals_at_stop` — the next buses at a stop as JSON-ready dicts
  (route, vehicle, minutes away, predicted time in ISO 8601 at +09:00).

Headers follow the spec: ``gtfs_realtime_version`` "2.0", ``FULL_DATASET``,
``timestamp`` = the feed time. Speeds go out in m/s as the spec requires
(topis carries km/h).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from google.protobuf import json_format
from google.transit import gtfs_realtime_pb2 as rt

from topis.schemas.bus import Prediction
from topis.schemas.inputs import BusPosition

#: Seoul local time for the JSON arrivals (UTC+9, no DST).
KST = timezone(timedelta(hours=9))


@dataclass(frozen=True)
class OpenFeedState:
    """What the open feed serves, as returned by the host's ``get_state()``."""

    positions: Sequence[BusPosition]
    predictions: Sequence[Prediction]
    now_ts: float | None = None  #: feed time, epoch seconds UTC; None = wall clock


def _header(feed: rt.FeedMessage, now_ts: float) -> None:
    feed.header.gtfs_realtime_version = "2.0"
    feed.header.incrementality = rt.FeedHeader.FULL_DATASET
    feed.header.timestamp = int(now_ts)


def latest_positions(positions: Iterable[BusPosition], now_ts: float, max_age_s: float | None = None) -> list[BusPosition]:
    """The newest fix of each vehicle (not after ``now_ts``, not older than ``max_age_s``), by vehicle id."""
    best: dict[str, BusPosition] = {}
    for p in positions:
        if not p.vehicle_id or p.ts > now_ts or (max_age_s is not None and now_ts - p.ts > max_age_s):
            continue
        if p.vehicle_id not in best or p.ts > best[p.vehicle_id].ts:
            best[p.vehicle_id] = p
    return [best[v] for v in sorted(best)]


def build_vehicle_positions(positions: Iterable[BusPosition], now_ts: float, max_age_s: float | None = 300.0) -> bytes:
    """Serialised GTFS-realtime FeedMessage with one VehiclePosition per vehicle.

    Parameters
    ----------
    positions : iterable of BusPosition
        Recent fixes, any order; the newest per vehicle is used.
    now_ts : float
        Feed time, epoch seconds UTC (header timestamp).
    max_age_s : float or None
        Vehicles whose newest fix is older than this are left out.
    """
    feed = rt.FeedMessage()
    _header(feed, now_ts)
    for p in latest_positions(positions, now_ts, max_age_s):
        ent = feed.entity.add()
        ent.id = f"vehicle-{p.vehicle_id}"
        vp = ent.vehicle
        if p.trip_id:
            vp.trip.trip_id = p.trip_id
            if p.route_id:
                vp.trip.route_id = p.route_id
        vp.vehicle.id = p.vehicle_id
        vp.position.latitude = p.lat
        vp.position.longitude = p.lon
        if p.heading_deg is not None and math.isfinite(p.heading_deg):
            vp.position.bearing = p.heading_deg % 360.0
        if p.speed_kph is not None and math.isfinite(p.speed_kph):
            vp.position.speed = p.speed_kph / 3.6
        vp.timestamp = int(p.ts)
    return feed.SerializeToString()


def current_predictions(predictions: Iterable[Prediction], now_ts: float, max_age_s: float | None = 600.0) -> dict[str, list[Prediction]]:
    """Per trip, the stops still ahead, one prediction each, by ``stop_sequence``.

    For each (trip, stop_sequence) the newest prediction wins; stops before the
    first stop of the trip's newest round are dropped (the bus has passed
    them). Trips whose newest round is older than ``max_age_s`` are dropped.
    """
    newest: dict[str, dict[int, Prediction]] = {}  # trip -> stop_sequence -> newest prediction
    for p in predictions:
        if p.made_at_ts > now_ts:
            continue
        by_seq = newest.setdefault(p.trip_id, {})
        held = by_seq.get(p.stop_sequence)
        if held is None or p.made_at_ts > held.made_at_ts:
            by_seq[p.stop_sequence] = p
    out: dict[str, list[Prediction]] = {}
    for trip_id in sorted(newest):
        by_seq = newest[trip_id]
        last_round = max(p.made_at_ts for p in by_seq.values())
        if max_age_s is not None and now_ts - last_round > max_age_s:
            continue
        first_seq = min(q for q, p in by_seq.items() if p.made_at_ts == last_round)
        out[trip_id] = [by_seq[q] for q in sorted(by_seq) if q >= first_seq]
    return out


def build_trip_updates(predictions: Iterable[Prediction], now_ts: float, max_age_s: float | None = 600.0) -> bytes:
    """Serialised GTFS-realtime FeedMessage with one TripUpdate per trip.

    ``stop_time_update`` is ordered by ``stop_sequence`` with ``arrival.time``
    as integer epoch seconds; the TripUpdate ``timestamp`` is the time of the
    newest prediction of the trip. See :func:`current_predictions` for which
    predictions are used.
    """
    return trip_updates_message(current_predictions(predictions, now_ts, max_age_s), now_ts)


def trip_updates_message(current: dict[str, list[Prediction]], now_ts: float) -> bytes:
    feed = rt.FeedMessage()
    _header(feed, now_ts)
    for trip_id, preds in sorted(current.items()):
        newest = max(preds, key=lambda p: p.made_at_ts)
        ent = feed.entity.add()
        ent.id = f"trip-{trip_id}"
        tu = ent.trip_update
        tu.trip.trip_id = trip_id
        if newest.route_id:
            tu.trip.route_id = newest.route_id
        if newest.vehicle_id:
            tu.vehicle.id = newest.vehicle_id
        tu.timestamp = int(newest.made_at_ts)
        for p in preds:
            stu = tu.stop_time_update.add()
            stu.stop_sequence = p.stop_sequence
            stu.stop_id = p.stop_id
            stu.arrival.time = int(round(p.predicted_arrival_ts))
    return feed.SerializeToString()


def arrivals_at_stop(predictions: Iterable[Prediction], stop_id: str, now_ts: float, limit: int | None = None) -> list[dict]:
    """Next buses at ``stop_id``, soonest first, as JSON-ready dicts.

    Each has ``route_id``, ``vehicle_id``, ``trip_id``, ``stop_id``,
    ``minutes_away`` (whole minutes, rounded down, never negative),
    ``seconds_away``, ``predicted_arrival`` (ISO 8601 with +09:00) and
    ``message``, the stop display's text as Seoul's BIS shows it ("곧 도착"
    under a minute, else "N분 후").
    """
    rows = [p for preds in current_predictions(predictions, now_ts).values() for p in preds if p.stop_id == stop_id]
    return arrival_rows(sorted(rows, key=_soonest), now_ts, limit)


def _soonest(p: Prediction) -> tuple[float, str]:
    return p.predicted_arrival_ts, p.trip_id


def predictions_by_stop(current: dict[str, list[Prediction]]) -> dict[str, list[Prediction]]:
    """Stop id → its predictions, soonest first."""
    out: dict[str, list[Prediction]] = {}
    for preds in current.values():
        for p in preds:
            out.setdefault(p.stop_id, []).append(p)
    for rows in out.values():
        rows.sort(key=_soonest)
    return out


def arrival_rows(rows: list[Prediction], now_ts: float, limit: int | None) -> list[dict]:
    """JSON rows of predictions sorted soonest first, leaving out those already due."""
    out = []
    for p in [p for p in rows if p.predicted_arrival_ts >= now_ts][:limit]:
        wait_s = p.predicted_arrival_ts - now_ts
        out.append({
            "route_id": p.route_id,
            "vehicle_id": p.vehicle_id,
            "trip_id": p.trip_id,
            "stop_id": p.stop_id,
            "minutes_away": int(wait_s // 60),
            "seconds_away": int(round(wait_s)),
            "predicted_arrival": datetime.fromtimestamp(round(p.predicted_arrival_ts), KST).isoformat(),
            "message": "곧 도착" if wait_s < 60 else f"{int(wait_s // 60)}분 후",
        })
    return out


def feed_to_json(data: bytes) -> dict:
    """A FeedMessage's bytes as a dict (field names as in the spec), for debugging."""
    msg = rt.FeedMessage()
    msg.ParseFromString(data)
    return json_format.MessageToDict(msg, preserving_proto_field_name=True)

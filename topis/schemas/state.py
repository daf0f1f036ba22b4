"""The read model the dashboard consumes: ``state.vehicles``, ``state.counters``, ``state.routes``.

Workers publish their share of the live state on a timer. ``state.vehicles``
and ``state.counters`` carry a few snapshots per message (:class:`VehiclesMessage`,
:class:`CountersMessage`; each snapshot replaces the one held for its route or
counter key); ``state.routes`` carries one :class:`RouteSnapshot` per message.
``received_ts`` and ``published_ts`` are wall clock; every other time is event
time.
"""

from __future__ import annotations

from typing import Literal, get_args

import msgspec

from topis.schemas.bus import BusAlert
from topis.schemas.inputs import BusPosition

#: what a bus on the wall can be, in the order the legend lists the statuses.
BusStatus = Literal["on_headway", "bunched", "gapped", "off_route", "stale_gps", "unassigned"]
STATUSES: tuple[str, ...] = get_args(BusStatus)


class RouteVehicles(msgspec.Struct):
    """The latest position of each vehicle of one route (key = route_id)."""

    route_id: str  #: the message key the fixes came with ("" for fixes sent with no route)
    published_ts: float  #: when the worker published this, wall epoch seconds
    vehicles: list[BusPosition]  #: newest fix of each vehicle heard within the vehicle timeout
    received_ts: float | None  #: when the route's last valid batch arrived, wall epoch seconds
    dead_letters: int = 0  #: kept for old readers: 0 (rejections are counted in state.counters, kind "rejected")


class VehiclesMessage(msgspec.Struct):
    """One ``state.vehicles`` message: a few routes' snapshots."""

    snapshots: list[RouteVehicles]


class CounterSnapshot(msgspec.Struct):
    """Events per minute of one route (taps), camera (reads) or source key (fixes with no route);
    or the rejected messages of one input-topic partition (kind ``rejected``)."""

    kind: Literal["taps", "reads", "unrouted", "rejected"]  #: what is counted
    #: what is counted under: route_id, camera_id, the source key of unrouted fixes, or for rejected
    #: ``topic/partition`` (``topic/partition/agent`` for an agent's processing errors and engine rejections)
    key: str
    per_minute: dict[str, int]  #: minute start (epoch seconds, as text) → events, the last hour (rejected: empty)
    last_event_ts: float | None  #: newest event time counted, epoch seconds
    received_ts: float | None  #: when the last counted message arrived, wall epoch seconds
    dead_letters: int  #: rejected: messages dead-lettered so far; other kinds 0 (kept for old readers)
    routed: int | msgspec.UnsetType = msgspec.UNSET  #: unrouted only: fixes given a route
    unmatched: int | msgspec.UnsetType = msgspec.UNSET  #: unrouted only: fixes no route fits
    source: str | msgspec.UnsetType = msgspec.UNSET  #: rejected only: the source topic
    #: rejected only: reason code → rejections (a whole message counts 1, a batch's bad rows 1 each)
    reasons: dict[str, int] | msgspec.UnsetType = msgspec.UNSET


class CountersMessage(msgspec.Struct):
    """One ``state.counters`` message: a few counters' snapshots."""

    snapshots: list[CounterSnapshot]


class RouteBus(msgspec.Struct):
    """One bus of a route view, as the wall shows it."""

    vehicle_id: str  #: fleet number
    ts: float  #: time of its latest fix, epoch seconds
    lat: float  #: latest fix, WGS84 degrees
    lon: float  #: latest fix, WGS84 degrees
    status: BusStatus  #: judged on the route's own clock
    trip_id: str | None  #: trip it is matched to
    dist_m: float | None  #: distance along the trip's shape, metres
    schedule_deviation_s: float | None  #: positive = late, seconds
    headway_s: float | None  #: latest headway behind the bus ahead, seconds
    scheduled_headway_s: float | None  #: timetable headway there, seconds
    hold_s: float | None  #: even-spacing holding advice, seconds


class HeadwaySummary(msgspec.Struct):
    """Headways seen at one stop in one direction ("dir|stop")."""

    n: int  #: headways observed
    mean_headway_s: float | None  #: mean, seconds (NaN, null on the wire, with none)
    std_headway_s: float | None  #: population standard deviation, seconds (NaN/null below 2)
    headway_cv: float | None  #: std / mean (NaN/null below 2)


class RouteSnapshot(msgspec.Struct):
    """One ``state.routes`` message: what a controller sees of one route (key = route_id)."""

    route_id: str
    published_ts: float  #: wall epoch seconds
    clock_ts: float  #: newest fix time seen on the route (the route's clock), epoch seconds
    vehicles: list[RouteBus]  #: buses heard within the vehicle timeout, by vehicle id
    marey: dict[str, list[tuple[float, float]]]  #: trip → recent (ts, dist_m) points, whole numbers
    alerts: list[BusAlert]  #: the newest bunching/gapping alerts, oldest first
    headways: dict[str, HeadwaySummary]  #: "dir|stop" → headways seen there
    next_arrivals: dict[str, list[tuple[str, float]]]  #: "dir|stop" → (vehicle, predicted ts), soonest first
    #: True: ``marey`` is every point of the window; False: only the points after those of the route's previous
    #: message (a full set comes every ``marey_full_every_s``; a reader adds the others to it)
    marey_full: bool = True

"""Typed records of the demo city: stops, routes, trips, cameras, vehicles.

Conventions
-----------
* Shapely geometries use GeoJSON axis order: ``x = lon``, ``y = lat`` (WGS84).
* Road-graph nodes carry ``lat``, ``lon`` and the local metric ``x_m``, ``y_m``
  (east/north of the city centre); edges carry ``link_id``, ``length_m``,
  ``speed_limit_kph``, ``road_class``, ``lane_type`` and ``geometry``.
* Times of day inside a timetable are seconds after the local midnight of the
  service day (KST); GTFS-style values >= 86400 mean "after midnight".
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import msgspec
import networkx as nx
import numpy as np
from shapely.geometry import Polygon

#: Korea Standard Time offset from UTC (no daylight saving), seconds.
KST_OFFSET_S = 9 * 3600

LANE_TYPES = ("median", "roadside_full", "roadside_part", "none")
VEHICLE_CLASSES = ("car", "bus", "truck", "taxi", "emergency", "van")
ROUTE_KINDS = ("regular", "squirrel", "owl")

#: GTFS service ids: weekdays that are not holidays, weekends plus holidays, every day.
SERVICE_WEEKDAY = "WD"
SERVICE_WEEKEND = "WE"
SERVICE_DAILY = "ALL"


class Stop(msgspec.Struct, frozen=True):
    """A bus stop on one side of one road link."""

    stop_id: str  #: ARS-style 5-digit id
    name: str  #: display name, "<road> / <cross road>"
    lat: float  #: WGS84 degrees
    lon: float  #: WGS84 degrees
    link_id: str  #: directed road link the stop sits on
    district: str  #: name of the district containing it
    demand_weight: float  #: relative trip generation/attraction (mean ~1)


class Pattern(msgspec.Struct, frozen=True):
    """One direction of a route: the roads it drives and the stops it serves."""

    direction_id: int  #: 0 outbound, 1 inbound (GTFS direction_id)
    headsign: str  #: destination shown on the bus
    link_ids: tuple[str, ...]  #: directed road links driven, in order
    stop_ids: tuple[str, ...]  #: stops served, in order
    stop_dist_m: tuple[float, ...]  #: distance of each stop along the shape, metres
    shape_lat: tuple[float, ...]  #: shape points, WGS84 degrees
    shape_lon: tuple[float, ...]  #: shape points, WGS84 degrees
    shape_dist_m: tuple[float, ...]  #: cumulative distance of each shape point, metres
    #: free-flow bus running time from each stop to the next (len = stops - 1), seconds
    segment_run_s: tuple[float, ...]

    @property
    def length_m(self) -> float:
        """Length of the shape in metres."""
        return self.shape_dist_m[-1]


class Trip(msgspec.Struct, frozen=True):
    """One scheduled journey of one pattern, on one service, by one block."""

    trip_id: str
    route_id: str
    direction_id: int  #: index into ``Route.patterns``
    service_id: str  #: one of SERVICE_WEEKDAY, SERVICE_WEEKEND, SERVICE_DAILY
    block_id: str  #: chain of trips driven by one bus
    vehicle_id: str  #: bus that runs the block
    start_s: int  #: departure from the first stop, seconds after service-day midnight
    #: scheduled running-time multiplier for the hour it runs (congestion >= 1)
    run_factor: float


class Route(msgspec.Struct, frozen=True):
    """A bus route with its patterns and hourly headways."""

    route_id: str
    short_name: str
    kind: str  #: "regular", "squirrel" or "owl"
    patterns: tuple[Pattern, ...]
    #: scheduled headway per local hour 0..23 on weekdays; 0 = no service that hour, seconds
    headway_weekday_s: tuple[int, ...]
    #: the same for weekends and holidays, seconds
    headway_weekend_s: tuple[int, ...]
    parent_route_id: str | None = None  #: Squirrel routes: the regular route they shorten
    color: str = "3D5AFE"  #: GTFS route_color (Seoul: blue trunk, green branch, ...)


class Bus(msgspec.Struct, frozen=True):
    """A bus of the fleet (every bus belongs to one route, as in Seoul)."""

    vehicle_id: str
    route_id: str
    plate: str
    capacity: int  #: passengers, seated + standing


class Camera(msgspec.Struct, frozen=True):
    """An ANPR camera; one camera has one job (bus lane, zone entry, section end, no stopping)."""

    camera_id: str
    lat: float
    lon: float
    link_id: str  #: directed link it watches
    offset_m: float  #: distance from the link's start node, metres
    lane_type: str = "none"  #: median, roadside_full, roadside_part or none
    green_zone_entry: bool = False
    section_id: str | None = None
    section_role: str | None = None  #: "entry" or "exit"
    section_length_m: float | None = None
    section_limit_kph: float | None = None
    no_stopping: bool = False


class Vehicle(msgspec.Struct, frozen=True):
    """A registered vehicle (the plate registry the enforcement rules read)."""

    plate: str  #: Korean format, e.g. "12가3456" or "123가4567"
    vehicle_class: str  #: car, bus, truck, taxi, emergency, van
    emission_grade: int  #: 1 (cleanest) .. 5 (banned from the green zone 06-21)
    exempt: bool  #: permit holder (bus lane / green zone exemption)
    watch: bool  #: on the watch list (stolen or wanted)


@dataclass(frozen=True)
class District:
    """An administrative district (gu) polygon."""

    name: str
    polygon: Polygon


@dataclass(frozen=True)
class City:
    """Everything the generator produces; see :func:`topis.city.generate.generate_city`."""

    seed: int
    scale: float
    center_lat: float
    center_lon: float
    graph: nx.DiGraph
    river: Polygon
    districts: tuple[District, ...]
    green_zone: Polygon
    stops: tuple[Stop, ...]
    routes: tuple[Route, ...]
    trips: tuple[Trip, ...]
    buses: tuple[Bus, ...]
    cameras: tuple[Camera, ...]
    registry: tuple[Vehicle, ...]
    holidays: tuple[dt.date, ...]
    #: first and last date of the GTFS calendar
    service_start: dt.date
    service_end: dt.date
    _index: dict = field(default_factory=dict, repr=False, compare=False)

    def stop(self, stop_id: str) -> Stop:
        """The stop with this id."""
        if "stops" not in self._index:
            self._index["stops"] = {s.stop_id: s for s in self.stops}
        return self._index["stops"][stop_id]

    def route(self, route_id: str) -> Route:
        """The route with this id."""
        if "routes" not in self._index:
            self._index["routes"] = {r.route_id: r for r in self.routes}
        return self._index["routes"][route_id]

    def camera(self, camera_id: str) -> Camera:
        """The camera with this id."""
        if "cameras" not in self._index:
            self._index["cameras"] = {c.camera_id: c for c in self.cameras}
        return self._index["cameras"][camera_id]

    def link(self, link_id: str) -> tuple[int, int]:
        """The (u, v) node pair of a directed link."""
        if "links" not in self._index:
            self._index["links"] = {d["link_id"]: (u, v) for u, v, d in self.graph.edges(data=True)}
        return self._index["links"][link_id]

    def is_holiday(self, day: dt.date) -> bool:
        """True on a Korean public holiday of the city's calendar."""
        if "holidays" not in self._index:
            self._index["holidays"] = frozenset(self.holidays)
        return day in self._index["holidays"]

    def services_on(self, day: dt.date) -> tuple[str, ...]:
        """GTFS service ids running on a local service date."""
        weekend = day.weekday() >= 5 or self.is_holiday(day)
        return (SERVICE_WEEKEND if weekend else SERVICE_WEEKDAY, SERVICE_DAILY)

    @property
    def fleet_size(self) -> int:
        """Number of buses."""
        return len(self.buses)


def local_date(ts: float) -> dt.date:
    """Local (KST) calendar date of an epoch timestamp."""
    return dt.datetime.fromtimestamp(ts + KST_OFFSET_S, dt.timezone.utc).date()


def local_hour(ts: float) -> int:
    """Local (KST) hour of day 0..23 of an epoch timestamp."""
    return int(((ts + KST_OFFSET_S) % 86400) // 3600)


def local_midnight_ts(day: dt.date) -> float:
    """Epoch seconds of local (KST) midnight starting ``day``."""
    midnight = dt.datetime(day.year, day.month, day.day, tzinfo=dt.timezone.utc)
    return midnight.timestamp() - KST_OFFSET_S


def trip_stop_times_s(trip: Trip, pattern: Pattern, dwell_allowance_s: float = 20.0) -> np.ndarray:
    """Scheduled arrival time at every stop of a trip, seconds after service-day midnight.

    Parameters
    ----------
    trip : Trip
        The trip; its ``run_factor`` scales the free-flow segment times.
    pattern : Pattern
        The pattern the trip drives.
    dwell_allowance_s : float
        Scheduled dwell added per intermediate stop, seconds.

    Returns
    -------
    numpy.ndarray
        Integer seconds, non-decreasing, one per stop; departure equals arrival.
    """
    seg = np.asarray(pattern.segment_run_s, dtype=float) * trip.run_factor + dwell_allowance_s
    return trip.start_s + np.round(np.concatenate(([0.0], np.cumsum(seg)))).astype(np.int64)

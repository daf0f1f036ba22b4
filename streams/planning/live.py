"""Live planning inputs: the timetable now, live demand and speeds → a :class:`PlanJob` → a proposal.

Pure functions between the stream's messages and :mod:`optimizer.live`:

* :class:`Timetable` / :func:`services_at` - what each route runs in an hour, from the GTFS feed;
* :func:`route_demand` - boardings and peak link load per hour of each route,
  from the ``demand.squirrel`` aggregates;
* :func:`peak_profiles` - the rush-hour profiles the Squirrel planner reads;
* :func:`night_demand` - the ``demand.owl`` night OD as Owl planner demand;
* :func:`route_speed_kph` - a route's live space-mean speed from its link-speed bins.

:func:`run_job` runs one :class:`PlanJob` (plain, picklable data) and returns
the ``plans.proposed`` dict; the planning agent calls it in a process pool.
:class:`LivePlanner` folds the input messages (newest per route, recent link
speeds, the city clock) and makes the jobs: the planning agents' memory, and
``topis plan live``'s after reading the topics (no Faust here).

Live rates from partial hours
-----------------------------
The aggregates count what has been seen so far in each local hour, often only
part of it. Each (route, direction, hour) is scaled to a full hour by the bus
runs seen: ``rate = passengers x (buses per hour in the timetable) / (runs seen
crossing the busiest segment)``, i.e. the mean riders per run times the runs
an hour. This also undoes several days of accumulation. Runs that carried no
rider are not counted, so a quiet route's rate leans high.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from optimizer import live
from optimizer.live import KINDS, RouteService
from streams.demand.aggregates import decode
from topis.geo import Projection
from topis.schemas.demand import OwlInput, SquirrelInput

if TYPE_CHECKING:
    from topis.settings import StreamSettings

log = logging.getLogger(__name__)

#: layover at each terminal assumed when a timetable headway is turned into buses
LAYOVER_MIN = 5.0


def hour_window_s(hour_local: int) -> tuple[tuple[float, float], tuple[float, float]]:
    """The two spans of service-day seconds that are local hour ``hour_local``: today and after midnight (+24 h)."""
    t0 = hour_local * 3600.0
    return (t0, t0 + 3600.0), (t0 + 86_400.0, t0 + 90_000.0)


@dataclass(frozen=True)
class Timetable:
    """A feed's trips as arrays (one row per trip), for :func:`services_at`; build once with :meth:`from_feed`."""

    route_ids: list[str]
    service_ids: list[str]
    trip_route: np.ndarray  #: int, index into route_ids
    trip_service: np.ndarray  #: int, index into service_ids
    trip_direction: np.ndarray  #: int, GTFS direction_id (0 when missing)
    start_s: np.ndarray  #: float, departure from the first stop, service-day seconds
    run_s: np.ndarray  #: float, first departure to last arrival
    length_m: np.ndarray  #: float, first to last stop along the shape
    trip_pattern: np.ndarray  #: int, index into patterns
    patterns: list[tuple[str, ...]]  #: distinct stop sequences
    trip_line: np.ndarray  #: int, index into lines
    lines: list[np.ndarray]  #: distinct (n, 2) lon/lat lines (shape, or the stops without one)

    @classmethod
    def from_feed(cls, feed) -> "Timetable":
        """Arrays of a :class:`streams.bus.gtfs.Feed`'s trips."""
        route_ids = sorted(feed.trips_by_route)
        route_index = {r: i for i, r in enumerate(route_ids)}
        service_index: dict[str, int] = {}
        pattern_index: dict[tuple[str, ...], int] = {}
        line_index: dict[str, int] = {}
        lines: list[np.ndarray] = []
        rows = []
        for trip in feed.trips.values():
            stops = tuple(trip.stop_ids)
            shape = feed.shapes.get(trip.shape_id)
            key = trip.shape_id if shape is not None and len(shape.lon) >= 2 else "stops:" + ",".join(stops)
            if key not in line_index:
                line_index[key] = len(lines)
                lines.append(np.column_stack([shape.lon, shape.lat]) if not key.startswith("stops:") else
                             np.array([[feed.stops[s].lon, feed.stops[s].lat] for s in stops]))
            rows.append((route_index[trip.route_id], service_index.setdefault(trip.service_id, len(service_index)),
                         trip.direction_id or 0, trip.start_s, trip.end_s - trip.start_s,
                         float(trip.dist_m[-1] - trip.dist_m[0]), pattern_index.setdefault(stops, len(pattern_index)),
                         line_index[key]))
        cols = list(zip(*rows)) if rows else [()] * 8
        ints = [np.array(c, dtype=np.int64) for c in (cols[0], cols[1], cols[2], cols[6], cols[7])]
        floats = [np.array(c, dtype=float) for c in (cols[3], cols[4], cols[5])]
        return cls(route_ids, list(service_index), ints[0], ints[1], ints[2], *floats, ints[3], list(pattern_index),
                   ints[4], lines)


def services_at(timetable: Timetable, service_ids: Iterable[str], hour_local: int,
                layover_min: float = LAYOVER_MIN) -> list[RouteService]:
    """What each route runs in local hour ``hour_local`` on a day with ``service_ids``.

    Per route with departures in the hour: headway = 60 / mean departures per
    direction; running time = sum over directions of the mean scheduled trip
    time; buses = ``ceil((running + layover per terminal) / headway)``, the
    least fleet that runs the timetable; cycle = buses x headway. Stops,
    length and line are those of each direction's first trip in the hour.

    Parameters
    ----------
    timetable : Timetable
    service_ids : services running that day (``feed.calendar.active(day)``)
    hour_local : 0..23
    layover_min : minimum layover at each terminal

    Returns
    -------
    list of RouteService, by route_id.
    """
    tt = timetable
    wanted = [i for i, sid in enumerate(tt.service_ids) if sid in frozenset(service_ids)]
    (a0, b0), (a1, b1) = hour_window_s(hour_local)
    in_hour = ((tt.start_s >= a0) & (tt.start_s < b0)) | ((tt.start_s >= a1) & (tt.start_s < b1))
    idx = np.flatnonzero(np.isin(tt.trip_service, wanted) & in_hour)
    idx = idx[np.lexsort((tt.start_s[idx], tt.trip_direction[idx], tt.trip_route[idx]))]
    out = []
    for group in np.split(idx, np.flatnonzero(np.diff(tt.trip_route[idx])) + 1) if idx.size else []:
        dirs = tt.trip_direction[group]
        firsts = group[np.r_[0, np.flatnonzero(np.diff(dirs)) + 1]]  # each direction's first trip
        n_dirs = firsts.size
        headway = 60.0 / (group.size / n_dirs)
        run = sum(float(tt.run_s[group[dirs == d]].mean()) for d in np.unique(dirs)) / 60.0
        buses = max(1, math.ceil((run + layover_min * n_dirs) / headway - 1e-9))
        route_id = tt.route_ids[int(tt.trip_route[group[0]])]
        stops = tuple(s for f in firsts for s in tt.patterns[int(tt.trip_pattern[f])])
        out.append(RouteService(route_id, live.route_kind(route_id), buses, headway, buses * headway, run,
                                float(tt.length_m[firsts].sum()), stops, tt.lines[int(tt.trip_line[firsts[0]])]))
    return out


def services_from_feed(feed, service_ids: Iterable[str], hour_local: int,
                       layover_min: float = LAYOVER_MIN) -> list[RouteService]:
    """:func:`services_at` of a feed (builds its :class:`Timetable`: keep one instead when asking often)."""
    return services_at(Timetable.from_feed(feed), service_ids, hour_local, layover_min)


def latest_hour(hours: Iterable[int]) -> int | None:
    """The newest of a set of local hours: the one followed by the longest gap (``{22, 23, 0}`` → 0)."""
    present = sorted(set(hours))
    if not present:
        return None
    gaps = [((present[(k + 1) % len(present)] - h - 1) % 24, h) for k, h in enumerate(present)]
    return max(gaps)[1]


def demand_hour(hours_by_route: Mapping[str, Iterable[int]], min_route_share: float = 0.5) -> int | None:
    """The newest local hour (:func:`latest_hour` order) in which at least ``min_route_share`` of
    the routes with riders have riders: early in an hour only a few routes have any yet.

    Examples
    --------
    >>> demand_hour({"a": {7, 8}, "b": {7, 8}, "c": {7, 8, 9}})
    8
    """
    counts: dict[int, int] = {}
    for hours in hours_by_route.values():
        for h in set(hours):
            counts[h] = counts.get(h, 0) + 1
    if not counts:
        return None
    newest = latest_hour(counts)
    for back in range(24):  # from the newest hour backwards
        h = (newest - back) % 24
        if counts.get(h, 0) >= min_route_share * len(hours_by_route):
            return h
    return newest


def _runs_per_h(headway_min: float) -> float:
    return 60.0 / headway_min if headway_min > 0 else 0.0


def direction_rates(sq: SquirrelInput, headway_min: float, hours: Sequence[int]) -> dict[int, dict[int, np.ndarray]]:
    """Per direction and hour: passengers per hour crossing each segment (scaled by runs seen, see module doc)."""
    out: dict[int, dict[int, np.ndarray]] = {}
    for p in sq.profiles:
        if p.hour_local not in hours:
            continue
        passengers, passes = np.asarray(p.passengers_pax, dtype=float), np.asarray(p.bus_passes, dtype=float)
        seen = float(passes.max()) if passes.size else 0.0
        if seen <= 0:
            continue
        out.setdefault(p.direction_id, {})[p.hour_local] = passengers * _runs_per_h(headway_min) / seen
    return out


def route_demand(inputs: Iterable[SquirrelInput], services: Mapping[str, RouteService],
                 hour_local: int) -> tuple[dict[str, float], dict[str, float]]:
    """Boardings per hour and peak link load per hour of each route running now.

    The aggregate counts a route's rides (all hours) and, per hour and
    segment, the riders crossing. With the mean ride as long in every hour,
    the hour's share of the crossings is its share of the rides::

        boardings_per_h = rides x (crossings per hour in the hour, all segments) / (crossings, all hours)

    with the hour's crossings scaled to a full hour by the runs seen (module
    docstring). Peak = the hour's highest segment rate. On the demo city
    (seed 3, scale 0.3, 07:00-08:00) the total came within 2 % of the true
    boardings from 40 minutes of taps and 5 % from the full hour (the
    segment-load lower bound, first load plus every rise, gave 50 %).

    Returns
    -------
    (boardings_per_h, peak_load_per_h): route_id -> passengers per hour, for
    routes in ``services`` with riders seen in ``hour_local``.
    """
    boardings, peak = {}, {}
    for sq in inputs:
        svc = services.get(sq.route_id)
        total = sum(sum(p.passengers_pax) for p in sq.profiles)
        if svc is None or total <= 0 or sq.rides <= 0:
            continue
        rates = direction_rates(sq, svc.headway_min, [hour_local])
        dirs = [by_h[hour_local] for by_h in rates.values() if hour_local in by_h]
        if not dirs:
            continue
        boardings[sq.route_id] = sq.rides * sum(float(r.sum()) for r in dirs) / total
        peak[sq.route_id] = max(float(r.max()) if r.size else 0.0 for r in dirs)
    return boardings, peak


def peak_profiles(inputs: Iterable[SquirrelInput], services: Mapping[str, RouteService],
                  stop_xy_m: Mapping[str, np.ndarray], peak_hours: Sequence[int],
                  capacity_per_bus: float) -> list:
    """Rush-hour :class:`optimizer.squirrel.PeakProfile` of each regular route with peak-hour riders.

    As :func:`streams.demand.aggregates.squirrel_peak_profile`: directions chained in
    ``direction_id`` order into one cycle (the links joining them carry no
    load), each link's load the highest over ``peak_hours`` - here per hour
    from the runs seen - and capacity = timetable buses per hour x
    ``capacity_per_bus``.
    """
    from optimizer.squirrel import PeakProfile

    out = []
    for sq in sorted(inputs, key=lambda s: s.route_id):
        svc = services.get(sq.route_id)
        if svc is None or svc.kind != "regular":
            continue
        rates = direction_rates(sq, svc.headway_min, peak_hours)
        if not rates:
            continue
        stops: list[str] = []
        load: list[float] = []
        for direction in sorted({p.direction_id for p in sq.profiles}):
            rows = [p for p in sq.profiles if p.direction_id == direction]
            d_stops = rows[0].from_stop_ids + rows[0].to_stop_ids[-1:]
            d_load = np.zeros(len(d_stops) - 1)
            for r in rates.get(direction, {}).values():
                d_load = np.maximum(d_load, r)
            stops += d_stops
            load += [*d_load.tolist(), 0.0]
        if any(s not in stop_xy_m for s in stops):
            log.info("route %s: stops without coordinates, no Squirrel profile", sq.route_id)
            continue
        xy = np.array([stop_xy_m[s] for s in stops], dtype=float).reshape(-1, 2)
        link_m = np.sqrt(((np.roll(xy, -1, axis=0) - xy) ** 2).sum(axis=1))
        out.append(PeakProfile(sq.route_id, np.array(stops), xy, link_m, np.array(load),
                               _runs_per_h(svc.headway_min), capacity_per_bus))
    return out


def night_demand(owl_input: OwlInput, services: Sequence[RouteService], stop_xy_m: Mapping[str, np.ndarray]):
    """The night stop OD (trips per night as counted) as :class:`optimizer.owl.NightDemand`,
    with today's night routes' stops added (stops without coordinates dropped with their trips)."""
    ids = owl_input.stop_od.ids
    keep = np.array([s in stop_xy_m for s in ids], dtype=bool)
    od = owl_input.stop_od.to_dense()[np.ix_(keep, keep)] if ids else np.zeros((0, 0))
    kept = [s for s, k in zip(ids, keep) if k]
    xy = np.array([stop_xy_m[s] for s in kept], dtype=float).reshape(-1, 2)
    return live.owl_demand_with_routes(kept, xy, od, services, stop_xy_m)


def route_speed_kph(bins: Iterable[Mapping], since_ts: float) -> float | None:
    """Space-mean speed of a route's link-speed bins starting at or after ``since_ts``:
    total distance / total time (None without any)."""
    dist = time_s = 0.0
    for b in bins:
        if float(b.get("bin_start_ts", 0.0)) >= since_ts:
            dist += float(b.get("dist_m", 0.0))
            time_s += float(b.get("time_s", 0.0))
    return dist / time_s * 3.6 if time_s > 0 and dist > 0 else None


def service_date(feed, clock_ts: float | None, wall_ts: float) -> dt.date:
    """Local date of the city clock, or without one the next weekday from the wall clock (as the demo sim)."""
    if clock_ts is not None:
        return dt.datetime.fromtimestamp(clock_ts, feed.tz).date()
    day = dt.datetime.fromtimestamp(wall_ts, feed.tz).date()
    while day.weekday() >= 5:
        day += dt.timedelta(days=1)
    return day


# --- jobs --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlanKnobs:
    """Numbers of the live plans (from :class:`topis.settings.StreamSettings`)."""

    min_headway_min: float = 3.0
    max_headway_min: float = 30.0
    capacity_per_bus: float = 60.0
    moving_share: float = 1.0  #: share of scheduled running re-timed at live speed (optimizer.live.live_cycle_min)
    peak_hours: tuple[int, ...] = (7, 8, 17, 18)
    squirrel_spare_fleet: int = 10
    owl_walk_m: float = 400.0
    owl_cell_m: float = 600.0


@dataclass(frozen=True)
class PlanJob:
    """Everything one plan needs, as plain data (crosses into a worker process).

    ``services`` are what runs in the job's hour (for Owl: a night hour),
    ``squirrel``/``owl`` the encoded latest aggregates, ``speeds_kph`` live
    route speeds.
    """

    kind: str
    window: str  #: e.g. "2026-11-24T08"; with kind, the plan id
    label: str  #: human text of the window
    hour_local: int
    created_ts: float
    services: tuple[RouteService, ...]
    origin_lon_lat: tuple[float, float]
    stop_lat_lon: dict[str, tuple[float, float]]
    squirrel: tuple[bytes, ...] = ()
    owl: bytes | None = None
    speeds_kph: dict[str, float] = field(default_factory=dict)
    knobs: PlanKnobs = PlanKnobs()


def run_job(job: PlanJob) -> dict:
    """Compute the proposal of ``job`` (in a worker process).

    Raises
    ------
    optimizer.live.NoPlan
        Not enough input yet (the message says what is missing).
    optimizer.headways.InfeasibleFleet
        The fleet cannot meet the policy.
    """
    from optimizer import headways, owl, squirrel

    lon0, lat0 = job.origin_lon_lat
    proj = Projection(lat0, lon0)
    by_route = {s.route_id: s for s in job.services}
    k = job.knobs
    squirrel_inputs = [decode(b) for b in job.squirrel]
    if job.kind == "headways":
        boardings, peak = route_demand(squirrel_inputs, by_route, job.hour_local)
        cycles = {r: live.live_cycle_min(by_route[r], job.speeds_kph.get(r), k.moving_share) for r in boardings}
        problem, chosen = live.headway_problem(job.services, boardings, peak, cycles,
                                               live.HeadwaySettings(k.min_headway_min, k.max_headway_min,
                                                                    k.capacity_per_bus))
        return live.headway_proposal(problem, np.array([s.buses for s in chosen]), job.window, job.created_ts, job.label)
    stop_xy = _stop_xy(job.stop_lat_lon, proj)
    if job.kind == "squirrel":
        profiles = peak_profiles(squirrel_inputs, by_route, stop_xy, k.peak_hours, k.capacity_per_bus)
        settings = squirrel.SquirrelSettings(peak_hours=k.peak_hours, capacity_per_bus=k.capacity_per_bus,
                                             spare_fleet=k.squirrel_spare_fleet)
        return live.squirrel_proposal(profiles, job.services, settings, proj.to_lonlat, job.window, job.created_ts,
                                      job.label)
    if job.kind == "owl":
        if job.owl is None:
            raise live.NoPlan("no night demand message yet (demand.owl)")
        demand = night_demand(decode(job.owl), job.services, stop_xy)
        fleet = sum(s.buses for s in job.services if s.kind == "owl")
        if fleet <= 0:
            raise headways.InfeasibleFleet("no night route runs now, so there is no night fleet to plan with")
        settings = owl.OwlSettings(fleet=fleet, walk_m=k.owl_walk_m, cell_m=k.owl_cell_m,
                                   max_hop_m=max(1500.0, 2.5 * k.owl_cell_m))
        return live.owl_proposal(demand, job.services, settings, proj.to_lonlat, job.window, job.created_ts,
                                 job.label)
    raise ValueError(f"unknown plan kind {job.kind!r}")


def _stop_xy(stop_lat_lon: Mapping[str, tuple[float, float]], proj: Projection) -> dict[str, np.ndarray]:
    ids = list(stop_lat_lon)
    if not ids:
        return {}
    lat = np.array([stop_lat_lon[s][0] for s in ids])
    lon = np.array([stop_lat_lon[s][1] for s in ids])
    return dict(zip(ids, proj.to_metres(lon, lat)))


# --- the agents' memory ------------------------------------------------------------------------

#: link-speed bins older than this (city clock) no longer count for a route's live speed
SPEED_WINDOW_S = 1800.0
BIN_S = 300.0


class LivePlanner:
    """The agent's memory: newest inputs, when each kind is due, which kinds are in flight."""

    def __init__(self, feed, settings: StreamSettings, knobs: PlanKnobs = PlanKnobs()):
        self.feed, self.settings, self.knobs = feed, settings, knobs
        self.squirrel: dict[str, bytes] = {}  #: route_id -> newest encoded SquirrelInput
        self.owl: bytes | None = None
        self.bins: dict[str, dict[tuple[str, float], dict]] = {}  #: route -> (link, bin) -> bin
        #: taxi probe bins (messages keyed taxi:<cell>): (link, bin, cell) -> bin; a link across a cell edge
        #: has a partial bin from each cell, and the sums add up
        self.taxi_bins: dict[tuple[str, float, str], dict] = {}
        self._trimmed_since = float("-inf")  #: window start the held bins were last trimmed to
        self.clock_ts: float | None = None  #: city clock from the newest link-speed bin
        self.next_due: dict[str, float] = {k: 0.0 for k in KINDS}
        self.first_input_ts: float | None = None  #: wall time the first demand input arrived
        self.requested: set[str] = set()
        self.in_flight: set[str] = set()
        self.stop_lat_lon = {s.stop_id: (s.lat, s.lon) for s in feed.stops.values()}
        self.timetable = Timetable.from_feed(feed)
        self.hours_seen: dict[str, frozenset[int]] = {}  #: route_id -> local hours with riders (this feed's routes)
        self._services: dict[tuple, tuple] = {}

    def note_squirrel(self, route_id: str, value: bytes, now: float) -> None:
        """Keep a route's newest encoded load profile (and its hours) when the route is in this feed."""
        if route_id not in self.feed.trips_by_route:
            return  # another network's route (e.g. a previous run's city on the same broker)
        self.hours_seen[route_id] = frozenset(p.hour_local for p in decode(value).profiles)
        self.squirrel[route_id] = value
        self.first_input_ts = self.first_input_ts or now

    def note_owl(self, value: bytes, now: float) -> None:
        """Keep the newest encoded night OD."""
        self.owl = value
        self.first_input_ts = self.first_input_ts or now

    def note_speeds(self, route_id: str, bins: list[dict]) -> None:
        """Keep a route's (or a taxi cell's) link-speed bins of the last :data:`SPEED_WINDOW_S`; advance the clock.

        ``route_id`` is the message key: a route for bus probes, ``taxi:<cell>`` for taxi probes.
        """
        for b in bins:
            end = float(b.get("bin_start_ts", 0.0)) + BIN_S
            self.clock_ts = end if self.clock_ts is None else max(self.clock_ts, end)
        since = (self.clock_ts or 0.0) - SPEED_WINDOW_S
        fresh = [b for b in bins if float(b.get("bin_start_ts", 0.0)) >= since]
        if route_id.startswith("taxi:"):
            for b in fresh:
                self.taxi_bins[(str(b.get("link_id")), float(b.get("bin_start_ts", 0.0)), route_id)] = b
        else:
            held = self.bins.setdefault(route_id, {})
            for b in fresh:
                held[(str(b.get("link_id")), float(b.get("bin_start_ts", 0.0)))] = b
        if since > self._trimmed_since:  # the window moved (once a bin): drop what fell out of it, everywhere
            self._trimmed_since = since
            for held in self.bins.values():
                for key in [k for k in held if k[1] < since]:
                    del held[key]
            for key in [k for k in self.taxi_bins if k[1] < since]:
                del self.taxi_bins[key]

    def route_speeds(self) -> dict[str, float | None]:
        """Each route's space-mean speed over its links: its buses' bins and the taxis' bins on the same links."""
        taxi_by_link: dict[str, list[dict]] = {}
        for (link_id, _, _), b in self.taxi_bins.items():
            taxi_by_link.setdefault(link_id, []).append(b)
        speeds = {}
        for route_id, held in self.bins.items():
            links = {link_id for link_id, _ in held}
            taxis = [b for link_id in links for b in taxi_by_link.get(link_id, ())]
            speeds[route_id] = route_speed_kph([*held.values(), *taxis], -1.0)
        return speeds

    def request(self, kind: str) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown plan kind {kind!r}; one of {', '.join(KINDS)}")
        self.requested.add(kind)

    def due(self, now: float) -> list[tuple[str, bool]]:
        """``(kind, requested)`` to start now: requested, or on schedule with inputs, not in flight.

        Scheduled plans wait ``aggregate_interval_s`` after the first input so
        that every route's first profile is in (the demand stages publish them
        over one interval); requests do not wait.
        """
        warm = self.first_input_ts is not None and now >= self.first_input_ts + self.settings.aggregate_interval_s
        every = {"headways": self.settings.plan_headways_every_s, "squirrel": self.settings.plan_schedule_every_s,
                 "owl": self.settings.plan_schedule_every_s}
        has_input = {"headways": bool(self.squirrel), "squirrel": bool(self.squirrel), "owl": self.owl is not None}
        out = []
        for kind in KINDS:
            scheduled = warm and every[kind] > 0 and now >= self.next_due[kind]
            if kind in self.in_flight or not (kind in self.requested or (scheduled and has_input[kind])):
                continue
            out.append((kind, kind in self.requested))
            self.requested.discard(kind)
            self.next_due[kind] = now + every[kind] if every[kind] > 0 else float("inf")
        return out

    def services(self, hour_local: int) -> tuple:
        day = service_date(self.feed, self.clock_ts, time.time())
        key = (day, hour_local)
        if key not in self._services:
            if len(self._services) > 48:  # a long-running worker: keep about today's hours
                self._services.clear()
            self._services[key] = tuple(services_at(self.timetable, self.feed.calendar.active(day),
                                                             hour_local))
        return self._services[key]

    def job(self, kind: str, now: float) -> PlanJob:
        """The job of ``kind`` over the newest inputs (headways: :func:`streams.demand_hour`;
        Squirrel: the newest rush hour seen; Owl: 01 h), made at the city clock when known."""
        day = service_date(self.feed, self.clock_ts, now).isoformat()
        seen = set().union(*self.hours_seen.values())
        if kind == "headways":
            hour = demand_hour(self.hours_seen)
            hour = hour if hour is not None else 8
            window, label = f"{day}T{hour:02d}", f"{hour:02d}:00-{(hour + 1) % 24:02d}:00 on {day}"
        elif kind == "squirrel":
            hour = latest_hour(seen & set(self.knobs.peak_hours))
            hour = hour if hour is not None else self.knobs.peak_hours[0]
            window, label = f"{day}-peak", f"rush hours {', '.join(f'{h:02d}' for h in self.knobs.peak_hours)} h on {day}"
        else:
            hour, window, label = 1, f"{day}-night", f"night 00-05 h of {day}"
        services = self.services(hour)
        speeds = self.route_speeds()
        made_ts = self.clock_ts or now  # the city clock where known (the demo's runs ahead of the wall)
        return PlanJob(kind, window, label, hour, made_ts, services, (self.feed.origin_lon, self.feed.origin_lat),
                                {} if kind == "headways" else self.stop_lat_lon,  # only what the kind reads
                                () if kind == "owl" else tuple(self.squirrel.values()),
                                self.owl if kind == "owl" else None,
                                {r: v for r, v in speeds.items() if v is not None}, self.knobs)


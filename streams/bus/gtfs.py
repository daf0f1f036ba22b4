"""GTFS static feed → route model: trips with stop distances along metric shapes.

A :class:`Feed` holds what the bus path needs from a GTFS feed: stops, routes,
trips with their scheduled stop times, shapes projected to metres (a local
equirectangular projection around the feed's centre, accurate to well under a
metre over a city), each stop's distance along its trip's shape, and the
service calendar. Shapes absent from the feed are built from the stops.

Times in trips are seconds after the service day's "noon minus 12 h" (GTFS's
definition), so after-midnight times ≥ 24:00:00 are plain numbers above 86400.

Example
-------
>>> feed = load_feed("../shared/data/avl/wmata_transitclock_2016/gtfs/S2")  # doctest: +SKIP
>>> trip = feed.trips["877611130"]                                         # doctest: +SKIP
>>> trip.dist_m[-1]                     # distance of the last stop, metres   # doctest: +SKIP
"""

from __future__ import annotations

import csv
import datetime as dt
import logging
import math
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np

from streams.bus._kernels import project_window
from topis.geo import Projection

log = logging.getLogger(__name__)


class GtfsError(ValueError):
    """A feed that cannot be read: missing file or column, or a bad value (the message says where)."""


@dataclass(frozen=True)
class Stop:
    stop_id: str
    name: str
    lat: float
    lon: float
    x_m: float
    y_m: float


@dataclass(frozen=True)
class Route:
    route_id: str
    short_name: str
    long_name: str
    route_type: int


@dataclass(frozen=True, eq=False)
class Shape:
    """A polyline in metres; ``cum_m[i]`` is the distance of vertex ``i`` from the start."""

    shape_id: str
    x_m: np.ndarray
    y_m: np.ndarray
    cum_m: np.ndarray
    lat: np.ndarray
    lon: np.ndarray

    @property
    def length_m(self) -> float:
        return float(self.cum_m[-1])


@dataclass(frozen=True, eq=False)
class Trip:
    """One scheduled trip; arrays are aligned, one entry per stop time, in stop_sequence order."""

    trip_id: str
    route_id: str
    service_id: str
    shape_id: str
    direction_id: int | None
    block_id: str | None
    headsign: str
    stop_ids: tuple[str, ...]
    stop_sequence: np.ndarray  #: GTFS stop_sequence values (int)
    arrival_s: np.ndarray  #: seconds after the service day's noon − 12 h
    departure_s: np.ndarray
    dist_m: np.ndarray  #: distance of each stop along the shape
    timepoint: np.ndarray  #: bool, the stop is a timepoint (a candidate control stop)

    @property
    def start_s(self) -> float:
        return float(self.departure_s[0])

    @property
    def end_s(self) -> float:
        return float(self.arrival_s[-1])

    @cached_property
    def segment_s(self) -> np.ndarray:
        """Scheduled time of each segment, arrival to next arrival, seconds."""
        return np.diff(self.arrival_s)

    def scheduled_s_at(self, dist_m: float) -> float:
        """Scheduled time (s after service-day start) at a distance along the trip, interpolated."""
        return float(np.interp(dist_m, self.dist_m, self.departure_s))


@dataclass
class Calendar:
    """Service calendar: ``calendar.txt`` weekly patterns plus ``calendar_dates.txt`` exceptions."""

    weekly: dict[str, tuple[tuple[bool, ...], dt.date, dt.date]] = field(default_factory=dict)
    added: dict[dt.date, set[str]] = field(default_factory=dict)
    removed: dict[dt.date, set[str]] = field(default_factory=dict)

    def active(self, day: dt.date) -> frozenset[str]:
        """Service ids running on ``day``."""
        on = {
            sid
            for sid, (days, start, end) in self.weekly.items()
            if start <= day <= end and days[day.weekday()]
        }
        on |= self.added.get(day, set())
        on -= self.removed.get(day, set())
        return frozenset(on)


@dataclass(eq=False)
class Feed:
    """A loaded GTFS feed with metric geometry; build it with :func:`load_feed`."""

    timezone: str
    origin_lat: float
    origin_lon: float
    stops: dict[str, Stop]
    routes: dict[str, Route]
    trips: dict[str, Trip]
    shapes: dict[str, Shape]
    calendar: Calendar
    trips_by_route: dict[str, list[str]] = field(default_factory=dict)
    trips_by_block: dict[str, list[str]] = field(default_factory=dict)
    trips_by_shape: dict[str, list[str]] = field(default_factory=dict)
    #: shape ids and their bounding boxes (xmin, ymin, xmax, ymax), metres, for a quick "which shapes pass near"
    _shape_ids: list[str] = field(default_factory=list, repr=False)
    _shape_boxes: np.ndarray = field(default_factory=lambda: np.empty((0, 4)), repr=False)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @cached_property
    def projection(self) -> Projection:
        """The feed's local metric projection, about its origin (the mean of its stops)."""
        return Projection(self.origin_lat, self.origin_lon)

    def project(self, lat: float, lon: float) -> tuple[float, float]:
        """WGS84 degrees → local metres (x east, y north) around the feed's origin."""
        return self.projection.to_xy(lat, lon)

    def shapes_near(self, x_m: float, y_m: float, margin_m: float) -> list[str]:
        """Ids of shapes whose bounding box, grown by ``margin_m``, holds the point."""
        if len(self._shape_ids) != len(self.shapes):
            self._shape_ids = list(self.shapes)
            self._shape_boxes = np.array([(sh.x_m.min(), sh.y_m.min(), sh.x_m.max(), sh.y_m.max())
                                          for sh in self.shapes.values()]).reshape(-1, 4)
        b = self._shape_boxes
        hit = (b[:, 0] - margin_m <= x_m) & (x_m <= b[:, 2] + margin_m) & \
              (b[:, 1] - margin_m <= y_m) & (y_m <= b[:, 3] + margin_m)
        return [self._shape_ids[i] for i in np.flatnonzero(hit)]

    def service_day_start_ts(self, day: dt.date) -> float:
        """Epoch seconds of the service day's reference: local noon minus 12 h."""
        noon = dt.datetime(day.year, day.month, day.day, 12, tzinfo=self.tz)
        return noon.timestamp() - 43_200.0

    def service_days(self, ts: float) -> list[tuple[dt.date, float]]:
        """Service days that may hold a trip running at ``ts`` (yesterday and today), with their start ts."""
        local = dt.datetime.fromtimestamp(ts, self.tz).date()
        days = [local - dt.timedelta(days=1), local]
        return [(d, self.service_day_start_ts(d)) for d in days]


# --------------------------------------------------------------------------- reading


def _read_table(folder: Path, name: str, required: tuple[str, ...], optional: bool = False):
    table = _iter_table(folder, name, required, optional)
    if table is None:
        return None
    header, rows, path = table
    return header, list(rows), path


def _iter_table(folder: Path, name: str, required: tuple[str, ...], optional: bool = False):
    """(header, rows, path) of a GTFS table, its rows read as they are iterated (the header is checked at once)."""
    path = folder / name
    if not path.exists():
        if optional:
            return None
        raise GtfsError(f"{path}: missing (a GTFS feed needs {name})")
    fh = path.open(newline="", encoding="utf-8-sig")
    reader = csv.reader(fh)
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        fh.close()
        raise GtfsError(f"{path}: empty file") from None
    missing = [c for c in required if c not in header]
    if missing:
        fh.close()
        raise GtfsError(f"{path}: missing column(s) {', '.join(missing)}")

    def rows():
        with fh:
            yield from (row for row in reader if row)

    return header, rows(), path


def _col(header: list[str], name: str) -> int | None:
    return header.index(name) if name in header else None


def parse_gtfs_time(text: str) -> float:
    """``HH:MM:SS`` (hours may be ≥ 24) → seconds after the service day's start."""
    parts = text.strip().split(":")
    if len(parts) != 3:
        raise ValueError(f"not a GTFS time: {text!r}")
    h, m, s = (int(p) for p in parts)
    return float(h * 3600 + m * 60 + s)


def _parse_date(text: str) -> dt.date:
    return dt.datetime.strptime(text.strip(), "%Y%m%d").date()


def _read_calendar(folder: Path) -> Calendar:
    cal = Calendar()
    weekly = _read_table(
        folder,
        "calendar.txt",
        ("service_id", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday",
         "start_date", "end_date"),
        optional=True,
    )
    dates = _read_table(folder, "calendar_dates.txt", ("service_id", "date", "exception_type"), optional=True)
    if weekly is None and dates is None:
        raise GtfsError(f"{folder}: needs calendar.txt or calendar_dates.txt")
    if weekly is not None:
        header, rows, path = weekly
        idx = {c: header.index(c) for c in header}
        names = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
        for n, row in enumerate(rows, start=2):
            try:
                days = tuple(row[idx[d]].strip() == "1" for d in names)
                cal.weekly[row[idx["service_id"]]] = (
                    days, _parse_date(row[idx["start_date"]]), _parse_date(row[idx["end_date"]]))
            except (ValueError, IndexError) as exc:
                raise GtfsError(f"{path}:{n}: {exc}") from exc
    if dates is not None:
        header, rows, path = dates
        i_s, i_d, i_e = header.index("service_id"), header.index("date"), header.index("exception_type")
        for n, row in enumerate(rows, start=2):
            try:
                day = _parse_date(row[i_d])
                kind = row[i_e].strip()
            except (ValueError, IndexError) as exc:
                raise GtfsError(f"{path}:{n}: {exc}") from exc
            target = cal.added if kind == "1" else cal.removed if kind == "2" else None
            if target is None:
                raise GtfsError(f"{path}:{n}: exception_type must be 1 or 2, got {kind!r}")
            target.setdefault(day, set()).add(row[i_s])
    return cal


def _read_timezone(folder: Path, override: str | None) -> str:
    if override:
        name = override
    else:
        table = _read_table(folder, "agency.txt", ("agency_timezone",))
        header, rows, path = table
        if not rows:
            raise GtfsError(f"{path}: no agency row")
        name = rows[0][header.index("agency_timezone")].strip()
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise GtfsError(f"unknown time zone {name!r}") from exc
    return name


def load_feed(folder: str | Path, timezone: str | None = None) -> Feed:
    """Read a GTFS feed folder into a :class:`Feed`.

    Parameters
    ----------
    folder
        Folder holding ``stops.txt``, ``routes.txt``, ``trips.txt``, ``stop_times.txt``,
        ``calendar.txt`` and/or ``calendar_dates.txt``, optionally ``shapes.txt`` and
        ``agency.txt``.
    timezone
        IANA zone of the schedule; default ``agency_timezone`` from ``agency.txt``.

    Raises
    ------
    GtfsError
        Missing file or column, or a value that does not parse (file and line named).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise GtfsError(f"{folder}: not a folder")
    tz = _read_timezone(folder, timezone)
    stops_raw = _read_stops(folder)
    lat0 = float(np.mean([s[1] for s in stops_raw.values()])) if stops_raw else 0.0
    lon0 = float(np.mean([s[2] for s in stops_raw.values()])) if stops_raw else 0.0
    proj = Projection(lat0, lon0)
    stops = {}
    for sid, (name, lat, lon) in stops_raw.items():
        x, y = proj.to_xy(lat, lon)
        stops[sid] = Stop(sid, name, lat, lon, x, y)
    routes = _read_routes(folder)
    trip_rows = _read_trips(folder, routes)
    times = _read_stop_times(folder, stops, trip_rows)
    shapes = _read_shapes(folder, lat0, lon0)
    calendar = _read_calendar(folder)
    trips = _build_trips(trip_rows, times, stops, shapes, (lat0, lon0))
    feed = Feed(tz, lat0, lon0, stops, routes, trips, shapes, calendar)
    for trip in trips.values():
        feed.trips_by_route.setdefault(trip.route_id, []).append(trip.trip_id)
        feed.trips_by_shape.setdefault(trip.shape_id, []).append(trip.trip_id)
        if trip.block_id:
            feed.trips_by_block.setdefault(trip.block_id, []).append(trip.trip_id)
    for ids in (*feed.trips_by_route.values(), *feed.trips_by_block.values()):
        ids.sort(key=lambda t: trips[t].start_s)
    log.info("loaded %s: %d stops, %d routes, %d trips, %d shapes",
             folder, len(stops), len(routes), len(trips), len(shapes))
    return feed


def _read_stops(folder: Path) -> dict[str, tuple[str, float, float]]:
    header, rows, path = _read_table(folder, "stops.txt", ("stop_id", "stop_lat", "stop_lon"))
    i_id, i_lat, i_lon = header.index("stop_id"), header.index("stop_lat"), header.index("stop_lon")
    i_name = _col(header, "stop_name")
    out = {}
    for n, row in enumerate(rows, start=2):
        try:
            lat, lon = float(row[i_lat]), float(row[i_lon])
        except (ValueError, IndexError) as exc:
            raise GtfsError(f"{path}:{n}: bad stop_lat/stop_lon ({exc})") from exc
        if not (-90 <= lat <= 90 and -180 <= lon <= 180):
            raise GtfsError(f"{path}:{n}: coordinates out of range ({lat}, {lon})")
        out[row[i_id]] = (row[i_name] if i_name is not None else "", lat, lon)
    return out


def _read_routes(folder: Path) -> dict[str, Route]:
    header, rows, path = _read_table(folder, "routes.txt", ("route_id",))
    get = {c: header.index(c) for c in header}
    out = {}
    for n, row in enumerate(rows, start=2):
        rid = row[get["route_id"]]
        rtype = row[get["route_type"]] if "route_type" in get else "3"
        try:
            out[rid] = Route(
                rid,
                row[get["route_short_name"]] if "route_short_name" in get else "",
                row[get["route_long_name"]] if "route_long_name" in get else "",
                int(rtype or 3),
            )
        except ValueError as exc:
            raise GtfsError(f"{path}:{n}: bad route_type ({exc})") from exc
    return out


def _read_trips(folder: Path, routes: dict[str, Route]) -> dict[str, dict]:
    header, rows, path = _read_table(folder, "trips.txt", ("route_id", "service_id", "trip_id"))
    get = {c: header.index(c) for c in header}
    out = {}
    for n, row in enumerate(rows, start=2):
        rec = {c: (row[i] if i < len(row) else "") for c, i in get.items()}
        if rec["route_id"] not in routes:
            raise GtfsError(f"{path}:{n}: route_id {rec['route_id']!r} is not in routes.txt")
        d = rec.get("direction_id", "").strip()
        rec["direction_id"] = int(d) if d in ("0", "1") else None
        out[rec["trip_id"]] = rec
    return out


def _read_stop_times(folder: Path, stops, trip_rows) -> dict[str, list[tuple]]:
    """Each trip's stop times as (sequence, stop id, arrival s, departure s, timepoint).

    The file is read row by row and each row kept as one tuple of shared values (the stop's
    own id string, the parsed times): a city's stop_times.txt has millions of rows, and
    holding them all as lists of strings took gigabytes at Seoul size, which the process
    then kept.
    """
    header, rows, path = _iter_table(
        folder, "stop_times.txt", ("trip_id", "stop_id", "stop_sequence", "arrival_time", "departure_time"))
    i_t, i_s, i_q = header.index("trip_id"), header.index("stop_id"), header.index("stop_sequence")
    i_a, i_d = header.index("arrival_time"), header.index("departure_time")
    i_tp = _col(header, "timepoint")
    out: dict[str, list[tuple]] = {}
    parsed: dict[str, float] = {"": math.nan}  # a feed repeats the same few thousand times

    def seconds(text: str) -> float:
        value = parsed.get(text)
        if value is None:
            value = parsed[text] = parse_gtfs_time(text)
        return value

    for n, row in enumerate(rows, start=2):
        try:
            tid, sid = row[i_t], row[i_s]
            seq = int(row[i_q])
            arr = seconds(row[i_a].strip())
            dep = seconds(row[i_d].strip())
            if math.isnan(dep):
                dep = arr
            if math.isnan(arr):
                arr = dep
            tp = (row[i_tp].strip() != "0") if i_tp is not None and i_tp < len(row) and row[i_tp].strip() else \
                not math.isnan(arr)
        except (ValueError, IndexError) as exc:
            raise GtfsError(f"{path}:{n}: {exc}") from exc
        if tid not in trip_rows:
            raise GtfsError(f"{path}:{n}: trip_id {tid!r} is not in trips.txt")
        stop = stops.get(sid)
        if stop is None:
            raise GtfsError(f"{path}:{n}: stop_id {sid!r} is not in stops.txt")
        out.setdefault(tid, []).append((seq, stop.stop_id, arr, dep, tp))
    return out


def _read_shapes(folder: Path, lat0: float, lon0: float) -> dict[str, Shape]:
    table = _read_table(folder, "shapes.txt", ("shape_id", "shape_pt_lat", "shape_pt_lon", "shape_pt_sequence"),
                        optional=True)
    if table is None:
        return {}
    header, rows, path = table
    i_id, i_lat = header.index("shape_id"), header.index("shape_pt_lat")
    i_lon, i_seq = header.index("shape_pt_lon"), header.index("shape_pt_sequence")
    pts: dict[str, list[tuple[int, float, float]]] = {}
    for n, row in enumerate(rows, start=2):
        try:
            pts.setdefault(row[i_id], []).append((int(row[i_seq]), float(row[i_lat]), float(row[i_lon])))
        except (ValueError, IndexError) as exc:
            raise GtfsError(f"{path}:{n}: {exc}") from exc
    out = {}
    for sid, p in pts.items():
        p.sort()
        lat = np.array([q[1] for q in p])
        lon = np.array([q[2] for q in p])
        out[sid] = make_shape(sid, lat, lon, lat0, lon0)
    return out


def make_shape(shape_id: str, lat: np.ndarray, lon: np.ndarray, lat0: float, lon0: float) -> Shape:
    """Build a metric :class:`Shape` from WGS84 vertices, dropping repeated vertices."""
    x, y = Projection(lat0, lon0).to_xy(lat, lon)
    x, y = np.atleast_1d(x), np.atleast_1d(y)
    keep = np.ones(len(x), dtype=bool)
    keep[1:] = np.hypot(np.diff(x), np.diff(y)) > 1e-6
    x, y, lat, lon = x[keep], y[keep], np.asarray(lat)[keep], np.asarray(lon)[keep]
    if len(x) == 1:  # a degenerate one-point shape still needs a segment
        x, y = np.r_[x, x + 1e-3], np.r_[y, y]
        lat, lon = np.r_[lat, lat], np.r_[lon, lon]
    cum = np.r_[0.0, np.cumsum(np.hypot(np.diff(x), np.diff(y)))]
    return Shape(shape_id, x, y, cum, lat, lon)


# --------------------------------------------------------------------------- geometry


def project_to_shape(shape: Shape, x_m: float, y_m: float, lo_m: float = 0.0,
                     hi_m: float = math.inf) -> tuple[float, float]:
    """Nearest point of ``shape`` to (x, y) among the part between ``lo_m`` and ``hi_m``.

    Parameters
    ----------
    shape
        The polyline.
    x_m, y_m
        The point, in the feed's metric projection.
    lo_m, hi_m
        Window of distances along the shape to search (metres).

    Returns
    -------
    dist_m, offset_m
        Distance along the shape of the nearest point, and the point's distance from it.
    """
    dist, off, found = project_window(shape.x_m, shape.y_m, shape.cum_m, float(x_m), float(y_m), float(lo_m),
                                      float(hi_m))
    if not found:
        return float(min(max(lo_m, 0.0), shape.length_m)), math.inf
    return float(dist), float(off)


def project_all(shape: Shape, x_m: float, y_m: float, first: int = 0,
                stop: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Projection of (x, y) on segments ``first..stop-1`` (default all): distance along and offset.

    Returns two arrays, one value per segment.
    """
    end = len(shape.x_m) - 1 if stop is None else stop
    x0, y0 = shape.x_m[first:end], shape.y_m[first:end]
    dx, dy = shape.x_m[first + 1:end + 1] - x0, shape.y_m[first + 1:end + 1] - y0
    seg = shape.cum_m[first + 1:end + 1] - shape.cum_m[first:end]
    seg2 = dx * dx + dy * dy
    t = np.clip(((x_m - x0) * dx + (y_m - y0) * dy) / np.where(seg2 > 0, seg2, 1.0), 0.0, 1.0)
    off = np.hypot(x_m - (x0 + t * dx), y_m - (y0 + t * dy))
    along = shape.cum_m[first:end] + t * seg
    return along, off


def shape_bearing_deg(shape: Shape, dist_m: float) -> float:
    """Compass bearing (degrees clockwise from north) of the shape at a distance along it."""
    i = int(np.clip(np.searchsorted(shape.cum_m, dist_m, side="right") - 1, 0, len(shape.cum_m) - 2))
    dx, dy = shape.x_m[i + 1] - shape.x_m[i], shape.y_m[i + 1] - shape.y_m[i]
    return math.degrees(math.atan2(dx, dy)) % 360.0


def stop_distances(shape: Shape, xy: list[tuple[float, float]], slack_m: float = 25.0) -> np.ndarray:
    """Distance along ``shape`` of each stop of a trip, non-decreasing in stop order.

    Each stop takes the first pass of the shape (searching forward from the previous
    stop) whose offset is within ``slack_m`` of the closest pass, so a route that
    goes by the same street twice puts each stop on the right pass.
    """
    out = np.empty(len(xy))
    prev = 0.0
    for i, (x, y) in enumerate(xy):
        along, off = project_all(shape, x, y)
        ok = along >= prev - 1e-6
        if not ok.any():
            out[i] = prev
            continue
        best = off[ok].min()
        cand = np.flatnonzero(ok & (off <= best + slack_m))
        # the first pass: contiguous run of candidate segments starting at the first one
        run_end = cand[0]
        while run_end + 1 < len(off) and ok[run_end + 1] and off[run_end + 1] <= best + slack_m:
            run_end += 1
        k = cand[0] + int(np.argmin(off[cand[0]:run_end + 1]))
        out[i] = max(float(along[k]), prev)
        prev = out[i]
    return out


def _build_trips(trip_rows, times, stops, shapes, origin: tuple[float, float]) -> dict[str, Trip]:
    trips: dict[str, Trip] = {}
    dist_cache: dict[tuple, np.ndarray] = {}
    stop_patterns: dict[tuple[str, ...], tuple[str, ...]] = {}  # one tuple for all the trips that stop alike
    for tid, rec in trip_rows.items():
        st = sorted(times.pop(tid, ()))
        if len(st) < 2:
            log.warning("trip %s has %d stop times; skipped", tid, len(st))
            continue
        stop_ids = tuple(s[1] for s in st)
        stop_ids = stop_patterns.setdefault(stop_ids, stop_ids)
        shape_id = rec.get("shape_id", "") or ""
        if shape_id not in shapes:
            if shape_id:
                log.warning("trip %s: shape %s not in shapes.txt; built from stops", tid, shape_id)
            shape_id = "stops:" + "|".join(stop_ids)
            if shape_id not in shapes:
                seq = [stops[s] for s in stop_ids]
                shapes[shape_id] = make_shape(shape_id, np.array([p.lat for p in seq]),
                                              np.array([p.lon for p in seq]), origin[0], origin[1])
        key = (shape_id, stop_ids)
        if key not in dist_cache:
            dist_cache[key] = stop_distances(shapes[shape_id], [(stops[s].x_m, stops[s].y_m) for s in stop_ids])
        arr = np.array([s[2] for s in st])
        dep = np.array([s[3] for s in st])
        dist = dist_cache[key]
        arr, dep = _fill_times(arr, dep, dist, tid)
        trips[tid] = Trip(
            trip_id=tid, route_id=rec["route_id"], service_id=rec["service_id"], shape_id=shape_id,
            direction_id=rec["direction_id"], block_id=(rec.get("block_id") or None),
            headsign=rec.get("trip_headsign", ""), stop_ids=stop_ids,
            stop_sequence=np.array([s[0] for s in st], dtype=np.int64),
            arrival_s=arr, departure_s=dep, dist_m=dist, timepoint=np.array([s[4] for s in st], dtype=bool))
    return trips


def _fill_times(arr: np.ndarray, dep: np.ndarray, dist: np.ndarray, tid: str):
    """Fill blank (non-timepoint) times by interpolating on distance between known ones."""
    known = ~np.isnan(arr)
    if known.sum() < 2 or not known[0] or not known[-1]:
        if not known.all():
            raise GtfsError(f"stop_times.txt: trip {tid} needs times at its first and last stop")
    if not known.all():
        arr = arr.copy()
        arr[~known] = np.interp(dist[~known], dist[known], arr[known])
        dep = np.where(np.isnan(dep), arr, dep)
    if np.any(np.diff(arr) < 0):
        raise GtfsError(f"stop_times.txt: trip {tid} has arrival times going backwards")
    return arr, dep

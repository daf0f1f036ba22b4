"""Enforcement rules as pure functions: when a plate read is a violation.

Times come in as epoch seconds (UTC) and are judged in local time
(Asia/Seoul by default): hours, weekdays and public holidays are local
notions. Hour windows are half-open, ``[start, end)``: a lane enforced
07–21 is enforced at 07:00:00 and at 20:59:59 but not at 21:00:00.

Case ids are deterministic (:func:`case_id`), so that replaying reads,
restarting a worker or a broker redelivering a message never makes a second
case for the same violation. What a case is keyed on, per rule:

* ``bus_lane``      plate + read id (every passage in an enforced lane is one violation)
* ``green_zone``    plate + local date (one case a day however many cameras)
* ``section_speed`` plate + section + entry read id
* ``no_stopping``   plate + camera + read id of the first read of the stop
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from zoneinfo import ZoneInfo

import shapely
from shapely.geometry import Point
from shapely.geometry.base import BaseGeometry

from topis.holidays import korean_holidays, parse_holiday_file
from topis.settings import FineTable

#: rule names, as in CASES.csv
RULES = ("bus_lane", "green_zone", "section_speed", "no_stopping")
LANE_TYPES = ("median", "roadside_full", "roadside_part", "none")
#: classes never fined for using a bus lane
BUS_LANE_EXEMPT_CLASSES = frozenset({"bus", "emergency"})
#: classes never fined in the green zone (besides registry exemptions)
GREEN_ZONE_EXEMPT_CLASSES = frozenset({"emergency"})

_ROADSIDE_FULL_H = ((7, 21),)
_ROADSIDE_PART_H = ((7, 10), (17, 21))
_GREEN_ZONE_H = (6, 21)

#: Korean plates: optional two-syllable region (old style), 2–3 digits, one Hangul syllable, 4 digits
_PLATE_RE = re.compile(r"^(?:[가-힣]{2})?\d{2,3}[가-힣]\d{4}$")


@dataclass(frozen=True, slots=True)
class Camera:
    """One ANPR camera, as in CAMERAS.csv."""

    camera_id: str
    lat: float  #: WGS84 degrees
    lon: float  #: WGS84 degrees
    lane_type: str = "none"  #: median, roadside_full, roadside_part or none
    green_zone_entry: bool = False  #: reads entering the Green Transport Zone
    section_id: str | None = None  #: section-speed section, if any
    section_role: str | None = None  #: "entry" or "exit"
    section_length_m: float | None = None
    section_limit_kph: float | None = None
    no_stopping: bool = False  #: fixed camera of a no-stopping zone
    area: str | None = None  #: district or other area name, for filtering


@dataclass(frozen=True, slots=True)
class Vehicle:
    """One registered vehicle, as in REGISTRY.csv."""

    plate: str
    vehicle_class: str  #: car, bus, truck, emergency, taxi, van, ...
    emission_grade: int  #: 1 (cleanest) .. 5
    exempt: bool = False  #: permit holder / registry exemption
    watch: bool = False  #: stolen or wanted


# ---------------------------------------------------------------- calendar

#: years of the built-in calendar :data:`KOREAN_HOLIDAYS`
BUILTIN_HOLIDAY_YEARS = range(2020, 2041)
#: Korean public holidays 2020–2040, substitute, election and temporary holidays
#: included, from the one calendar (:mod:`topis.holidays`).
KOREAN_HOLIDAYS: frozenset[dt.date] = frozenset(korean_holidays(BUILTIN_HOLIDAY_YEARS))


def parse_holidays(lines: Iterable[str], source: str = "<holidays>") -> frozenset[dt.date]:
    """Parse a whole holiday calendar, in the holiday-file format of :mod:`topis.holidays`.

    One ISO date a line, optionally ``,name`` and a header line ``date[,name]``; blank
    lines and ``#`` comments are ignored. The calendar is the listed days; a
    ``-DATE`` line removes a day (from the same file: there is no other base here).

    Raises
    ------
    ValueError
        Naming the line number of the first bad line (e.g. one that is not an ISO date).
    """
    return parse_holiday_file(lines, source).apply(())


def load_holidays(path: str | Path) -> frozenset[dt.date]:
    """Read a holiday calendar file (see :func:`parse_holidays`)."""
    path = Path(path)
    with path.open(encoding="utf-8-sig") as fh:
        return parse_holidays(fh, source=str(path))


def local_time(ts: float, tz: ZoneInfo) -> dt.datetime:
    """Aware local datetime of an epoch-seconds timestamp."""
    return dt.datetime.fromtimestamp(ts, tz)


def is_day_off(day: dt.date, holidays: frozenset[dt.date]) -> bool:
    """Saturday, Sunday or a public holiday."""
    return day.weekday() >= 5 or day in holidays


def _in_hours(local: dt.datetime, windows: Iterable[tuple[int, int]]) -> bool:
    return any(start <= local.hour < end for start, end in windows)


# ---------------------------------------------------------------- rules


def bus_lane_enforced(lane_type: str, local: dt.datetime, holidays: frozenset[dt.date]) -> bool:
    """Whether a bus lane of ``lane_type`` is enforced at local time ``local``.

    Median lanes: 24 h every day. Roadside full-time: weekdays 07–21.
    Roadside part-time: weekdays 07–10 and 17–21. Roadside lanes are not
    enforced on weekends and public holidays. ``none``: never.
    """
    if lane_type == "median":
        return True
    if lane_type not in ("roadside_full", "roadside_part"):
        return False
    if is_day_off(local.date(), holidays):
        return False
    return _in_hours(local, _ROADSIDE_FULL_H if lane_type == "roadside_full" else _ROADSIDE_PART_H)


def bus_lane_exempt(vehicle: Vehicle | None, seen_class: str | None = None) -> bool:
    """Buses, emergency vehicles and permit holders may use bus lanes.

    An unregistered plate is judged by the class the camera saw, if any.
    """
    if vehicle is not None:
        return vehicle.exempt or vehicle.vehicle_class in BUS_LANE_EXEMPT_CLASSES
    return seen_class in BUS_LANE_EXEMPT_CLASSES


def green_zone_hours(local: dt.datetime) -> bool:
    """Green Transport Zone restriction applies 06–21 local, every day."""
    return _in_hours(local, (_GREEN_ZONE_H,))


def green_zone_violation(vehicle: Vehicle | None, local: dt.datetime) -> bool:
    """A registered, non-exempt emission-grade-5 vehicle entering the zone 06–21.

    An unregistered plate is never a case: its grade is unknown.
    """
    if vehicle is None or vehicle.emission_grade != 5:
        return False
    if vehicle.exempt or vehicle.vehicle_class in GREEN_ZONE_EXEMPT_CLASSES:
        return False
    return green_zone_hours(local)


def average_speed_kph(length_m: float, elapsed_s: float) -> float:
    """Average speed over a section.

    Parameters
    ----------
    length_m : float
        Section length, metres.
    elapsed_s : float
        Time from the entry read to the exit read, seconds; must be > 0.

    Returns
    -------
    float
        km/h.
    """
    if elapsed_s <= 0:
        raise ValueError(f"elapsed_s must be > 0, got {elapsed_s}")
    return length_m / elapsed_s * 3.6


def section_speeding(length_m: float, elapsed_s: float, limit_kph: float, tolerance_kph: float = 0.0) -> bool:
    """Average speed strictly above ``limit_kph + tolerance_kph``; False when ``elapsed_s <= 0``."""
    if elapsed_s <= 0:
        return False
    # length/elapsed*3.6 > limit, rearranged so that whole metres, seconds and km/h compare exactly
    return length_m * 3600.0 > (limit_kph + tolerance_kph) * 1000.0 * elapsed_s


def stopped_too_long(first_ts: float, ts: float, min_s: float) -> bool:
    """Seen by the same no-stopping camera for strictly longer than ``min_s``."""
    return ts - first_ts > min_s


def needs_plate_check(confidence: float, threshold: float) -> bool:
    """A read below the confidence threshold never goes straight to a notice."""
    return confidence < threshold


def one_off_index(plates: Iterable[str]) -> dict[str, list[str]]:
    """Index of plates by every one-character wildcard ("12가3?56" -> ["12가3456", ...])."""
    index: dict[str, list[str]] = {}
    for plate in plates:
        for i in range(len(plate)):
            index.setdefault(f"{plate[:i]}?{plate[i + 1:]}", []).append(plate)
    return index


def resolve_misread(text: str, index: Mapping[str, list[str]]) -> str | None:
    """The one registered plate that differs from ``text`` in exactly one character, if there is exactly one.

    ANPR misreads are mostly one wrong character (3↔8, 가↔거); a low-confidence
    read of an unregistered plate with a single registered neighbour is most
    likely that vehicle. Ambiguous (two or more neighbours) → None.
    """
    found: set[str] = set()
    for i in range(len(text)):
        found.update(index.get(f"{text[:i]}?{text[i + 1:]}", ()))
        if len(found) > 1:
            return None
    return found.pop() if found else None


# ---------------------------------------------------------------- plates, ids, fines


def normalise_plate(text: str) -> str | None:
    """Plate text without spaces or hyphens, or None when it is not a Korean plate.

    >>> normalise_plate(" 12가 3456")
    '12가3456'
    >>> normalise_plate("ABC123") is None
    True
    """
    plate = text.replace(" ", "").replace("-", "")
    return plate if _PLATE_RE.match(plate) else None


def case_id(rule: str, plate: str, *key: object) -> str:
    """Deterministic case id: 32 hex digits of SHA-256 over rule, plate and the defining key."""
    text = "\x1f".join((rule, plate, *(str(k) for k in key)))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def fine_krw(rule: str, vehicle_class: str | None, fines: FineTable, over_kph: float = 0.0) -> int:
    """Fine of one case, KRW.

    Parameters
    ----------
    rule : str
        One of :data:`RULES`.
    vehicle_class : str or None
        Registry class; None (unregistered) pays the car rate.
    fines : FineTable
        The configured table.
    over_kph : float
        For ``section_speed``: km/h above the limit.
    """
    heavy = vehicle_class in fines.heavy_classes
    if rule == "bus_lane":
        return fines.bus_lane_heavy_krw if heavy else fines.bus_lane_car_krw
    if rule == "green_zone":
        return fines.green_zone_day_krw
    if rule == "no_stopping":
        return fines.no_stopping_heavy_krw if heavy else fines.no_stopping_car_krw
    if rule == "section_speed":
        for upper_kph, amount in fines.speed_bands_car:
            if over_kph <= upper_kph:
                return amount + (fines.speed_heavy_extra_krw if heavy else 0)
        return fines.speed_bands_car[-1][1] + (fines.speed_heavy_extra_krw if heavy else 0)
    raise ValueError(f"unknown rule {rule!r}; expected one of {RULES}")


# ---------------------------------------------------------------- geometry


def camera_point(camera: Camera) -> Point:
    """The camera as a shapely point in (lon, lat) order."""
    return Point(camera.lon, camera.lat)


def cameras_in_polygon(cameras: Iterable[Camera], polygon: BaseGeometry) -> set[str]:
    """Ids of cameras inside or on the boundary of ``polygon`` (lon, lat coordinates)."""
    cams = list(cameras)
    if not cams:
        return set()
    points = shapely.points([(c.lon, c.lat) for c in cams])
    inside = shapely.covers(polygon, points)
    return {c.camera_id for c, hit in zip(cams, inside) if hit}


def area_of(camera: Camera, areas: Mapping[str, BaseGeometry]) -> str | None:
    """Name of the first area polygon (lon, lat) that covers the camera, or None."""
    point = camera_point(camera)
    for name, polygon in areas.items():
        if polygon.covers(point):
            return name
    return None


def with_areas(cameras: Mapping[str, Camera], areas: Mapping[str, BaseGeometry]) -> dict[str, Camera]:
    """Copies of ``cameras`` whose missing ``area`` is filled from ``areas``."""
    return {cid: c if c.area else replace(c, area=area_of(c, areas)) for cid, c in cameras.items()}

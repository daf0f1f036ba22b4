"""Reading the batch-mode CSV files: CAMERAS.csv, REGISTRY.csv, READS.csv.

Each loader returns what it could parse plus a list of :class:`RowError`
(line number and reason) for the rows it skipped: malformed rows are never
dropped silently. A file without the required header columns raises
:class:`ValueError` because nothing in it can be trusted.
"""

from __future__ import annotations

import csv
import datetime as dt
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from enforcement.rules import LANE_TYPES, Camera, Vehicle
from topis.schemas.inputs import PlateRead

CAMERA_COLUMNS = (
    "camera_id", "lat", "lon", "lane_type", "green_zone_entry", "section_id",
    "section_role", "section_length_m", "section_limit_kph", "no_stopping",
)  # fmt: skip
REGISTRY_COLUMNS = ("plate", "vehicle_class", "emission_grade", "exempt", "watch")
READ_COLUMNS = ("read_id", "camera_id", "ts", "plate", "confidence")


@dataclass(frozen=True, slots=True)
class RowError:
    """A skipped input row: file line number (header = line 1) and why."""

    source: str
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{self.source}:{self.line}: {self.reason}"


class RowInvalid(ValueError):
    """One row that cannot be used; the message is the reason."""


def _rows(lines: Iterable[str], required: tuple[str, ...], source: str) -> Iterator[tuple[int, dict[str, str]]]:
    reader = csv.DictReader(lines)
    header = [h.strip() for h in (reader.fieldnames or [])]
    missing = [c for c in required if c not in header]
    if missing:
        raise ValueError(f"{source}: missing column(s) {', '.join(missing)}; header is {','.join(header) or '(empty)'}")
    reader.fieldnames = header
    for row in reader:
        # DictReader's line_num is the physical line of the row's last line
        if None in row:
            yield reader.line_num, {"__bad__": "more fields than the header"}
            continue
        if None in row.values():
            yield reader.line_num, {"__bad__": "fewer fields than the header"}
            continue
        yield reader.line_num, {k: (v or "").strip() for k, v in row.items()}


def _flag(row: dict[str, str], name: str) -> bool:
    value = row.get(name, "")
    if value in ("0", ""):
        return False
    if value == "1":
        return True
    raise RowInvalid(f"{name} must be 0 or 1, got {value!r}")


def _float(row: dict[str, str], name: str, *, required: bool = True) -> float | None:
    value = row.get(name, "")
    if value == "" and not required:
        return None
    try:
        number = float(value)
    except ValueError:
        raise RowInvalid(f"{name} is not a number: {value!r}") from None
    if not math.isfinite(number):
        raise RowInvalid(f"{name} is not finite: {value!r}")
    return number


def _text(row: dict[str, str], name: str) -> str:
    value = row.get(name, "")
    if not value:
        raise RowInvalid(f"{name} is empty")
    return value


def camera_from_row(row: dict[str, str]) -> Camera:
    """One CAMERAS.csv row as a :class:`Camera`; raises :class:`RowInvalid`."""
    lat, lon = _float(row, "lat"), _float(row, "lon")
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise RowInvalid(f"lat/lon out of range: {lat}, {lon}")
    lane_type = row.get("lane_type", "") or "none"
    if lane_type not in LANE_TYPES:
        raise RowInvalid(f"lane_type must be one of {', '.join(LANE_TYPES)}, got {lane_type!r}")
    section_id = row.get("section_id") or None
    role = row.get("section_role") or None
    length_m = _float(row, "section_length_m", required=False)
    limit_kph = _float(row, "section_limit_kph", required=False)
    if role not in (None, "entry", "exit"):
        raise RowInvalid(f"section_role must be entry, exit or empty, got {role!r}")
    if role and not section_id:
        raise RowInvalid("section_role given without section_id")
    if role == "exit" and (length_m is None or limit_kph is None or length_m <= 0 or limit_kph <= 0):
        raise RowInvalid("an exit camera needs section_length_m > 0 and section_limit_kph > 0")
    return Camera(
        camera_id=_text(row, "camera_id"), lat=lat, lon=lon, lane_type=lane_type,
        green_zone_entry=_flag(row, "green_zone_entry"), section_id=section_id, section_role=role,
        section_length_m=length_m, section_limit_kph=limit_kph, no_stopping=_flag(row, "no_stopping"),
        area=row.get("area") or None,
    )  # fmt: skip


def vehicle_from_row(row: dict[str, str]) -> Vehicle:
    """One REGISTRY.csv row as a :class:`Vehicle`; raises :class:`RowInvalid`."""
    grade_text = row.get("emission_grade", "")
    if grade_text not in ("1", "2", "3", "4", "5"):
        raise RowInvalid(f"emission_grade must be 1..5, got {grade_text!r}")
    return Vehicle(
        plate=_text(row, "plate").replace(" ", ""), vehicle_class=_text(row, "vehicle_class").lower(),
        emission_grade=int(grade_text), exempt=_flag(row, "exempt"), watch=_flag(row, "watch"),
    )  # fmt: skip


def parse_ts(text: str) -> float:
    """ISO 8601 timestamp *with* a UTC offset → epoch seconds; raises :class:`RowInvalid`."""
    try:
        when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise RowInvalid(f"ts is not ISO 8601: {text!r}") from None
    if when.tzinfo is None:
        raise RowInvalid(f"ts has no UTC offset: {text!r}")
    return when.timestamp()


def read_from_row(row: dict[str, str]) -> PlateRead:
    """One READS.csv row as a wire :class:`~topis.schemas.inputs.PlateRead`; raises :class:`RowInvalid`.

    The plate text is kept as read; whether it is a plate is the engine's call.
    """
    confidence = _float(row, "confidence")
    if not 0.0 <= confidence <= 1.0:
        raise RowInvalid(f"confidence must be within 0..1, got {confidence}")
    return PlateRead(
        read_id=_text(row, "read_id"), camera_id=_text(row, "camera_id"), ts=parse_ts(_text(row, "ts")),
        plate=_text(row, "plate"), confidence=confidence, lane=row.get("lane") or None,
        vehicle_class=row.get("vehicle_class") or None, image_ref=row.get("image_ref") or None,
    )  # fmt: skip


def _load(path: Path, required, convert, key):
    items: dict = {}
    errors: list[RowError] = []
    source = path.name
    with path.open(encoding="utf-8-sig", newline="") as fh:
        for line, row in _rows(fh, required, source):
            if "__bad__" in row:
                errors.append(RowError(source, line, row["__bad__"]))
                continue
            try:
                item = convert(row)
            except RowInvalid as exc:
                errors.append(RowError(source, line, str(exc)))
                continue
            k = key(item)
            if k in items:
                errors.append(RowError(source, line, f"duplicate {required[0]} {k!r}"))
                continue
            items[k] = (line, item)
    return items, errors


def load_cameras(path: str | Path) -> tuple[dict[str, Camera], list[RowError]]:
    """CAMERAS.csv → ({camera_id: Camera}, skipped rows)."""
    items, errors = _load(Path(path), CAMERA_COLUMNS, camera_from_row, lambda c: c.camera_id)
    return {k: v for k, (_, v) in items.items()}, errors


def load_registry(path: str | Path) -> tuple[dict[str, Vehicle], list[RowError]]:
    """REGISTRY.csv → ({plate: Vehicle}, skipped rows)."""
    items, errors = _load(Path(path), REGISTRY_COLUMNS, vehicle_from_row, lambda v: v.plate)
    return {k: v for k, (_, v) in items.items()}, errors


def load_reads(path: str | Path) -> tuple[list[tuple[int, PlateRead]], list[RowError]]:
    """READS.csv → ([(line, PlateRead)] in file order, skipped rows)."""
    items, errors = _load(Path(path), READ_COLUMNS, read_from_row, lambda r: r.read_id)
    return sorted(items.values(), key=lambda lr: lr[0]), errors


def from_city(city) -> tuple[dict[str, Camera], dict[str, Vehicle], frozenset]:
    """Cameras (with their district as ``area``), registry and holidays of a demo city, without CSV files.

    ``city`` is a :class:`topis.city.model.City` (read by attribute only, so
    this package does not import the city generator).
    """
    from enforcement.rules import with_areas

    cameras = {
        c.camera_id: Camera(c.camera_id, c.lat, c.lon, c.lane_type, bool(c.green_zone_entry), c.section_id,
                            c.section_role, c.section_length_m, c.section_limit_kph, bool(c.no_stopping))  # fmt: skip
        for c in city.cameras
    }
    cameras = with_areas(cameras, {d.name: d.polygon for d in getattr(city, "districts", ())})
    registry = {v.plate: Vehicle(v.plate, v.vehicle_class, int(v.emission_grade), bool(v.exempt), bool(v.watch))
                for v in city.registry}  # fmt: skip
    return cameras, registry, frozenset(city.holidays)

"""AVL files → :class:`topis.schemas.inputs.BusPosition`, in time order.

Three formats:

* **canonical CSV** — ``vehicle_id, timestamp, lat, lon`` and optionally
  ``trip_id, route_id, block_id, bearing, speed`` (km/h); ``timestamp`` is ISO 8601 with an
  offset (``2016-04-29T08:23:52-04:00``) or epoch seconds.
* **TheTransitClock CSV** — ``vehicleId,time,assignmentId,assignmentType,heading,
  latitude,longitude`` as TheTransitClock's tests store them: ``time`` is local
  wall-clock time without an offset (``2016-04-29 08:23:52``), read in the
  feed's time zone (WMATA: America/New_York). ``assignmentType`` ``ROUTE_ID``
  gives the route, ``TRIP_ID`` the trip and ``BLOCK_ID`` the block
  (``BusPosition.block_id``).
* **GTFS-realtime VehiclePositions** — a binary ``FeedMessage`` file, or a
  folder of ``*.pb`` snapshots.

A malformed row raises :class:`AvlFormatError` naming the line and the reason,
or, with ``errors="skip"``, is logged, counted in :class:`ReadReport` and skipped.
"""

from __future__ import annotations

import csv
import datetime as dt
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

from topis.schemas.inputs import BusPosition

log = logging.getLogger(__name__)

TRANSITCLOCK_COLUMNS = ("vehicleId", "time", "latitude", "longitude")


class AvlFormatError(ValueError):
    """A malformed AVL file or row; the message names the file and line."""


@dataclass
class ReadReport:
    """What a reader skipped, when asked to skip bad rows."""

    rows: int = 0
    bad_rows: int = 0
    errors: list[str] = field(default_factory=list)  #: the first 100 reasons, "file:line: reason"


def parse_timestamp(text: str, tz: ZoneInfo | None = None) -> float:
    """ISO 8601 (with offset, or naive in ``tz``) or epoch seconds → epoch seconds UTC.

    Raises
    ------
    ValueError
        If the text is neither, or is naive and no ``tz`` is given.
    """
    text = text.strip()
    try:
        return float(text)
    except ValueError:
        pass
    stamp = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if stamp.tzinfo is None:
        if tz is None:
            raise ValueError(f"timestamp {text!r} has no UTC offset")
        stamp = stamp.replace(tzinfo=tz)
    return stamp.timestamp()


def _opt_float(text: str | None) -> float | None:
    if text is None or not text.strip():
        return None
    value = float(text)
    return value if math.isfinite(value) else None


def _check_latlon(lat: float, lon: float) -> None:
    if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0) or (lat == 0.0 and lon == 0.0):
        raise ValueError(f"position out of range ({lat}, {lon})")


def _rows(path: Path, required: tuple[str, ...]):
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        if reader.fieldnames is None:
            raise AvlFormatError(f"{path}: empty file")
        missing = [c for c in required if c not in reader.fieldnames]
        if missing:
            raise AvlFormatError(f"{path}: missing column(s) {', '.join(missing)}")
        for row in reader:
            yield reader.line_num, row


def _collect(path: Path, required, parse, errors: str, report: ReadReport) -> list[BusPosition]:
    out = []
    for line, row in _rows(path, required):
        report.rows += 1
        try:
            out.append(parse(row))
        except (ValueError, TypeError) as exc:
            msg = f"{path}:{line}: {exc}"
            if errors == "raise":
                raise AvlFormatError(msg) from exc
            report.bad_rows += 1
            if len(report.errors) < 100:
                report.errors.append(msg)
            log.warning("skipped %s", msg)
    out.sort(key=lambda p: p.ts)  # stable: equal times keep file order
    return out


def read_canonical_csv(path: str | Path, errors: Literal["raise", "skip"] = "raise",
                       report: ReadReport | None = None, tz: ZoneInfo | None = None) -> list[BusPosition]:
    """Read the canonical AVL CSV; positions sorted by time."""
    report = report if report is not None else ReadReport()

    def parse(row: dict) -> BusPosition:
        if not (row.get("vehicle_id") or "").strip():
            raise ValueError("empty vehicle_id")
        lat, lon = float(row["lat"]), float(row["lon"])
        _check_latlon(lat, lon)
        return BusPosition(
            vehicle_id=row["vehicle_id"].strip(), route_id=(row.get("route_id") or "").strip(),
            ts=parse_timestamp(row["timestamp"], tz), lat=lat, lon=lon,
            trip_id=(row.get("trip_id") or "").strip() or None,
            block_id=(row.get("block_id") or "").strip() or None,
            speed_kph=_opt_float(row.get("speed")), heading_deg=_opt_float(row.get("bearing")))

    return _collect(Path(path), ("vehicle_id", "timestamp", "lat", "lon"), parse, errors, report)


def read_transitclock_csv(path: str | Path, tz: ZoneInfo | str = "America/New_York",
                          errors: Literal["raise", "skip"] = "raise",
                          report: ReadReport | None = None) -> list[BusPosition]:
    """Read a TheTransitClock AVL CSV; naive times are local in ``tz``."""
    zone = ZoneInfo(tz) if isinstance(tz, str) else tz
    report = report if report is not None else ReadReport()

    def parse(row: dict) -> BusPosition:
        lat, lon = float(row["latitude"]), float(row["longitude"])
        _check_latlon(lat, lon)
        kind = (row.get("assignmentType") or "").strip().upper()
        assignment = (row.get("assignmentId") or "").strip()
        return BusPosition(
            vehicle_id=row["vehicleId"].strip(), route_id=assignment if kind == "ROUTE_ID" else "",
            ts=parse_timestamp(row["time"], zone), lat=lat, lon=lon,
            trip_id=assignment if kind == "TRIP_ID" and assignment else None,
            block_id=assignment if kind == "BLOCK_ID" and assignment else None,
            heading_deg=_opt_float(row.get("heading")),
            speed_kph=(s * 3.6 if (s := _opt_float(row.get("speed"))) is not None else None))

    return _collect(Path(path), TRANSITCLOCK_COLUMNS, parse, errors, report)


def block_assignments(path: str | Path) -> dict[str, str]:
    """Vehicle → block id from a TheTransitClock CSV's ``BLOCK_ID`` assignments (the last one wins)."""
    out = {}
    for _, row in _rows(Path(path), TRANSITCLOCK_COLUMNS):
        if (row.get("assignmentType") or "").strip().upper() == "BLOCK_ID" and row.get("assignmentId"):
            out[row["vehicleId"].strip()] = row["assignmentId"].strip()
    return out


def read_gtfs_rt(path: str | Path, report: ReadReport | None = None) -> list[BusPosition]:
    """Read a GTFS-realtime FeedMessage file's VehiclePosition entities.

    Entities without a position or a vehicle id are counted as bad rows (by entity index).
    """
    from google.protobuf.message import DecodeError
    from google.transit import gtfs_realtime_pb2

    report = report if report is not None else ReadReport()
    path = Path(path)
    msg = gtfs_realtime_pb2.FeedMessage()
    try:
        msg.ParseFromString(path.read_bytes())
    except DecodeError as exc:
        raise AvlFormatError(f"{path}: not a GTFS-realtime FeedMessage ({exc})") from exc
    header_ts = float(msg.header.timestamp) if msg.header.HasField("timestamp") else None
    out = []
    for i, ent in enumerate(msg.entity):
        if not ent.HasField("vehicle"):
            continue
        report.rows += 1
        vp = ent.vehicle
        vid = vp.vehicle.id or vp.vehicle.label or ent.id
        ts = float(vp.timestamp) if vp.HasField("timestamp") else header_ts
        if not vp.HasField("position") or not vid or ts is None:
            report.bad_rows += 1
            report.errors.append(f"{path}: entity {i}: no position, vehicle id or timestamp")
            continue
        pos = vp.position
        out.append(BusPosition(
            vehicle_id=vid, route_id=vp.trip.route_id, ts=ts, lat=pos.latitude, lon=pos.longitude,
            trip_id=vp.trip.trip_id or None,
            speed_kph=pos.speed * 3.6 if pos.HasField("speed") else None,
            heading_deg=pos.bearing if pos.HasField("bearing") else None))
    out.sort(key=lambda p: p.ts)
    return out


def read_gtfs_rt_folder(folder: str | Path, report: ReadReport | None = None) -> list[BusPosition]:
    """Read every ``*.pb`` FeedMessage snapshot in a folder (an archive of a live feed).

    A vehicle's fix repeated in consecutive snapshots is kept once.
    """
    seen: set[tuple[str, float]] = set()
    out = []
    for path in sorted(Path(folder).glob("*.pb")):
        for p in read_gtfs_rt(path, report):
            if (p.vehicle_id, p.ts) not in seen:
                seen.add((p.vehicle_id, p.ts))
                out.append(p)
    out.sort(key=lambda p: p.ts)
    return out


def sniff_format(path: str | Path) -> str:
    """``"gtfs-rt"`` (a ``.pb`` file or a folder of them), ``"transitclock"`` or ``"canonical"``."""
    path = Path(path)
    if path.is_dir() or path.suffix.lower() in (".pb", ".pbf", ".bin"):
        return "gtfs-rt"
    with path.open(encoding="utf-8-sig", errors="replace") as fh:
        header = fh.readline()
    if "vehicleId" in header:
        return "transitclock"
    if "vehicle_id" in header:
        return "canonical"
    raise AvlFormatError(f"{path}: not a known AVL format (header {header.strip()[:80]!r})")


def read_avl(path: str | Path, tz: ZoneInfo | str = "UTC", errors: Literal["raise", "skip"] = "raise",
             report: ReadReport | None = None) -> list[BusPosition]:
    """Read any supported AVL file; naive times are taken in ``tz`` (use the feed's zone)."""
    zone = ZoneInfo(tz) if isinstance(tz, str) else tz
    kind = sniff_format(path)
    if kind == "gtfs-rt":
        return read_gtfs_rt_folder(path, report) if Path(path).is_dir() else read_gtfs_rt(path, report)
    if kind == "transitclock":
        return read_transitclock_csv(path, zone, errors, report)
    return read_canonical_csv(path, errors, report, zone)

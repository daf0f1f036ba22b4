"""Seoul smart-card ridership (Seoul Open Data Plaza OA-12913) and bus stop locations.

The monthly file gives, per route x stop (ARS id), boardings and alightings for
each hour 00..23 summed over the month. Quirks handled here (see
``../shared/data/README.md``):

* the header line starts with a stray ``"``;
* route names may contain commas (``702번(B,용두초교방향,서오릉~종로1가)``) and so
  may stop names (``유승한내들2차,세종로묘원입구``), so the README's "field -50 is
  the ARS id" is not always true: the last 48 fields are numbers, the ARS id is
  the first field after the route name that is all digits (or ``~`` for a
  virtual stop), and the stop name is what lies between it and the numbers;
* rows are NOT in route order: the file is sorted by stop, not by route
  (``tests/optimizer_plans/test_seoul_data.py`` shows it), so the stop order of
  a route has to be rebuilt (:mod:`optimizer.stop_order`).

Nothing is cached; loading the 9 MB May 2022 month takes about a second.
"""

from __future__ import annotations

import csv
import io
import logging
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from topis.geo import Projection

log = logging.getLogger(__name__)

HOURS = 24
#: metric projection about Seoul city hall, used for all Seoul coordinates.
SEOUL = Projection(37.5665, 126.978)


class SeoulDataError(ValueError):
    """A Seoul data file is missing or malformed; the message says where."""


def shared_data_dir() -> Path:
    """``../shared/data`` beside the repository root."""
    return Path(__file__).resolve().parents[2] / "shared" / "data"


@dataclass(frozen=True)
class Ridership:
    """Monthly boardings and alightings per route x stop x hour.

    Attributes
    ----------
    route_no : ndarray of str, shape (n,)
        Route number (``"470"``, ``"N37"``, ``"8221"``).
    route_name : ndarray of str
        Route name; direction-specific for some routes (the N routes).
    ars_id : ndarray of str
        5-digit stop id as text (leading zeros kept); ``"~"`` for virtual stops.
    stop_name : ndarray of str
    board, alight : ndarray of int64, shape (n, 24)
        Month totals for hours 00..23.
    """

    route_no: np.ndarray
    route_name: np.ndarray
    ars_id: np.ndarray
    stop_name: np.ndarray
    board: np.ndarray
    alight: np.ndarray

    def __len__(self) -> int:
        return int(self.route_no.size)

    def routes(self) -> list[str]:
        """Route numbers, in first-seen order."""
        return list(dict.fromkeys(self.route_no.tolist()))

    def rows_of(self, route_no: str) -> np.ndarray:
        """Row indices of one route (all directions)."""
        return np.flatnonzero(self.route_no == route_no)

    def subset(self, rows: np.ndarray) -> "Ridership":
        """The rows ``rows`` as a new :class:`Ridership`."""
        return Ridership(self.route_no[rows], self.route_name[rows], self.ars_id[rows], self.stop_name[rows],
                         self.board[rows], self.alight[rows])


@dataclass(frozen=True)
class StopLocations:
    """Bus stop coordinates: ARS id (text) -> WGS84 and local metres."""

    ars_id: np.ndarray
    stop_name: np.ndarray
    lon: np.ndarray
    lat: np.ndarray
    district: np.ndarray

    def index(self) -> dict[str, int]:
        """ARS id -> row."""
        return {a: i for i, a in enumerate(self.ars_id.tolist())}

    def xy_m(self) -> np.ndarray:
        """(n, 2) metres east/north of Seoul city hall."""
        return to_metres(self.lon, self.lat)


def to_metres(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Metres east/north of Seoul city hall (error < 0.3 % in Seoul)."""
    return SEOUL.to_metres(lon, lat)


def to_lonlat(xy_m: np.ndarray) -> np.ndarray:
    """Inverse of :func:`to_metres`: (n, 2) lon, lat."""
    return SEOUL.to_lonlat(xy_m)


def _is_ars(field: str) -> bool:
    return field == "~" or (field.isdigit() and field.isascii())


def split_row(line: str, lineno: int) -> tuple[str, str, str, str, list[str]]:
    """Split one data line into route_no, route_name, ars_id, stop_name, 48 numbers."""
    fields = line.split(",")
    if len(fields) < 53:
        raise SeoulDataError(f"line {lineno}: {len(fields)} fields, need at least 53")
    middle = fields[2:-48]
    for i in range(1, len(middle) - 1):
        if _is_ars(middle[i]) and (i == 1 or middle[i - 1].endswith(")")):
            return fields[1], ",".join(middle[:i]), middle[i], ",".join(middle[i + 1:]), fields[-48:]
    if _is_ars(middle[-2]):  # route name without a closing bracket: fall back to the README rule
        return fields[1], ",".join(middle[:-2]), middle[-2], middle[-1], fields[-48:]
    raise SeoulDataError(f"line {lineno}: no ARS stop id among {middle!r}")


def parse_month_text(text: str) -> Ridership:
    """Parse the monthly text (header + data lines) into a :class:`Ridership`."""
    lines = text.splitlines()
    if not lines:
        raise SeoulDataError("empty ridership file")
    parts = [split_row(line, k + 2) for k, line in enumerate(lines[1:]) if line.strip()]
    if not parts:
        raise SeoulDataError("ridership file has a header but no rows")
    route_no, route_name, ars, stop, numbers = zip(*parts)
    try:
        counts = np.array(numbers, dtype=np.int64)
    except ValueError as exc:
        raise SeoulDataError(f"non-numeric hourly count: {exc}") from None
    return Ridership(np.array(route_no), np.array(route_name), np.array(ars), np.array(stop),
                     np.ascontiguousarray(counts[:, 0::2]), np.ascontiguousarray(counts[:, 1::2]))


def load_month(path: str | Path) -> Ridership:
    """Load a month zip (``2022_05.txt.zip``) or its extracted ``.txt``.

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    Ridership

    Raises
    ------
    SeoulDataError
        Missing file, not a zip with one text member, or malformed rows.
    """
    path = Path(path)
    if not path.is_file():
        raise SeoulDataError(f"{path}: no such file")
    if path.suffix == ".zip":
        try:
            with zipfile.ZipFile(path) as archive:
                members = [m for m in archive.namelist() if m.endswith(".txt")]
                if len(members) != 1:
                    raise SeoulDataError(f"{path}: expected one .txt inside, found {members}")
                raw = archive.read(members[0])
        except zipfile.BadZipFile as exc:
            raise SeoulDataError(f"{path}: {exc}") from None
    else:
        raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("cp949")
    ridership = parse_month_text(text)
    log.info("%s: %d rows, %d routes", path.name, len(ridership), len(ridership.routes()))
    return ridership


def load_derived(path: str | Path) -> Ridership:
    """Load a derived CSV (``derived_*_stop_hourly.csv``: yyyymm, route_no, route_name,
    ars_id, stop_name, h00_board, h00_alight, ... h23_alight)."""
    path = Path(path)
    if not path.is_file():
        raise SeoulDataError(f"{path}: no such file")
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        expected = ["route_no", "route_name", "ars_id", "stop_name"]
        if header is None or header[1:5] != expected or len(header) != 5 + 2 * HOURS:
            raise SeoulDataError(f"{path}: header must be yyyymm,{','.join(expected)},h00_board,...,h23_alight")
        rows = list(reader)
    counts = np.array([r[5:] for r in rows], dtype=np.int64).reshape(len(rows), 2 * HOURS)
    col = list(zip(*rows)) if rows else [[] for _ in range(5)]
    return Ridership(np.array(col[1], dtype=str), np.array(col[2], dtype=str), np.array(col[3], dtype=str),
                     np.array(col[4], dtype=str), np.ascontiguousarray(counts[:, 0::2]),
                     np.ascontiguousarray(counts[:, 1::2]))


def load_stops(path: str | Path) -> StopLocations:
    """Load ``bus_stops.csv`` (stop_id as text, longitude, latitude, district_name)."""
    path = Path(path)
    if not path.is_file():
        raise SeoulDataError(f"{path}: no such file")
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(io.StringIO(fh.read()))
        missing = {"stop_id", "stop_name", "longitude", "latitude"} - set(reader.fieldnames or [])
        if missing:
            raise SeoulDataError(f"{path}: missing columns {sorted(missing)}")
        rows = list(reader)
    return StopLocations(
        np.array([r["stop_id"].strip() for r in rows]),
        np.array([r["stop_name"] for r in rows]),
        np.array([float(r["longitude"]) for r in rows]),
        np.array([float(r["latitude"]) for r in rows]),
        np.array([r.get("district_name", "") for r in rows]),
    )


def hour_mask(hours: tuple[int, ...] | list[int]) -> np.ndarray:
    """Boolean (24,) mask of the given hours (0..23)."""
    mask = np.zeros(HOURS, dtype=bool)
    for h in hours:
        if not 0 <= h < HOURS:
            raise ValueError(f"hour {h} outside 0..23")
        mask[h] = True
    return mask


def parse_hours(spec: str) -> list[int]:
    """``"7-9,17-19"`` -> [7, 8, 17, 18] (end hour exclusive, as in "07-09 h")."""
    hours: list[int] = []
    for part in spec.split(","):
        part = part.strip()
        if "-" in part:
            a, b = (int(x) for x in part.split("-"))
            if not 0 <= a < b <= HOURS:
                raise ValueError(f"hour range {part!r} must satisfy 0 <= start < end <= 24")
            hours.extend(range(a, b))
        elif part:
            hours.append(int(part))
    return sorted(set(hours))

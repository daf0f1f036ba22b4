"""Probe files: GPS fixes of real vehicles (taxis) from CSV, checked, pseudonymised, batched by probe cell.

The CSV has a header line naming at least these columns, in any order (other
columns are ignored)::

    vehicle_id,ts,lat,lon,speed_kph,heading_deg,occupied
    서울31사1234,2026-11-24T08:00:00+09:00,37.5665,126.9780,31.5,90,1
    4521,1795993210.0,37.5702,126.9831,,,0

* ``ts``: epoch seconds (UTC), or ISO 8601 with a UTC offset; ISO without an
  offset only when a time zone is given (``tz``).
* ``lat``/``lon``: WGS84 degrees; 0,0 (a receiver with no fix) is a bad row.
* ``speed_kph`` (>= 0, < 300) and ``heading_deg`` (0..360): empty when not
  reported (NaN in the batch).
* ``occupied``: 1/0, true/false, t/f, yes/no, y/n, occupied/vacant (any case).

A row that breaks a rule (a missing or unreadable value, a value out of range,
the wrong number of fields) is *bad*. By default bad rows are skipped and
counted by reason, the first few kept with their line numbers
(:attr:`ProbeFile.bad`); ``strict=True`` stops at the first one with
:class:`ProbeFileError`. Blank lines are ignored.

Vehicle ids are replaced by their keyed pseudonym
(:func:`topis.schemas.probes.taxi_pseudonym`) as the file is read; the ids
themselves are kept nowhere. The whole file is read into columns (~50 bytes a
fix) and sorted by time, so the batches go out in event-time order.
"""

from __future__ import annotations

import csv
import math
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from pathlib import Path

import numpy as np

from topis.schemas.probes import TaxiFixes, by_cell, taxi_pseudonyms

PROBE_COLUMNS = ("vehicle_id", "ts", "lat", "lon", "speed_kph", "heading_deg", "occupied")
OCCUPIED_TEXT = {"1": True, "0": False, "true": True, "false": False, "t": True, "f": False, "yes": True,
                 "no": False, "y": True, "n": False, "occupied": True, "vacant": False}
MAX_SPEED_KPH = 300.0
#: epoch seconds beyond this (year 5138) are taken for milliseconds
MAX_EPOCH_S = 1e11
KEEP_BAD = 20  #: bad rows kept with their line numbers (all are counted)


class ProbeFileError(ValueError):
    """A probe file that cannot be read, or (strict) a bad row; the message names the file and line."""


@dataclass(frozen=True)
class BadRow:
    """A row left out, with why."""

    line: int  #: 1-based line number in the file (the header is line 1)
    reason: str


@dataclass
class ProbeFile:
    """What :func:`read_probe_csv` got from a file."""

    fixes: TaxiFixes  #: the good rows, ids pseudonymised, sorted by time
    rows: int = 0  #: data rows read (blank lines not counted)
    bad_by_reason: Counter = field(default_factory=Counter)  #: reason (without the value) -> rows
    bad: list[BadRow] = field(default_factory=list)  #: the first :data:`KEEP_BAD` bad rows

    @property
    def n_bad(self) -> int:
        return sum(self.bad_by_reason.values())


def read_probe_csv(path: str | Path, key: bytes, *, tz: tzinfo | None = None, strict: bool = False,
                   chunk_rows: int = 100_000, progress: Callable[[int], object] | None = None) -> ProbeFile:
    """Read, check and pseudonymise a probe CSV (see module docs).

    Parameters
    ----------
    path : str or Path
        The CSV file (UTF-8, an optional BOM).
    key : bytes
        Pseudonymisation key of the vehicle ids.
    tz : tzinfo, optional
        Time zone of ISO timestamps without an offset; without it such rows are bad.
    strict : bool
        Stop at the first bad row instead of skipping it.
    chunk_rows : int
        Rows checked together (memory of the text columns).
    progress : callable, optional
        Called with the number of bytes read after each chunk.

    Raises
    ------
    ProbeFileError
        No such file, no header or a missing column, or (strict) the first bad row.
    """
    path = Path(path)
    if not path.is_file():
        raise ProbeFileError(f"{path}: no such file")
    result = ProbeFile(TaxiFixes.empty())
    parts: list[TaxiFixes] = []
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.reader(fh)
        header = [name.strip() for name in next(reader, [])]
        missing = [c for c in PROBE_COLUMNS if c not in header]
        if missing:
            raise ProbeFileError(f"{path}: missing columns {', '.join(missing)} (header: {','.join(header) or 'none'})")
        index = [header.index(c) for c in PROBE_COLUMNS]
        width = len(header)
        while True:
            rows, lines = [], []
            for row in reader:
                if not row or (len(row) == 1 and not row[0].strip()):
                    continue
                rows.append(row)
                lines.append(reader.line_num)
                if len(rows) == chunk_rows:
                    break
            if not rows:
                break
            result.rows += len(rows)
            parts.append(_check_chunk(path, rows, np.array(lines), index, width, key, tz, strict, result))
            if progress is not None:
                progress(fh.buffer.tell() if hasattr(fh, "buffer") else 0)
    fixes = TaxiFixes.concat(parts)
    result.fixes = fixes.take(np.argsort(fixes.ts, kind="stable"))
    return result


def _check_chunk(path: Path, rows: list[list[str]], lines: np.ndarray, index: list[int], width: int, key: bytes,
                 tz: tzinfo | None, strict: bool, result: ProbeFile) -> TaxiFixes:
    """The good rows of a chunk as fixes; bad ones counted in ``result`` (or raised when strict)."""
    n = len(rows)
    reasons: list[str | None] = [None] * n
    for i, row in enumerate(rows):
        if len(row) != width:
            reasons[i] = f"fields: expected {width}, got {len(row)}"
            rows[i] = [""] * width
    text = [[row[k].strip() for row in rows] for k in index]
    ids = text[0]
    for i, vid in enumerate(ids):
        if not vid and reasons[i] is None:
            reasons[i] = "vehicle_id: empty"
    ts = _column(text[1], "ts", reasons, lambda s: _parse_ts(s, tz))
    lat = _column(text[2], "lat", reasons, float)
    lon = _column(text[3], "lon", reasons, float)
    speed = _column(text[4], "speed_kph", reasons, float, empty_ok=True)
    heading = _column(text[5], "heading_deg", reasons, float, empty_ok=True)
    occupied = np.zeros(n, dtype=bool)
    for i, s in enumerate(text[6]):
        value = OCCUPIED_TEXT.get(s.lower())
        if value is None:
            if reasons[i] is None:
                reasons[i] = f"occupied: {s!r} is not 1/0, true/false, yes/no or occupied/vacant"
        else:
            occupied[i] = value
    with np.errstate(invalid="ignore"):
        checks = (
            (~np.isfinite(ts), "ts: not a finite number"),
            (ts > MAX_EPOCH_S, "ts: too large for epoch seconds (milliseconds?)"),
            (~(np.abs(lat) <= 90.0), "lat: outside -90..90"),
            (~(np.abs(lon) <= 180.0), "lon: outside -180..180"),
            ((lat == 0.0) & (lon == 0.0), "position: 0,0 (no GPS fix)"),
            (~np.isnan(speed) & ~((speed >= 0.0) & (speed < MAX_SPEED_KPH)), f"speed_kph: outside 0..{MAX_SPEED_KPH:g}"),
            (~np.isnan(heading) & ~((heading >= 0.0) & (heading <= 360.0)), "heading_deg: outside 0..360"),
        )
    for bad, reason in checks:
        for i in np.flatnonzero(bad).tolist():
            if reasons[i] is None:
                reasons[i] = reason
    good = np.array([r is None for r in reasons], dtype=bool)
    for i in np.flatnonzero(~good).tolist():
        if strict:
            raise ProbeFileError(f"{path}:{lines[i]}: {reasons[i]}")
        result.bad_by_reason[reasons[i].split(":")[0]] += 1
        if len(result.bad) < KEEP_BAD:
            result.bad.append(BadRow(int(lines[i]), reasons[i]))
    keep = np.flatnonzero(good)
    return TaxiFixes(taxi_pseudonyms(key, [ids[i] for i in keep.tolist()]), ts[keep], lat[keep], lon[keep],
                     speed[keep].astype(np.float32), np.mod(heading[keep], 360.0).astype(np.float32), occupied[keep])


def _column(text: list[str], name: str, reasons: list[str | None], parse, empty_ok: bool = False) -> np.ndarray:
    """Parse a text column to float64 (NaN where empty and allowed, or bad); note the first problem of each row."""
    try:
        return np.fromiter(map(parse, text), dtype=float, count=len(text))
    except (ValueError, TypeError):
        pass
    out = np.full(len(text), math.nan)
    for i, s in enumerate(text):
        if not s:
            if not empty_ok and reasons[i] is None:
                reasons[i] = f"{name}: empty"
            continue
        try:
            out[i] = parse(s)
        except (ValueError, TypeError) as exc:
            if reasons[i] is None:
                reasons[i] = f"{name}: {exc}" if name == "ts" else f"{name}: {s!r} is not a number"
    return out


def _parse_ts(text: str, tz: tzinfo | None) -> float:
    """Epoch seconds from epoch-seconds text or ISO 8601 (an offset, or the zone ``tz``)."""
    try:
        return float(text)
    except ValueError:
        pass
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is neither epoch seconds nor ISO 8601") from None
    if when.tzinfo is None:
        if tz is None:
            raise ValueError(f"{text!r} has no UTC offset (give the file's time zone)")
        when = when.replace(tzinfo=tz)
    return when.timestamp()


def batches(fixes: TaxiFixes, window_s: float = 10.0, max_fixes: int = 5000) -> Iterator[tuple[str, TaxiFixes]]:
    """``(cell key, fixes)`` messages for ``taxi.positions``: per ``window_s`` of event time, one per cell.

    ``fixes`` must be sorted by time; a cell with more than ``max_fixes`` in a
    window gets several messages (a Kafka message stays well under 1 MB).
    """
    if not len(fixes.ts):
        return
    window = np.floor((fixes.ts - fixes.ts[0]) / window_s).astype(np.int64)
    bounds = np.flatnonzero(np.diff(window)) + 1
    for idx in np.split(np.arange(len(window)), bounds):
        for cell, group in by_cell(fixes.take(idx)).items():
            for start in range(0, len(group.ts), max_fixes):
                yield cell, group.take(slice(start, start + max_fixes))

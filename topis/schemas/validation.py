"""What an input message must be to be used: the checks at the decode edge, and their reason codes.

:func:`check` reads one Kafka message value of an input topic (``bus.positions``,
``card.taps``, ``plate.reads``) and says what of it may be used:

* **structural** faults reject the whole message: an empty value, one larger
  than :attr:`Limits.max_value_bytes` (input topics only), bytes that are not JSON, another schema
  or version in the ``schema`` tag, a field of the wrong type or missing, a
  number JSON cannot hold as a float (``1e400``);
* **values out of range** reject only their row (event): the batch keeps its
  good rows, and each bad row is listed with its index, reason and detail.

A value is out of range when no real sensor could have sent it:

=================  ======================================================================
reason             row rejected when
=================  ======================================================================
``empty_id``       a required id is empty (vehicle, card hash, stop, read, camera)
``long_id``        a required id is longer than :attr:`Limits.max_id_chars`
``bad_ts``         ``ts`` is not finite, or before 2000-01-01 (or after 2100)
``future_ts``      ``ts`` is more than :attr:`Limits.max_future_s` after the message's own time
``bad_position``   ``lat``/``lon`` not finite or outside the world (±90°, ±180°)
``outside_city``   the position is farther than the margin outside the city's area (:attr:`Limits.area`)
``bad_speed``      ``speed_kph`` negative, not finite, or above :attr:`Limits.max_speed_kph`
``bad_heading``    ``heading_deg`` outside 0..360 or not finite
``bad_occupancy``  ``occupancy`` negative
``bad_confidence`` ``confidence`` not within 0..1
=================  ======================================================================

``route_id`` may be empty (a fix with no route is placed on one by the bus
agents) and the plate text is the enforcement engine's to judge.

"Absurdly far from now" is measured from the Kafka message's own timestamp
(``reference_ts``), not the reader's clock, so every agent reading a message
keeps exactly the same rows, on every redelivery. Checks are pure: no I/O, no
clock.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import msgspec

from topis import wire
from topis.geo import M_PER_DEG_LAT
from topis.schemas.inputs import Batch, BusPosition, CardTap, PlateRead, PositionBatch, ReadBatch, TapBatch

#: 2000-01-01T00:00:00Z: earlier timestamps are not from a live feed (nor from any recording topis replays)
MIN_TS = 946_684_800.0
#: 2100-01-01T00:00:00Z: later ones overflow what datetime and the store handle
MAX_TS = 4_102_444_800.0

# -- reason codes: whole messages -----------------------------------------------------------------
EMPTY_VALUE = "empty_value"  #: no bytes (or a tombstone)
OVERSIZE = "oversize"  #: value larger than Limits.max_value_bytes
BAD_KEY = "bad_key"  #: the message key is not UTF-8 text
NOT_JSON = "not_json"  #: not decodable: garbage, truncated, NaN literals
UNKNOWN_SCHEMA = "unknown_schema"  #: the schema tag is missing, another message type or an unknown version
WRONG_TYPE = "wrong_type"  #: a field of the wrong type, a missing field, a null event
NOT_FINITE = "not_finite"  #: a number JSON cannot carry as a float (1e400)
PROCESSING_ERROR = "processing_error"  #: an agent's fold raised on the message (the detail names the exception)
OUTPUT_TOO_LARGE = "output_too_large"  #: what an agent made of the message is more than one Kafka message may carry
# -- reason codes: rows ---------------------------------------------------------------------------
EMPTY_ID = "empty_id"
LONG_ID = "long_id"
BAD_TS = "bad_ts"
FUTURE_TS = "future_ts"
BAD_POSITION = "bad_position"
OUTSIDE_CITY = "outside_city"
BAD_SPEED = "bad_speed"
BAD_HEADING = "bad_heading"
BAD_OCCUPANCY = "bad_occupancy"
BAD_CONFIDENCE = "bad_confidence"

#: every reason code the edge gives, messages first.
REASONS = (EMPTY_VALUE, OVERSIZE, BAD_KEY, NOT_JSON, UNKNOWN_SCHEMA, WRONG_TYPE, NOT_FINITE, PROCESSING_ERROR,
           OUTPUT_TOO_LARGE, EMPTY_ID, LONG_ID, BAD_TS, FUTURE_TS, BAD_POSITION, OUTSIDE_CITY, BAD_SPEED, BAD_HEADING, BAD_OCCUPANCY,
           BAD_CONFIDENCE)
#: longest detail text kept per reason
MAX_DETAIL_CHARS = 200


@dataclass(frozen=True)
class Limits:
    """What the edge accepts; the defaults work for any city (no area check)."""

    max_value_bytes: int = 512 * 1024  #: a route's or camera's batch is kilobytes; the broker's request limit is 1 MiB
    #: how far an event may lie after its message's timestamp, seconds (a year: simulations may run ahead of the clock)
    max_future_s: float = 366 * 86_400.0
    max_speed_kph: float = 250.0  #: fastest ground speed a bus may report, km/h
    max_id_chars: int = 128  #: longest id
    #: (min_lat, min_lon, max_lat, max_lon) positions must fall in, degrees; None = anywhere on earth
    area: tuple[float, float, float, float] | None = None


def area_around(lats, lons, margin_m: float) -> tuple[float, float, float, float]:
    """The bounding box of points (e.g. a feed's stops), widened by ``margin_m`` on every side, degrees.

    >>> area_around([37.5, 37.6], [127.0, 127.1], 0.0)
    (37.5, 127.0, 37.6, 127.1)
    """
    lat_lo, lat_hi, lon_lo, lon_hi = min(lats), max(lats), min(lons), max(lons)
    dlat = margin_m / M_PER_DEG_LAT
    widest = max(abs(lat_lo), abs(lat_hi)) + dlat
    dlon = margin_m / (M_PER_DEG_LAT * max(math.cos(math.radians(min(widest, 89.0))), 1e-6))
    return (max(lat_lo - dlat, -90.0), max(lon_lo - dlon, -180.0), min(lat_hi + dlat, 90.0), min(lon_hi + dlon, 180.0))


class RowReject(msgspec.Struct, frozen=True):
    """One event of a batch that was left out, and why."""

    index: int  #: its position in the batch's ``events``
    reason: str  #: a row reason code (see the module docstring)
    detail: str  #: the field and value, e.g. "lat 95.0 outside -90..90"


@dataclass(frozen=True)
class Checked:
    """What :func:`check` made of one message."""

    batch: Any = None  #: the batch with its good rows; None when rejected whole, or when no row was good
    reason: str | None = None  #: why the whole message was rejected (None: it was not)
    detail: str = ""  #: the decoder's or check's explanation, at most MAX_DETAIL_CHARS
    rows: list[RowReject] = field(default_factory=list)  #: the rows left out, in order
    total_rows: int = 0  #: events in the message as sent (0 when it could not be decoded)

    @property
    def rejected(self) -> bool:
        """True when something of the message was left out (all of it, or some rows)."""
        return self.reason is not None or bool(self.rows)


def short(text: str, limit: int = MAX_DETAIL_CHARS) -> str:
    """``text`` cut to ``limit`` characters (an ellipsis marks the cut)."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def structural_reason(error: wire.WireError) -> str:
    """The reason code of a message the codec could not read."""
    text = str(error)
    if "not valid JSON" in text:
        return NOT_JSON
    if "`$.schema`" in text or "missing required field `schema`" in text:
        return UNKNOWN_SCHEMA
    if "Number out of range" in text:
        return NOT_FINITE
    return WRONG_TYPE


def decode(value: bytes | None, kind: Any, limits: Limits) -> Checked:
    """``value`` decoded as ``kind`` (any topic's schema), or rejected whole with a structural reason."""
    if not value:
        return Checked(reason=EMPTY_VALUE, detail="empty value" if value is not None else "null value")
    if len(value) > limits.max_value_bytes and kind in _ROW_CHECKS:  # internal topics: sized by their producers
        return Checked(reason=OVERSIZE, detail=f"{len(value):,} bytes > {limits.max_value_bytes:,}")
    try:
        # an input batch is read as any input batch: the union makes the schema tag required (msgspec lets a
        # lone tagged type go without it), and a batch of another topic is named as such
        message = wire.decode(value, Batch if kind in _ROW_CHECKS else kind)
    except wire.WireError as exc:
        why = str(exc).partition(": ")[2]  # the codec names the type it tried: here, the union
        return Checked(reason=structural_reason(exc), detail=short(f"{getattr(kind, '__name__', kind)}: {why}"))
    if kind in _ROW_CHECKS and not isinstance(message, kind):
        return Checked(reason=UNKNOWN_SCHEMA, detail=f"a {type(message).__name__}, not a {kind.__name__}")
    events = getattr(message, "events", None)
    return Checked(batch=message, total_rows=len(events) if isinstance(events, list) else 0)


def check(value: bytes | None, kind: Any, limits: Limits, reference_ts: float) -> Checked:
    """One input message: decoded (:func:`decode`), then its rows checked against ``limits``.

    ``reference_ts`` is the message's own time (its Kafka timestamp, epoch
    seconds), from which ``future_ts`` is judged. A schema with no row checks
    (not an input batch) is only decoded.
    """
    checked = decode(value, kind, limits)
    row_problem = _ROW_CHECKS.get(kind)
    if checked.batch is None or row_problem is None:
        return checked
    ts_hi = min(reference_ts + limits.max_future_s, MAX_TS)
    events = checked.batch.events
    rows = [RowReject(i, *why) for i, e in enumerate(events) if (why := row_problem(e, limits, ts_hi)) is not None]
    if not rows:
        return checked
    bad = {r.index for r in rows}
    good = [e for i, e in enumerate(events) if i not in bad]
    return Checked(batch=type(checked.batch)(good) if good else None, rows=rows, total_rows=len(events))


# -- row checks: None when the row is good, else (reason, detail) ----------------------------------


def _ts_problem(ts: float, ts_hi: float) -> tuple[str, str] | None:
    if MIN_TS <= ts <= ts_hi:
        return None
    if not MIN_TS <= ts <= MAX_TS:  # NaN fails both comparisons
        return BAD_TS, f"ts {ts!r} not between 2000-01-01 and 2100-01-01"
    return FUTURE_TS, f"ts {ts!r} is after {ts_hi:.0f} (the message's time + max_future_s)"


def _id_problem(name: str, value: str, limits: Limits) -> tuple[str, str] | None:
    if not value:
        return EMPTY_ID, f"{name} is empty"
    if len(value) > limits.max_id_chars:
        return LONG_ID, f"{name} has {len(value)} characters > {limits.max_id_chars}"
    return None


def _position_problem(e: BusPosition, limits: Limits, ts_hi: float) -> tuple[str, str] | None:
    why = _id_problem("vehicle_id", e.vehicle_id, limits) or _ts_problem(e.ts, ts_hi)
    if why:
        return why
    lat, lon = e.lat, e.lon
    if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):
        return BAD_POSITION, f"lat {lat!r}, lon {lon!r} outside -90..90, -180..180"
    area = limits.area
    if area is not None and not (area[0] <= lat <= area[2] and area[1] <= lon <= area[3]):
        return OUTSIDE_CITY, f"lat {lat!r}, lon {lon!r} outside the city's area {tuple(round(a, 3) for a in area)}"
    if e.speed_kph is not None and not 0.0 <= e.speed_kph <= limits.max_speed_kph:
        return BAD_SPEED, f"speed_kph {e.speed_kph!r} not within 0..{limits.max_speed_kph:g}"
    if e.heading_deg is not None and not 0.0 <= e.heading_deg <= 360.0:
        return BAD_HEADING, f"heading_deg {e.heading_deg!r} not within 0..360"
    if e.occupancy is not None and e.occupancy < 0:
        return BAD_OCCUPANCY, f"occupancy {e.occupancy!r} is negative"
    return None


def _tap_problem(e: CardTap, limits: Limits, ts_hi: float) -> tuple[str, str] | None:
    return (_id_problem("card_hash", e.card_hash, limits) or _id_problem("vehicle_id", e.vehicle_id, limits)
            or _id_problem("stop_id", e.stop_id, limits) or _ts_problem(e.ts, ts_hi))


def _read_problem(e: PlateRead, limits: Limits, ts_hi: float) -> tuple[str, str] | None:
    why = _id_problem("read_id", e.read_id, limits) or _id_problem("camera_id", e.camera_id, limits)
    why = why or _ts_problem(e.ts, ts_hi)
    if why:
        return why
    if not 0.0 <= e.confidence <= 1.0:
        return BAD_CONFIDENCE, f"confidence {e.confidence!r} not within 0..1"
    return None


_ROW_CHECKS = {PositionBatch: _position_problem, TapBatch: _tap_problem, ReadBatch: _read_problem}

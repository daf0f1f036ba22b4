"""Bad input on purpose: seeded mutations of valid input batches, each with what the decode edge must make of it.

The integration test of the dead letters and ``benchmarks/fuzz.py`` send these
to a worker and compare what came back with what each message says it is:

* ``reason`` — the reason code its dead letter must carry (None: no letter);
* ``bad_rows`` — the rows the edge must leave out of the batch (row faults);
* ``known`` — False for random byte mutations, whose outcome only
  :func:`topis.schemas.validation.check` itself decides (it still may not crash
  anything, and must give at most one letter).

>>> import random, time
>>> from topis.schemas.inputs import CardTap, TapBatch
>>> fuzzer = Fuzzer(random.Random(1), now_ts=time.time())
>>> valid = TapBatch([CardTap("h", "on", "R1", "v1", "s1", time.time())])
>>> fuzzer.whole(topics.CARD_TAPS, "R1", valid, "empty").reason
'empty_value'
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from typing import Any

import msgspec

from topis import topics, wire
from topis.schemas import validation as v
from topis.schemas.inputs import BusPosition, CardTap, PlateRead, PositionBatch, ReadBatch, TapBatch

#: the batch type of each input topic, and a valid batch of each other input topic's type
_KIND = {topics.BUS_POSITIONS.name: PositionBatch, topics.CARD_TAPS.name: TapBatch, topics.PLATE_READS.name: ReadBatch}

#: whole-message faults and the reason each must be rejected with
WHOLE = {
    "garbage": v.NOT_JSON,
    "truncated": v.NOT_JSON,
    "empty": v.EMPTY_VALUE,
    "nan_literal": v.NOT_JSON,
    "infinity": v.NOT_FINITE,
    "wrong_type": v.WRONG_TYPE,
    "null_event": v.WRONG_TYPE,
    "missing_events": v.WRONG_TYPE,
    "unknown_version": v.UNKNOWN_SCHEMA,
    "no_schema": v.UNKNOWN_SCHEMA,
    "other_topic": v.UNKNOWN_SCHEMA,
    "bad_key": v.BAD_KEY,
    "oversize": v.OVERSIZE,
    "five_mb": v.OVERSIZE,
}
#: how often :meth:`Fuzzer.draw` picks each whole fault, relative (oversize values fill the broker's memory:
#: rare; 5 MB values are sent on purpose, a few per run)
WHOLE_WEIGHTS = {case: 0.05 if case == "oversize" else 0.0 if case == "five_mb" else 1.0 for case in WHOLE}
#: row faults each input topic can have
ROWS = {
    topics.BUS_POSITIONS.name: (v.EMPTY_ID, v.LONG_ID, v.BAD_TS, v.FUTURE_TS, v.BAD_POSITION, v.OUTSIDE_CITY,
                                v.BAD_SPEED, v.BAD_HEADING, v.BAD_OCCUPANCY),
    topics.CARD_TAPS.name: (v.EMPTY_ID, v.LONG_ID, v.BAD_TS, v.FUTURE_TS),
    topics.PLATE_READS.name: (v.EMPTY_ID, v.LONG_ID, v.BAD_TS, v.FUTURE_TS, v.BAD_CONFIDENCE),
}
#: the required fields of each event type that a wrong-type fault replaces
_REQUIRED = {PositionBatch: ("vehicle_id", "ts", "lat", "lon"), TapBatch: ("card_hash", "ts", "direction", "stop_id"),
             ReadBatch: ("read_id", "camera_id", "ts", "confidence")}
_IDS = {PositionBatch: ("vehicle_id",), TapBatch: ("card_hash", "vehicle_id", "stop_id"),
        ReadBatch: ("read_id", "camera_id")}


@dataclass(frozen=True)
class Fuzzed:
    """One message to send, and what the edge must make of it."""

    topic: str
    key: bytes
    value: bytes
    case: str  #: "valid", a WHOLE fault, "rows", or "mutation"
    reason: str | None  #: the reason code of its dead letter; None: it must give none
    bad_rows: tuple[int, ...] = ()  #: rows the edge must leave out, ascending
    known: bool = True  #: False: a random mutation, judged by the edge itself
    rows: int = 0  #: events in the batch as built (0 when the value is not a batch)

    def expected(self, limits: v.Limits, reference_ts: float) -> v.Checked:
        """What the edge makes of it (the oracle for random mutations; for the others, a check of the edge)."""
        try:
            self.key.decode()
        except UnicodeDecodeError:
            return v.Checked(reason=v.BAD_KEY)
        return v.check(self.value, _KIND[self.topic], limits, reference_ts)


class Fuzzer:
    """Bad versions of valid batches, drawn with ``rng``.

    ``now_ts`` is about when the messages will be sent (their Kafka timestamp:
    future faults lie two years after it); ``outside`` is a position far
    outside the city's area (None: the city's area is not checked, so no
    ``outside_city`` faults).
    """

    def __init__(self, rng: random.Random, now_ts: float, outside: tuple[float, float] | None = (35.18, 129.08)):
        self.rng, self.now_ts, self.outside = rng, now_ts, outside

    def draw(self, spec: topics.TopicSpec, key: str, batch: Any, shares=(0.4, 0.3, 0.22, 0.08)) -> Fuzzed:
        """One message from a valid ``batch``: valid, row faults, a whole fault or a byte mutation (by ``shares``)."""
        valid_share, rows_share, whole_share, _ = shares
        u = self.rng.random()
        if u < valid_share or not batch.events and u < valid_share + rows_share:
            return self.valid(spec, key, batch)
        if u < valid_share + rows_share:
            return self.rows(spec, key, batch)
        if u < valid_share + rows_share + whole_share:
            case = self.rng.choices(list(WHOLE_WEIGHTS), weights=list(WHOLE_WEIGHTS.values()))[0]
            return self.whole(spec, key, batch, case)
        return self.mutation(spec, key, batch)

    def valid(self, spec: topics.TopicSpec, key: str, batch: Any) -> Fuzzed:
        return Fuzzed(spec.name, key.encode(), wire.encode(batch), "valid", None, rows=len(batch.events))

    def rows(self, spec: topics.TopicSpec, key: str, batch: Any) -> Fuzzed:
        """Some rows of ``batch`` (at least one) given one fault each; the letter's reason is the first's."""
        n = len(batch.events)
        bad = sorted(self.rng.sample(range(n), self.rng.randint(1, max(1, n // 2))))
        faults = [f for f in ROWS[spec.name] if f != v.OUTSIDE_CITY or self.outside is not None]
        events = list(batch.events)
        reasons = {}
        for i in bad:
            reasons[i] = self.rng.choice(faults)
            events[i] = self._row_fault(events[i], reasons[i])
        value = wire.encode(type(batch)(events))
        return Fuzzed(spec.name, key.encode(), value, "rows", reasons[bad[0]], tuple(bad), rows=n)

    def whole(self, spec: topics.TopicSpec, key: str, batch: Any, case: str) -> Fuzzed:
        """``batch`` broken as a whole, the WHOLE way named ``case``."""
        good = wire.encode(batch)
        rng = self.rng
        key_bytes = key.encode()
        as_json = msgspec.json.decode(good)  # {"schema": ..., "events": [...]}
        first = as_json["events"][0] if as_json["events"] else None
        if case == "garbage":
            value = b"\xff" + rng.randbytes(rng.randint(0, 200))
        elif case == "truncated":
            value = good[: rng.randint(1, len(good) - 1)]
        elif case == "empty":
            value = b""
        elif case in ("nan_literal", "infinity") and first is not None:
            first["ts"] = "__number__"
            value = json.dumps(as_json).encode().replace(b'"__number__"', b"NaN" if case == "nan_literal" else b"1e400")
        elif case == "wrong_type" and first is not None:
            name = rng.choice(_REQUIRED[type(batch)])
            numeric = name in ("ts", "lat", "lon", "confidence")
            first[name] = rng.choice(["x", None, [], {}, True] if numeric else
                                     [12, None, [], {}, 1.5] + (["sideways"] if name == "direction" else []))
            value = json.dumps(as_json).encode()
        elif case == "null_event":
            as_json["events"].insert(rng.randint(0, len(as_json["events"])), None)
            value = json.dumps(as_json).encode()
        elif case == "missing_events":
            value = json.dumps({"schema": as_json["schema"]}).encode()
        elif case == "unknown_version":
            value = good.replace(f'"{as_json["schema"]}"'.encode(),
                                 f'"{as_json["schema"][:-1]}{rng.randint(2, 99)}"'.encode(), 1)
        elif case == "no_schema":
            value = json.dumps({"events": as_json["events"]}).encode()
        elif case == "other_topic":
            value = wire.encode(rng.choice([k for k in _KIND.values() if k is not type(batch)])([]))
        elif case == "bad_key":
            key_bytes, value = b"\xff\xfe" + key_bytes, good
        elif case == "oversize":
            one = len(wire.encode(batch.events[0])) if batch.events else 1
            value = wire.encode(type(batch)(list(batch.events[:1]) * (v.Limits().max_value_bytes // one + 10))) \
                if batch.events else \
                good[:-2] + b" " * v.Limits().max_value_bytes + good[-2:]
        elif case == "five_mb":
            value = b'{"pad":"' + b"x" * 5_000_000 + b'"}'
        else:  # a fault that needs a row, on an empty batch
            return self.whole(spec, key, batch, "empty")
        return Fuzzed(spec.name, key_bytes, value, case, WHOLE[case], rows=len(batch.events))

    def big(self, spec: topics.TopicSpec, key: str, batch: Any, fill: float = 0.9) -> Fuzzed:
        """A valid batch as large as the edge takes (``fill`` of the limit): ``batch``'s events again and again,
        each copy under new ids (vehicles, cards, reads), so every one counts."""
        kind, events = type(batch), batch.events
        one = max(len(wire.encode(events[0])), 1) if events else 1
        n = int(v.Limits().max_value_bytes * fill) // (one + 8)
        ids = _IDS[kind][:1]
        grown = [replace_field(events[i % len(events)], ids[0], f"{getattr(events[i % len(events)], ids[0])}~{i}")
                 for i in range(n)] if events else []
        value = wire.encode(kind(grown))
        while len(value) > v.Limits().max_value_bytes and grown:
            grown = grown[: len(grown) * 9 // 10]
            value = wire.encode(kind(grown))
        return Fuzzed(spec.name, key.encode(), value, "big_valid", None, rows=len(grown))

    def mutation(self, spec: topics.TopicSpec, key: str, batch: Any) -> Fuzzed:
        """The valid encoding with a few random bytes flipped, cut or spliced in (what a noisy link does)."""
        value = bytearray(wire.encode(batch))
        for _ in range(self.rng.randint(1, 3)):
            at = self.rng.randrange(len(value))
            op = self.rng.random()
            if op < 0.4:
                value[at] = self.rng.randrange(256)
            elif op < 0.7:
                del value[at: at + self.rng.randint(1, 8)]
            else:
                value[at:at] = bytes(self.rng.randrange(32, 127) for _ in range(self.rng.randint(1, 6)))
        return Fuzzed(spec.name, key.encode(), bytes(value), "mutation", None, known=False, rows=len(batch.events))

    def _row_fault(self, event: Any, reason: str) -> Any:
        rng = self.rng
        if reason in (v.EMPTY_ID, v.LONG_ID):
            name = rng.choice(_IDS[{BusPosition: PositionBatch, CardTap: TapBatch, PlateRead: ReadBatch}[type(event)]])
            return replace_field(event, name, "" if reason == v.EMPTY_ID else "x" * 200)
        if reason == v.BAD_TS:
            return replace_field(event, "ts", rng.choice([0.0, -5.0, 5.0, 946_684_799.0, 1e12, 1e308]))
        if reason == v.FUTURE_TS:
            return replace_field(event, "ts", self.now_ts + 2 * 365 * 86_400.0)
        if reason == v.BAD_POSITION:
            name, value = rng.choice([("lat", 95.0), ("lat", -91.0), ("lat", 1e308), ("lon", 200.0), ("lon", -1e308)])
            return replace_field(event, name, value)
        if reason == v.OUTSIDE_CITY:
            lat, lon = rng.choice([(0.0, 0.0), self.outside])
            return replace_field(replace_field(event, "lat", lat), "lon", lon)
        if reason == v.BAD_SPEED:
            return replace_field(event, "speed_kph", rng.choice([-1.0, -80.0, 1e308, 900.0]))
        if reason == v.BAD_HEADING:
            return replace_field(event, "heading_deg", rng.choice([-10.0, 361.0, 1e308]))
        if reason == v.BAD_OCCUPANCY:
            return replace_field(event, "occupancy", -rng.randint(1, 100))
        if reason == v.BAD_CONFIDENCE:
            return replace_field(event, "confidence", rng.choice([-0.1, 1.5, 100.0]))
        raise ValueError(f"no row fault {reason!r}")


def replace_field(event: Any, name: str, value: Any) -> Any:
    """``event`` (a frozen schema struct) with field ``name`` set to ``value``."""
    return msgspec.structs.replace(event, **{name: value})


# -- valid batches without a city (tests) ----------------------------------------------------------


def positions(rng: random.Random, route: str, vehicles: list[str], now_ts: float,
              centre: tuple[float, float] = (37.5665, 126.9780)) -> PositionBatch:
    """A valid batch: one fix of each vehicle, near ``centre``, in the last ten minutes."""
    return PositionBatch([BusPosition(vid, route, now_ts - rng.uniform(0, 600), centre[0] + rng.uniform(-0.03, 0.03),
                                      centre[1] + rng.uniform(-0.03, 0.03), speed_kph=rng.uniform(0, 60),
                                      heading_deg=rng.uniform(0, 360), occupancy=rng.randint(0, 80))
                          for vid in vehicles])


def taps(rng: random.Random, route: str, n: int, now_ts: float) -> TapBatch:
    """A valid batch of ``n`` taps on ``route``, in the last ten minutes."""
    return TapBatch([CardTap(f"card{rng.randrange(10**6)}", rng.choice(["on", "off"]), route, f"{route}-bus",
                             f"S{rng.randint(1, 30)}", now_ts - rng.uniform(0, 600)) for _ in range(n)])


def reads(rng: random.Random, camera: str, n: int, now_ts: float) -> ReadBatch:
    """A valid batch of ``n`` reads of ``camera``, in the last ten minutes."""
    return ReadBatch([PlateRead(f"{camera}-{rng.randrange(10**9)}", camera, now_ts - rng.uniform(0, 600),
                                f"{rng.randint(10, 99)}가{rng.randint(1000, 9999)}", rng.uniform(0.5, 1.0))
                      for _ in range(n)])


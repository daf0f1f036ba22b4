"""The decode edge's checks: every rejection class, on every input topic, with its reason code."""

from __future__ import annotations

import json
import math
import random

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from topis import wire
from topis.schemas import validation as v
from topis.schemas.inputs import BusPosition, CardTap, PlateRead, PositionBatch, ReadBatch, TapBatch

NOW = 1_790_000_000.0  # 2026-09-21, the messages' own timestamp
SEOUL = v.area_around([37.45, 37.65], [126.85, 127.15], 50_000.0)
LIMITS = v.Limits(area=SEOUL)

GOOD = {
    PositionBatch: dict(vehicle_id="v1", route_id="R1", ts=NOW, lat=37.55, lon=127.0, speed_kph=30.0, heading_deg=90.0,
                        occupancy=12),
    TapBatch: dict(card_hash="h1", direction="on", route_id="R1", vehicle_id="v1", stop_id="s1", ts=NOW),
    ReadBatch: dict(read_id="r1", camera_id="cam1", ts=NOW, plate="12가3456", confidence=0.9),
}
TAG = {PositionBatch: "bus.position/1", TapBatch: "card.tap/1", ReadBatch: "plate.read/1"}
KINDS = list(GOOD)


def batch(kind, *rows: dict) -> bytes:
    return json.dumps({"schema": TAG[kind], "events": list(rows)}).encode()


def row(kind, **changes) -> dict:
    return {**GOOD[kind], **changes}


def checked(value: bytes, kind) -> v.Checked:
    return v.check(value, kind, LIMITS, NOW)


@pytest.mark.parametrize("kind", KINDS)
def test_a_good_batch_is_kept_whole(kind):
    out = checked(batch(kind, row(kind), row(kind)), kind)
    assert not out.rejected and len(out.batch.events) == 2 and out.total_rows == 2
    assert checked(batch(kind), kind).batch.events == []  # an empty batch is valid


STRUCTURAL = {
    "empty_value": lambda kind: b"",
    "garbage": lambda kind: b"\xff\xfe\x00garbage",
    "truncated": lambda kind: batch(kind, row(kind))[:40],
    "nan_literal": lambda kind: batch(kind, row(kind)).replace(str(NOW).encode(), b"NaN"),
    "wrong_type": lambda kind: batch(kind, row(kind, ts="yesterday")),
    "missing_field": lambda kind: json.dumps({"schema": TAG[kind]}).encode(),
    "null_event": lambda kind: json.dumps({"schema": TAG[kind], "events": [None]}).encode(),
    "list_root": lambda kind: b"[1, 2, 3]",
    "unknown_version": lambda kind: batch(kind, row(kind)).replace(b"/1", b"/9"),
    "no_schema_tag": lambda kind: json.dumps({"events": []}).encode(),
    "another_topics_batch": lambda kind: batch(KINDS[(KINDS.index(kind) + 1) % 3]),
    "infinity": lambda kind: batch(kind, row(kind)).replace(str(NOW).encode(), b"1e400"),
    "oversize": lambda kind: batch(kind, *[row(kind)] * 8000),
}
STRUCTURAL_REASON = {"empty_value": "empty_value", "garbage": "not_json", "truncated": "not_json",
                     "nan_literal": "not_json", "wrong_type": "wrong_type", "missing_field": "wrong_type",
                     "null_event": "wrong_type", "list_root": "wrong_type", "unknown_version": "unknown_schema",
                     "no_schema_tag": "unknown_schema", "another_topics_batch": "unknown_schema",
                     "infinity": "not_finite", "oversize": "oversize"}


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("case", list(STRUCTURAL))
def test_structural_faults_reject_the_whole_message(kind, case):
    out = checked(STRUCTURAL[case](kind), kind)
    assert out.batch is None and out.reason == STRUCTURAL_REASON[case] and out.detail
    assert len(out.detail) <= v.MAX_DETAIL_CHARS


def test_a_null_value_is_empty():
    assert v.check(None, PositionBatch, LIMITS, NOW).reason == "empty_value"


ROWS = {  # (kind, bad field values, reason)
    "empty vehicle": (PositionBatch, dict(vehicle_id=""), "empty_id"),
    "long vehicle id": (PositionBatch, dict(vehicle_id="v" * 200), "long_id"),
    "before 2000": (PositionBatch, dict(ts=5.0), "bad_ts"),
    "year 33000": (PositionBatch, dict(ts=1e12), "bad_ts"),
    "ts 1e308": (PositionBatch, dict(ts=1e308), "bad_ts"),
    "two years ahead": (PositionBatch, dict(ts=NOW + 2 * 365 * 86400), "future_ts"),
    "lat 95": (PositionBatch, dict(lat=95.0), "bad_position"),
    "lon -200": (PositionBatch, dict(lon=-200.0), "bad_position"),
    "lat 1e308": (PositionBatch, dict(lat=1e308), "bad_position"),
    "null island": (PositionBatch, dict(lat=0.0, lon=0.0), "outside_city"),
    "Busan": (PositionBatch, dict(lat=35.18, lon=129.08), "outside_city"),
    "negative speed": (PositionBatch, dict(speed_kph=-5.0), "bad_speed"),
    "speed 1e308": (PositionBatch, dict(speed_kph=1e308), "bad_speed"),
    "heading 400": (PositionBatch, dict(heading_deg=400.0), "bad_heading"),
    "negative occupancy": (PositionBatch, dict(occupancy=-1), "bad_occupancy"),
    "empty card": (TapBatch, dict(card_hash=""), "empty_id"),
    "empty stop": (TapBatch, dict(stop_id=""), "empty_id"),
    "tap before 2000": (TapBatch, dict(ts=-5.0), "bad_ts"),
    "tap year 33000": (TapBatch, dict(ts=1e12), "bad_ts"),
    "tap ahead": (TapBatch, dict(ts=NOW + 400 * 86400), "future_ts"),
    "empty read id": (ReadBatch, dict(read_id=""), "empty_id"),
    "empty camera": (ReadBatch, dict(camera_id=""), "empty_id"),
    "read before 2000": (ReadBatch, dict(ts=0.0), "bad_ts"),
    "read year 33000": (ReadBatch, dict(ts=1e12), "bad_ts"),
    "confidence 2": (ReadBatch, dict(confidence=2.0), "bad_confidence"),
    "confidence -1": (ReadBatch, dict(confidence=-1.0), "bad_confidence"),
}


@pytest.mark.parametrize("case", list(ROWS))
def test_an_out_of_range_row_is_left_out_and_the_rest_kept(case):
    kind, changes, reason = ROWS[case]
    out = checked(batch(kind, row(kind), row(kind, **changes), row(kind)), kind)
    assert len(out.batch.events) == 2 and out.total_rows == 3
    (rejected,) = out.rows
    assert (rejected.index, rejected.reason) == (1, reason) and rejected.detail
    assert out.reason is None and out.rejected


@pytest.mark.parametrize("kind", [PositionBatch, TapBatch, ReadBatch])
def test_nan_and_inf_in_a_row_are_rejected(kind):
    """JSON cannot carry them, but a batch built in Python can (replays, tests): the check still catches them."""
    good = msgspec.convert(GOOD[kind], {PositionBatch: BusPosition, TapBatch: CardTap, ReadBatch: PlateRead}[kind])
    for bad in (math.nan, math.inf, -math.inf):
        event = msgspec.structs.replace(good, ts=bad)
        problem = v._ROW_CHECKS[kind](event, LIMITS, NOW + LIMITS.max_future_s)
        assert problem is not None and problem[0] == "bad_ts"
    if kind is PositionBatch:
        problem = v._ROW_CHECKS[kind](msgspec.structs.replace(good, lat=math.nan), LIMITS, NOW + 1e6)
        assert problem[0] == "bad_position"


def test_an_empty_route_is_allowed_and_no_area_means_anywhere():
    assert not checked(batch(PositionBatch, row(PositionBatch, route_id="")), PositionBatch).rejected
    far = batch(PositionBatch, row(PositionBatch, lat=-33.9, lon=151.2))
    assert not v.check(far, PositionBatch, v.Limits(), NOW).rejected


def test_a_batch_of_only_bad_rows_leaves_nothing_to_use():
    out = checked(batch(TapBatch, row(TapBatch, ts=1.0), row(TapBatch, card_hash="")), TapBatch)
    assert out.batch is None and [r.reason for r in out.rows] == ["bad_ts", "empty_id"]


def test_other_schemas_are_only_decoded():
    from topis.schemas.demand import RideBatch

    assert v.check(b"{}", RideBatch, LIMITS, NOW).reason == "wrong_type"


def test_area_around_widens_by_the_margin():
    lat_lo, lon_lo, lat_hi, lon_hi = v.area_around([37.5], [127.0], 11_119.5)
    assert lat_hi - 37.5 == pytest.approx(0.1, abs=1e-4) and 37.5 - lat_lo == pytest.approx(0.1, abs=1e-4)
    assert lon_hi - 127.0 == pytest.approx(0.1 / math.cos(math.radians(37.6)), rel=1e-3)


# -- unit-level fuzz: whatever the bytes, check() answers with a reason and never raises --------------

_ANY_JSON = st.recursive(st.none() | st.booleans() | st.floats(allow_nan=False) | st.integers() | st.text(max_size=8),
                         lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                                     max_size=3), max_leaves=5)


_ODD = st.sampled_from([None, "", "x" * 200, 0, -1, 1e12, 1e308, -1e308, NOW * 2, 95.0, [], {}, True, "on"])


def _row_strategy(kind):
    """A good row with some fields swapped for odd values (of any JSON type)."""
    fields = {name: st.one_of(st.just(value), _ODD, st.floats(allow_nan=False, allow_infinity=False))
              for name, value in GOOD[kind].items()}
    return st.fixed_dictionaries(fields)


_BATCHES = st.sampled_from(KINDS).flatmap(lambda k: st.tuples(st.just(k), st.lists(_row_strategy(k), max_size=4)))


@settings(max_examples=200, deadline=None, database=None)
@given(kind_rows=_BATCHES)
def test_fuzz_rows_every_outcome_is_explained(kind_rows):
    kind, rows = kind_rows
    out = checked(json.dumps({"schema": TAG[kind], "events": rows}).encode(), kind)
    _explained(out, kind, len(rows))


@settings(max_examples=300, deadline=None, database=None)
@given(kind=st.sampled_from(KINDS), value=st.binary(max_size=300) | _ANY_JSON.map(lambda o: json.dumps(o).encode()))
def test_fuzz_bytes_every_outcome_is_explained(kind, value):
    _explained(checked(value, kind), kind, None)


def _explained(out: v.Checked, kind, n_rows):
    if out.reason is not None:
        assert out.batch is None and out.reason in v.REASONS and not out.rows
        return
    kept = out.batch.events if out.batch is not None else []
    assert len(kept) + len(out.rows) == out.total_rows and all(r.reason in v.REASONS for r in out.rows)
    assert n_rows is None or out.total_rows == n_rows
    for event in kept:  # what is kept passes the checks again, and survives the codec
        assert v._ROW_CHECKS[kind](event, LIMITS, NOW + LIMITS.max_future_s) is None
        wire.encode(event)


def test_seeded_mutations_of_good_batches_are_explained():
    """Byte flips, cuts and splices of good batches (what a noisy link does): never an exception."""
    rng = random.Random(5)
    for _ in range(3000):
        kind = rng.choice(KINDS)
        value = bytearray(batch(kind, *[row(kind)] * rng.randint(1, 4)))
        for _ in range(rng.randint(1, 3)):
            at = rng.randrange(len(value))
            op = rng.random()
            if op < 0.4:
                value[at] = rng.randrange(256)
            elif op < 0.7:
                del value[at: at + rng.randint(1, 10)]
            else:
                value[at:at] = bytes(rng.randrange(32, 127) for _ in range(rng.randint(1, 6)))
        _explained(checked(bytes(value), kind), kind, None)

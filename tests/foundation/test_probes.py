"""taxi.positions: the columnar batch on the wire, the pseudonyms and the probe-cell key."""

from __future__ import annotations

import base64

import msgspec
import numpy as np
import pytest

from topis import topics, wire
from topis.geo import M_PER_DEG_LAT, PROBE_CELL_M, cell_bounds, cell_key, grid_cell, haversine_m, parse_cell_key
from topis.schemas.probes import TaxiFixes, TaxiPositionBatch, taxi_pseudonym, taxi_pseudonyms


def fixes(n: int = 4) -> TaxiFixes:
    return TaxiFixes(
        taxi_id=np.array([1, 2**63 + 5, 2**64 - 1, 7][:n], dtype=np.uint64),
        ts=np.array([1.8e9, 1.8e9 + 0.125, 1.8e9 + 10, 1.8e9 + 20][:n]),
        lat=np.array([37.5665, 37.5, -33.9, 0.5][:n]),
        lon=np.array([126.978, 127.1, 151.2, -0.5][:n]),
        speed_kph=np.array([31.5, np.nan, 0.0, 120.0][:n], dtype=np.float32),
        heading_deg=np.array([0.0, 359.5, np.nan, 90.0][:n], dtype=np.float32),
        occupied=np.array([True, False, True, False][:n]),
    )


def test_batch_round_trips_the_wire_bit_for_bit():
    want = fixes()
    data = wire.encode(want.to_batch())
    assert data.startswith(b'{"schema":"taxi.position/1","taxi_id":"')
    got = wire.decode(data, topics.TAXI_POSITIONS.value).arrays()
    for name, a, b in zip(TaxiFixes._fields, want, got):
        assert a.dtype == b.dtype and a.tobytes() == b.tobytes(), name  # NaNs and the top uint64 bit included
    assert len(wire.decode(data, TaxiPositionBatch)) == 4


def test_empty_batch_round_trips():
    batch = wire.decode(wire.encode(TaxiFixes.empty().to_batch()), TaxiPositionBatch)
    assert len(batch) == 0 and all(len(c) == 0 for c in batch.arrays())


def with_column(batch: TaxiPositionBatch, name: str, raw: bytes) -> bytes:
    """The wire bytes of ``batch`` with one column replaced (bypassing the constructor's check)."""
    obj = msgspec.json.decode(wire.encode(batch))
    obj[name] = base64.b64encode(raw).decode()
    return msgspec.json.encode(obj)


def test_columns_of_different_lengths_are_a_wire_error():
    short = TaxiFixes(*(c[:3] for c in fixes())).to_batch()
    data = with_column(fixes().to_batch(), "speed_kph", short.speed_kph)
    with pytest.raises(wire.WireError, match="speed_kph has 3 values, taxi_id has 4"):
        wire.decode(data, TaxiPositionBatch)
    with pytest.raises(ValueError, match="ts has 3 values"):
        TaxiPositionBatch(**{**msgspec.structs.asdict(fixes().to_batch()), "ts": short.ts})


def test_occupied_other_than_0_or_1_is_a_wire_error():
    with pytest.raises(wire.WireError, match="occupied must hold 0 or 1"):
        wire.decode(with_column(fixes(1).to_batch(), "occupied", b"\x02"), TaxiPositionBatch)


def test_a_bus_position_batch_is_not_a_taxi_batch():
    from topis.schemas.inputs import BusPosition, PositionBatch

    with pytest.raises(wire.WireError, match="schema"):
        wire.decode(wire.encode(PositionBatch([BusPosition("v", "r", 1.0, 37.5, 127.0)])), TaxiPositionBatch)


def test_take_and_concat_keep_columns_together():
    f = fixes()
    parts = [f.take(np.array([2, 0])), f.take(slice(1, 2))]
    both = TaxiFixes.concat(parts)
    assert both.taxi_id.tolist() == [2**64 - 1, 1, 2**63 + 5] and both.occupied.tolist() == [True, True, False]
    assert len(TaxiFixes.concat([]).ts) == 0


def test_pseudonym_is_keyed_stable_and_64_bit():
    a = taxi_pseudonym(b"key-1", "서울31사1234")
    assert a == taxi_pseudonym(b"key-1", "서울31사1234")
    assert a != taxi_pseudonym(b"key-2", "서울31사1234") and a != taxi_pseudonym(b"key-1", "서울31사1235")
    assert 0 <= a < 2**64
    many = taxi_pseudonyms(b"key-1", ["b", "서울31사1234", "b"])
    assert many.dtype == np.uint64 and many.tolist() == [taxi_pseudonym(b"key-1", "b"), a, many[0]]


def test_grid_cell_by_hand():
    # Seoul City Hall: row = floor(37.5665 * 111194.93 / 2000) = 2088
    row, col = grid_cell(37.5665, 126.9780)
    assert int(row) == 2088 and cell_key(row, col) == "2088:5595" and parse_cell_key("2088:5595") == (2088, 5595)
    lat_min, lat_max, lon_min, lon_max = cell_bounds(2088, 5595)
    assert lat_min <= 37.5665 < lat_max and lon_min <= 126.9780 < lon_max
    # the equator and the prime meridian are cell edges; south and west are negative
    assert [int(v) for v in grid_cell(-1e-9, -1e-9)] == [-1, -1]
    assert [int(v) for v in grid_cell(0.0, 0.0)] == [0, 0]


def test_grid_cells_are_squares_of_the_edge_near_seoul():
    lat_min, lat_max, lon_min, lon_max = cell_bounds(2088, 5595)
    mid = (lat_min + lat_max) / 2
    assert haversine_m(lat_min, lon_min, lat_max, lon_min) == pytest.approx(PROBE_CELL_M, rel=1e-6)
    assert haversine_m(mid, lon_min, mid, lon_max) == pytest.approx(PROBE_CELL_M, rel=1e-3)


def test_every_point_lies_in_the_bounds_of_its_cell():
    rng = np.random.default_rng(3)
    lat, lon = rng.uniform(-80, 80, 2000), rng.uniform(-180, 180, 2000)
    rows, cols = grid_cell(lat, lon)
    for la, lo, r, c in zip(lat, lon, rows.tolist(), cols.tolist()):
        lat_min, lat_max, lon_min, lon_max = cell_bounds(r, c)
        assert lat_min <= la < lat_max and lon_min <= lo < lon_max


def test_points_a_few_metres_apart_mostly_share_a_cell():
    rng = np.random.default_rng(4)
    lat, lon = 37.45 + rng.uniform(0, 0.2, 5000), 126.85 + rng.uniform(0, 0.25, 5000)
    moved = grid_cell(lat + 10.0 / M_PER_DEG_LAT, lon)
    same = (grid_cell(lat, lon)[0] == moved[0]).mean()
    assert 1 - 10.0 / PROBE_CELL_M - 0.01 < same < 1.0  # 10 m north crosses a row edge 0.5 % of the time


def test_taxi_positions_spread_over_several_partitions():
    assert topics.TAXI_POSITIONS.partitions >= 8
    assert topics.by_name("taxi.positions").value is TaxiPositionBatch

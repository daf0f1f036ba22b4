"""Probe CSV input: parsing, bad rows with line numbers, pseudonyms, batches by cell, and the publish command."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from click.testing import CliRunner

from streams.traffic.cli import traffic
from streams.traffic.probe_files import ProbeFileError, batches, read_probe_csv
from topis import topics, wire
from topis.geo import cell_key, grid_cell
from topis.schemas.probes import TaxiFixes, TaxiPositionBatch, taxi_pseudonym

KEY = b"test-key"
HEADER = "vehicle_id,ts,lat,lon,speed_kph,heading_deg,occupied\n"
GOOD = (
    "서울31사1234,2026-11-24T08:00:10+09:00,37.5665,126.9780,31.5,90,1\n"  # ISO with offset
    "4521,1795474800.5,37.5702,126.9831,,,0\n"  # epoch; speed and heading not reported
    "4521,1795474790,37.5703,126.9832,12,360,Vacant\n"  # earlier: sorted first; 360 -> 0
)
BAD = (
    "x1,2026-11-24T08:00:00,37.5,127.0,10,10,1\n"  # 5: ISO without offset
    "x2,1795993210000,37.5,127.0,10,10,1\n"  # 6: milliseconds
    "x3,1795993210,0,0,10,10,1\n"  # 7: no GPS fix
    "x4,1795993210,37.5,127.0,-3,10,1\n"  # 8: negative speed
    "x5,1795993210,37.5,127.0,3,10,maybe\n"  # 9: occupied unreadable
    "x6,1795993210,37.5,127.0\n"  # 10: short row
    "\n"  # 11: blank, ignored
    ",1795993210,37.5,127.0,3,10,1\n"  # 12: no vehicle id
    "x7,1795993210,north,127.0,3,10,1\n"  # 13: lat not a number
    "x8,1795993210,37.5,181,3,10,1\n"  # 14: lon out of range
    "x9,1795993210,37.5,127.0,3,400,1\n"  # 15: heading out of range
)


@pytest.fixture
def probe_csv(tmp_path):
    path = tmp_path / "probes.csv"
    path.write_text(HEADER + GOOD + BAD, encoding="utf-8")
    return path


def test_good_rows_become_sorted_pseudonymised_fixes(probe_csv):
    read = read_probe_csv(probe_csv, KEY)
    f = read.fixes
    assert read.rows == 13 and len(f.ts) == 3
    assert f.ts.tolist() == [1795474790.0, 1795474800.5, 1795474810.0]
    assert f.taxi_id.tolist() == [taxi_pseudonym(KEY, "4521")] * 2 + [taxi_pseudonym(KEY, "서울31사1234")]
    assert f.lat.tolist() == [37.5703, 37.5702, 37.5665] and f.lon.tolist() == [126.9832, 126.9831, 126.978]
    assert f.speed_kph[0] == 12 and np.isnan(f.speed_kph[1]) and f.speed_kph[2] == np.float32(31.5)
    assert f.heading_deg[0] == 0 and np.isnan(f.heading_deg[1]) and f.heading_deg[2] == 90
    assert f.occupied.tolist() == [False, False, True]


def test_bad_rows_are_skipped_and_counted_with_their_line_numbers(probe_csv):
    read = read_probe_csv(probe_csv, KEY)
    assert read.n_bad == 10
    lines = {b.line: b.reason for b in read.bad}
    assert sorted(lines) == [5, 6, 7, 8, 9, 10, 12, 13, 14, 15]
    assert "no UTC offset" in lines[5] and "milliseconds" in lines[6] and "no GPS fix" in lines[7]
    assert lines[8].startswith("speed_kph") and lines[9].startswith("occupied: 'maybe'")
    assert lines[10] == "fields: expected 7, got 4" and lines[12] == "vehicle_id: empty"
    assert lines[13] == "lat: 'north' is not a number" and lines[14].startswith("lon")
    assert lines[15].startswith("heading_deg")
    assert read.bad_by_reason["ts"] == 2


def test_strict_stops_at_the_first_bad_row(probe_csv):
    with pytest.raises(ProbeFileError, match=r"probes.csv:5: ts: .* no UTC offset"):
        read_probe_csv(probe_csv, KEY, strict=True)


def test_a_time_zone_reads_iso_without_offset(probe_csv):
    read = read_probe_csv(probe_csv, KEY, tz=ZoneInfo("Asia/Seoul"))
    want = dt.datetime(2026, 11, 24, 8, 0, tzinfo=ZoneInfo("Asia/Seoul")).timestamp()
    assert read.n_bad == 9 and want in read.fixes.ts.tolist()


def test_columns_in_any_order_and_extra_columns(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text("occupied,lon,lat,extra,ts,vehicle_id,heading_deg,speed_kph\n"
                    "true,127.0,37.5,zzz,1795993200,A,45,20\n", encoding="utf-8-sig")
    f = read_probe_csv(path, KEY).fixes
    assert (f.lat[0], f.lon[0], f.ts[0], bool(f.occupied[0]), f.heading_deg[0], f.speed_kph[0]) == \
        (37.5, 127.0, 1795993200.0, True, 45, 20)


def test_missing_columns_or_file_are_errors(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text("vehicle_id,ts,lat,lon\nA,1,37,127\n")
    with pytest.raises(ProbeFileError, match="missing columns speed_kph, heading_deg, occupied"):
        read_probe_csv(path, KEY)
    with pytest.raises(ProbeFileError, match="no such file"):
        read_probe_csv(tmp_path / "none.csv", KEY)


def test_chunks_give_the_same_result_as_one_read(probe_csv):
    whole, chunked = read_probe_csv(probe_csv, KEY), read_probe_csv(probe_csv, KEY, chunk_rows=2)
    assert all(np.array_equal(a, b, equal_nan=True) for a, b in zip(whole.fixes, chunked.fixes))
    assert whole.bad == chunked.bad


def test_batches_one_per_cell_per_window_in_time_order():
    n = 40
    f = TaxiFixes(np.arange(n, dtype=np.uint64), 1000.0 + np.arange(n) * 0.5,  # 20 s of fixes
                  np.where(np.arange(n) % 2, 37.50, 37.60), np.full(n, 127.0), np.zeros(n, np.float32),
                  np.zeros(n, np.float32), np.zeros(n, bool))
    out = list(batches(f, window_s=10.0, max_fixes=8))
    cells = {cell_key(*grid_cell(37.50, 127.0)), cell_key(*grid_cell(37.60, 127.0))}
    assert {c for c, _ in out} == cells and len(cells) == 2
    assert sum(len(g.ts) for _, g in out) == n and all(len(g.ts) <= 8 for _, g in out)
    assert len(out) == 2 * 2 * 2  # 2 windows x 2 cells x (10 fixes -> 8 + 2)
    windows = [np.unique((g.ts - 1000.0) // 10.0) for _, g in out]
    assert all(len(w) == 1 for w in windows) and [w[0] for w in windows] == sorted(w[0] for w in windows)
    assert all(np.all(np.diff(g.ts) > 0) for _, g in out)


def test_check_prints_the_summary_and_bad_lines(probe_csv):
    result = CliRunner().invoke(traffic, ["probes", str(probe_csv), "--check"])
    assert result.exit_code == 0, result.output
    assert "3 good fixes of 2 vehicles" in result.output and f"{probe_csv}:13: lat: 'north'" in result.output
    strict = CliRunner().invoke(traffic, ["probes", str(probe_csv), "--check", "--strict"])
    assert strict.exit_code == 2 and "probes.csv:5" in strict.output
    assert CliRunner().invoke(traffic, ["probes", str(probe_csv), "--check", "--tz", "Mars/Base"]).exit_code == 2


def test_a_file_with_no_good_row_fails(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text(HEADER + BAD)
    result = CliRunner().invoke(traffic, ["probes", str(path), "--check"])
    assert result.exit_code == 1 and "no good rows out of 10" in result.output


@pytest.mark.integration
def test_probes_publish_to_taxi_positions(fresh_broker, tmp_path):
    from kafka import KafkaConsumer, TopicPartition

    rng = np.random.default_rng(2)
    n = 600
    lat, lon = 37.50 + rng.uniform(0, 0.06, n), 126.95 + rng.uniform(0, 0.08, n)
    rows = [f"T{k % 50},{1795993200 + k},{la:.6f},{lo:.6f},{k % 60},{k % 360},{k % 2}\n"
            for k, (la, lo) in enumerate(zip(lat, lon))]
    path = tmp_path / "probes.csv"
    path.write_text(HEADER + "".join(rows) + "bad,1,2\n")
    env = {"TOPIS_TRAFFIC_PROBE_ID_KEY": "k-test"}
    result = CliRunner().invoke(traffic, ["probes", str(path), "--broker", fresh_broker.url], env=env)
    assert result.exit_code == 0, result.output
    assert f"published {n} fixes of 50 vehicles" in result.output and "1 bad rows skipped" in result.output

    consumer = KafkaConsumer(bootstrap_servers=fresh_broker.bootstrap_servers, enable_auto_commit=False,
                             consumer_timeout_ms=3000, auto_offset_reset="earliest")
    consumer.assign([TopicPartition(topics.TAXI_POSITIONS.name, p) for p in range(topics.TAXI_POSITIONS.partitions)])
    got = [(r.key.decode(), wire.decode(r.value, TaxiPositionBatch).arrays()) for r in consumer]
    consumer.close()
    fixes = TaxiFixes.concat([f for _, f in got])
    assert len(fixes.ts) == n and sorted(fixes.ts.tolist()) == [1795993200.0 + k for k in range(n)]
    assert set(fixes.taxi_id.tolist()) == {taxi_pseudonym(b"k-test", f"T{k}") for k in range(50)}
    for key, f in got:
        assert {cell_key(r, c) for r, c in zip(*grid_cell(f.lat, f.lon))} == {key}

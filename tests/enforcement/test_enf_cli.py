"""``topis enforce`` end to end on small hand-made CSVs (with malformed rows), and ``topis cases``."""

import csv
import json

import pytest
from click.testing import CliRunner

from enforcement.cli import CASES_COLUMNS, cases, enforce
from enforcement.rules import case_id

CAMERAS = """camera_id,lat,lon,lane_type,green_zone_entry,section_id,section_role,section_length_m,section_limit_kph,no_stopping
BM1,37.57,126.98,median,0,,,,,0
G1,37.573,126.983,none,1,,,,,0
S1A,37.5,127.0,none,0,S1,entry,2000,60,0
S1B,37.51,127.01,none,0,S1,exit,2000,60,0
N1,37.56,126.97,none,0,,,,,1
BAD,37.5,xx,none,0,,,,,0
BP1,37.5,127.0,bus_only,0,,,,,0
"""
REGISTRY = """plate,vehicle_class,emission_grade,exempt,watch
12가3456,car,2,0,0
34나5678,truck,5,0,0
11바2222,car,1,0,1
22사3333,van,9,0,0
"""
READS = """read_id,camera_id,ts,plate,confidence
r1,BM1,2026-03-04T09:00:00+09:00,12가3456,0.95
r2,G1,2026-03-04T10:00:00+09:00,34나5678,0.95
r3,G1,2026-03-04T02:00:00Z,34나5678,0.7
r4,S1A,2026-03-04T12:00:00+09:00,12가3456,0.9
r5,S1B,2026-03-04T12:01:40+09:00,12가3456,0.9
r8,N1,2026-03-04T13:06:00+09:00,12가3456,0.9
r7,N1,2026-03-04T13:04:00+09:00,12가3456,0.9
r6,N1,2026-03-04T13:00:00+09:00,12가3456,0.9
r9,BM1,2026-03-04T09:00:00,12가3456,0.9
r10,BM1,2026-03-04T09:00:00+09:00,12가3456,1.7
r11,XX9,2026-03-04T09:00:00+09:00,12가3456,0.9
r12,BM1,2026-03-04T09:00:00+09:00,ABC,0.9
r13,G1,2026-03-04T09:30:00+09:00,11바2222,0.9
r1,BM1,2026-03-04T09:00:00+09:00,12가3456,0.95
r14,BM1,2026-03-04T09:00:00+09:00
r15,BM1,yesterday,12가3456,0.9
"""


@pytest.fixture
def files(tmp_path):
    for name, text in (("CAMERAS.csv", CAMERAS), ("REGISTRY.csv", REGISTRY), ("READS.csv", READS)):
        (tmp_path / name).write_text(text, encoding="utf-8")
    return tmp_path


def _args(d, *extra):
    return ["--cameras", str(d / "CAMERAS.csv"), "--registry", str(d / "REGISTRY.csv"), "--reads",
            str(d / "READS.csv"), "--out", str(d / "CASES.csv"), *extra]  # fmt: skip


def test_enforce_batch_end_to_end(files):
    result = CliRunner().invoke(enforce, _args(files, "--alerts-out", str(files / "ALERTS.csv")))
    assert result.exit_code == 0, result.output
    text = (files / "CASES.csv").read_text(encoding="utf-8")
    rows = list(csv.reader(text.splitlines()))
    assert tuple(rows[0]) == CASES_COLUMNS
    assert rows[1:] == [
        [case_id("bus_lane", "12가3456", "r1"), "bus_lane", "12가3456", "2026-03-04T09:00:00+09:00",
         "2026-03-04T09:00:00+09:00", "r1", "50000", "0"],
        [case_id("green_zone", "34나5678", "2026-03-04"), "green_zone", "34나5678", "2026-03-04T10:00:00+09:00",
         "2026-03-04T11:00:00+09:00", "r2 r3", "250000", "1"],
        [case_id("section_speed", "12가3456", "S1", "r4"), "section_speed", "12가3456", "2026-03-04T12:00:00+09:00",
         "2026-03-04T12:01:40+09:00", "r4 r5", "40000", "0"],
        [case_id("no_stopping", "12가3456", "N1", "r6"), "no_stopping", "12가3456", "2026-03-04T13:00:00+09:00",
         "2026-03-04T13:06:00+09:00", "r6 r8", "40000", "0"],
    ]  # fmt: skip
    err = result.stderr
    for expected in ("CAMERAS.csv:7: lon is not a number: 'xx'",
                     "CAMERAS.csv:8: lane_type must be one of",
                     "REGISTRY.csv:5: emission_grade must be 1..5, got '9'",
                     "READS.csv:10: ts has no UTC offset",
                     "READS.csv:11: confidence must be within 0..1, got 1.7",
                     "READS.csv:12: unknown_camera",
                     "READS.csv:13: unparseable_plate",
                     "READS.csv:15: duplicate read_id 'r1'",
                     "READS.csv:16: fewer fields than the header",
                     "READS.csv:17: ts is not ISO 8601"):  # fmt: skip
        assert expected in err, expected
    assert "16 read rows, 9 used, 5 malformed, 2 rejected" in err
    assert "4 cases (bus_lane 1, green_zone 1, no_stopping 1, section_speed 1)" in err
    alerts = list(csv.DictReader((files / "ALERTS.csv").read_text(encoding="utf-8").splitlines()))
    assert [(a["plate"], a["read_id"], a["camera_id"], a["reason"]) for a in alerts] == [("11바2222", "r13", "G1",
                                                                                          "watch")]  # fmt: skip
    # a re-run gives byte-identical output
    first = text
    assert CliRunner().invoke(enforce, _args(files)).exit_code == 0
    assert (files / "CASES.csv").read_text(encoding="utf-8") == first
    assert (files / "CASES_alerts.csv").exists()


def test_enforce_holidays_and_flags(files):
    (files / "h.txt").write_text("2026-03-04\n", encoding="utf-8")
    (files / "CAMERAS.csv").write_text(CAMERAS.replace("BM1,37.57,126.98,median", "BM1,37.57,126.98,roadside_full"))
    result = CliRunner().invoke(enforce, _args(files, "--holidays", str(files / "h.txt"),
                                               "--speed-tolerance-kph", "15", "--no-stopping-min-s", "400"))  # fmt: skip
    assert result.exit_code == 0, result.output
    rules = [r["rule"] for r in csv.DictReader((files / "CASES.csv").read_text(encoding="utf-8").splitlines())]
    assert rules == ["green_zone"]  # roadside lane on a holiday, 72 <= 60+15 km/h, 360 s <= 400 s


def test_enforce_holidays_csv_with_a_header(files):
    (files / "h.csv").write_text("date,name\n2026-03-04,a made-up holiday\n", encoding="utf-8")
    (files / "CAMERAS.csv").write_text(CAMERAS.replace("BM1,37.57,126.98,median", "BM1,37.57,126.98,roadside_full"))
    result = CliRunner().invoke(enforce, _args(files, "--holidays", str(files / "h.csv")))
    assert result.exit_code == 0, result.output
    rules = [r["rule"] for r in csv.DictReader((files / "CASES.csv").read_text(encoding="utf-8").splitlines())]
    assert "bus_lane" not in rules  # the roadside lane is not enforced on the file's holiday
    (files / "h.csv").write_text("date,name\n2026-03-04,a\n2026-3-5,b\n", encoding="utf-8")
    result = CliRunner().invoke(enforce, _args(files, "--holidays", str(files / "h.csv")))
    assert result.exit_code == 2 and "h.csv:3: not an ISO date: '2026-3-5'" in result.output


def test_enforce_bad_files(files):
    (files / "READS.csv").write_text("id,camera,ts\n1,2,3\n", encoding="utf-8")
    result = CliRunner().invoke(enforce, _args(files))
    assert result.exit_code == 2 and "missing column(s) read_id, camera_id, plate, confidence" in result.output
    (files / "h.txt").write_text("2026-02-30\n", encoding="utf-8")
    result = CliRunner().invoke(enforce, _args(files, "--holidays", str(files / "h.txt")))
    assert result.exit_code == 2 and "h.txt:1: not an ISO date" in result.output


def test_cases_commands(files):
    db = f"sqlite:///{files / 'q.sqlite'}"
    runner = CliRunner()
    assert runner.invoke(enforce, _args(files, "--db", db)).exit_code == 0
    listed = runner.invoke(cases, ["--db", db, "list", "--status", "new"])
    assert listed.exit_code == 0 and listed.output.count("\n") == 2 + 4
    by_plate = runner.invoke(cases, ["--db", db, "list", "--plate", "12가 3456"])
    assert by_plate.output.count("12가3456") == 3  # bus lane, section speed, no stopping
    masked = runner.invoke(cases, ["--db", db, "list", "--rule", "green_zone", "--masked"])
    assert "34나**78" in masked.output and "34나5678" not in masked.output
    cid = case_id("bus_lane", "12가3456", "r1")
    short = cid[:8]
    bad = runner.invoke(cases, ["--db", db, "confirm", short, "--reviewer", "kim"])
    assert bad.exit_code == 1 and "claim it before you confirm it" in bad.output
    assert runner.invoke(cases, ["--db", db, "claim", short, "--reviewer", "kim"]).exit_code == 0
    taken = runner.invoke(cases, ["--db", db, "claim", short, "--reviewer", "lee"])
    assert taken.exit_code == 1 and "claimed by kim" in taken.output
    done = runner.invoke(cases, ["--db", db, "confirm", short], env={"TOPIS_REVIEWER": "kim"})
    assert done.exit_code == 0 and f"notice N-{cid}" in done.output
    gid = case_id("green_zone", "34나5678", "2026-03-04")
    assert runner.invoke(cases, ["--db", db, "claim", gid, "--reviewer", "lee"]).exit_code == 0
    need = runner.invoke(cases, ["--db", db, "dismiss", gid, "--reviewer", "lee"])
    assert need.exit_code == 2 and "--reason" in need.output
    assert runner.invoke(cases, ["--db", db, "dismiss", gid, "--reviewer", "lee", "--reason", "misread"]).exit_code == 0
    shown = runner.invoke(cases, ["--db", db, "show", short])
    assert shown.exit_code == 0
    assert "confirmed" in shown.output and "r1" in shown.output and "cli:" in shown.output
    out = files / "n.json"
    exported = runner.invoke(cases, ["--db", db, "export", "--format", "json", "--out", str(out)])
    assert exported.exit_code == 0
    data = json.loads(out.read_text(encoding="utf-8"))
    assert [(n["case_id"], n["fine_krw"], n["place"]) for n in data] == [(cid, 50000, "BM1")]
    as_csv = runner.invoke(cases, ["--db", db, "export"])
    assert as_csv.output.splitlines()[0].startswith("notice_id,case_id,plate") and cid in as_csv.output
    assert runner.invoke(cases, ["--db", db, "show", "zzzzzzzz"]).exit_code == 1
    assert runner.invoke(cases, ["--db", db, "show", "abc"]).exit_code == 2


def test_topis_cli_registers_commands():
    from topis.cli import main

    result = CliRunner().invoke(main, ["enforce", "--help"])
    assert result.exit_code == 0 and "topis enforce --cameras CAMERAS.csv" in result.output
    assert CliRunner().invoke(main, ["cases", "--help"]).exit_code == 0


def test_cases_offenders_and_purge(files):
    db = f"sqlite:///{files / 'q.sqlite'}"
    runner = CliRunner()
    assert runner.invoke(enforce, _args(files, "--db", db)).exit_code == 0
    for rid in ("r1",):
        cid = case_id("bus_lane", "12가3456", rid)
        runner.invoke(cases, ["--db", db, "claim", cid, "--reviewer", "kim"])
        runner.invoke(cases, ["--db", db, "confirm", cid, "--reviewer", "kim"])
    none = runner.invoke(cases, ["--db", db, "offenders"])
    assert none.exit_code == 0 and "no repeat offenders" in none.output
    one = runner.invoke(cases, ["--db", db, "offenders", "--min-cases", "1", "--days", "100000"])
    assert "12가3456" in one.output and "1" in one.output
    purged = runner.invoke(cases, ["--db", db, "purge", "--days", "1"])
    # no-case reads: r4 (S1A, 12:00 hour), r6 and r7 (N1, 13:00 hour); dead letters are recent
    assert purged.exit_code == 0 and "purged 2 hourly read counts and 0 dead letters" in purged.output

"""topis plan headways|squirrel|owl through click, on small files."""

import csv
import json

import pytest
from click.testing import CliRunner

from optimizer.cli.service import headways, owl, squirrel


def write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def read_rows(path):
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_headways_writes_csv(tmp_path):
    loads = write(tmp_path / "loads.csv", "route,boardings_per_h,cycle_time_min\nA,100,64\nB,25,64\n")
    out = tmp_path / "h.csv"
    res = CliRunner().invoke(headways, ["--loads", str(loads), "--fleet", "12", "--min-headway-min", "1",
                                        "--max-headway-min", "60", "--out", str(out)])
    assert res.exit_code == 0, res.output
    rows = read_rows(out)
    assert [(r["route"], r["buses"], r["headway_min"]) for r in rows] == [("A", "8", "8.0"), ("B", "4", "16.0")]


def test_headways_clear_errors(tmp_path):
    loads = write(tmp_path / "loads.csv", "route,boardings_per_h,cycle_time_min\nA,100,90\nB,25,90\n")
    res = CliRunner().invoke(headways, ["--loads", str(loads), "--fleet", "5", "--max-headway-min", "30"])
    assert res.exit_code == 1 and "fleet 5 is too small" in res.output and "needs 6 buses" in res.output
    bad = write(tmp_path / "bad.csv", "route,boardings\nA,1\n")
    res = CliRunner().invoke(headways, ["--loads", str(bad), "--fleet", "5"])
    assert res.exit_code == 2 and "missing column(s) boardings_per_h, cycle_time_min" in res.output
    nan = write(tmp_path / "nan.csv", "route,boardings_per_h,cycle_time_min\nA,lots,90\n")
    res = CliRunner().invoke(headways, ["--loads", str(nan), "--fleet", "5"])
    assert res.exit_code == 2 and "'lots' is not a number" in res.output


def test_squirrel_from_profiles(tmp_path):
    lines = ["route,sequence,stop_id,lon,lat,load_per_h"]
    for i, load in enumerate([100, 200, 400, 600, 600, 600, 300, 100, 50, 0]):
        lines.append(f"R1,{i + 1},S{i},{127.0 + i * 0.00565:.5f},37.5,{load}")
    prof = write(tmp_path / "p.csv", "\n".join(lines) + "\n")
    gj, out = tmp_path / "s.geojson", tmp_path / "s.csv"
    res = CliRunner().invoke(squirrel, ["--profiles", str(prof), "--spare-fleet", "3", "--out-geojson", str(gj),
                                        "--out-csv", str(out)])
    assert res.exit_code == 0, res.output
    rows = read_rows(out)
    assert [r["stop"] for r in rows] == ["S3", "S4", "S5", "S6"] and rows[0]["parent"] == "R1"
    feature = json.loads(gj.read_text())["features"][0]
    assert feature["geometry"]["type"] == "LineString" and len(feature["geometry"]["coordinates"]) == 4
    assert feature["geometry"]["coordinates"][0][0] == pytest.approx(127.0 + 3 * 0.00565, abs=1e-6)


def test_squirrel_needs_exactly_one_source(tmp_path):
    res = CliRunner().invoke(squirrel, [])
    assert res.exit_code == 2 and "exactly one of --seoul or --profiles" in res.output
    prof = write(tmp_path / "p.csv", "route,sequence,stop_id,lon,lat,load_per_h\nR,1,a,127,37.5,1\nR,2,b,127.01,37.5,1\n")
    res = CliRunner().invoke(squirrel, ["--profiles", str(prof), "--peak-hours", "9-7"])
    assert res.exit_code == 2 and "--peak-hours" in res.output


def test_owl_from_demand_csv(tmp_path):
    lines = ["stop_id,lon,lat,board,alight"]
    for i in range(11):
        for j in range(11):
            w = 100 if 5 in (i, j) else 0
            lines.append(f"s{i}_{j},{127 + i * 0.00565:.5f},{37.5 + j * 0.0045:.5f},{w},{w}")
    dem = write(tmp_path / "d.csv", "\n".join(lines) + "\n")
    out = tmp_path / "o.csv"
    res = CliRunner().invoke(owl, ["--demand", str(dem), "--fleet", "12", "--walk-m", "300", "--cell-m", "400", "--out-csv", str(out)])
    assert res.exit_code == 0, res.output
    assert "demand within 300 m: 100.0%" in res.output
    rows = read_rows(out)
    assert {r["stop"] for r in rows} == {f"s{i}_5" for i in range(11)} | {f"s5_{j}" for j in range(11)}
    res = CliRunner().invoke(owl, ["--demand", str(dem), "--fleet", "1", "--max-headway-min", "10"])
    assert res.exit_code == 1 and "cannot run a single night route" in res.output


def test_owl_with_od_matrix(tmp_path):
    dem = write(tmp_path / "d.csv", "stop_id,lon,lat\n" + "".join(
        f"s{i},{127 + i * 0.00565:.5f},37.5\n" for i in range(7)))
    od = write(tmp_path / "od.csv", "origin,destination,trips\ns0,s6,50\ns6,s0,50\n" +
               "".join(f"s{i},s{i + 1},1\n" for i in range(6)))
    res = CliRunner().invoke(owl, ["--demand", str(dem), "--od", str(od), "--fleet", "4", "--walk-m", "300",
                                   "--cell-m", "400"])
    assert res.exit_code == 0, res.output
    assert "demand within 300 m: 100.0%" in res.output and "d0 100.0%" in res.output
    bad = write(tmp_path / "bad.csv", "origin,destination,trips\ns0,zz,1\n")
    res = CliRunner().invoke(owl, ["--demand", str(dem), "--od", str(bad), "--fleet", "4"])
    assert res.exit_code == 2 and "'zz' is not in d.csv" in res.output


SEOUL = __import__("pathlib").Path(__file__).resolve().parents[3] / "shared" / "data" / "seoul" / "2022_05.txt.zip"


@pytest.mark.skipif(not SEOUL.is_file(), reason=f"Seoul reference data not found at {SEOUL}")
def test_squirrel_on_real_seoul_routes(tmp_path):
    out = tmp_path / "s.csv"
    res = CliRunner().invoke(squirrel, ["--seoul", str(SEOUL), "--route", "2211", "--route", "470",
                                        "--route", "99999", "--spare-fleet", "5", "--out-csv", str(out)])
    assert res.exit_code == 2 and "not in 2022_05.txt.zip: 99999" in res.output
    res = CliRunner().invoke(squirrel, ["--seoul", str(SEOUL), "--route", "2211", "--route", "470",
                                        "--spare-fleet", "5", "--out-csv", str(out)])
    assert res.exit_code == 0, res.output
    assert "2 routes profiled" in res.output
    rows = read_rows(out)
    assert rows and {r["parent"] for r in rows} <= {"2211", "470"}

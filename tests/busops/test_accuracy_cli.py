import re

from busops_fixtures import at, lonlat
from click.testing import CliRunner

from streams.bus.cli import accuracy


def _trace(path):
    lines = ["vehicle_id,timestamp,lat,lon,route_id"]
    for k in range(19):
        ts = at(7, 58) + 30 * k
        lat, lon = lonlat(max(0.0, 5.0 * (ts - at(8, 0))))
        lines.append(f"v1,{ts:.0f},{lat:.7f},{lon:.7f},R1")
    path.write_text("\n".join(lines) + "\n")
    return path


def test_accuracy_scores_own_predictions_and_a_file(tiny_dir, tmp_path):
    trace = _trace(tmp_path / "avl.csv")
    out = tmp_path / "pred.csv"
    runner = CliRunner()
    res = runner.invoke(accuracy, ["--gtfs", str(tiny_dir), "--avl", str(trace), "--predictions-out", str(out)])
    assert res.exit_code == 0, res.output
    assert "5 stop arrivals" in res.output and "topis (topis): score 100.0%" in res.output
    assert out.read_text().startswith("vehicle_id,trip_id,stop_id,stop_sequence,made_at,predicted_arrival")
    res = runner.invoke(accuracy, ["--gtfs", str(tiny_dir), "--avl", str(trace), "--predictions", str(out),
                                   "--compare"])
    assert res.exit_code == 0, res.output
    assert res.output.count("score 100.0%") == 2


def test_accuracy_clear_errors(tiny_dir, tmp_path):
    runner = CliRunner()
    res = runner.invoke(accuracy, ["--gtfs", str(tmp_path), "--avl", str(_trace(tmp_path / "a.csv"))])
    assert res.exit_code == 2 and "agency.txt: missing" in res.output
    bad = tmp_path / "b.csv"
    bad.write_text("vehicle_id,timestamp,lat,lon\nv1,noon,1,2\n")
    res = runner.invoke(accuracy, ["--gtfs", str(tiny_dir), "--avl", str(bad)])
    assert res.exit_code == 2 and "b.csv:2" in res.output
    res = runner.invoke(accuracy, ["--help"])
    assert res.exit_code == 0 and "Example" in res.output


def test_accuracy_against_a_truth_file(tiny_dir, tmp_path):
    trace = _trace(tmp_path / "avl.csv")
    truth = tmp_path / "stop_visits.csv"
    # the "true" arrival at C is 08:05:20, 120 s after the trace (and topis) put it: the two predictions made
    # 0-3 min before it are inaccurate (> 90 s late), those made 3-6 and 6-10 min before are accurate
    truth.write_text("vehicle_id,trip_id,stop_sequence,arrival_ts\n"
                     f"v1,E1,30,{at(8, 5, 20):.3f}\n")
    res = CliRunner().invoke(accuracy, ["--gtfs", str(tiny_dir), "--avl", str(trace), "--truth", str(truth)])
    assert res.exit_code == 0, res.output
    assert "1 stop arrivals from stop_visits.csv" in res.output
    assert re.search(r"0-3 min\s+2\s+0\s+0\.0%", res.output) and "score 66.7%" in res.output
    bad = tmp_path / "bad.csv"
    bad.write_text("trip_id,stop_sequence\nE1,30\n")
    res = CliRunner().invoke(accuracy, ["--gtfs", str(tiny_dir), "--avl", str(trace), "--truth", str(bad)])
    assert res.exit_code == 2 and "arrival_ts" in res.output

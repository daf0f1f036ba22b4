"""``topis plan network`` / ``topis plan evaluate`` through click's CliRunner."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from optimizer.cli.network import evaluate, network

TRNDP = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "trndp"
MANDL = TRNDP / "mumford_format" / "Mandl"
pytestmark = pytest.mark.skipif(not TRNDP.is_dir(), reason=f"reference data not found at {TRNDP}")


def test_network_writes_routes_geojson_csv_and_prints_kpis(tmp_path):
    out, gj, table = tmp_path / "r.txt", tmp_path / "r.geojson", tmp_path / "r.csv"
    args = ["--instance", str(MANDL), "--routes", "4", "--min-nodes", "2", "--max-nodes", "8",
            "--seconds", "20", "--seed", "1", "--iterations", "3000", "--out", str(out),
            "--geojson", str(gj), "--csv", str(table)]
    result = CliRunner().invoke(network, args)
    assert result.exit_code == 0, result.output
    for word in ("ATT ", "TRT ", "d0 ", "d1 ", "d2 ", "dun ", "feasible: yes"):
        assert word in result.output
    lines = out.read_text().splitlines()
    assert len(lines) == 4 and all(2 <= len(line.split()) <= 8 for line in lines)
    features = json.loads(gj.read_text())["features"]
    assert sum(f["geometry"]["type"] == "LineString" for f in features) == 4
    with table.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert rows[0] == {"route": "1", "sequence": "1", "stop": lines[0].split()[0], "headway": ""}
    assert len(rows) == sum(len(line.split()) for line in lines)
    # evaluating the written file prints the same ATT
    again = CliRunner().invoke(evaluate, ["--instance", str(MANDL), "--routes-file", str(out)])
    assert again.exit_code == 0
    att = next(line for line in result.output.splitlines() if line.startswith("ATT"))
    assert att in again.output


def test_evaluate_reports_failed_constraints(tmp_path):
    routes = tmp_path / "bad.txt"
    routes.write_text("1 2 3\n5 4\n")
    result = CliRunner().invoke(evaluate, ["--instance", str(MANDL), "--routes-file", str(routes), "--max-nodes", "2"])
    assert result.exit_code == 1
    assert "feasible: NO" in result.output
    assert "route 1: 3 nodes, outside 1..2" in result.output
    assert "nodes not covered" in result.output


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--instance", "/nonexistent/Mandl"], "no instance at /nonexistent/Mandl"),
        (["--routes", "1"], "limits cannot be met"),
        (["--min-nodes", "9"], "is below --min-nodes"),
    ],
)
def test_network_errors_are_usage_errors(tmp_path, extra, message):
    base = {"--instance": str(MANDL), "--routes": "4", "--min-nodes": "2", "--max-nodes": "8",
            "--seconds": "1", "--out": str(tmp_path / "o.txt")}
    base.update(dict(zip(extra[::2], extra[1::2])))
    result = CliRunner().invoke(network, [x for kv in base.items() for x in kv])
    assert result.exit_code == 2
    assert message in result.output
    assert not (tmp_path / "o.txt").exists()


def test_help_has_an_example():
    result = CliRunner().invoke(network, ["--help"])
    assert "topis plan network --instance" in result.output


def test_planner_modules_do_not_import_faust_or_dash():
    import subprocess
    import sys

    code = (
        "import sys, optimizer.cli.network, optimizer.design, optimizer.route_export, optimizer.synthetic; "
        "bad = [m for m in sys.modules if m.split('.')[0] in ('faust', 'dash')]; print(bad); sys.exit(bool(bad))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr

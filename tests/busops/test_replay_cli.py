"""``topis replay`` end to end (embedded broker, a worker process) on the tiny feed, with a trace that has no route.

Bus v1 runs east on the 2 km road at a steady 5 m/s from 08:00, exactly on trip E1's timetable
(stops every 500 m, 100 s apart): it must reach B..E at 08:01:40, 08:03:20, 08:05:00 and 08:06:40.
The CSV gives no route, trip or block: replay places the fixes on R1 by geometry (the same
code the live agent uses for fixes sent with no route). A fix 3 km off the road is not placed.
"""

from __future__ import annotations

import csv

import pytest
from busops_fixtures import at, lonlat
from click.testing import CliRunner

from streams.bus.accuracy import read_predictions_csv
from streams.bus.cli import replay

pytestmark = pytest.mark.integration


def test_replay_without_routes_places_matches_and_predicts(tiny_dir, tiny_feed, tmp_path):
    trace = tmp_path / "trace.csv"
    with trace.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["vehicle_id", "timestamp", "lat", "lon"])
        for k in range(16):  # 07:59:30 .. 08:07:00, every 30 s
            ts = at(7, 59, 30) + 30 * k
            lat, lon = lonlat(min(2000.0, max(0.0, 5.0 * (ts - at(8, 0)))))
            w.writerow(["v1", f"{ts:.0f}", f"{lat:.7f}", f"{lon:.7f}"])
        lat, lon = lonlat(500.0, 3000.0)
        w.writerow(["v9", f"{at(8, 1):.0f}", f"{lat:.7f}", f"{lon:.7f}"])
    out = tmp_path / "predictions.csv"
    result = CliRunner().invoke(replay, ["--gtfs", str(tiny_dir), "--avl", str(trace), "--predictions-out", str(out)])
    assert result.exit_code == 0, result.output
    assert "16 fixes on 1 route(s); 1 not on any route of the feed" in result.output
    assert "fixes/s through Kafka" in result.output
    preds = read_predictions_csv(out, tiny_feed.tz)
    assert preds and {(p.vehicle_id, p.trip_id) for p in preds} == {("v1", "E1")}
    due = {"B": at(8, 1, 40), "C": at(8, 3, 20), "D": at(8, 5, 0), "E": at(8, 6, 40)}
    # made while the bus runs on time, every prediction is close to the true arrival
    errors = [abs(p.predicted_arrival_ts - due[p.stop_id]) for p in preds if p.made_at_ts >= at(8, 0)]
    assert errors and max(errors) <= 30.0

"""``topis demand`` on the hand-made two-route city, written as a tiny GTFS feed."""

from __future__ import annotations

import csv
import json
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner

from streams.demand.cli import demand

KST = ZoneInfo("Asia/Seoul")
T0 = datetime(2026, 11, 23, 8, 0, tzinfo=KST).timestamp()

STOPS = {f"A{i + 1}": (37.50, 127.00 + 0.01 * i) for i in range(5)}
STOPS |= {"B1": (37.501, 127.02), "B2": (37.51, 127.02), "B3": (37.52, 127.02), "B4": (37.53, 127.02)}

TAPS = [  # same day as tests/demand/test_taps.py
    ("c1", "on", "A", "bus1", "A1", 0), ("c4", "on", "A", "bus1", "A1", 2), ("c2", "on", "A", "bus1", "A1", 5),
    ("c3", "on", "A", "bus1", "A2", 300), ("c1", "off", "A", "bus1", "A3", 600), ("c2", "off", "A", "bus1", "A3", 600),
    ("c1", "on", "B", "bus9", "B1", 600 + 29 * 60), ("c1", "off", "B", "bus9", "B3", 600 + 40 * 60),
    ("c2", "on", "B", "bus8", "B1", 600 + 31 * 60), ("c2", "off", "B", "bus8", "B3", 600 + 42 * 60),
    ("c3", "on", "B", "bus7", "B1", 1200), ("c3", "off", "B", "bus7", "B4", 1800),
    ("c5", "on", "A", "bus2", "A1", 900), ("c5", "off", "A", "bus2", "A2", 1100),
]


def write_gtfs(folder):
    folder.mkdir()
    (folder / "agency.txt").write_text("agency_id,agency_name,agency_url,agency_timezone\nT,Toy,http://x,Asia/Seoul\n")
    (folder / "stops.txt").write_text("stop_id,stop_name,stop_lat,stop_lon\n" + "".join(
        f"{s},{s},{lat},{lon}\n" for s, (lat, lon) in STOPS.items()))
    (folder / "routes.txt").write_text("route_id,route_short_name,route_type\nA,A,3\nB,B,3\n")
    (folder / "trips.txt").write_text("route_id,service_id,trip_id,direction_id\nA,WD,ta,0\nB,WD,tb,0\n")
    (folder / "calendar.txt").write_text("service_id,monday,tuesday,wednesday,thursday,friday,saturday,sunday,"
                                         "start_date,end_date\nWD,1,1,1,1,1,0,0,20260101,20271231\n")
    rows = [f"ta,{s},{i + 1},08:{i:02d}:00,08:{i:02d}:00" for i, s in enumerate(["A1", "A2", "A3", "A4", "A5"])]
    rows += [f"tb,{s},{i + 1},08:{i:02d}:00,08:{i:02d}:00" for i, s in enumerate(["B1", "B2", "B3", "B4"])]
    (folder / "stop_times.txt").write_text("trip_id,stop_id,stop_sequence,arrival_time,departure_time\n" + "\n".join(rows) + "\n")


def read(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture
def setup(tmp_path):
    write_gtfs(tmp_path / "gtfs")
    taps = tmp_path / "taps.csv"
    taps.write_text("card_hash,direction,route_id,vehicle_id,stop_id,ts\n" + "".join(
        f"{c},{d},{r},{v},{s},{datetime.fromtimestamp(T0 + dt, KST).isoformat()}\n" for c, d, r, v, s, dt in TAPS))
    return tmp_path


def test_demand_command_writes_hand_checked_outputs(setup):
    out = setup / "out"
    res = CliRunner().invoke(demand, ["--taps", str(setup / "taps.csv"), "--gtfs", str(setup / "gtfs"),
                                      "--zones", "grid:100000", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "14 taps -> 8 rides, 6 journeys, 2 transfers" in res.output
    assert "tapped 6, chained 1, from distribution 1" in res.output
    b = {(r["route_id"], r["stop_id"], r["hour_local"]): (r["boardings_tapped"], r["alightings_tapped"])
         for r in read(out / "boardings.csv")}
    assert b[("A", "A1", "8")] == ("4", "0") and b[("A", "A3", "8")] == ("0", "2")
    odm = {(r["origin"], r["destination"]): float(r["trips_pax"]) for r in read(out / "od_stops.csv")}
    # c4 never taps off: spread by the day's tapped alightings downstream of A1 (A2: 1, A3: 2)
    assert odm == pytest.approx({("A1", "B3"): 1, ("A1", "A3"): 1 + 2 / 3, ("A1", "A2"): 1 + 1 / 3,
                                 ("B1", "B3"): 1, ("A2", "B4"): 1}, abs=1e-3)
    zones = read(out / "od_zones.csv")
    assert len(zones) == 1 and float(zones[0]["trips_pax"]) == pytest.approx(6.0)  # one 100 km cell
    seg = [r for r in read(out / "segment_loads.csv") if r["route_id"] == "A"]
    # A1>A2: c1 c2 c4 c5; A2>A3: c1 c2 c3 and c4's 2/3; nobody rides beyond A3
    assert [float(r["passengers_pax"]) for r in seg] == pytest.approx([4.0, 3 + 2 / 3, 0.0, 0.0], abs=1e-3)
    sq = json.loads((out / "squirrel.json").read_text())
    assert {s["route_id"] for s in sq} == {"A", "B"} and sq[0]["schema"] == "demand.squirrel/1"
    assert json.loads((out / "owl.json").read_text())["schema"] == "demand.owl/1"


def test_demand_command_errors(setup):
    runner = CliRunner()
    args = ["--taps", str(setup / "taps.csv"), "--out", str(setup / "o")]
    res = runner.invoke(demand, args)
    assert res.exit_code == 2 and "exactly one route source" in res.output
    res = runner.invoke(demand, args + ["--gtfs", str(setup / "gtfs"), "--zones", "grid:-5"])
    assert res.exit_code == 2 and "grid:METRES" in res.output
    res = runner.invoke(demand, args + ["--gtfs", str(setup / "gtfs"), "--zones", "city"])
    assert res.exit_code == 2 and "--city-seed" in res.output
    (setup / "bad.csv").write_text("card_hash,direction,route_id,vehicle_id,stop_id,ts\nc,sideways,A,b,A1,0\n")
    res = runner.invoke(demand, ["--taps", str(setup / "bad.csv"), "--gtfs", str(setup / "gtfs"), "--out", str(setup / "o")])
    assert res.exit_code == 2 and "bad.csv:2: direction" in res.output
    assert "topis demand --taps" in runner.invoke(demand, ["--help"]).output

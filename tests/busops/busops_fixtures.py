"""A tiny hand-made GTFS feed: one straight 2 km east-west road in Seoul.

Stops A..E every 500 m (x = 0, 500, 1000, 1500, 2000 m east of A), one route R1.
Eastbound trips E1, E2, E3 leave A at 08:00, 08:10, 08:20 and take 100 s per
segment (a steady 5 m/s, no dwell); westbound W1 leaves E at 08:10. E1 and W1
form block B1. Service WK runs Monday-Friday of 2026 (2026-03-02 is a Monday).
"""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path
from zoneinfo import ZoneInfo

from topis.schemas.inputs import BusPosition

LAT0 = 37.5
LON_A = 127.0
R = 6_371_008.8
TZ = ZoneInfo("Asia/Seoul")
DAY = dt.date(2026, 3, 2)
STOP_X = {"A": 0.0, "B": 500.0, "C": 1000.0, "D": 1500.0, "E": 2000.0}
REPO = Path(__file__).resolve().parents[2]
WMATA = REPO.parent / "shared" / "data" / "avl" / "wmata_transitclock_2016"


def lonlat(x_m: float, y_m: float = 0.0) -> tuple[float, float]:
    """Metres east/north of stop A → (lat, lon)."""
    lat = LAT0 + math.degrees(y_m / R)
    lon = LON_A + math.degrees(x_m / (R * math.cos(math.radians(LAT0))))
    return lat, lon


def at(hh: int, mm: int, ss: float = 0.0) -> float:
    """Epoch seconds of a local time on DAY."""
    return dt.datetime(DAY.year, DAY.month, DAY.day, hh, mm, tzinfo=TZ).timestamp() + ss


def fix(x_m: float, ts: float, vehicle: str = "v1", route: str = "R1", y_m: float = 0.0,
        heading: float | None = None, trip: str | None = None) -> BusPosition:
    lat, lon = lonlat(x_m, y_m)
    return BusPosition(vehicle, route, ts, lat, lon, trip_id=trip, heading_deg=heading)


def _hms(s: float) -> str:
    s = int(s)
    return f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"


def write_feed(folder: Path, shapes: bool = True, timepoints: bool = False) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "agency.txt").write_text("agency_id,agency_name,agency_url,agency_timezone\n"
                                       "1,Tiny,http://example.org,Asia/Seoul\n")
    stops = ["stop_id,stop_name,stop_lat,stop_lon"]
    for sid, x in STOP_X.items():
        lat, lon = lonlat(x, 5.0)  # stops stand 5 m off the road's centreline
        stops.append(f"{sid},Stop {sid},{lat:.7f},{lon:.7f}")
    (folder / "stops.txt").write_text("\n".join(stops) + "\n")
    (folder / "routes.txt").write_text("route_id,route_short_name,route_long_name,route_type\nR1,1,Tiny Road,3\n")
    (folder / "calendar.txt").write_text(
        "service_id,monday,tuesday,wednesday,thursday,friday,saturday,sunday,start_date,end_date\n"
        "WK,1,1,1,1,1,0,0,20260101,20261231\n")
    trips = ["route_id,service_id,trip_id,direction_id,block_id,shape_id"]
    times = ["trip_id,arrival_time,departure_time,stop_id,stop_sequence,timepoint"]
    east, west = list(STOP_X), list(reversed(STOP_X))
    plan = [("E1", 0, "B1", "east", 8 * 3600), ("E2", 0, "B2", "east", 8 * 3600 + 600),
            ("E3", 0, "B3", "east", 8 * 3600 + 1200), ("W1", 1, "B1", "west", 8 * 3600 + 600)]
    for tid, direction, block, shape, start in plan:
        trips.append(f"R1,WK,{tid},{direction},{block},{shape if shapes else ''}")
        order = east if shape == "east" else west
        for k, sid in enumerate(order):
            t = _hms(start + 100 * k)
            tp = (1 if k in (0, 2) else 0) if timepoints else 1
            times.append(f"{tid},{t},{t},{sid},{(k + 1) * 10},{tp}")
    (folder / "trips.txt").write_text("\n".join(trips) + "\n")
    (folder / "stop_times.txt").write_text("\n".join(times) + "\n")
    if shapes:
        rows = ["shape_id,shape_pt_lat,shape_pt_lon,shape_pt_sequence"]
        for name, xs in (("east", range(-100, 2101, 100)), ("west", range(2100, -101, -100))):
            for k, x in enumerate(xs):
                lat, lon = lonlat(float(x))
                rows.append(f"{name},{lat:.7f},{lon:.7f},{k}")
        (folder / "shapes.txt").write_text("\n".join(rows) + "\n")
    return folder

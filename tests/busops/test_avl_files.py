import datetime as dt

import pytest
from google.transit import gtfs_realtime_pb2

from streams.bus.avl_files import (
    AvlFormatError,
    ReadReport,
    block_assignments,
    read_avl,
    read_canonical_csv,
    read_gtfs_rt,
    read_transitclock_csv,
)

CANONICAL = """vehicle_id,timestamp,lat,lon,trip_id,route_id,bearing,speed
v2,1461932700,38.9,-77.03,,S2,,
v1,2016-04-29T08:23:52-04:00,38.95778,-77.03645,877611130,S2,180,25.5
"""


def test_canonical_csv_iso_and_epoch_sorted(tmp_path):
    path = tmp_path / "avl.csv"
    path.write_text(CANONICAL)
    fixes = read_canonical_csv(path)
    assert [f.vehicle_id for f in fixes] == ["v1", "v2"]  # time order
    v1 = fixes[0]
    assert v1.ts == dt.datetime(2016, 4, 29, 12, 23, 52, tzinfo=dt.timezone.utc).timestamp()
    assert v1.trip_id == "877611130" and v1.heading_deg == 180 and v1.speed_kph == 25.5
    assert fixes[1].trip_id is None and fixes[1].heading_deg is None and fixes[1].ts == 1461932700.0


def test_malformed_rows_named_and_counted(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text(CANONICAL + "v3,2016-04-29T08:30:00-04:00,95.0,-77.0,,,,\nv4,yesterday,38.9,-77.0,,,,\n")
    with pytest.raises(AvlFormatError, match=r"bad.csv:4: position out of range"):
        read_canonical_csv(path)
    report = ReadReport()
    fixes = read_canonical_csv(path, errors="skip", report=report)
    assert len(fixes) == 2 and report.rows == 4 and report.bad_rows == 2
    assert report.errors[1].startswith(f"{path}:5:")
    path.write_text("vehicle,timestamp,lat,lon\n")
    with pytest.raises(AvlFormatError, match="missing column.*vehicle_id"):
        read_canonical_csv(path)


def test_naive_iso_needs_a_zone(tmp_path):
    path = tmp_path / "naive.csv"
    path.write_text("vehicle_id,timestamp,lat,lon\nv1,2016-04-29 08:23:52,38.9,-77.0\n")
    with pytest.raises(AvlFormatError, match="no UTC offset"):
        read_canonical_csv(path)
    assert read_avl(path, "America/New_York")[0].ts == 1461932632.0


def test_transitclock_trace_is_new_york_local_time(wmata):
    path = wmata / "traces" / "S2_2113.csv"
    fixes = read_transitclock_csv(path)
    assert len(fixes) == 72
    # "2016-04-29 08:23:52" in New York (EDT) = 12:23:52 UTC
    assert fixes[0].ts == 1461932632.0 and fixes[0].heading_deg == 180 and fixes[0].route_id == ""
    assert fixes[0].block_id == "NS-26"
    assert block_assignments(path) == {"2113": "NS-26"}
    assert [f.ts for f in read_avl(path, "America/New_York")] == [f.ts for f in fixes]


def test_gtfs_realtime_vehicle_positions(tmp_path):
    msg = gtfs_realtime_pb2.FeedMessage()
    msg.header.gtfs_realtime_version = "2.0"
    msg.header.timestamp = 1_700_000_100
    for i, (lat, ts) in enumerate([(37.5, 1_700_000_050), (37.6, 0)]):
        ent = msg.entity.add(id=f"e{i}")
        ent.vehicle.vehicle.id = f"bus{i}"
        ent.vehicle.trip.trip_id = "E1"
        ent.vehicle.trip.route_id = "R1"
        ent.vehicle.position.latitude = lat
        ent.vehicle.position.longitude = 127.0
        ent.vehicle.position.speed = 10.0
        if ts:
            ent.vehicle.timestamp = ts
    bad = msg.entity.add(id="e9")
    bad.vehicle.vehicle.id = "bus9"  # no position
    path = tmp_path / "vp.pb"
    path.write_bytes(msg.SerializeToString())
    report = ReadReport()
    fixes = read_gtfs_rt(path, report)
    assert [(f.vehicle_id, f.ts) for f in fixes] == [("bus0", 1_700_000_050), ("bus1", 1_700_000_100)]
    assert fixes[0].speed_kph == pytest.approx(36.0) and fixes[0].trip_id == "E1" and fixes[0].route_id == "R1"
    assert report.bad_rows == 1
    assert len(read_avl(path)) == 2
    (tmp_path / "archive").mkdir()
    for name in ("0001.pb", "0002.pb"):  # the same snapshot twice: each fix once
        (tmp_path / "archive" / name).write_bytes(path.read_bytes())
    assert [f.vehicle_id for f in read_avl(tmp_path / "archive")] == ["bus0", "bus1"]
    path.write_bytes(b"\xff\xff not protobuf")
    with pytest.raises(AvlFormatError, match="not a GTFS-realtime"):
        read_gtfs_rt(path)

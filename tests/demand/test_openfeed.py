"""The open feed parsed back with the official GTFS-realtime bindings, field by field."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import flask
import pytest
from google.transit import gtfs_realtime_pb2 as rt

from dashboard.openfeed import openfeed_blueprint
from streams.bus import gtfs_rt as openfeed
from topis.schemas.bus import Prediction
from topis.schemas.inputs import BusPosition

#: 2026-11-23 08:00:00 +09:00
NOW = datetime(2026, 11, 23, 8, 0, tzinfo=ZoneInfo("Asia/Seoul")).timestamp()


def positions():
    return [
        BusPosition("bus1", "R1", NOW - 20, 37.50, 127.00, trip_id="t1", speed_kph=18.0, heading_deg=90.0),
        BusPosition("bus1", "R1", NOW - 5, 37.51, 127.01, trip_id="t1", speed_kph=36.0, heading_deg=370.0),
        BusPosition("bus2", "R1", NOW - 1000, 37.52, 127.02, trip_id="t9"),  # stale: left out
        BusPosition("bus3", "R2", NOW - 2, 37.53, 127.03),  # no trip
    ]


def pred(v, r, t, stop, seq, made, arr):
    return Prediction(vehicle_id=v, route_id=r, trip_id=t, stop_id=stop, stop_sequence=seq,
                      made_at_ts=made, predicted_arrival_ts=arr)


def predictions():
    return [
        # t1: an old round (made 30 s ago) for seq 3,4,5 and a new one (10 s ago) for 4,5
        pred("bus1", "R1", "t1", "S3", 3, NOW - 30, NOW - 15),
        pred("bus1", "R1", "t1", "S5", 5, NOW - 30, NOW + 400),
        pred("bus1", "R1", "t1", "S4", 4, NOW - 30, NOW + 100),
        pred("bus1", "R1", "t1", "S5", 5, NOW - 10, NOW + 390.4),
        pred("bus1", "R1", "t1", "S4", 4, NOW - 10, NOW + 125.6),
        # t0: given out of order
        pred("bus3", "R2", "t0", "S9", 9, NOW - 2, NOW + 600),
        pred("bus3", "R2", "t0", "S4", 2, NOW - 2, NOW + 60),
        # t2: stale round (made 700 s ago) dropped
        pred("bus2", "R1", "t2", "S4", 7, NOW - 700, NOW + 30),
    ]


def parse(data: bytes) -> rt.FeedMessage:
    msg = rt.FeedMessage()
    msg.ParseFromString(data)
    return msg


def check_header(msg: rt.FeedMessage) -> None:
    assert msg.header.gtfs_realtime_version == "2.0"
    assert msg.header.incrementality == rt.FeedHeader.FULL_DATASET
    assert msg.header.timestamp == int(NOW)


def test_vehicle_positions_field_by_field():
    msg = parse(openfeed.build_vehicle_positions(positions(), NOW))
    check_header(msg)
    assert [e.id for e in msg.entity] == ["vehicle-bus1", "vehicle-bus3"]
    e1, e3 = msg.entity
    assert e1.HasField("vehicle") and not e1.HasField("trip_update")
    vp = e1.vehicle
    assert vp.trip.trip_id == "t1" and vp.trip.route_id == "R1"
    assert vp.vehicle.id == "bus1"
    assert vp.position.latitude == pytest.approx(37.51) and vp.position.longitude == pytest.approx(127.01)
    assert vp.position.speed == pytest.approx(10.0)  # 36 km/h in m/s
    assert vp.position.bearing == pytest.approx(10.0)
    assert vp.timestamp == int(NOW - 5)
    assert not e3.vehicle.HasField("trip") and e3.vehicle.vehicle.id == "bus3"
    assert not e3.vehicle.position.HasField("speed")


def test_trip_updates_field_by_field():
    msg = parse(openfeed.build_trip_updates(predictions(), NOW))
    check_header(msg)
    assert [e.id for e in msg.entity] == ["trip-t0", "trip-t1"]
    t0, t1 = (e.trip_update for e in msg.entity)
    assert t0.trip.trip_id == "t0" and t0.trip.route_id == "R2" and t0.vehicle.id == "bus3"
    assert [(u.stop_sequence, u.stop_id, u.arrival.time) for u in t0.stop_time_update] == [
        (2, "S4", int(NOW + 60)), (9, "S9", int(NOW + 600))]
    assert t1.timestamp == int(NOW - 10)
    # seq 3 is behind the newest round; 4 and 5 come from the newest round, rounded
    assert [(u.stop_sequence, u.stop_id, u.arrival.time) for u in t1.stop_time_update] == [
        (4, "S4", int(NOW + 126)), (5, "S5", int(NOW + 390))]
    for u in t1.stop_time_update:
        assert not u.HasField("departure")


def test_arrivals_at_stop():
    rows = openfeed.arrivals_at_stop(predictions(), "S4", NOW)
    assert rows == [
        {"route_id": "R2", "vehicle_id": "bus3", "trip_id": "t0", "stop_id": "S4", "minutes_away": 1,
         "seconds_away": 60, "predicted_arrival": "2026-11-23T08:01:00+09:00", "message": "1분 후"},
        {"route_id": "R1", "vehicle_id": "bus1", "trip_id": "t1", "stop_id": "S4", "minutes_away": 2,
         "seconds_away": 126, "predicted_arrival": "2026-11-23T08:02:06+09:00", "message": "2분 후"},
    ]
    assert openfeed.arrivals_at_stop(predictions(), "S3", NOW) == []  # the bus has passed S3
    assert len(openfeed.arrivals_at_stop(predictions(), "S4", NOW, limit=1)) == 1
    soon = openfeed.arrivals_at_stop([pred("b", "R", "t", "S", 1, NOW - 1, NOW + 59.4)], "S", NOW)
    assert soon[0]["message"] == "곧 도착" and soon[0]["minutes_away"] == 0


def test_empty_feed_is_valid():
    msg = parse(openfeed.build_trip_updates([], NOW))
    check_header(msg)
    assert len(msg.entity) == 0


@pytest.fixture
def client():
    app = flask.Flask("test")
    state = openfeed.OpenFeedState(positions(), predictions(), now_ts=NOW)
    app.register_blueprint(openfeed_blueprint(lambda: state))
    return app.test_client()


def test_served_over_http(client):
    r = client.get("/api/gtfs-rt/vehicle-positions.pb")
    assert r.status_code == 200 and r.mimetype == "application/x-protobuf"
    assert r.headers["Cache-Control"] == "no-cache"
    assert [e.id for e in parse(r.data).entity] == ["vehicle-bus1", "vehicle-bus3"]
    r = client.get("/api/gtfs-rt/trip-updates.pb")
    msg = parse(r.data)
    check_header(msg)
    assert msg.entity[1].trip_update.stop_time_update[0].arrival.time == int(NOW + 126)


def test_json_debug_view(client):
    r = client.get("/api/gtfs-rt/trip-updates.pb?format=json")
    assert r.status_code == 200 and r.is_json
    body = r.get_json()
    assert body["header"]["gtfs_realtime_version"] == "2.0"
    assert body["header"]["incrementality"] == "FULL_DATASET"
    assert body["entity"][1]["trip_update"]["stop_time_update"][1]["stop_id"] == "S5"
    assert client.get("/api/gtfs-rt/trip-updates.pb?format=xml").status_code == 400


def test_stop_arrivals_endpoint(client):
    r = client.get("/api/stops/S4/arrivals?limit=5")
    assert r.status_code == 200
    body = r.get_json()
    assert body["stop_id"] == "S4" and body["generated_at"] == "2026-11-23T08:00:00+09:00"
    assert [a["vehicle_id"] for a in body["arrivals"]] == ["bus3", "bus1"]
    assert body["arrivals"][0]["minutes_away"] == 1
    assert client.get("/api/stops/S4/arrivals?limit=0").status_code == 400
    assert client.get("/api/stops/NOPE/arrivals").get_json()["arrivals"] == []


def test_mounts_on_the_dash_server():
    dash = pytest.importorskip("dash")
    app = dash.Dash("topis_openfeed_test")
    app.layout = dash.html.Div("wall")
    state = openfeed.OpenFeedState(positions(), predictions(), now_ts=NOW)
    app.server.register_blueprint(openfeed_blueprint(lambda: state))
    client = app.server.test_client()
    assert len(parse(client.get("/api/gtfs-rt/trip-updates.pb").data).entity) == 2
    assert client.get("/api/stops/S4/arrivals").get_json()["arrivals"][0]["vehicle_id"] == "bus3"

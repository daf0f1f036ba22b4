"""The open feed mounted on the control-room app, served from the read model, parsed with the official bindings."""

from __future__ import annotations

import msgspec
import pytest
from dashboard_fixtures import T0
from google.transit import gtfs_realtime_pb2 as rt

from dashboard.app import build_app
from dashboard.readmodel import PREDICTIONS_KEEP_S, CityState, ReadModel, feed_positions
from dashboard.store import DeskStore
from enforcement.store import CaseStore
from topis import topics
from topis.schemas.bus import Prediction, rounds_of
from topis.schemas.inputs import BusPosition
from topis.settings import DashboardSettings, DeskSettings


def fix(vid, route, ts, lat, lon, **kw) -> dict:
    """A state.vehicles row: a raw fix as the worker publishes it."""
    return msgspec.to_builtins(BusPosition(vid, route, ts, lat, lon, **kw))


def matched(vid, ts, lat, lon, trip) -> dict:
    """A state.routes vehicle row (the fields the open feed uses)."""
    return {"vehicle_id": vid, "ts": ts, "lat": lat, "lon": lon, "status": "on_headway", "trip_id": trip}


def predictions(vid, route, trip, made, stops) -> bytes:
    """A bus.predictions message as on the topic (one round): ``stops`` = [(stop_id, seq, arrival_ts)]."""
    return msgspec.json.encode(rounds_of([Prediction(vid, route, trip, s, q, made, a) for s, q, a in stops]))


def feed(rm: ReadModel) -> None:
    """Hand-made read-model messages.

    * B1 on R1: raw fix at T0-5 (36 km/h, heading 90) matched to trip T1 at the same time;
    * B2 on R1: raw fix at T0 (18 km/h), newer than its match to T2 (T0-20) by 20 s: still T2;
    * U7: sent with no route (key ""), routed by the worker onto R2 and matched to T7: one entity;
    * V9 on R3: its fix is 400 s old: left out of VehiclePositions (max age 300 s);
    * predictions: B1's round made at T0-5 replaces the one made at T0-35, a late older round (T0-60)
      does not; B2's round made at T0.
    """
    rm.feed(topics.STATE_ROUTES.name, {"route_id": "R1", "clock_ts": T0, "vehicles": [
        matched("B1", T0 - 5, 37.55, 126.972, "T1"), matched("B2", T0 - 20, 37.551, 126.978, "T2")]})
    rm.feed(topics.STATE_ROUTES.name, {"route_id": "R2", "clock_ts": T0 - 3, "vehicles": [
        matched("U7", T0 - 3, 37.552, 126.99, "T7")]})
    rm.feed(topics.STATE_VEHICLES.name, {"snapshots": [
        {"route_id": "R1", "vehicles": [fix("B1", "R1", T0 - 5, 37.55, 126.972, speed_kph=36.0, heading_deg=90.0),
                                        fix("B2", "R1", T0, 37.5512, 126.979, speed_kph=18.0)]},
        {"route_id": "", "vehicles": [fix("U7", "", T0 - 3, 37.552, 126.99)]},
        {"route_id": "R2", "vehicles": [fix("U7", "R2", T0 - 3, 37.552, 126.99)]},
        {"route_id": "R3", "vehicles": [fix("V9", "R3", T0 - 400, 37.56, 126.99)]},
    ]})
    rm.feed(topics.BUS_PREDICTIONS.name, predictions("B1", "R1", "T1", T0 - 35, [
        ("S1", 1, T0 - 20), ("S2", 2, T0 + 100), ("S3", 3, T0 + 400)]) + b"")
    rm.feed(topics.BUS_PREDICTIONS.name, msgspec.json.encode([
        *msgspec.json.decode(predictions("B1", "R1", "T1", T0 - 25, [("S2", 2, T0 + 90), ("S3", 3, T0 + 390)])),
        *msgspec.json.decode(predictions("B1", "R1", "T1", T0 - 5, [("S2", 2, T0 + 85), ("S3", 3, T0 + 380)]))]))
    rm.feed(topics.BUS_PREDICTIONS.name, predictions("B1", "R1", "T1", T0 - 60, [("S3", 3, T0 + 999)]))
    rm.feed(topics.BUS_PREDICTIONS.name, predictions("B2", "R1", "T2", T0, [
        ("S3", 3, T0 + 30.2), ("S4", 4, T0 + 200)]))


@pytest.fixture
def client(tmp_path, mini_geojson, proj):
    cases = CaseStore(f"sqlite:///{tmp_path / 'cases.sqlite'}")
    records = DeskStore(cases.url)
    rm = ReadModel()
    feed(rm)
    app = build_app(DashboardSettings(), mini_geojson, proj, rm, cases=cases, records=records,
                    desk_settings=DeskSettings(demo_users=False))
    yield app.server.test_client()
    records.close()
    cases.close()


def parse(data: bytes) -> rt.FeedMessage:
    msg = rt.FeedMessage()
    msg.ParseFromString(data)
    return msg


def test_vehicle_positions_are_public_and_come_from_the_read_model(client):
    r = client.get("/api/gtfs-rt/vehicle-positions.pb")  # nobody logged in
    assert r.status_code == 200 and r.mimetype == "application/x-protobuf"
    msg = parse(r.data)
    assert msg.header.gtfs_realtime_version == "2.0"
    assert msg.header.incrementality == rt.FeedHeader.FULL_DATASET
    assert msg.header.timestamp == int(T0)  # the city clock, not the wall clock
    assert [e.id for e in msg.entity] == ["vehicle-B1", "vehicle-B2", "vehicle-U7"]
    b1, b2, u7 = (e.vehicle for e in msg.entity)
    assert (b1.trip.trip_id, b1.trip.route_id, b1.timestamp) == ("T1", "R1", int(T0 - 5))
    assert b1.position.speed == pytest.approx(10.0) and b1.position.bearing == pytest.approx(90.0)
    assert (b2.trip.trip_id, b2.timestamp) == ("T2", int(T0))
    assert b2.position.latitude == pytest.approx(37.5512) and b2.position.speed == pytest.approx(5.0)
    assert (u7.trip.trip_id, u7.trip.route_id, u7.vehicle.id) == ("T7", "R2", "U7")


def test_trip_updates_carry_each_vehicles_newest_round(client):
    msg = parse(client.get("/api/gtfs-rt/trip-updates.pb").data)
    assert [e.id for e in msg.entity] == ["trip-T1", "trip-T2"]
    t1, t2 = (e.trip_update for e in msg.entity)
    assert (t1.vehicle.id, t1.trip.route_id, t1.timestamp) == ("B1", "R1", int(T0 - 5))
    assert [(u.stop_sequence, u.stop_id, u.arrival.time) for u in t1.stop_time_update] == [
        (2, "S2", int(T0 + 85)), (3, "S3", int(T0 + 380))]
    assert [(u.stop_sequence, u.stop_id, u.arrival.time) for u in t2.stop_time_update] == [
        (3, "S3", int(T0 + 30)), (4, "S4", int(T0 + 200))]
    as_json = client.get("/api/gtfs-rt/trip-updates.pb?format=json").get_json()
    assert as_json["entity"][0]["trip_update"]["stop_time_update"][0]["stop_id"] == "S2"


def test_stop_arrivals_json(client):
    body = client.get("/api/stops/S3/arrivals").get_json()
    assert [(a["vehicle_id"], a["seconds_away"], a["minutes_away"], a["message"]) for a in body["arrivals"]] == [
        ("B2", 30, 0, "곧 도착"), ("B1", 380, 6, "6분 후")]
    assert client.get("/api/stops/S3/arrivals?limit=0").status_code == 400


def test_only_the_open_feed_is_public(client):
    for path in ("/alerts", "/routes", "/cases", "/api/other"):
        r = client.get(path)
        assert r.status_code == 302 and "/login" in r.headers["Location"], path
    assert client.post("/api/gtfs-rt/vehicle-positions.pb").status_code == 403  # no CSRF token, and GET only


def test_old_prediction_rounds_are_forgotten():
    state = CityState()
    state.apply(topics.BUS_PREDICTIONS.name, msgspec.json.decode(predictions("B1", "R1", "T1", T0, [("S2", 2, T0 + 60)])),
                T0)
    state.apply(topics.STATE_ROUTES.name, {"route_id": "R1", "clock_ts": T0, "vehicles": []}, T0)
    assert state.record_frame() and set(state.predictions_by_vehicle) == {"B1"}
    state.apply(topics.STATE_ROUTES.name, {"route_id": "R1", "clock_ts": T0 + PREDICTIONS_KEEP_S + 1, "vehicles": []},
                T0)
    assert state.record_frame() and state.predictions_by_vehicle == {}


def test_feed_positions_prefers_the_newest_fix_and_a_fresh_match():
    routes = {"R1": {"vehicles": [matched("B1", T0 - 300, 37.5, 127.0, "T-old")]}}
    vehicles = {"R1": {"vehicles": [fix("B1", "R1", T0, 37.6, 127.1, trip_id="T-unit")]}}
    (p,) = feed_positions(routes, vehicles)
    assert (p.ts, p.lat, p.trip_id) == (T0, 37.6, "T-unit")  # the match is 300 s older: not used
    (p,) = feed_positions({"R1": {"vehicles": [matched("B1", T0 + 5, 37.7, 127.2, "T9")]}}, vehicles)
    assert (p.ts, p.lat, p.trip_id, p.route_id) == (T0 + 5, 37.7, "T9", "R1")


def test_a_bus_sent_without_route_is_shown_once_on_its_route():
    """U7 is under "" in state.vehicles (as sent) and on R2 (placed by the worker): the map shows R2|U7 only."""
    from dashboard.readmodel import fleet, fleet_arrays

    rm = ReadModel()
    feed(rm)
    state = rm.state()
    keys = fleet_arrays(state, T0).keys
    assert keys == ["R1|B1", "R1|B2", "R2|U7", "R3|V9"]
    assert [b.key for b in fleet(state, T0)] == keys


def test_one_state_serves_the_requests_within_cache_s():
    """get_state() is called once per cache_s; every feed of that state comes from it."""
    import flask

    from dashboard.openfeed import openfeed_blueprint
    from streams.bus.gtfs_rt import OpenFeedState

    calls = []

    def get_state():
        calls.append(1)
        ts = T0 + len(calls)
        return OpenFeedState([BusPosition("B1", "R1", ts, 37.5, 127.0)],
                             [Prediction("B1", "R1", "T1", "S3", 3, ts, ts + 60)], now_ts=ts)

    for cache_s, want_calls, want_ts in ((60.0, 1, [T0 + 1] * 3), (0.0, 3, [T0 + 1, T0 + 2, T0 + 3])):
        calls.clear()
        app = flask.Flask(__name__)
        app.register_blueprint(openfeed_blueprint(get_state, cache_s=cache_s))
        client = app.test_client()
        vp = parse(client.get("/api/gtfs-rt/vehicle-positions.pb").data)
        tu = parse(client.get("/api/gtfs-rt/trip-updates.pb").data)
        arrivals = client.get("/api/stops/S3/arrivals").get_json()["arrivals"]
        assert len(calls) == want_calls
        assert [vp.header.timestamp, tu.header.timestamp] == [int(t) for t in want_ts[:2]]
        assert [a["seconds_away"] for a in arrivals] == [60]

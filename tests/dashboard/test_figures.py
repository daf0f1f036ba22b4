"""Figure builders, KPIs, alerts and playback as pure functions on hand-made read-model messages."""

from __future__ import annotations

import base64
import json

import numpy as np
import plotly.io
import pytest
from dashboard_fixtures import PLAN, T0, feed_city, route_snapshot

from dashboard import alerts, figures, kpis
from dashboard.basemap import base_traces, road_lines
from dashboard.pages import plans as plans_page
from dashboard.pages.wall import frame_at
from dashboard.readmodel import STATUSES, CityState, ReadModel, fleet
from topis import topics


def fed(wall_ts: float = 1000.0) -> CityState:
    rm = ReadModel()
    feed_city(rm, wall_ts=wall_ts)
    return rm.state()


def decode(typed: dict) -> np.ndarray:
    return np.frombuffer(base64.b64decode(typed["bdata"]), {"f4": np.float32, "u1": np.uint8}[typed["dtype"]])


def test_fleet_takes_status_from_state_routes_and_falls_back_to_state_vehicles():
    state = fed()
    buses = fleet(state, T0, stale_after_s=120.0)
    assert [(b.key, b.status) for b in buses] == [
        ("R1|B1", "on_headway"), ("R1|B2", "bunched"), ("R1|B3", "gapped"), ("R2|B9", "unassigned")]
    # the fallback bus goes stale when its fix is older than the limit on the city clock
    assert fleet(state, T0 + 121.0, stale_after_s=120.0)[-1].status == "stale_gps"


def test_status_colour_scale_gives_each_code_its_colour():
    scale = figures.status_colorscale()
    n = len(STATUSES)
    for k, status in enumerate(STATUSES):
        v = k / (n - 1)
        # the last stop at or below v has the status colour (stepwise scale)
        colour = [c for pos, c in scale if pos <= v + 1e-12][-1]
        assert colour == figures.STATUS_COLORS[status], status


def test_bus_patch_sends_float32_positions_and_uint8_status_and_keys_only_when_asked(proj):
    state = fed()
    layer = figures.bus_layer(fleet(state, T0), proj)
    x, y = proj.to_xy(np.array([37.55]), np.array([126.972]))
    assert layer.x_m[0] == pytest.approx(x[0], abs=0.01) and layer.y_m[0] == pytest.approx(y[0], abs=0.01)
    assert layer.status.tolist() == [0, 1, 2, 5]
    assert layer.keys == ["R1|B1", "R1|B2", "R1|B3", "R2|B9"]
    patch = figures.bus_patch(layer, 9, send_keys=False).to_plotly_json()
    ops = {tuple(op["location"]): op["params"]["value"] for op in patch["operations"]}
    assert decode(ops[("data", 9, "x")]).tolist() == layer.x_m.tolist()
    assert decode(ops[("data", 9, "marker", "color")]).tolist() == [0, 1, 2, 5]
    assert ("data", 9, "customdata") not in ops
    with_labels = {tuple(op["location"]) for op in figures.bus_patch(layer, 9, True).to_plotly_json()["operations"]}
    assert ("data", 9, "customdata") in with_labels


def test_keys_signature_changes_only_with_the_set_of_buses():
    assert figures.keys_signature(["R1|B1", "R1|B2"]) == figures.keys_signature(["R1|B1", "R1|B2"])
    assert figures.keys_signature(["R1|B1", "R1|B2"]) != figures.keys_signature(["R1|B1"])


@pytest.mark.parametrize(("speed", "band"), [(0.0, 0), (14.99, 0), (15.0, 1), (24.9, 1), (25.0, 2), (40.0, 3), (99, 3)])
def test_speed_band_edges(speed, band):
    assert figures.speed_band(speed) == band


def test_roads_are_coloured_by_their_newest_link_speed(mini_geojson, proj):
    roads = road_lines(mini_geojson, proj)
    assert set(roads) == {"L1", "L2", "L3"}
    state = fed()
    state.apply(topics.LINK_SPEEDS.name, [{"link_id": "L1", "bin_start_ts": T0 - 600, "speed_kph": 50.0},
                                          {"link_id": "L9", "bin_start_ts": T0, "speed_kph": 5.0}], 1.0)
    lines = figures.speed_band_lines(roads, state.link_speeds)
    # the older bin of L1 does not replace the newer; L9 is not on the map; L3 has no speed
    assert lines[0][0] == [*roads["L1"][0], None]
    assert lines[3][0] == [*roads["L2"][0], None]
    assert lines[1] == ([], []) and lines[2] == ([], [])


def test_city_figure_has_the_named_layers_and_alert_markers(mini_geojson, proj):
    state = fed()
    buses = fleet(state, T0)
    markers = figures.alert_markers(list(state.bus_alerts.values()), buses, list(state.watch_hits.values()),
                                    {"C1": (37.556, 126.981)}, proj)
    assert len(markers.x_m) == 2  # the bunched bus and the watch-list camera
    assert "hold 90 s" in markers.labels[0] and "camera C1" in markers.labels[1]
    fig = figures.city_figure(base_traces(mini_geojson, proj), figures.speed_band_lines({}, {}), markers,
                              figures.bus_layer(buses, proj))
    names = [t.name for t in fig.data]
    assert {"roads", "Han River", "cameras", "green zone", "alerts", "buses"} <= set(names)
    assert names[-1] == "buses"
    json.loads(plotly.io.to_json(fig))  # serialisable


def test_marey_headway_and_load_figures():
    route = route_snapshot()
    marey = figures.marey_figure(route)
    assert [t.name for t in marey.data] == ["T1", "T2"]
    assert list(marey.data[1].y) == [0.0, 0.5, 0.7]  # km
    hw = figures.headway_figure(route)
    assert list(hw.data[0].x) == ["0|S1", "0|S2"] and list(hw.data[0].y) == [10.0, 9.0]  # minutes
    load = figures.load_figure(route, route["vehicles"])
    assert list(load.data[0].y) == [30, 12]
    assert figures.load_figure(route, [{"vehicle_id": "x", "dist_m": 1.0}]) is None


def test_kpis_from_hand_made_state():
    state = fed(wall_ts=1000.0)
    k = kpis.compute(state, now_wall_ts=1010.0)
    assert k.buses_in_service == 4
    assert k.on_headway_share == pytest.approx(1 / 3)  # 1 on headway of 3 judged (bunched, gapped, on headway)
    assert k.bunching_events == 1
    assert k.network_speed_kph == pytest.approx((12.0 * 3 + 45.0 * 1) / 4)
    assert k.dead_letters == 2
    assert k.feed_age_s["routes"] == pytest.approx(10.0)
    assert k.feed_age_s["taps"] is None
    assert k.clock_ts == T0


def test_alert_feed_has_holding_advice_stale_feeds_health_and_masked_watch_hits():
    state = fed(wall_ts=1000.0)
    k = kpis.compute(state, now_wall_ts=1100.0)
    items = alerts.feed(state, k, 1100.0, stale_after_s=30.0, full_plates=False)
    by_kind = {}
    for a in items:
        by_kind.setdefault(a.kind, []).append(a)
    assert by_kind["bunching"][0].advice == "hold 90 s at control stop S2"
    assert {a.alert_id.split("|")[1] for a in by_kind["stale_feed"]} == {"positions", "routes", "link_speeds"}
    assert any("2 messages rejected" in a.text for a in by_kind["health"])
    assert any("no read-model message for 100 s" in a.text for a in by_kind["health"])
    assert "11바**22" in by_kind["watch_list"][0].text and "11바2222" not in by_kind["watch_list"][0].text
    full = alerts.feed(state, k, 1100.0, 30.0, full_plates=True)
    assert any("11바2222" in a.text for a in full)


def test_the_same_alert_from_two_topics_is_listed_once():
    state = fed()
    state.apply(topics.BUS_EVENTS.name, route_snapshot()["alerts"], 2.0)
    assert len(state.bus_alerts) == 1


def test_playback_frames_every_10_s_of_city_clock_for_3_hours():
    state = CityState()
    for k in range(0, 4 * 360 + 1):  # 4 hours of snapshots, one every 10 s
        snap = route_snapshot(shift_deg=k * 1e-6)
        for v in snap["vehicles"]:
            v["ts"] = T0 + 10 * k
        snap["clock_ts"] = T0 + 10 * k
        state.apply(topics.STATE_ROUTES.name, snap, 0.0)
        state.record_frame()
    assert state.history[-1].clock_ts == T0 + 4 * 3600
    assert state.history[0].clock_ts == T0 + 3600  # only the last 3 h are kept
    frame = frame_at(state, 30)
    assert frame.clock_ts == T0 + 4 * 3600 - 1800
    assert frame.keys == ("R1|B1", "R1|B2", "R1|B3") and frame.status.tolist() == [0, 1, 2]
    assert frame_at(state, 0) is None


def test_plan_comparison_and_kpi_changes():
    rows = plans_page.compare_routes(PLAN["current"]["rows"], PLAN["proposed"]["rows"])
    assert rows[0] == {"route": "R1", "buses_current": 8, "buses_proposed": 10, "headway_current_min": 10.0,
                       "headway_proposed_min": 8.0, "change": "changed"}
    assert rows[1]["change"] == "same"
    squirrel = plans_page.compare_routes([], [{"route": "R1-S3", "sequence": 1, "stop": "A", "buses": 2,
                                               "headway_min": 12.0},
                                              {"route": "R1-S3", "sequence": 2, "stop": "B", "buses": 2,
                                               "headway_min": 12.0}])
    assert squirrel == [{"route": "R1-S3", "buses_current": None, "buses_proposed": 2, "headway_current_min": None,
                         "headway_proposed_min": 12.0, "change": "new"}]
    k = {r["kpi"]: r for r in plans_page.kpi_changes(PLAN["kpis"])}
    assert k["waiting_pax_min_per_h"]["change"] == -500.0 and k["waiting_pax_min_per_h"]["improves"] is True
    assert k["fleet"]["improves"] is False


def test_plan_map_draws_current_lines_dashed_and_proposed_lines_on_the_base(mini_geojson, proj):
    base = base_traces(mini_geojson, proj)
    plan = {**PLAN, "current": {**PLAN["current"], "geojson": {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"route": "R1"},
         "geometry": {"type": "LineString", "coordinates": [[126.97, 37.55], [126.98, 37.55]]}}]}}}
    fig = figures.plan_map_figure(base, plan, proj)
    extra = fig.data[len(base):]
    assert [t.name for t in extra] == ["current R1", "R1"]
    assert extra[0].line.dash == "dash"
    x, _ = proj.to_xy(np.array([37.55, 37.55]), np.array([126.97, 126.99]))
    assert list(extra[1].x) == pytest.approx(list(x))
    assert "10 buses" in extra[1].text and "every 8.0 min" in extra[1].text


def test_state_routes_bytes_keep_marey_raw_until_a_page_asks():
    rm = ReadModel()
    rm.feed(topics.STATE_ROUTES.name, json.dumps(route_snapshot()).encode())
    state = rm.state()
    assert "marey" not in state.routes["R1"]  # not decoded on the hot path
    assert [b.key for b in fleet(state, T0)] == ["R1|B1", "R1|B2", "R1|B3"]
    assert state.route("R1")["marey"]["T2"] == [[T0 - 900, 0.0], [T0 - 300, 500.0], [T0, 700.0]]
    assert len(state.bus_alerts) == 1
    rm.feed(topics.STATE_ROUTES.name, route_snapshot())  # a decoded message replaces the raw one
    assert "marey" in rm.state().route("R1")


@pytest.mark.parametrize("as_bytes", [True, False])
def test_marey_points_added_between_full_sets_are_shown_with_them(as_bytes):
    def feed(snap):
        rm.feed(topics.STATE_ROUTES.name, json.dumps(snap).encode() if as_bytes else snap)

    rm = ReadModel()
    feed(route_snapshot())
    feed({**route_snapshot(), "marey_full": False, "marey": {"T2": [[T0, 700.0], [T0 + 30, 760.0]],
                                                            "T9": [[T0 + 30, 0.0]]}})
    feed({**route_snapshot(), "marey_full": False, "marey": {"T9": [[T0 + 60, 80.0]]}})
    marey = rm.state().route("R1")["marey"]
    assert marey["T2"] == [[T0 - 900, 0.0], [T0 - 300, 500.0], [T0, 700.0], [T0 + 30, 760.0]]  # T0 not twice
    assert marey["T9"] == [[T0 + 30, 0.0], [T0 + 60, 80.0]]
    feed({**route_snapshot(), "marey": {"T9": [[T0 + 90, 120.0]]}})  # a full set replaces all before it
    assert rm.state().route("R1")["marey"] == {"T9": [[T0 + 90, 120.0]]}


def test_the_rejected_tile_counts_dead_letters_per_input_topic():
    state = fed(wall_ts=1000.0)  # an old worker's per-key count: 2 on a bus.positions route
    for key, source, letters, reasons in (("bus.positions/0", "bus.positions", 3, {"not_json": 2, "bad_ts": 4}),
                                          ("bus.positions/5", "bus.positions", 1, {"oversize": 1}),
                                          ("bus.positions/5/track_routes", "bus.positions", 1, {"processing_error": 1}),
                                          ("plate.reads/2", "plate.reads", 2, {"empty_id": 2})):
        state.apply("state.counters", {"snapshots": [{"kind": "rejected", "key": key, "per_minute": {},
                                                      "last_event_ts": None, "received_ts": 999.0,
                                                      "dead_letters": letters, "source": source, "reasons": reasons}]},
                    1000.0)
    k = kpis.compute(state, now_wall_ts=1010.0)
    assert k.dead_letters_by_topic == {"bus.positions": 7, "card.taps": 0, "plate.reads": 2, "taxi.positions": 0}
    assert k.dead_letters == 9
    assert k.rejected_reasons["bus.positions"] == {"not_json": 2, "bad_ts": 4, "oversize": 1, "processing_error": 1}
    assert kpis.rejected_text(k) == "7 · 0 · 2 · 0" and kpis.REJECTED_LABEL == "rejected: positions · taps · reads · taxis"

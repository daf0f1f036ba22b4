"""Hand-made inputs of the dashboard tests: read-model messages, cases, a live server, browser helpers."""

from __future__ import annotations

import threading
import time

from topis import topics

CENTER = (37.55, 126.98)
T0 = 1_795_000_000.0  # city clock of the fixtures (epoch seconds)


def _line(link_id, coords, road_class="local"):
    return {"type": "Feature", "geometry": {"type": "LineString", "coordinates": coords},
            "properties": {"layer": "road", "link_id": link_id, "road_class": road_class}}


def _point(layer, key, value, lon, lat, **props):
    return {"type": "Feature", "geometry": {"type": "Point", "coordinates": [lon, lat]},
            "properties": {"layer": layer, key: value, **props}}


def vehicle_row(vid, lat, lon, ts, status, **extra):
    return {"vehicle_id": vid, "ts": ts, "lat": lat, "lon": lon, "status": status, "trip_id": extra.pop("trip_id", None),
            "dist_m": extra.pop("dist_m", None), "schedule_deviation_s": None, "headway_s": extra.pop("headway_s", None),
            "scheduled_headway_s": extra.pop("scheduled_headway_s", None), "hold_s": extra.pop("hold_s", None), **extra}


def bunching_alert(route_id, vid, stop_id, ts, headway_s, scheduled_s, hold_s, kind="bus.bunching/1"):
    obs = {"schema": "bus.headway/1", "route_id": route_id, "direction_id": 0, "stop_id": stop_id, "vehicle_id": vid,
           "trip_id": f"{route_id}-t", "leader_vehicle_id": "x", "leader_trip_id": "y", "ts": ts,
           "headway_s": headway_s, "scheduled_headway_s": scheduled_s, "ratio": headway_s / scheduled_s,
           "hold_s": hold_s}
    return {"schema": kind, "observation": obs, "threshold_ratio": 0.5, "control_stop": True, "hold_s": hold_s}


def route_snapshot(shift_deg: float = 0.0) -> dict:
    """Route R1: one bus on headway, one bunched (hold 90 s), one gapped; Marey points of two trips."""
    vehicles = [
        vehicle_row("B1", 37.55, 126.972 + shift_deg, T0, "on_headway", trip_id="T1", dist_m=200.0, occupancy=30),
        vehicle_row("B2", 37.55, 126.978 + shift_deg, T0, "bunched", trip_id="T2", dist_m=700.0, headway_s=120.0,
                    scheduled_headway_s=600.0, hold_s=90.0, occupancy=12),
        vehicle_row("B3", 37.55, 126.986 + shift_deg, T0 - 10, "gapped", trip_id="T3", dist_m=1400.0),
    ]
    return {"route_id": "R1", "published_ts": T0, "clock_ts": T0, "vehicles": vehicles,
            "marey": {"T1": [[T0 - 600, 0.0], [T0, 200.0]], "T2": [[T0 - 900, 0.0], [T0 - 300, 500.0], [T0, 700.0]]},
            "alerts": [bunching_alert("R1", "B2", "S2", T0 - 30, 120.0, 600.0, 90.0)],
            "headways": {"0|S1": {"n": 4, "mean_headway_s": 600.0, "std_headway_s": 120.0, "headway_cv": 0.2},
                         "0|S2": {"n": 3, "mean_headway_s": 540.0, "std_headway_s": 300.0, "headway_cv": 0.5556}},
            "next_arrivals": {"0|S3": [["B2", T0 + 120.0], ["B1", T0 + 400.0]]}}


def feed_city(read_model, shift_deg: float = 0.0, wall_ts: float | None = None) -> None:
    """Publish the hand-made read-model messages into ``read_model`` (R1 via state.routes, R2 via state.vehicles)."""
    read_model.feed(topics.STATE_ROUTES.name, route_snapshot(shift_deg), wall_ts)
    read_model.feed(topics.STATE_VEHICLES.name, {"snapshots": [
        {"route_id": "R2", "published_ts": T0, "received_ts": wall_ts, "dead_letters": 2,
         "vehicles": [{"vehicle_id": "B9", "route_id": "R2", "ts": T0, "lat": 37.553, "lon": 126.98 + shift_deg}]}]},
        wall_ts)
    read_model.feed(topics.LINK_SPEEDS.name, [
        {"link_id": "L1", "bin_start_ts": T0 - 300, "speed_kph": 12.0, "n_probes": 3},
        {"link_id": "L2", "bin_start_ts": T0 - 300, "speed_kph": 45.0, "n_probes": 1}], wall_ts)
    read_model.feed(topics.ENFORCEMENT_ALERTS.name, {"alert_id": "W1", "reason": "watch", "plate": "11바2222",
                                                      "camera_id": "C1", "ts": T0 - 60}, wall_ts)
    read_model.feed(topics.PLANS.name, PLAN, wall_ts)


PLAN = {"plan_id": "hw-1", "kind": "headways", "created_ts": T0, "title": "evening headways",
        "current": {"rows": [{"route": "R1", "buses": 8, "headway_min": 10.0},
                             {"route": "R2", "buses": 4, "headway_min": 15.0}]},
        "proposed": {"rows": [{"route": "R1", "buses": 10, "headway_min": 8.0},
                              {"route": "R2", "buses": 4, "headway_min": 15.0}],
                     "geojson": {"type": "FeatureCollection", "features": [
                         {"type": "Feature", "properties": {"route": "R1", "buses": 10, "headway_min": 8.0},
                          "geometry": {"type": "LineString", "coordinates": [[126.97, 37.55], [126.99, 37.55]]}}]}},
        "kpis": {"waiting_pax_min_per_h": {"current": 5400.0, "proposed": 4900.0, "unit": "pax·min/h",
                                           "better": "lower"},
                 "fleet": {"current": 12, "proposed": 14, "unit": "buses", "better": "lower"}}}


def make_cases(store):
    """Two green-zone cases and one bus-lane case, committed through the engine's own commit path."""
    from enforcement.engine import CaseRecord, Evidence, Outcome

    def case(cid, rule, plate, ts, camera, lat, lon, area):
        ev = Evidence(f"r-{cid}", camera, lat, lon, ts, 0.95, f"img/{cid}.jpg", plate)
        return CaseRecord(cid, rule, plate, ts, ts, 250_000 if rule == "green_zone" else 50_000, False, camera, area,
                          (ev,))

    outcome = Outcome()
    for c in (case("CASE1", "green_zone", "34나5678", T0 - 900, "C1", 37.556, 126.981, "Jung-gu"),
              case("CASE2", "bus_lane", "12가3456", T0 - 600, "C2", 37.55, 126.975, "Jongno-gu"),
              case("CASE3", "green_zone", "22사3333", T0 - 300, "C1", 37.556, 126.981, "Jung-gu")):
        outcome.add_case(c)
    store.commit(outcome, now=T0)


class LiveServer:
    """The Dash app served by the production server (waitress, :mod:`dashboard.serve`) on a free loopback port.

    The server's loop runs in a thread, one pass at a time, so :meth:`stop` ends it before closing the sockets.
    """

    def __init__(self, app, settings=None):
        from dashboard.serve import wsgi_server
        from topis.settings import DashboardSettings

        self.server = wsgi_server(app.server, settings or DashboardSettings(threads=4), port=0)
        self.url = f"http://127.0.0.1:{self.server.effective_port}"
        self._stopping = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self._stopping.is_set():
            self.server.asyncore.loop(timeout=0.1, map=self.server._map, count=1)

    def stop(self):
        from waitress import wasyncore

        self._stopping.set()
        self.thread.join(10)
        self.server.task_dispatcher.shutdown()
        wasyncore.close_all(self.server._map)


# ------------------------------------------------------------------ helpers of the browser tests

BUSES_JS = """
const plot = document.querySelector('#city-map .js-plotly-plot');
if (!plot || !plot._fullData) return null;
const buses = plot._fullData.find(t => t.name === 'buses');
if (!buses) return null;
return {x: Array.from(buses.x || []), names: plot.data.map(t => t.name)};
"""


def wait_for(fn, timeout_s: float = 20.0, what: str = "condition"):
    """``fn()`` once it is truthy (retried every 0.25 s), or AssertionError after ``timeout_s``."""
    from selenium.common.exceptions import WebDriverException

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            value = fn()
        except WebDriverException:  # the page is still rendering (element missing or replaced): retry
            value = None
        if value:
            return value
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}")


def text_of(driver, element_id):
    return driver.find_element("id", element_id).text


def press(driver, key):
    from selenium.webdriver.common.action_chains import ActionChains

    ActionChains(driver).send_keys(key).perform()


#: staff of the browser tests, one per role: name -> (role, password)
STAFF = {"kim": ("enforcement", "kim-password"), "cho": ("controller", "cho-password"),
         "park": ("planner", "park-password")}


def desk_site(folder, mini_geojson, proj, **desk):
    """The app on a live server with made-up cases, :data:`STAFF` and a fed read model (no demo users).

    Returns ``(server, read_model, cases, records)``; stop the server and close the records after.
    """
    from dashboard.app import build_app
    from dashboard.readmodel import ReadModel
    from dashboard.store import DeskStore
    from enforcement.store import CaseStore
    from topis.settings import DashboardSettings, DeskSettings

    cases = CaseStore(f"sqlite:///{folder / 'cases.sqlite'}")
    make_cases(cases)
    records = DeskStore(cases.url)
    for name, (role, password) in STAFF.items():
        records.add_user(name, role, password)
    rm = ReadModel()
    feed_city(rm)
    app = build_app(DashboardSettings(refresh_ms=500), mini_geojson, proj, rm, cases=cases, records=records,
                    desk_settings=DeskSettings(demo_users=False, **desk))
    return LiveServer(app), rm, cases, records

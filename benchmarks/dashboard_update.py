"""Per-update payload and server time of the wall map at Seoul scale (7,400 buses), against the naive update.

Builds, in one run, synthetic ``state.routes`` snapshots (buses on ``--routes``
routes, random statuses, positions moving every update) around a synthetic
street grid, feeds them to a :class:`dashboard.readmodel.ReadModel` and
serves the real app (Flask test client, no browser). Each update:

* **patch** — the wall's ``move_buses`` callback through Dash's own HTTP
  endpoint: float32 positions + uint8 statuses, bus keys only when the set of
  buses changed (measured both ways);
* **naive** — rebuilding the whole map figure (base layers, road speeds,
  alerts, buses with keys) and serialising it as Dash would, the baseline.

Optionally (``--latency``) measures event-to-screen latency in headless
Chromium on the embedded broker: a state.routes message that moves one bus is
published, and the time until the browser's plot shows the new position is
taken (includes the broker hop, the read model, the 1 s refresh and drawing).

    .venv/bin/python -m benchmarks.dashboard_update [--buses 7400] [--updates 20] [--latency]
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import tempfile
import time

import numpy as np
import plotly.io

from topis import topics

CENTER = (37.55, 126.99)


def grid_geojson(n: int = 40, span_deg: float = 0.25) -> dict:
    """An n×n street grid (2·n·(n-1) links), a river band, a green zone, stops and cameras."""
    feats = []
    step = span_deg / (n - 1)
    lat0, lon0 = CENTER[0] - span_deg / 2, CENTER[1] - span_deg / 2
    k = 0
    for i in range(n):
        for j in range(n - 1):
            for a, b in (((lat0 + i * step, lon0 + j * step), (lat0 + i * step, lon0 + (j + 1) * step)),
                         ((lat0 + j * step, lon0 + i * step), (lat0 + (j + 1) * step, lon0 + i * step))):
                feats.append({"type": "Feature", "geometry": {"type": "LineString",
                                                              "coordinates": [[a[1], a[0]], [b[1], b[0]]]},
                              "properties": {"layer": "road", "link_id": f"L{k}", "road_class": "local"}})
                k += 1
    river = [[lon0, CENTER[0] - 0.01], [lon0 + span_deg, CENTER[0] - 0.01], [lon0 + span_deg, CENTER[0]],
             [lon0, CENTER[0]], [lon0, CENTER[0] - 0.01]]
    feats.append({"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [river]},
                  "properties": {"layer": "river"}})
    rng = np.random.default_rng(1)
    for layer, key, count in (("stop", "stop_id", 2000), ("camera", "camera_id", 300)):
        for m in range(count):
            lat, lon = lat0 + rng.random() * span_deg, lon0 + rng.random() * span_deg
            feats.append({"type": "Feature", "geometry": {"type": "Point", "coordinates": [lon, lat]},
                          "properties": {"layer": layer, key: f"{layer[0].upper()}{m}"}})
    return {"type": "FeatureCollection", "features": feats}


def snapshots(n_buses: int, n_routes: int, clock_ts: float, rng: np.random.Generator, base: np.ndarray) -> list[dict]:
    """One state.routes snapshot per route; bus k at base[k] plus a random step."""
    from dashboard.readmodel import STATUSES

    pos = base + rng.normal(0, 0.0003, base.shape)
    status = rng.choice(STATUSES[:5], size=n_buses, p=[0.7, 0.1, 0.1, 0.05, 0.05])
    per_route = n_buses // n_routes
    out = []
    for r in range(n_routes):
        idx = range(r * per_route, n_buses if r == n_routes - 1 else (r + 1) * per_route)
        out.append({"route_id": f"R{r:03d}", "published_ts": clock_ts, "clock_ts": clock_ts,
                    "vehicles": [{"vehicle_id": f"V{k:05d}", "ts": clock_ts, "lat": float(pos[k, 0]),
                                  "lon": float(pos[k, 1]), "status": str(status[k]), "trip_id": f"T{k}",
                                  "dist_m": 100.0, "schedule_deviation_s": 30.0, "headway_s": 400.0,
                                  "scheduled_headway_s": 600.0, "hold_s": None} for k in idx],
                    "marey": {}, "alerts": [], "headways": {}, "next_arrivals": {}})
    return out


def move_body(bus_sig: str | None, speed_sig: str | None) -> dict:
    return {"output": "..city-map.figure...bus-sig.data...speed-sig.data...playback-label.children..",
            "outputs": [{"id": "city-map", "property": "figure"}, {"id": "bus-sig", "property": "data"},
                        {"id": "speed-sig", "property": "data"}, {"id": "playback-label", "property": "children"}],
            "inputs": [{"id": "tick", "property": "n_intervals", "value": 1}],
            "changedPropIds": ["tick.n_intervals"],
            "state": [{"id": "playback", "property": "value", "value": 0},
                      {"id": "bus-sig", "property": "data", "value": bus_sig},
                      {"id": "speed-sig", "property": "data", "value": speed_sig}]}


def run(n_buses: int, n_routes: int, updates: int) -> dict:
    from dashboard import figures, kpis
    from dashboard.app import build_app
    from dashboard.pages.wall import initial_figure
    from dashboard.readmodel import ReadModel, fleet
    from dashboard.store import DeskStore
    from enforcement.store import CaseStore
    from topis.geo import Projection
    from topis.settings import DashboardSettings, DeskSettings

    rng = np.random.default_rng(7)
    geo = grid_geojson()
    proj = Projection(*CENTER)
    base = np.column_stack([CENTER[0] + rng.uniform(-0.12, 0.12, n_buses), CENTER[1] + rng.uniform(-0.12, 0.12, n_buses)])
    rm = ReadModel()
    folder = tempfile.mkdtemp(prefix="topis-bench-")
    cases = CaseStore(f"sqlite:///{folder}/cases.sqlite")
    app = build_app(DashboardSettings(), geo, proj, rm, cases=cases, records=DeskStore(cases.url),
                    desk_settings=DeskSettings(demo_users=False))
    client = app.server.test_client()
    client.get("/")
    token = client.get_cookie("_csrf_token").value
    headers = {"Content-Type": "application/json", "X-CSRFToken": token}
    rows = {"patch (keys unchanged)": [], "patch (keys re-sent)": [], "KPI tiles (no HTTP)": [],
            "naive full figure": []}
    sizes = {k: [] for k in rows}
    clock = 1_795_000_000.0
    bus_sig = speed_sig = None
    for u in range(updates + 2):
        clock += 1.0
        rm.feed(topics.STATE_ROUTES.name, {"snapshots": snapshots(n_buses, n_routes, clock, rng, base)})
        for name, sig in (("patch (keys re-sent)", None), ("patch (keys unchanged)", bus_sig)):
            t0 = time.perf_counter()
            resp = client.post("/_dash-update-component", data=json.dumps(move_body(sig, speed_sig)), headers=headers)
            dt = time.perf_counter() - t0
            assert resp.status_code == 200, resp.get_data(as_text=True)[:300]
            body = resp.get_data()
            out = json.loads(body)["response"]
            bus_sig, speed_sig = out["bus-sig"]["data"], out["speed-sig"]["data"]
            if u >= 2:  # the first updates warm caches
                rows[name].append(dt)
                sizes[name].append(len(body))
        t0 = time.perf_counter()
        kpis.compute(rm.state(), time.time())
        app.desk.cases.open_case_count()
        if u >= 2:
            rows["KPI tiles (no HTTP)"].append(time.perf_counter() - t0)
            sizes["KPI tiles (no HTTP)"].append(0)
        t0 = time.perf_counter()
        text = plotly.io.to_json(initial_figure(app.desk, rm.state()), validate=False)
        dt = time.perf_counter() - t0
        if u >= 2:
            rows["naive full figure"].append(dt)
            sizes["naive full figure"].append(len(text.encode()))
    n_drawn = len(figures.bus_layer(fleet(rm.state(), clock), proj).keys)
    cases.close()
    return {"rows": rows, "sizes": sizes, "buses": n_drawn}


def latency(samples: int = 10) -> list[float]:
    """Event-to-screen seconds in headless Chromium on the embedded broker (see module docstring)."""
    import shutil
    import threading

    from kafka import KafkaProducer
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from werkzeug.serving import make_server

    from dashboard.app import build_app
    from dashboard.readmodel import ReadModel
    from dashboard.store import DeskStore
    from enforcement.store import CaseStore
    from topis.broker import running_broker
    from topis.geo import Projection
    from topis.settings import BrokerSettings, DashboardSettings, DeskSettings

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per callback
    out = []
    with running_broker(BrokerSettings(url="embedded")) as broker:
        rm = ReadModel(broker.bootstrap_servers, 100).start()
        folder = tempfile.mkdtemp(prefix="topis-bench-")
        cases = CaseStore(f"sqlite:///{folder}/cases.sqlite")
        app = build_app(DashboardSettings(), grid_geojson(10), Projection(*CENTER), rm, cases=cases,
                        records=DeskStore(cases.url), desk_settings=DeskSettings(demo_users=False))
        server = make_server("127.0.0.1", 0, app.server, threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        options = webdriver.ChromeOptions()
        options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
        for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--enable-unsafe-swiftshader", "--window-size=1600,1000"):
            options.add_argument(arg)
        driver = webdriver.Chrome(service=Service(shutil.which("chromedriver") or "/usr/bin/chromedriver"),
                                  options=options)
        producer = KafkaProducer(bootstrap_servers=broker.bootstrap_servers, linger_ms=0)
        time.sleep(2.0)  # the read model's consumer joins
        try:
            driver.get(f"http://127.0.0.1:{server.server_port}/")
            time.sleep(3.0)
            js = ("const p=document.querySelector('#city-map .js-plotly-plot');"
                  "const b=p&&p._fullData&&p._fullData.find(t=>t.name==='buses');return b&&b.x.length?b.x[0]:null;")
            for k in range(samples + 1):
                lon = CENTER[1] + 0.001 * (k + 1)
                snap = {"route_id": "R1", "published_ts": time.time(), "clock_ts": 1_795_000_000.0 + k,
                        "vehicles": [{"vehicle_id": "B1", "ts": 1_795_000_000.0 + k, "lat": CENTER[0], "lon": lon,
                                      "status": "on_headway"}]}
                before = driver.execute_script(js)
                t0 = time.perf_counter()
                producer.send(topics.STATE_ROUTES.name, json.dumps(snap).encode(), key=b"R1")
                producer.flush()
                deadline = t0 + 10
                while time.perf_counter() < deadline:
                    now = driver.execute_script(js)
                    if now is not None and now != before:
                        break
                    time.sleep(0.01)
                if k:
                    out.append(time.perf_counter() - t0)
                time.sleep(0.3 + (k % 3) * 0.23)  # land at different phases of the 1 s refresh
        finally:
            driver.quit()
            producer.close()
            server.shutdown()
            rm.stop()
            cases.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--buses", type=int, default=7400)
    parser.add_argument("--routes", type=int, default=370)
    parser.add_argument("--updates", type=int, default=20)
    parser.add_argument("--latency", action="store_true", help="also measure event-to-screen latency in Chromium")
    args = parser.parse_args()
    result = run(args.buses, args.routes, args.updates)
    print(f"\nwall map update, {result['buses']:,} buses, {args.updates} updates (median; p90)")
    print(f"{'update':<28}{'payload kB':>12}{'server ms':>12}{'p90 ms':>10}")
    naive_ms = statistics.median(result["rows"]["naive full figure"]) * 1000
    naive_kb = statistics.median(result["sizes"]["naive full figure"]) / 1000
    for name, times in result["rows"].items():
        ms = statistics.median(times) * 1000
        p90 = sorted(times)[int(0.9 * (len(times) - 1))] * 1000
        kb = statistics.median(result["sizes"][name]) / 1000
        print(f"{name:<28}{kb:>12.1f}{ms:>12.1f}{p90:>10.1f}")
    patch_ms = statistics.median(result["rows"]["patch (keys unchanged)"]) * 1000
    patch_kb = statistics.median(result["sizes"]["patch (keys unchanged)"]) / 1000
    print(f"\nnaive / patch: payload x{naive_kb / patch_kb:.1f}, server time x{naive_ms / patch_ms:.1f}")
    print("(naive = figure build + JSON only; it does not count the HTTP round trip the patch rows include)")
    if args.latency:
        lat = latency()
        print(f"\nevent-to-screen (publish → broker → read model → 1 s refresh → plot), {len(lat)} samples: "
              f"median {statistics.median(lat):.2f} s, max {max(lat):.2f} s")


if __name__ == "__main__":
    main()

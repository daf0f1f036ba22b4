"""The wall display in a real headless Chromium, fed by the real broker, simulator and worker."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
import uuid

import pytest

from topis.broker import free_port

pytestmark = pytest.mark.integration

BUSES_JS = """
const plot = document.querySelector('#city-map .js-plotly-plot');
if (!plot || !plot._fullData) return null;
const buses = plot._fullData.find(t => t.name === 'buses');  // _fullData: typed arrays decoded
if (!buses) return null;
return {x: Array.from(buses.x || []).slice(0, 400), y: Array.from(buses.y || []).slice(0, 400),
        n: (buses.x || []).length};
"""


@pytest.fixture(scope="module")
def wall(embedded_broker, tmp_path_factory):
    """URL of a wall display fed live: simulator at x20 → worker → read model → Dash."""
    port = free_port()
    env = {**os.environ, "TOPIS_BROKER": embedded_broker.url, "TOPIS_STREAMS_APP_ID": f"wall-{uuid.uuid4().hex[:8]}",
           "TOPIS_STREAMS_DATA_DIR": str(tmp_path_factory.mktemp("worker")), "TOPIS_CITY_SCALE": "0.5"}
    procs = [subprocess.Popen([sys.executable, "-m", "topis", *args], env=env) for args in (
        ["worker"], ["simulate", "--speed", "20"], ["dashboard", "--port", str(port)])]
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(url, timeout=2)
                break
            except OSError:
                time.sleep(0.5)
        yield url
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(30)


def bus_trace(driver, timeout_s: float, min_buses: int = 1):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        data = driver.execute_script(BUSES_JS)
        if data and data["n"] >= min_buses:
            return data
        time.sleep(0.5)
    return driver.execute_script(BUSES_JS)


def test_wall_shows_the_city_with_moving_buses(wall, chromium, artifacts_dir):
    chromium.get(wall)
    first = bus_trace(chromium, timeout_s=150, min_buses=20)
    chromium.save_screenshot(str(artifacts_dir / "wall_display.png"))
    assert first and first["n"] >= 20, f"no buses on the map: {first}"
    assert "topis" in chromium.title
    # the base map is there: roads, river and cameras drawn from the city's own geometry
    names = chromium.execute_script(
        "return document.querySelector('#city-map .js-plotly-plot').data.map(t => t.name)")
    assert {"roads", "Han River", "cameras", "buses"} <= set(names)
    assert chromium.find_element("id", "kpi-buses").text.replace(",", "").isdigit()

    time.sleep(3)  # a few refreshes later, the same buses are elsewhere
    second = bus_trace(chromium, timeout_s=10)
    assert second["n"] >= 20
    assert first["x"] != second["x"] or first["y"] != second["y"], "bus positions did not change"
    chromium.save_screenshot(str(artifacts_dir / "wall_display_later.png"))


def test_open_feed_serves_the_live_buses(wall):
    """The dashboard's public open feed: VehiclePositions of the simulated buses, TripUpdates once they are matched."""
    from google.transit import gtfs_realtime_pb2 as rt

    def fetch(path: str) -> rt.FeedMessage:
        with urllib.request.urlopen(wall + path, timeout=10) as response:  # no login: the feed is public
            assert response.headers["Content-Type"] == "application/x-protobuf"
            msg = rt.FeedMessage()
            msg.ParseFromString(response.read())
            return msg

    deadline = time.monotonic() + 150
    while True:
        positions, updates = fetch("api/gtfs-rt/vehicle-positions.pb"), fetch("api/gtfs-rt/trip-updates.pb")
        with_trip = [e for e in positions.entity if e.vehicle.trip.trip_id]
        if (len(positions.entity) >= 20 and with_trip and updates.entity) or time.monotonic() > deadline:
            break
        time.sleep(1.0)
    assert len(positions.entity) >= 20 and with_trip, f"{len(positions.entity)} vehicles, {len(with_trip)} on a trip"
    assert updates.entity, "no TripUpdates from the live predictions"
    assert positions.header.gtfs_realtime_version == "2.0"
    tu = updates.entity[0].trip_update
    seqs = [u.stop_sequence for u in tu.stop_time_update]
    assert seqs == sorted(seqs) and all(u.arrival.time >= updates.header.timestamp - 600 for u in tu.stop_time_update)

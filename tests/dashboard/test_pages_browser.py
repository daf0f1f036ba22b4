"""Every page in a real headless Chromium: what a controller, an enforcement officer and a planner look for.

The app is fed hand-made read-model messages (dashboard_fixtures) and runs on
real SQLite stores in a temporary folder; screenshots go to artifacts/.
"""

from __future__ import annotations

import pytest
from dashboard_fixtures import BUSES_JS, STAFF, desk_site, feed_city, press, text_of, wait_for
from selenium.webdriver.common.by import By

pytestmark = pytest.mark.integration

USERS = STAFF


@pytest.fixture(scope="module")
def site(tmp_path_factory, mini_geojson, proj):
    server, rm, cases, records = desk_site(tmp_path_factory.mktemp("desk"), mini_geojson, proj)
    yield server.url, rm, cases, records
    server.stop()
    records.close()
    cases.close()


def login(driver, url, name):
    driver.get(f"{url}/login")
    driver.find_element(By.ID, "username").send_keys(name)
    driver.find_element(By.ID, "password").send_keys(USERS[name][1])
    driver.find_element(By.ID, "login-submit").click()
    wait_for(lambda: "/login" not in driver.current_url, what="login")


def test_wall_shows_buses_by_status_road_speeds_and_moves(site, chromium, artifacts_dir):
    url, rm, _, _ = site
    chromium.get(url + "/")
    first = wait_for(lambda: (d := chromium.execute_script(BUSES_JS)) and len(d["x"]) == 4 and d, what="4 buses")
    assert {"roads", "Han River", "cameras", "green zone", "alerts", "buses", "speed < 15 km/h"} <= set(first["names"])
    wait_for(lambda: text_of(chromium, "kpi-buses") == "4", what="kpi-buses")
    assert text_of(chromium, "kpi-onheadway") == "33 %"
    assert text_of(chromium, "kpi-speed") == "20.2 km/h"  # (12·3 + 45·1) / 4 probes
    assert text_of(chromium, "kpi-cases") in ("3", "2")  # another test may have confirmed one
    assert "hold 90 s" in text_of(chromium, "wall-alerts")
    chromium.save_screenshot(str(artifacts_dir / "desk_wall.png"))
    feed_city(rm, shift_deg=0.002)  # every bus 0.002° (~176 m) east
    moved = wait_for(lambda: (d := chromium.execute_script(BUSES_JS)) and d["x"] != first["x"] and d, what="move")
    assert all(b - a == pytest.approx(176.0, abs=2.0) for a, b in zip(first["x"], moved["x"]))


def test_click_a_bus_or_a_stop_opens_its_panel(site, chromium):
    url, _, _, _ = site
    chromium.get(url + "/")
    wait_for(lambda: chromium.execute_script(BUSES_JS), what="map")
    chromium.execute_script("""
        const plot = document.querySelector('#city-map .js-plotly-plot');
        const i = plot.data.findIndex(t => t.name === 'buses');
        plot.emit('plotly_click', {points: [{curveNumber: i, pointNumber: 1, customdata: 'R1|B2'}]});""")
    wait_for(lambda: text_of(chromium, "panel-title") == "Bus B2", what="bus panel")
    panel = text_of(chromium, "map-panel")
    assert "bunched" in panel and "hold advice 90" in panel
    chromium.execute_script("""
        const plot = document.querySelector('#city-map .js-plotly-plot');
        const i = plot.data.findIndex(t => t.name === 'stops');
        plot.emit('plotly_click', {points: [{curveNumber: i, pointNumber: 2, customdata: 'stop|S3'}]});""")
    wait_for(lambda: text_of(chromium, "panel-title") == "Stop S3", what="stop panel")
    rows = text_of(chromium, "map-panel").splitlines()
    assert [r.split()[1:] for r in rows if r.count(":") == 2] == [["R1", "B2"], ["R1", "B1"]]  # soonest first


def test_wall_mode_fills_the_screen_without_scrolling(site, chromium, artifacts_dir):
    url, _, _, _ = site
    chromium.set_window_size(3840, 2160)  # a 4K wall
    chromium.get(url + "/?mode=wall")
    wait_for(lambda: chromium.execute_script(BUSES_JS), what="map")
    assert not chromium.find_elements(By.CSS_SELECTOR, ".nav")
    assert chromium.execute_script("return document.documentElement.scrollHeight <= window.innerHeight + 1")
    map_height = chromium.execute_script("return document.querySelector('#city-map').getBoundingClientRect().height")
    inner = chromium.execute_script("return window.innerHeight")
    assert map_height > 0.6 * inner  # the map takes most of the wall
    tile_px = chromium.execute_script(
        "return parseFloat(getComputedStyle(document.getElementById('kpi-buses')).fontSize)")
    assert tile_px >= 60  # readable across the room: 1.9vw of 3840 px
    chromium.save_screenshot(str(artifacts_dir / "wall_mode_4k.png"))


def test_pages_redirect_to_login(site, chromium):
    url, _, _, _ = site
    chromium.get(url + "/cases")
    assert "/login?next=/cases" in chromium.current_url
    assert chromium.find_element(By.ID, "password")


def test_enforcement_officer_claims_and_confirms_with_the_keyboard(site, chromium, artifacts_dir):
    url, _, cases, _ = site
    login(chromium, url, "kim")
    chromium.get(url + "/cases")
    wait_for(lambda: chromium.find_elements(By.CSS_SELECTOR, ".case-row"), what="queue")
    first_id = cases.list_cases(status="new")[0].case_id
    press(chromium, "j")
    wait_for(lambda: first_id in text_of(chromium, "case-detail"), what="case detail")
    plate = text_of(chromium, "case-plate")
    assert plate == cases.get_case(first_id).plate  # full plate for enforcement staff
    press(chromium, "c")
    wait_for(lambda: "under review" in text_of(chromium, "case-message"), what="claimed")
    press(chromium, "y")
    wait_for(lambda: "confirmed" in text_of(chromium, "case-message"), what="confirmed")
    chromium.save_screenshot(str(artifacts_dir / "cases_confirmed.png"))
    case = cases.get_case(first_id)
    assert case.status == "confirmed" and case.decided_by == "kim"
    audit = [(a.action, a.actor, a.origin) for a in cases.audit_log(first_id)]
    assert audit[-2:] == [("claim", "kim", "127.0.0.1"), ("confirm", "kim", "127.0.0.1")]
    # next case: j, claim, then d focuses the reason box; Enter there dismisses
    second_id = cases.list_cases(status="new")[0].case_id
    wait_for(lambda: first_id not in text_of(chromium, "case-list"), what="queue refreshed")
    press(chromium, "j")
    wait_for(lambda: second_id in text_of(chromium, "case-detail"), what="next case")
    press(chromium, "c")
    wait_for(lambda: "under review" in text_of(chromium, "case-message"), what="claimed")
    press(chromium, "d")
    wait_for(lambda: chromium.switch_to.active_element.get_attribute("id") == "case-reason", what="reason focus")
    press(chromium, "emergency vehicle on duty\n")
    wait_for(lambda: "dismissed" in text_of(chromium, "case-message"), what="dismissed")
    assert cases.get_case(second_id).dismiss_reason == "emergency vehicle on duty"


def test_controller_sees_the_counts_and_no_case(site, chromium, artifacts_dir):
    url, _, cases, _ = site
    login(chromium, url, "cho")
    chromium.get(url + "/cases")
    counts = wait_for(lambda: text_of(chromium, "case-counts"), what="counts")
    assert "new:" in counts
    assert "you see the counts only" in text_of(chromium, "case-readonly")
    assert not chromium.find_elements(By.CSS_SELECTOR, ".case-row")
    source = chromium.page_source
    for c in cases.list_cases():
        assert c.plate not in source and c.plate[:3] not in source and c.case_id not in source
    assert not chromium.find_elements(By.ID, "case-claim")
    chromium.save_screenshot(str(artifacts_dir / "cases_controller.png"))


def test_route_view_draws_marey_headways_and_predictions(site, chromium, artifacts_dir):
    url, _, _, _ = site
    login(chromium, url, "cho")
    chromium.get(url + "/routes?route=R1")
    names = wait_for(lambda: chromium.execute_script(
        "const p = document.querySelector('#route-marey .js-plotly-plot'); return p && p.data.length && "
        "p.data.map(t => t.name)"), what="Marey diagram")
    assert names == ["T1", "T2"]
    table = wait_for(lambda: text_of(chromium, "predictions-table"), what="predictions")
    assert "S3" in table and "B2" in table
    assert "3 buses" in text_of(chromium, "route-summary")
    chromium.save_screenshot(str(artifacts_dir / "route_view.png"))


def test_planner_accepts_a_plan(site, chromium, artifacts_dir):
    url, _, _, records = site
    login(chromium, url, "park")
    chromium.get(url + "/plans")
    button = wait_for(lambda: chromium.find_element(By.CSS_SELECTOR, "button.accept"), what="plan")
    assert "waiting_pax_min_per_h" in chromium.find_element(By.CSS_SELECTOR, ".kpi-table").text
    button.click()
    wait_for(lambda: "accepted by park" in text_of(chromium, "plan-message"), what="accepted")
    chromium.save_screenshot(str(artifacts_dir / "plans.png"))
    assert records.plan_decisions()["hw-1"].actor == "park"


def test_controller_acknowledges_an_alert(site, chromium, artifacts_dir):
    url, _, _, records = site
    login(chromium, url, "cho")
    chromium.get(url + "/alerts")
    table = wait_for(lambda: text_of(chromium, "alerts-table"), what="alerts")
    assert "hold 90 s at control stop S2" in table and "11바**22" in table and "11바2222" not in table
    chromium.find_elements(By.CSS_SELECTOR, "button.ack")[0].click()
    wait_for(lambda: "acknowledged by cho" in text_of(chromium, "alerts-message"), what="acknowledged")
    wait_for(lambda: "acknowledged by cho at" in text_of(chromium, "alerts-table"), what="ack shown")
    chromium.save_screenshot(str(artifacts_dir / "alerts.png"))
    assert any(a.actor == "cho" and a.origin == "127.0.0.1" for a in records.acks().values())

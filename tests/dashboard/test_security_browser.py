"""The hardened site in a real headless Chromium, served by waitress: pages work under the CSP, what the wall hides,
the lockout message, and an ended login taking the open page back to the login page.

Content-Security-Policy violations are collected by a ``securitypolicyviolation``
listener installed before any page script runs (DevTools
``Page.addScriptToEvaluateOnNewDocument``); a page passes only with none.
"""

from __future__ import annotations

import json

import pytest
from dashboard_fixtures import BUSES_JS, STAFF, desk_site, press, text_of, wait_for
from selenium.webdriver.common.by import By

pytestmark = pytest.mark.integration

USERS = STAFF
PLATE_STEMS = ("34나", "12가", "22사", "11바")
WATCH_CSP = """window.__csp = [];
document.addEventListener('securitypolicyviolation',
  e => window.__csp.push(e.effectiveDirective + ' blocked ' + (e.blockedURI || 'inline') + ' in ' + e.sourceFile));"""
ALERT_TEXTS_JS = """
const plot = document.querySelector('#city-map .js-plotly-plot');
if (!plot || !plot.data) return null;
const alerts = plot.data.find(t => t.name === 'alerts');
return alerts ? Array.from(alerts.text || []) : null;
"""


@pytest.fixture
def serve(tmp_path_factory, mini_geojson, proj):
    """Start the app with these desk settings on waitress; stopped after the test."""
    started = []

    def start(**desk) -> str:
        server, *_ = desk_site(tmp_path_factory.mktemp("secure"), mini_geojson, proj, **desk)
        started.append(server)
        return started[-1].url

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def browser(chromium):
    """The shared headless Chromium, recording CSP violations on every page it opens."""
    chromium.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": WATCH_CSP})
    return chromium


def violations(driver) -> list[str]:
    return driver.execute_script("return window.__csp || ['the listener is missing']")


def log_in(driver, url, name, password=None):
    driver.get(f"{url}/login")
    submit(driver, name, password)


def submit(driver, name, password=None):
    """Fill in and send the login form of the page that is open."""
    driver.find_element(By.ID, "username").send_keys(name)
    driver.find_element(By.ID, "password").send_keys(USERS[name][1] if password is None else password)
    driver.find_element(By.ID, "login-submit").click()


def test_every_page_renders_and_runs_its_callbacks_under_the_policy(serve, browser, artifacts_dir):
    url = serve()
    browser.get(url + "/")
    wait_for(lambda: (d := browser.execute_script(BUSES_JS)) and len(d["x"]) == 4, what="buses drawn (WebGL)")
    wait_for(lambda: text_of(browser, "kpi-buses") == "4", what="tiles updated by their callback")
    assert "WebGL is not supported" not in text_of(browser, "city-map")  # what Plotly shows when eval is refused
    policy = browser.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "fetch('/').then(r => done(r.headers.get('content-security-policy')));")
    assert "script-src 'self' 'unsafe-eval' 'sha256-" in policy
    assert violations(browser) == []
    browser.execute_script("const s = document.createElement('script'); s.textContent = 'window.__ran = 1';"
                           "document.body.appendChild(s);")  # the policy holds: an injected inline script
    wait_for(lambda: violations(browser), what="the injected script's violation")
    assert browser.execute_script("return window.__ran") is None

    browser.get(url + "/login")
    assert violations(browser) == []
    log_in(browser, url, "kim")
    wait_for(lambda: "/login" not in browser.current_url, what="login")
    pages = {
        "/cases": lambda: browser.find_elements(By.CSS_SELECTOR, ".case-row"),
        "/routes?route=R1": lambda: browser.execute_script(
            "const p = document.querySelector('#route-marey .js-plotly-plot'); return p && p.data.length"),
        "/plans": lambda: browser.execute_script(
            "const p = document.querySelector('.plan-map .js-plotly-plot'); return p && p.data.length"),
        "/alerts": lambda: text_of(browser, "alerts-table"),
    }
    for path, ready in pages.items():
        browser.get(url + path)
        wait_for(ready, what=path)
        if path == "/cases":  # a callback driven by the keyboard script (assets/keys.js) under the policy
            press(browser, "j")
            wait_for(lambda: "Case CASE" in text_of(browser, "case-detail"), what="case detail")
        assert violations(browser) == [], path
    browser.save_screenshot(str(artifacts_dir / "secure_alerts.png"))


def test_the_anonymous_wall_shows_no_watch_list_hit_and_no_plate(serve, browser, artifacts_dir):
    url = serve()
    browser.get(url + "/")
    wait_for(lambda: "hold 90 s" in text_of(browser, "wall-alerts"), what="the bus alerts")
    texts = wait_for(lambda: browser.execute_script(ALERT_TEXTS_JS), what="alert markers")
    assert texts and all("watch list" not in t for t in texts)
    assert "watch list" not in text_of(browser, "wall-alerts")
    source = browser.page_source
    assert [p for p in PLATE_STEMS if p in source] == []
    figure = json.dumps(browser.execute_script(
        "return document.querySelector('#city-map .js-plotly-plot').data.map(t => t.text || null)"),
        ensure_ascii=False)
    assert [p for p in PLATE_STEMS if p in figure] == [] and "watch list" not in figure
    browser.save_screenshot(str(artifacts_dir / "wall_anonymous.png"))
    log_in(browser, url, "cho")  # the control: a controller's wall does show it, masked
    wait_for(lambda: "/login" not in browser.current_url, what="login")
    browser.get(url + "/")
    wait_for(lambda: "11바**22" in text_of(browser, "wall-alerts"), what="the watch-list hit, masked")
    assert "11바2222" not in browser.page_source


def test_the_sixth_attempt_shows_the_lockout_message(serve, browser, artifacts_dir):
    url = serve()
    for k in range(5):
        log_in(browser, url, "cho", f"wrong-{k}")
        wait_for(lambda: text_of(browser, "login-error"), what="the error")
    log_in(browser, url, "cho")  # the right password
    message = wait_for(lambda: text_of(browser, "login-error"), what="the lockout message")
    assert message == "too many attempts, try again in 15 min"
    assert "/login" in browser.current_url
    browser.save_screenshot(str(artifacts_dir / "login_locked.png"))
    browser.get(url + "/alerts")
    assert "/login?next=/alerts" in browser.current_url


@pytest.mark.parametrize("ended, desk, note", [
    ("expired", {"session_s": 4.0}, "Your login has expired. Please log in again."),
    ("idle", {"idle_s": 4.0}, "You were logged out after a time without activity. Please log in again."),
])
def test_an_ended_login_takes_the_open_page_to_the_login_page(serve, browser, ended, desk, note):
    url = serve(session_check_s=0.5, **desk)
    log_in(browser, url, "cho")
    wait_for(lambda: "/login" not in browser.current_url, what="login")
    browser.get(url + "/alerts")
    wait_for(lambda: text_of(browser, "alerts-table"), what="alerts")  # the table refreshes itself: no activity
    wait_for(lambda: f"ended={ended}" in browser.current_url, timeout_s=15, what=f"the login page ({ended})")
    assert text_of(browser, "login-note") == note
    assert "next=/alerts" in browser.current_url
    submit(browser, "cho")  # and back to where it was
    wait_for(lambda: browser.current_url.endswith("/alerts"), what="back on /alerts")

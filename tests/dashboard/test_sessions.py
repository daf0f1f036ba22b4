"""Session expiry, the idle logout, the way back to the login page and the safe return path (Flask test client)."""

from __future__ import annotations

import json
import time

import flask
import pytest
from dashboard_fixtures import feed_city, make_cases

from dashboard import auth
from dashboard.app import build_app
from dashboard.readmodel import ReadModel
from dashboard.store import DeskStore
from enforcement.store import CaseStore
from topis.settings import DashboardSettings, DeskSettings


def make_app(tmp_path, mini_geojson, proj, **desk):
    cases = CaseStore(f"sqlite:///{tmp_path / 'cases.sqlite'}")
    make_cases(cases)
    records = DeskStore(cases.url)
    records.add_user("kim", "enforcement", "kim-password")
    rm = ReadModel()
    feed_city(rm)
    return build_app(DashboardSettings(), mini_geojson, proj, rm, cases=cases, records=records,
                     desk_settings=DeskSettings(demo_users=False, **desk))


def login(client):
    client.get("/login")
    token = client.get_cookie("_csrf_token").value
    r = client.post("/login", data={"username": "kim", "password": "kim-password", "csrf_token": token})
    assert r.status_code == 302
    return client.get_cookie("_csrf_token").value


def callback(client, token, changed: list[str], pathname="/alerts"):
    """The session check's request (inputs as the renderer sends them); ``changed`` says what triggered it."""
    body = {"output": "session-exit.href", "outputs": {"id": "session-exit", "property": "href"},
            "inputs": [{"id": "session-tick", "property": "n_intervals", "value": 1}],
            "state": [{"id": "url", "property": "pathname", "value": pathname}], "changedPropIds": changed}
    r = client.post("/_dash-update-component", data=json.dumps(body),
                    headers={"Content-Type": "application/json", "X-CSRFToken": token})
    return r


def exit_of(response) -> str | None:
    """Where the session check sends the page (None: it stays)."""
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()["response"].get("session-exit", {}).get("href")


def test_timers_are_not_user_actions_clicks_and_page_loads_are():
    app = flask.Flask(__name__)

    def action(method, path, changed=None, inputs=()):
        data = None if changed is None else json.dumps({"changedPropIds": changed, "inputs": list(inputs)})
        with app.test_request_context(path, method=method, data=data, content_type="application/json"):
            return auth.is_user_action(flask.request)

    assert action("GET", "/cases")
    assert action("POST", "/_dash-update-component", ["case-status.value"])
    row = {"id": {"type": "case-row", "case": "C1"}, "property": "n_clicks"}
    clicked = '{"case":"C1","type":"case-row"}.n_clicks'
    assert action("POST", "/_dash-update-component", ["tick.n_intervals", clicked], [[{**row, "value": 1}]])
    assert not action("POST", "/_dash-update-component", [clicked], [[{**row, "value": None}]])  # just drawn
    assert not action("POST", "/_dash-update-component", ["tick.n_intervals"])
    assert not action("POST", "/_dash-update-component", [])  # a new layout's first calls
    assert not action("GET", "/_dash-component-suites/dash/dcc/x.js")
    assert not action("GET", "/assets/wall.css")


def test_an_idle_login_ends_timers_do_not_keep_it_and_says_why(tmp_path, mini_geojson, proj):
    app = make_app(tmp_path, mini_geojson, proj, idle_s=1.0)
    client = app.server.test_client()
    token = login(client)
    deadline = time.monotonic() + 1.3
    while time.monotonic() < deadline:  # the page's timers keep polling: not activity
        callback(client, token, ["session-tick.n_intervals"])
        time.sleep(0.2)
    r = client.get("/cases")
    assert r.status_code == 302 and r.headers["Location"] == "/login?next=/cases&ended=idle"
    page = client.get(r.headers["Location"]).get_data(as_text=True)
    assert "logged out after a time without activity" in page
    events = [e.event for e in app.desk.records.sign_ins(actor="kim")]
    assert events == ["signed_in", "idle"]


def test_a_user_action_postpones_the_idle_logout(tmp_path, mini_geojson, proj):
    app = make_app(tmp_path, mini_geojson, proj, idle_s=3.0)
    client = app.server.test_client()
    token = login(client)
    time.sleep(1.8)
    callback(client, token, ["case-status.value"])  # a choice in a dropdown
    time.sleep(1.8)
    assert client.get("/cases").status_code == 200  # 3.6 s since the login, 1.8 s since the action


def test_an_expired_login_sends_the_open_page_to_the_login_page(tmp_path, mini_geojson, proj):
    app = make_app(tmp_path, mini_geojson, proj, session_s=1.0)
    client = app.server.test_client()
    token = login(client)
    assert exit_of(callback(client, token, ["session-tick.n_intervals"])) is None  # still logged in: stay
    time.sleep(1.2)
    assert exit_of(callback(client, token, ["session-tick.n_intervals"])) == "/login?next=/alerts&ended=expired"
    page = client.get("/login?next=/alerts&ended=expired").get_data(as_text=True)
    assert "Your login has expired" in page
    assert exit_of(callback(client, token, ["session-tick.n_intervals"])) is None  # the login page cleared the flag
    assert [e.event for e in app.desk.records.sign_ins(actor="kim")] == ["signed_in", "expired"]


def test_logout_is_audited_and_says_so(tmp_path, mini_geojson, proj):
    app = make_app(tmp_path, mini_geojson, proj)
    client = app.server.test_client()
    login(client)
    r = client.get("/logout")
    assert r.headers["Location"] == "/login?next=/&ended=signed_out"
    assert "You are logged out." in client.get(r.headers["Location"]).get_data(as_text=True)
    assert client.get("/cases").status_code == 302
    assert [e.event for e in app.desk.records.sign_ins(actor="kim")] == ["signed_in", "signed_out"]


@pytest.fixture(scope="module")
def plain_app(tmp_path_factory, mini_geojson, proj):
    return make_app(tmp_path_factory.mktemp("plain"), mini_geojson, proj)


@pytest.mark.parametrize("target, expected", [
    ("/cases", "/cases"), ("/routes?route=R1", "/routes?route=R1"), (None, "/"),
    ("https://evil.example/", "/"), ("//evil.example/x", "/"), ("/\\evil.example", "/"), ("javascript:alert(1)", "/"),
    ("cases", "/"),
])
def test_login_returns_only_to_a_path_of_this_site(plain_app, target, expected):
    client = plain_app.server.test_client()
    client.get("/login")
    data = {"username": "kim", "password": "kim-password", "csrf_token": client.get_cookie("_csrf_token").value}
    if target is not None:
        data["next"] = target
    assert client.post("/login", data=data).headers["Location"] == expected


def test_non_ascii_passwords_and_tokens_are_refused_not_crashed_on(plain_app):
    client = plain_app.server.test_client()
    client.get("/login")
    token = client.get_cookie("_csrf_token").value
    r = client.post("/login", data={"username": "controller", "password": "비밀번호-틀림", "csrf_token": token})
    assert r.status_code == 200 and "wrong user name or password" in r.get_data(as_text=True)
    r = client.post("/_dash-update-component", data="{}", headers={"Content-Type": "application/json",
                                                                  "X-CSRFToken": "café"})
    assert r.status_code == 403

"""Users, login, session expiry, CSRF and role checks, on a real SQLite file, through Flask's test client."""

from __future__ import annotations

import json
import time

import pytest
from dashboard_fixtures import feed_city, make_cases

from dashboard.app import build_app
from dashboard.readmodel import ReadModel
from dashboard.store import DeskStore, UserError
from enforcement.store import CaseStore
from topis.settings import DashboardSettings, DeskSettings


@pytest.fixture
def stores(tmp_path):
    cases = CaseStore(f"sqlite:///{tmp_path / 'cases.sqlite'}")
    records = DeskStore(cases.url)
    yield cases, records
    records.close()
    cases.close()


def test_users_are_stored_with_hashed_passwords_and_checked(stores):
    _, records = stores
    records.add_user("kim", "enforcement", "correct horse")
    with pytest.raises(UserError, match="exists"):
        records.add_user("kim", "controller", "another one")
    with pytest.raises(UserError, match="unknown role"):
        records.add_user("lee", "admin", "long enough")
    with pytest.raises(UserError, match="8 characters"):
        records.add_user("lee", "planner", "short")
    assert records.authenticate("kim", "correct horse").role == "enforcement"
    assert records.authenticate("kim", "wrong") is None
    assert records.authenticate("nobody", "correct horse") is None
    with records.session() as s:
        stored = s.execute(__import__("sqlalchemy").text("select password_hash from dashboard_users")).scalar()
    assert "correct horse" not in stored and stored.startswith(("scrypt:", "pbkdf2:"))


def test_demo_users_are_seeded_only_into_an_empty_table(stores):
    _, records = stores
    assert set(records.seed_demo_users()) == {"enforcer", "controller", "planner"}
    assert records.seed_demo_users() == {}
    records2 = DeskStore(records.url)
    assert {u.role for u in records2.users()} == {"enforcement", "controller", "planner"}


def test_acknowledgements_and_plan_decisions_are_durable(stores):
    _, records = stores
    records.acknowledge("bus.bunching/1|R1|B2|S2|1", "bunching", "kim", "10.0.0.5", now=100.0)
    records.acknowledge("bus.bunching/1|R1|B2|S2|1", "bunching", "lee", "10.0.0.6", now=200.0)
    records.accept_plan("hw-1", "headways", "park", "10.0.0.7", now=300.0)
    again = DeskStore(records.url)
    ack = again.acks()["bus.bunching/1|R1|B2|S2|1"]
    assert (ack.actor, ack.origin, ack.ts) == ("kim", "10.0.0.5", 100.0)  # the first acknowledgement counts
    d = again.plan_decisions()["hw-1"]
    assert (d.actor, d.decision, d.ts) == ("park", "accepted", 300.0)


@pytest.fixture
def app(stores, mini_geojson, proj):
    cases, records = stores
    make_cases(cases)
    records.add_user("kim", "enforcement", "kim-password")
    records.add_user("cho", "controller", "cho-password")
    rm = ReadModel()
    feed_city(rm)
    return build_app(DashboardSettings(), mini_geojson, proj, rm, cases=cases, records=records,
                     desk_settings=DeskSettings(session_s=2.0, demo_users=False))


def _login(client, name, password):
    client.get("/login")
    token = client.get_cookie("_csrf_token").value
    return client.post("/login", data={"username": name, "password": password, "csrf_token": token, "next": "/cases"})


def _callback(client, body, token):
    headers = {"Content-Type": "application/json"}
    if token:
        headers["X-CSRFToken"] = token
    return client.post("/_dash-update-component", data=json.dumps(body), headers=headers)


def _text(response) -> str:
    return json.dumps(response.get_json(), ensure_ascii=False)


LIST_BODY = {"output": "..case-list.children...case-counts.children..",
             "outputs": [{"id": "case-list", "property": "children"}, {"id": "case-counts", "property": "children"}],
             "inputs": [{"id": "case-rule", "property": "value", "value": None},
                        {"id": "case-area", "property": "value", "value": None},
                        {"id": "case-status", "property": "value", "value": "new"},
                        {"id": "case-selected", "property": "data", "value": None},
                        {"id": "case-version", "property": "data", "value": 0}],
             "changedPropIds": ["case-status.value"], "state": []}


def route_body(pathname: str, search: str = "") -> dict:
    """The page-routing callback's request, as the renderer sends it when the URL changes."""
    return {"output": "..page.children...nav.children...root.className..",
            "outputs": [{"id": "page", "property": "children"}, {"id": "nav", "property": "children"},
                        {"id": "root", "property": "className"}],
            "inputs": [{"id": "url", "property": "pathname", "value": pathname},
                       {"id": "url", "property": "search", "value": search}],
            "changedPropIds": ["url.pathname"], "state": []}


def test_pages_other_than_the_wall_need_a_login(app):
    client = app.server.test_client()
    assert client.get("/").status_code == 200
    assert client.get("/wall").status_code == 200
    for path in ("/cases", "/alerts", "/routes", "/plans"):
        r = client.get(path)
        assert r.status_code == 302 and r.headers["Location"] == f"/login?next={path}"
    assert _login(client, "kim", "wrong password").status_code == 200  # the form again, with the error
    assert client.get("/cases").status_code == 302
    r = _login(client, "kim", "kim-password")
    assert r.status_code == 302 and r.headers["Location"] == "/cases"
    assert client.get("/cases").status_code == 200


def test_login_form_and_callbacks_need_the_csrf_token(app):
    client = app.server.test_client()
    client.get("/login")
    r = client.post("/login", data={"username": "kim", "password": "kim-password", "csrf_token": "forged"})
    assert r.status_code == 403
    _login(client, "kim", "kim-password")
    token = client.get_cookie("_csrf_token").value
    assert _callback(client, LIST_BODY, None).status_code == 403
    assert _callback(client, LIST_BODY, "forged").status_code == 403
    ok = _callback(client, LIST_BODY, token)
    assert ok.status_code == 200
    assert "34나5678" in _text(ok)  # enforcement staff see full plates


def test_controller_gets_no_case_from_the_queue_callback(app):
    client = app.server.test_client()
    _login(client, "cho", "cho-password")
    body = _text(_callback(client, LIST_BODY, client.get_cookie("_csrf_token").value))
    assert "enforcement staff only" in body
    assert "34나" not in body and "CASE1" not in body
    page = _callback(client, route_body("/cases"), client.get_cookie("_csrf_token").value)
    assert "new: 3" in _text(page)  # the counts, rendered in the layout
    assert "34나" not in _text(page)


def test_sessions_expire(app):
    client = app.server.test_client()
    _login(client, "kim", "kim-password")
    assert client.get("/cases").status_code == 200
    time.sleep(2.2)
    assert client.get("/cases").status_code == 302
    body = _text(_callback(client, LIST_BODY, client.get_cookie("_csrf_token").value))
    assert "enforcement staff only" in body and "34나" not in body


def _move(client, token, bus_sig, minutes_back=0):
    body = {"output": "..city-map.figure...bus-sig.data...speed-sig.data...playback-label.children..",
            "outputs": [{"id": "city-map", "property": "figure"}, {"id": "bus-sig", "property": "data"},
                        {"id": "speed-sig", "property": "data"}, {"id": "playback-label", "property": "children"}],
            "inputs": [{"id": "tick", "property": "n_intervals", "value": 1}], "changedPropIds": ["tick.n_intervals"],
            "state": [{"id": "playback", "property": "value", "value": minutes_back},
                      {"id": "bus-sig", "property": "data", "value": bus_sig},
                      {"id": "speed-sig", "property": "data", "value": None}]}
    r = _callback(client, body, token)
    assert r.status_code == 200, r.get_data(as_text=True)
    return r.get_json()["response"]


def test_wall_update_is_a_patch_that_resends_keys_only_when_buses_change_and_plays_back(app):
    from dashboard_fixtures import T0, route_snapshot

    from topis import topics

    client = app.server.test_client()
    client.get("/")  # anonymous: the wall is public, the CSRF cookie still applies
    token = client.get_cookie("_csrf_token").value
    first = _move(client, token, None)
    ops = {tuple(op["location"][2:]) for op in first["city-map"]["figure"]["operations"]}
    assert {("x",), ("y",), ("marker", "color"), ("customdata",)} <= ops
    again = _move(client, token, first["bus-sig"]["data"])
    assert ("customdata",) not in {tuple(op["location"][2:]) for op in again["city-map"]["figure"]["operations"]}
    assert again["playback-label"]["children"] == "live"
    rm = app.desk.read_model
    for k in range(1, 13):  # two more minutes of city clock, a frame every 10 s
        snap = route_snapshot(shift_deg=k * 1e-4)
        snap["clock_ts"] = T0 + 10 * k
        for v in snap["vehicles"]:
            v["ts"] = T0 + 10 * k
        rm.feed(topics.STATE_ROUTES.name, snap)
    back = _move(client, token, again["bus-sig"]["data"], minutes_back=1)
    assert back["playback-label"]["children"].startswith("playback ")
    assert back["playback-label"]["children"].endswith("20:07:40")  # T0 + 120 s - 60 s; T0 is 20:06:40 in Seoul


def test_watch_list_hits_come_from_the_case_store_too_and_are_listed_once(app):
    from dashboard_fixtures import T0

    from dashboard.desk import with_store_hits
    from enforcement.engine import Alert, Outcome

    desk = app.desk
    outcome = Outcome()
    outcome.alerts += [Alert("W1", "watch", "11바2222", "r1", "C1", 37.556, 126.981, T0 - 60, 0.9),  # also on the topic
                       Alert("W2", "watch", "99허9999", "r2", "C2", 37.55, 126.975, T0 - 5, 0.9)]
    desk.cases.commit(outcome, now=T0)
    state = with_store_hits(desk.read_model.state(), desk)
    assert sorted(state.watch_hits) == ["W1", "W2"]
    assert state.watch_hits["W2"]["plate"] == "99허9999" and state.watch_hits["W2"]["lat"] == 37.55


def test_desk_callbacks_answer_nothing_without_a_login(app):
    client = app.server.test_client()
    client.get("/")
    token = client.get_cookie("_csrf_token").value
    body = {"output": "..route-summary.children...route-marey.figure...route-headways.figure...route-load.children..."
                      "route-predictions.children..",
            "outputs": [{"id": i, "property": p} for i, p in (("route-summary", "children"), ("route-marey", "figure"),
                                                              ("route-headways", "figure"), ("route-load", "children"),
                                                              ("route-predictions", "children"))],
            "inputs": [{"id": "route-pick", "property": "value", "value": "R1"},
                       {"id": "route-tick", "property": "n_intervals", "value": 1}],
            "changedPropIds": ["route-pick.value"], "state": []}
    text = _text(_callback(client, body, token))
    assert "login required" in text and "T2" not in text
    assert "34나" not in _text(_callback(client, LIST_BODY, token))

"""Security headers and cookie flags: the policy text, and every kind of response of the app (Flask test client)."""

from __future__ import annotations

import json

import pytest
from dashboard_fixtures import feed_city

from dashboard.app import build_app
from dashboard.headers import content_security_policy, security_headers
from dashboard.readmodel import ReadModel
from dashboard.store import DeskStore
from enforcement.store import CaseStore
from topis.settings import DashboardSettings, DeskSettings


def directives(csp: str) -> dict[str, list[str]]:
    return {part.split()[0]: part.split()[1:] for part in csp.split("; ")}


def test_policy_allows_this_origin_dashs_inline_scripts_by_hash_and_eval_for_webgl():
    d = directives(content_security_policy(["'sha256-abc='"]))
    assert d["default-src"] == ["'self'"]
    assert d["script-src"] == ["'self'", "'unsafe-eval'", "'sha256-abc='"]  # no 'unsafe-inline' script
    assert d["frame-ancestors"] == ["'none'"] and d["object-src"] == ["'none'"]
    assert d["form-action"] == ["'self'"] and d["base-uri"] == ["'self'"]
    assert "'unsafe-inline'" in d["style-src"]  # Dash and Plotly set inline styles (see dashboard.headers)


def test_hsts_only_behind_https():
    plain = security_headers("x", https=False)
    assert plain["X-Frame-Options"] == "DENY" and plain["X-Content-Type-Options"] == "nosniff"
    assert plain["Referrer-Policy"] == "same-origin"
    assert "Strict-Transport-Security" not in plain
    assert security_headers("x", https=True)["Strict-Transport-Security"].startswith("max-age=")


def make_app(tmp_path, mini_geojson, proj, **dashboard):
    cases = CaseStore(f"sqlite:///{tmp_path / 'cases.sqlite'}")
    records = DeskStore(cases.url)
    records.add_user("kim", "enforcement", "kim-password")
    rm = ReadModel()
    feed_city(rm)
    app = build_app(DashboardSettings(**dashboard), mini_geojson, proj, rm, cases=cases, records=records,
                    desk_settings=DeskSettings(demo_users=False))
    return app


@pytest.fixture
def app(tmp_path, mini_geojson, proj):
    return make_app(tmp_path, mini_geojson, proj)


def test_every_kind_of_response_carries_the_headers(app):
    client = app.server.test_client()
    csp = content_security_policy(app.csp_hashes())
    responses = {
        "wall": client.get("/"),
        "login page": client.get("/login"),
        "redirect to login": client.get("/cases"),
        "layout": client.get("/_dash-layout"),
        "asset": client.get("/assets/wall.css"),
        "open feed": client.get("/api/gtfs-rt/vehicle-positions.pb"),
        "csrf refusal": client.post("/_dash-update-component", data="{}", headers={"Content-Type": "application/json"}),
        "unknown page": client.get("/no/such/page"),
    }
    assert (responses["redirect to login"].status_code, responses["csrf refusal"].status_code) == (302, 403)
    for what, r in responses.items():
        assert r.headers.get("Content-Security-Policy") == csp, what
        assert r.headers.get("X-Frame-Options") == "DENY", what
        assert r.headers.get("X-Content-Type-Options") == "nosniff", what
        assert r.headers.get("Referrer-Policy") == "same-origin", what
        assert "Strict-Transport-Security" not in r.headers, what
    assert responses["layout"].headers["Cache-Control"] == "no-store"
    assert responses["open feed"].headers["Cache-Control"] == "no-cache"  # the feed's own, kept
    assert "no-store" not in responses["asset"].headers.get("Cache-Control", "")
    for r in responses.values():
        r.close()  # the asset is a file


def test_the_renderers_inline_script_is_the_one_the_policy_hashes(app):
    import base64
    import hashlib
    import re

    page = app.server.test_client().get("/").get_data(as_text=True)
    page = re.sub(r"<!--.*?-->", "", page, flags=re.S)  # Dash's Internet Explorer warning sits in a comment
    inline = [m for m in re.findall(r"<script([^>]*)>(.*?)</script>", page, re.S) if m[1].strip()]
    executable = [body for attrs, body in inline if "application/json" not in attrs]
    assert executable, inline  # Dash's renderer start-up
    allowed = directives(app.server.test_client().get("/").headers["Content-Security-Policy"])["script-src"]
    for body in executable:
        digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in allowed


def _set_cookies(response) -> dict[str, str]:
    return {h.split("=", 1)[0]: h for h in response.headers.getlist("Set-Cookie")}


def _login(client):
    client.get("/login")
    token = client.get_cookie("_csrf_token").value
    return client.post("/login", data={"username": "kim", "password": "kim-password", "csrf_token": token})


def test_cookie_flags_on_plain_http(app):
    client = app.server.test_client()
    cookies = _set_cookies(_login(client))
    session, csrf = cookies["session"], cookies["_csrf_token"]
    assert "HttpOnly" in session and "SameSite=Lax" in session and "Secure" not in session
    assert "SameSite=Strict" in csrf and "HttpOnly" not in csrf and "Secure" not in csrf  # the renderer reads it


def test_cookies_are_secure_and_hsts_is_sent_behind_https(tmp_path, mini_geojson, proj):
    app = make_app(tmp_path, mini_geojson, proj, behind_https=True)
    client = app.server.test_client()
    r = _login(client)
    cookies = _set_cookies(r)
    assert "Secure" in cookies["session"] and "Secure" in cookies["_csrf_token"]
    assert r.headers["Strict-Transport-Security"].startswith("max-age=")


def test_callback_answers_are_not_cached(app):
    client = app.server.test_client()
    client.get("/")
    body = {"output": "wall-alerts.children", "outputs": {"id": "wall-alerts", "property": "children"},
            "inputs": [{"id": "tick", "property": "n_intervals", "value": 1}], "changedPropIds": ["tick.n_intervals"],
            "state": []}
    r = client.post("/_dash-update-component", data=json.dumps(body),
                    headers={"Content-Type": "application/json", "X-CSRFToken": client.get_cookie("_csrf_token").value})
    assert r.status_code == 200 and r.headers["Cache-Control"] == "no-store"

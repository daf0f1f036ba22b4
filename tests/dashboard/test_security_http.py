"""The served app (waitress, real SQLite stores) over plain HTTP: what anonymous and staff sessions can get.

Requests are made with urllib against the production server on loopback, with
hand-crafted Dash callback payloads — what a script would send, not what the
pages offer. No mock: the stores, the server and the throttle are the real ones.
"""

from __future__ import annotations

import http.cookiejar
import json
import urllib.error
import urllib.parse
import urllib.request

import pytest
from dashboard_fixtures import T0, LiveServer, feed_city, make_cases

from dashboard.app import build_app
from dashboard.readmodel import ReadModel
from dashboard.store import DeskStore
from enforcement.engine import Alert, Outcome
from enforcement.store import CaseStore
from topis.settings import DashboardSettings, DeskSettings

pytestmark = pytest.mark.integration

USERS = {"kim": ("enforcement", "kim-password"), "cho": ("controller", "cho-password"),
         "park": ("planner", "park-password")}
#: every plate of the fixtures (cases, the topic's watch hit W1, the store's W2), in full and as masked
PLATES = ("34나5678", "12가3456", "22사3333", "11바2222", "99허9999")
MASKED = ("34나**78", "12가**56", "22사**33", "11바**22", "99허**99")
PLATE_STEMS = ("34나", "12가", "22사", "11바", "99허")
CASE_IDS = ("CASE1", "CASE2", "CASE3")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


class Client:
    """A cookie-keeping HTTP client that does not follow redirects; ``forwarded_for`` sets X-Forwarded-For."""

    def __init__(self, url: str, forwarded_for: str | None = None):
        self.url, self.forwarded_for = url, forwarded_for
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar), _NoRedirect)

    def request(self, path: str, data: bytes | None = None, headers: dict | None = None):
        headers = dict(headers or {})
        if self.forwarded_for:
            headers["X-Forwarded-For"] = self.forwarded_for
        req = urllib.request.Request(self.url + path, data=data, headers=headers)
        try:
            with self.opener.open(req, timeout=30) as r:
                return r.status, r.headers, r.read().decode()
        except urllib.error.HTTPError as err:  # 3xx (not followed), 4xx: the answer itself
            with err:
                return err.code, err.headers, err.read().decode()

    def cookie(self, name: str) -> str | None:
        return next((c.value for c in self.jar if c.name == name), None)

    def login(self, name: str, password: str | None = None):
        self.request("/login")
        form = {"username": name, "password": USERS[name][1] if password is None else password,
                "csrf_token": self.cookie("_csrf_token"), "next": "/"}
        return self.request("/login", urllib.parse.urlencode(form).encode())

    def callback(self, body: dict):
        """POST a Dash callback request; the answer's JSON text with plates readable (not \\u-escaped)."""
        if self.cookie("_csrf_token") is None:
            self.request("/")
        status, headers, text = self.request("/_dash-update-component", json.dumps(body).encode(),
                                             {"Content-Type": "application/json",
                                              "X-CSRFToken": self.cookie("_csrf_token")})
        if status == 200 and headers.get_content_type() == "application/json":
            text = json.dumps(json.loads(text), ensure_ascii=False)
        return status, headers, text


def _stores(folder):
    cases = CaseStore(f"sqlite:///{folder / 'cases.sqlite'}")
    make_cases(cases)
    outcome = Outcome()  # a watch-list hit in the store only (the topic brings W1)
    outcome.alerts.append(Alert("W2", "stolen", "99허9999", "r2", "C2", 37.55, 126.975, T0 - 5, 0.9))
    cases.commit(outcome, now=T0)
    records = DeskStore(cases.url)
    for name, (role, password) in USERS.items():
        records.add_user(name, role, password)
    return cases, records


def _serve(folder, mini_geojson, proj, dashboard: DashboardSettings, desk: DeskSettings, **kw):
    cases, records = _stores(folder)
    rm = ReadModel()
    feed_city(rm)
    app = build_app(dashboard, mini_geojson, proj, rm, cases=cases, records=records, desk_settings=desk, **kw)
    return LiveServer(app, dashboard), cases, records


@pytest.fixture(scope="module")
def site(tmp_path_factory, mini_geojson, proj):
    """The app on waitress with the default settings (no login needed for the wall)."""
    server, cases, records = _serve(tmp_path_factory.mktemp("site"), mini_geojson, proj,
                                    DashboardSettings(threads=4), DeskSettings(demo_users=False))
    yield server.url, cases, records
    server.stop()


@pytest.fixture(scope="module")
def proxied(tmp_path_factory, mini_geojson, proj):
    """The app behind a trusted reverse proxy on loopback: each test's client comes from its own X-Forwarded-For."""
    server, cases, records = _serve(tmp_path_factory.mktemp("proxied"), mini_geojson, proj,
                                    DashboardSettings(threads=4, trusted_proxy="127.0.0.1"),
                                    DeskSettings(demo_users=False))
    yield server.url, records
    server.stop()


# ------------------------------------------------------------------ Dash callback payloads, as a script sends them

def _out(*pairs):
    return {"output": "..{}..".format("...".join(f"{i}.{p}" for i, p in pairs)) if len(pairs) > 1
            else f"{pairs[0][0]}.{pairs[0][1]}",
            "outputs": [{"id": i, "property": p} for i, p in pairs] if len(pairs) > 1
            else {"id": pairs[0][0], "property": pairs[0][1]}}


def _in(id_, prop, value):
    return {"id": id_, "property": prop, "value": value}


def route(pathname):
    return {**_out(("page", "children"), ("nav", "children"), ("root", "className")),
            "inputs": [_in("url", "pathname", pathname), _in("url", "search", "")], "changedPropIds": ["url.pathname"],
            "state": []}


LIST_CASES = {**_out(("case-list", "children"), ("case-counts", "children")),
              "inputs": [_in("case-rule", "value", None), _in("case-area", "value", None),
                         _in("case-status", "value", None), _in("case-selected", "data", None),
                         _in("case-version", "data", 0)], "changedPropIds": ["case-status.value"], "state": []}
SHOW_CASE = {**_out(("case-detail", "children"), ("case-map", "figure")),
             "inputs": [_in("case-selected", "data", "CASE1"), _in("case-version", "data", 0)],
             "changedPropIds": ["case-selected.data"], "state": []}
SELECT_CASE = {**_out(("case-selected", "data")),
               "inputs": [[_in({"type": "case-row", "case": "CASE1"}, "n_clicks", 1)]],
               "changedPropIds": ['{"case":"CASE1","type":"case-row"}.n_clicks'], "state": []}


def act(button: str):
    return {**_out(("case-message", "children"), ("case-version", "data")),
            "inputs": [_in(b, "n_clicks", 1 if b == button else None)
                       for b in ("case-claim", "case-confirm", "case-dismiss", "case-release")],
            "state": [_in("case-selected", "data", "CASE1"), _in("case-reason", "value", "crafted"),
                      _in("case-plate-checked", "value", ["yes"]), _in("case-version", "data", 0)],
            "changedPropIds": [f"{button}.n_clicks"]}


WALL_ALERTS = {**_out(("wall-alerts", "children")), "inputs": [_in("tick", "n_intervals", 1)],
               "changedPropIds": ["tick.n_intervals"], "state": []}
MOVE_BUSES = {**_out(("city-map", "figure"), ("bus-sig", "data"), ("speed-sig", "data"),
                     ("playback-label", "children")),
              "inputs": [_in("tick", "n_intervals", 1)], "changedPropIds": ["tick.n_intervals"],
              "state": [_in("playback", "value", 0), _in("bus-sig", "data", None), _in("speed-sig", "data", None)]}
ALERTS_LIST = {**_out(("alerts-list", "children")),
               "inputs": [_in("alerts-tick", "n_intervals", 1), _in("alerts-version", "data", 0),
                          _in("alerts-kinds", "value", ["bunching", "gapping", "stale_feed", "health", "watch_list"])],
               "changedPropIds": ["alerts-tick.n_intervals"], "state": []}


def ack(alert_id: str):
    return {**_out(("alerts-message", "children"), ("alerts-version", "data")),
            "inputs": [[_in({"type": "ack", "alert": alert_id}, "n_clicks", 1)]],
            "state": [_in("alerts-version", "data", 0)],
            "changedPropIds": [json.dumps({"alert": alert_id, "type": "ack"}, separators=(",", ":")) + ".n_clicks"]}


def no_case_data(text: str) -> list[str]:
    """What of the cases (plates, full or masked, and case ids) is in ``text``."""
    return [s for s in PLATE_STEMS + CASE_IDS if s in text]


# ------------------------------------------------------------------ the tests

def test_the_production_server_answers_with_the_security_headers_and_no_server_name(site):
    url, _, _ = site
    for path in ("/", "/login", "/cases", "/_dash-layout", "/assets/wall.css"):
        status, headers, _ = Client(url).request(path)
        assert status in (200, 302), path
        assert headers.get("Server") is None, (path, headers.get("Server"))  # no "Werkzeug/3.x Python/3.x"
        assert "frame-ancestors 'none'" in headers["Content-Security-Policy"], path
        assert (headers["X-Frame-Options"], headers["X-Content-Type-Options"]) == ("DENY", "nosniff"), path
        assert headers["Referrer-Policy"] == "same-origin", path
    _, headers, _ = Client(url).request("/login")
    session_cookie = [c for c in headers.get_all("Set-Cookie") if c.startswith("session=")]
    assert session_cookie and "HttpOnly" in session_cookie[0] and "SameSite=Lax" in session_cookie[0]


@pytest.mark.parametrize("who", [None, "cho", "park"])
def test_only_enforcement_staff_can_list_show_or_act_on_cases(site, who):
    url, cases, _ = site
    client = Client(url)
    if who:
        assert client.login(who)[0] == 302
    if who is None:
        status, headers, _ = client.request("/cases")
        assert status == 302 and headers["Location"].startswith("/login?next=/cases")
    for body in (route("/cases"), LIST_CASES, SHOW_CASE, SELECT_CASE):
        status, _, text = client.callback(body)
        assert status in (200, 204), text
        assert no_case_data(text) == [], (body["output"], text[:300])
    for button in ("case-claim", "case-confirm", "case-dismiss", "case-release"):
        status, _, text = client.callback(act(button))
        assert "only enforcement staff can decide cases" in text
    assert cases.get_case("CASE1").status == "new"
    assert [a.action for a in cases.audit_log("CASE1")] == ["open"]  # the engine's entry only


def test_the_same_payloads_do_list_show_and_claim_for_enforcement_staff(site):
    """The control: the crafted payloads are right, so an empty answer above means refused, not malformed."""
    url, cases, _ = site
    client = Client(url)
    assert client.login("kim")[0] == 302
    assert "34나5678" in client.callback(LIST_CASES)[2]
    assert "34나5678" in client.callback(SHOW_CASE)[2]
    assert "CASE1" in client.callback(SELECT_CASE)[2]
    assert "under review" in client.callback(act("case-claim"))[2]
    assert [(a.action, a.actor) for a in cases.audit_log("CASE1")][-1] == ("claim", "kim")
    assert "is now new" in client.callback(act("case-release"))[2]  # leave CASE1 as it was


def test_the_anonymous_wall_answers_carry_no_plate_and_no_enforcement_alert(site):
    url, _, _ = site
    client = Client(url)
    answers = {name: client.callback(body) for name, body in
               (("page", route("/")), ("wall alerts", WALL_ALERTS), ("map", MOVE_BUSES), ("alerts", ALERTS_LIST))}
    for name, (status, _, text) in answers.items():
        assert status == 200, (name, text[:300])
        assert [p for p in PLATES + MASKED + PLATE_STEMS if p in text] == [], name
        assert "watch list" not in text and "W1" not in text and "W2" not in text, name
    assert "hold 90 s" in answers["wall alerts"][2]  # the bus alerts are there
    assert "login required" in answers["alerts"][2]
    status, _, page = client.request("/")
    assert status == 200 and [p for p in PLATE_STEMS if p in page] == []


def test_staff_see_watch_list_hits_per_role(site):
    url, _, _ = site
    texts = {}
    for who in ("kim", "cho", "park"):
        client = Client(url)
        client.login(who)
        texts[who] = {"wall": client.callback(WALL_ALERTS)[2], "alerts": client.callback(ALERTS_LIST)[2]}
    assert "11바2222" in texts["kim"]["alerts"] and "99허9999" in texts["kim"]["alerts"]  # enforcement: full
    assert "11바**22" in texts["kim"]["wall"] and "11바2222" not in texts["kim"]["wall"]  # masked on the wall
    for where in ("wall", "alerts"):
        assert "99허**99" in texts["cho"][where] and "99허9999" not in texts["cho"][where]  # controller: masked
        assert "watch list" not in texts["park"][where]  # planner: none
        assert [p for p in PLATE_STEMS if p in texts["park"][where]] == []


def test_an_alert_one_may_not_see_cannot_be_acknowledged(site):
    url, _, records = site
    client = Client(url)
    client.login("park")
    assert "no such alert" in client.callback(ack("W2"))[2]
    assert "W2" not in records.acks()
    client = Client(url)
    client.login("cho")
    assert "acknowledged by cho" in client.callback(ack("W2"))[2]
    assert records.acks()["W2"].actor == "cho"


def test_the_sixth_attempt_after_five_wrong_passwords_is_refused_even_with_the_right_one(proxied):
    url, records = proxied
    client = Client(url, forwarded_for="203.0.113.10")
    for k in range(4):
        status, _, page = client.login("kim", f"guess-{k}")
        assert status == 200 and "wrong user name or password" in page
    status, headers, page = client.login("kim", "guess-4")
    assert status == 429 and "too many attempts, try again in 15 min" in page
    status, headers, page = client.login("kim")  # the right password
    assert status == 429 and "too many attempts, try again in 15 min" in page
    assert 14 * 60 < int(headers["Retry-After"]) <= 15 * 60 + 1
    assert client.request("/cases")[0] == 302  # not logged in
    other = Client(url, forwarded_for="203.0.113.11")  # the name is locked out from any address
    assert other.login("kim")[0] == 429
    assert Client(url, forwarded_for="203.0.113.12").login("cho")[0] == 302  # other users are not
    events = [(e.event, e.origin) for e in records.sign_ins(actor="kim")]
    assert events == [("failed", "203.0.113.10")] * 5 + [("locked_out", "203.0.113.10"), ("refused", "203.0.113.10"),
                                                         ("refused", "203.0.113.11")]


def test_five_wrong_passwords_from_one_address_lock_that_address_out(proxied):
    url, records = proxied
    client = Client(url, forwarded_for="198.51.100.7")
    for k in range(5):
        client.request("/login")
        form = {"username": f"nobody-{k}", "password": "x", "csrf_token": client.cookie("_csrf_token")}
        client.request("/login", urllib.parse.urlencode(form).encode())
    status, _, page = client.login("park")
    assert status == 429 and "too many attempts" in page
    assert Client(url, forwarded_for="198.51.100.8").login("park")[0] == 302  # the same user from elsewhere
    assert [e.event for e in records.sign_ins(origin="198.51.100.7")][-2:] == ["locked_out", "refused"]


def test_forwarded_for_is_ignored_without_a_trusted_proxy(tmp_path, mini_geojson, proj):
    server, _, records = _serve(tmp_path, mini_geojson, proj, DashboardSettings(threads=2),
                                DeskSettings(demo_users=False, login_max_failures=2))
    try:
        for k in range(2):  # a script rotating X-Forwarded-For to escape the address lockout
            Client(server.url, forwarded_for=f"192.0.2.{k}").login("cho", "wrong")
        assert {e.origin for e in records.sign_ins(events=("failed",))} == {"127.0.0.1"}
        assert Client(server.url, forwarded_for="192.0.2.99").login("park")[0] == 429
    finally:
        server.stop()


def test_demo_accounts_are_refused_on_a_real_city(tmp_path, mini_geojson, proj, caplog):
    records = DeskStore(f"sqlite:///{tmp_path / 'cases.sqlite'}")
    records.seed_demo_users()  # an earlier demo run left them behind
    rm = ReadModel()
    with caplog.at_level("WARNING", logger="dashboard"):
        app = build_app(DashboardSettings(), mini_geojson, proj, rm, records=records,
                        cases=CaseStore(records.url), desk_settings=DeskSettings(demo_users=True), demo_city=False)
    assert "demo users are not seeded" in caplog.text and "still has its demo password" in caplog.text
    server = LiveServer(app)
    try:
        client = Client(server.url)
        client.request("/login")
        form = {"username": "enforcer", "password": "enforcer-demo", "csrf_token": client.cookie("_csrf_token")}
        with caplog.at_level("WARNING", logger="dashboard.auth"):
            status, _, page = client.request("/login", urllib.parse.urlencode(form).encode())
        assert status == 403 and "demo accounts are switched off" in page
        assert "refused the demo account 'enforcer'" in caplog.text
        assert client.request("/cases")[0] == 302
        form.update(password="비밀번호", csrf_token=client.cookie("_csrf_token"))  # not ASCII: compared as bytes
        assert client.request("/login", urllib.parse.urlencode(form).encode())[0] == 200  # a wrong password
        assert [(e.event, e.detail) for e in records.sign_ins(actor="enforcer")] == [
            ("refused", "demo account on a real city"), ("failed", "wrong user name or password")]
    finally:
        server.stop()


def test_demo_accounts_work_on_the_demo_city(tmp_path, mini_geojson, proj):
    """The control of the test above: the same login passes when the city is the demo's."""
    records = DeskStore(f"sqlite:///{tmp_path / 'cases.sqlite'}")
    app = build_app(DashboardSettings(), mini_geojson, proj, ReadModel(), records=records,
                    cases=CaseStore(records.url), desk_settings=DeskSettings(demo_users=True), demo_city=True)
    assert {u.name for u in records.users()} == {"enforcer", "controller", "planner"}
    client = app.server.test_client()
    client.get("/login")
    r = client.post("/login", data={"username": "enforcer", "password": "enforcer-demo",
                                    "csrf_token": client.get_cookie("_csrf_token").value})
    assert r.status_code == 302

"""Login, roles, session expiry, login throttling and CSRF protection for the Dash server (Flask).

* ``/login`` (a plain HTML form, works without JavaScript) and ``/logout``;
* every page except the wall (``/``, ``/wall``, when ``wall_public``) and the
  open feed (``/api/gtfs-rt/...``, ``/api/stops/...``) needs a login; pages
  redirect to ``/login?next=...``;
* a login ends ``session_s`` seconds after it began, or ``idle_s`` seconds
  after its user last did something (a page load, a click, a choice: the
  pages' refresh timers do not count). The next request finds it ended, and
  the page goes to the login page with a message saying why (open pages ask
  every ``session_check_s``, see :func:`ended_reason`);
* ``login_max_failures`` wrong passwords for one user name, or from one client
  address, within ``login_window_s`` refuse every attempt from then on for
  ``login_lockout_s`` — right password or not (:mod:`dashboard.throttle`);
* every login, wrong password, lockout, refused attempt and ended session is
  written to the sign-in audit trail (:meth:`DeskStore.record_sign_in`);
* demo accounts still on their demo password are refused when the dashboard
  serves a real city (``demo_city=False``);
* every POST must carry the session's CSRF token: Dash's renderer sends the
  ``_csrf_token`` cookie back as the ``X-CSRFToken`` header on callback POSTs,
  the login form sends it as a hidden field;
* cookies: the session cookie is HttpOnly and SameSite=Lax, the CSRF cookie
  SameSite=Strict (not HttpOnly: the renderer reads it); both Secure when
  ``behind_https``;
* callbacks that read or change protected data call :func:`current_user` and
  check the role themselves (the server decides what a role sees, never the page).
"""

from __future__ import annotations

import hmac
import html
import json
import logging
import secrets
import time
from dataclasses import dataclass
from urllib.parse import urlencode, urlparse

import flask

from dashboard import throttle
from dashboard.store import DEMO_USERS, DeskStore, User
from topis.settings import DeskSettings

log = logging.getLogger(__name__)

CSRF_COOKIE = "_csrf_token"
CSRF_HEADER = "X-CSRFToken"
#: paths anyone may GET (Dash's own machinery and the login page).
_OPEN_PREFIXES = ("/_dash-", "/assets/", "/_favicon", "/_reload-hash", "/login", "/logout")
#: requests for these are not a user's action (they do not postpone the idle logout).
_STATIC_PREFIXES = ("/_dash-component-suites/", "/assets/", "/_favicon", "/_reload-hash")
#: the open feed (GTFS-realtime and stop arrivals, :mod:`streams.bus.gtfs_rt`): public, read-only (GET only).
OPEN_FEED_PREFIXES = ("/api/gtfs-rt/", "/api/stops/")
#: why a login ended (``?ended=`` of the login page) and what the login page says then.
ENDED_MESSAGES = {"expired": "Your login has expired. Please log in again.",
                  "idle": "You were logged out after a time without activity. Please log in again.",
                  "signed_out": "You are logged out."}
WRONG_PASSWORD = "wrong user name or password"
DEMO_REFUSED = "demo accounts are switched off: this control room serves a real city"

_LOGIN_HTML = """<!doctype html><html><head><title>topis — log in</title>
<style>body{{background:#0b0f14;color:#e6edf3;font-family:sans-serif;display:flex;justify-content:center;
align-items:center;height:100vh;margin:0}}form{{background:#141b24;padding:32px;border-radius:8px;width:320px}}
input{{width:100%;padding:8px;margin:6px 0 14px;box-sizing:border-box;background:#0b0f14;color:#e6edf3;
border:1px solid #3a4452}}button{{padding:8px 20px}}.err{{color:#ff5252}}.note{{color:#ffd166}}</style></head><body>
<form method="post" action="/login"><h2>topis control room</h2><div class="note" id="login-note">{note}</div>
<div class="err" id="login-error">{error}</div>
<label>User<input name="username" id="username" autofocus></label>
<label>Password<input name="password" id="password" type="password"></label>
<input type="hidden" name="csrf_token" value="{csrf}"><input type="hidden" name="next" value="{next}">
<button type="submit" id="login-submit">Log in</button></form></body></html>"""


def current_user() -> User | None:
    """The logged-in user of this request, or None (also when the login expired or went idle)."""
    user = flask.session.get("user")
    if not user or _ended(flask.session, time.time()):
        return None
    return User(user["name"], user["role"])


def ended_reason() -> str | None:
    """Why this browser's login ended ("expired", "idle"), when it had one that ended; None otherwise.

    Set when a request finds the login over; cleared by the next visit to the
    login page (or a new login).
    """
    return flask.session.get("ended")


def request_origin() -> str:
    """Where the request came from (the client IP), for audit entries and the login throttle."""
    return flask.request.remote_addr or "unknown"


def _ended(session, now_ts: float) -> str | None:
    if not session.get("user"):
        return None
    if session.get("expires_ts", 0) < now_ts:
        return "expired"
    if session.get("idle_until_ts", 0) < now_ts:
        return "idle"
    return None


def _prop_key(item: dict) -> str:
    """A callback input's name as ``changedPropIds`` spells it (pattern ids as sorted, compact JSON)."""
    ident = item.get("id")
    name = ident if isinstance(ident, str) else json.dumps(ident, sort_keys=True, separators=(",", ":"))
    return f"{name}.{item.get('property')}"


def _input_values(body: dict) -> dict[str, object]:
    flat = [i for item in body.get("inputs") or [] for i in (item if isinstance(item, list) else [item])]
    return {_prop_key(i): i.get("value") for i in flat if isinstance(i, dict)}


def is_user_action(request: flask.Request) -> bool:
    """Whether a request is someone doing something (it postpones the idle logout), not a timer or a file.

    A callback counts when one of the props that triggered it is not a
    timer's ``n_intervals`` and not the ``n_clicks`` of a button that was just
    drawn (``None``: Dash calls the callback of new pattern-matched buttons,
    e.g. each refresh of the alerts table, without anyone clicking).
    """
    if request.path.startswith(_STATIC_PREFIXES):
        return False
    if request.method == "POST" and request.path == "/_dash-update-component":
        body = request.get_json(silent=True) or {}
        values = _input_values(body)
        changed = body.get("changedPropIds") or []  # empty: the first calls of a new layout, after a page load
        return any(not (str(prop).endswith(".n_intervals") or str(prop).endswith(".n_clicks") and not values.get(prop))
                   for prop in changed)
    return request.method in ("GET", "HEAD")


def _csrf() -> str:
    token = flask.session.get("csrf")
    if not token:
        token = flask.session["csrf"] = secrets.token_urlsafe(32)
    return token


def _safe_next(target: str | None) -> str:
    target = target or "/"
    parsed = urlparse(target)
    if "\\" in target or parsed.netloc or parsed.scheme or not target.startswith("/") or target.startswith("//"):
        return "/"  # only paths of this site: no open redirect (browsers read a backslash as a slash)
    return parsed.path + (f"?{parsed.query}" if parsed.query else "")


def login_url(next_path: str, ended: str | None = None) -> str:
    """The login page's URL that returns to ``next_path`` and says why the last login ended."""
    query = {"next": next_path, **({"ended": ended} if ended else {})}
    return f"/login?{urlencode(query, safe='/')}"


@dataclass(frozen=True)
class Refusal:
    """A login attempt turned down: what the page says, its HTTP status, and when to retry (seconds, 0: now)."""

    message: str
    status: int
    retry_after_s: int = 0


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())  # bytes: a str must be ASCII for compare_digest


def check_attempt(store: DeskStore, settings: DeskSettings, name: str, password: str, origin: str, now_ts: float,
                  *, demo_city: bool) -> User | Refusal:
    """One login attempt, written to the sign-in audit trail: the user, or why not.

    Refused unchecked while the name or the address is locked out (429), and for
    a demo account on a real city (403); a wrong password that completes
    ``login_max_failures`` starts a lockout (429 already).
    """
    if lock := throttle.lockout(store, name, origin, now_ts, settings):
        store.record_sign_in("refused", name, origin, f"locked out ({lock.scope}) until {lock.until_ts:.0f}",
                             now=now_ts)
        return Refusal(lock.message(now_ts), 429, int(lock.until_ts - now_ts) + 1)
    if not demo_city and name in DEMO_USERS and _same(password, DEMO_USERS[name][1]):
        log.warning("refused the demo account %r from %s: this dashboard serves a real city; "
                    "remove it with `topis users remove %s`", name, origin, name)
        store.record_sign_in("refused", name, origin, "demo account on a real city", now=now_ts)
        return Refusal(DEMO_REFUSED, 403)
    user = store.authenticate(name, password)
    if user is not None:
        store.record_sign_in("signed_in", user.name, origin, user.role, now=now_ts)
        return user
    store.record_sign_in("failed", name, origin, WRONG_PASSWORD, now=now_ts)
    if lock := throttle.lockout(store, name, origin, now_ts, settings):
        log.warning("login locked out (%s) for %r from %s until %.0f after %d wrong passwords",
                    lock.scope, name, origin, lock.until_ts, settings.login_max_failures)
        store.record_sign_in("locked_out", name, origin, f"{settings.login_max_failures} wrong passwords within "
                             f"{settings.login_window_s:.0f} s ({lock.scope}); refused until {lock.until_ts:.0f}",
                             now=now_ts)
        return Refusal(f"{WRONG_PASSWORD}; {lock.message(now_ts)}", 429, int(lock.until_ts - now_ts) + 1)
    return Refusal(WRONG_PASSWORD, 200)


def install(server: flask.Flask, store: DeskStore, settings: DeskSettings, *, secret_key: str,
            behind_https: bool = False, demo_city: bool = True) -> None:
    """Add login/logout, the login guard, session expiry, the login throttle and the CSRF check to ``server``."""
    server.secret_key = secret_key
    server.config.update(SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax",
                         SESSION_COOKIE_SECURE=behind_https)
    public = {"/", "/wall"} if settings.wall_public else set()

    def end_login(reason: str, now_ts: float) -> None:
        user = flask.session.pop("user", None)
        flask.session["ended"] = reason
        detail = "login older than session_s" if reason == "expired" else "no user action for idle_s"
        store.record_sign_in(reason, user["name"], request_origin(), detail, now=now_ts)

    @server.before_request
    def guard():
        now = time.time()
        if reason := _ended(flask.session, now):
            end_login(reason, now)  # the CSRF token stays, the user goes
        token = _csrf()
        if flask.request.method not in ("GET", "HEAD", "OPTIONS"):
            sent = flask.request.headers.get(CSRF_HEADER) or flask.request.form.get("csrf_token", "")
            if not _same(sent, token):
                return flask.Response("CSRF token missing or wrong; reload the page", status=403)
        if flask.session.get("user") and is_user_action(flask.request):
            flask.session["idle_until_ts"] = now + settings.idle_s
        if flask.request.method not in ("GET", "HEAD", "OPTIONS"):
            return None
        path = flask.request.path
        if path in public or path.startswith(_OPEN_PREFIXES + OPEN_FEED_PREFIXES) or current_user() is not None:
            return None
        target = flask.request.full_path if flask.request.query_string else path
        return flask.redirect(login_url(target, ended_reason()))

    @server.after_request
    def csrf_cookie(response: flask.Response) -> flask.Response:
        if "csrf" in flask.session:
            response.set_cookie(CSRF_COOKIE, flask.session["csrf"], samesite="Strict", httponly=False,
                                secure=behind_https)
        return response

    def page(error: str = "", status: int = 200, note: str = "", headers: dict | None = None):
        nxt = _safe_next(flask.request.values.get("next"))
        body = _LOGIN_HTML.format(note=html.escape(note), error=html.escape(error), csrf=html.escape(_csrf()),
                                  next=html.escape(nxt))
        return flask.Response(body, status=status, headers=headers or {}, mimetype="text/html")

    def attempt(name: str, password: str, origin: str, now: float):
        outcome = check_attempt(store, settings, name, password, origin, now, demo_city=demo_city)
        if isinstance(outcome, Refusal):
            retry = {"Retry-After": str(outcome.retry_after_s)} if outcome.retry_after_s else {}
            return page(outcome.message, outcome.status, headers=retry)
        csrf = secrets.token_urlsafe(32)  # a fresh token and session on login
        flask.session.clear()
        flask.session.update(user={"name": outcome.name, "role": outcome.role}, csrf=csrf,
                             expires_ts=now + settings.session_s, idle_until_ts=now + settings.idle_s)
        return flask.redirect(_safe_next(flask.request.values.get("next")))

    @server.route("/login", methods=["GET", "POST"])
    def login():
        if flask.request.method == "POST":
            name = flask.request.form.get("username", "").strip()[:64]
            return attempt(name, flask.request.form.get("password", ""), request_origin(), time.time())
        ended = flask.request.args.get("ended")
        flask.session.pop("ended", None)
        return page(note=ENDED_MESSAGES.get(ended, ""))

    @server.route("/logout")
    def logout():
        user = flask.session.get("user")
        if user:
            store.record_sign_in("signed_out", user["name"], request_origin())
        flask.session.clear()
        return flask.redirect(login_url("/", "signed_out"))


def exit_of_ended_login(pathname: str | None) -> str | None:
    """Where an open page whose login ended goes (the login page, saying why), or None to stay."""
    reason = ended_reason()
    return login_url(pathname or "/", reason) if reason else None

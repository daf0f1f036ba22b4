"""Login, roles, session expiry and CSRF protection for the Dash server (Flask).

* ``/login`` (a plain HTML form, works without JavaScript) and ``/logout``;
* every page except the wall (``/``, ``/wall``, when ``wall_public``) and the
  open feed (``/api/gtfs-rt/...``, ``/api/stops/...``) needs a login; pages
  redirect to ``/login?next=...``;
* a login lasts ``session_s`` seconds (checked on every request);
* every POST must carry the session's CSRF token: Dash's renderer sends the
  ``_csrf_token`` cookie back as the ``X-CSRFToken`` header on callback POSTs,
  the login form sends it as a hidden field;
* callbacks that read or change protected data call :func:`current_user` and
  check the role themselves (the server decides what a role sees, never the page).
"""

from __future__ import annotations

import hmac
import html
import secrets
import time
from urllib.parse import urlparse

import flask

from dashboard.store import DeskStore, User

CSRF_COOKIE = "_csrf_token"
CSRF_HEADER = "X-CSRFToken"
#: paths anyone may GET (Dash's own machinery and the login page).
_OPEN_PREFIXES = ("/_dash-", "/assets/", "/_favicon", "/_reload-hash", "/login", "/logout")
#: the open feed (GTFS-realtime and stop arrivals, :mod:`streams.bus.gtfs_rt`): public, read-only (GET only).
OPEN_FEED_PREFIXES = ("/api/gtfs-rt/", "/api/stops/")

_LOGIN_HTML = """<!doctype html><html><head><title>topis — log in</title>
<style>body{{background:#0b0f14;color:#e6edf3;font-family:sans-serif;display:flex;justify-content:center;
align-items:center;height:100vh;margin:0}}form{{background:#141b24;padding:32px;border-radius:8px;width:320px}}
input{{width:100%;padding:8px;margin:6px 0 14px;box-sizing:border-box;background:#0b0f14;color:#e6edf3;
border:1px solid #3a4452}}button{{padding:8px 20px}}.err{{color:#ff5252}}</style></head><body>
<form method="post" action="/login"><h2>topis control room</h2><div class="err" id="login-error">{error}</div>
<label>User<input name="username" id="username" autofocus></label>
<label>Password<input name="password" id="password" type="password"></label>
<input type="hidden" name="csrf_token" value="{csrf}"><input type="hidden" name="next" value="{next}">
<button type="submit" id="login-submit">Log in</button></form></body></html>"""


def current_user() -> User | None:
    """The logged-in user of this request, or None (also when the login expired)."""
    user = flask.session.get("user")
    if not user or flask.session.get("expires_ts", 0) < time.time():
        return None
    return User(user["name"], user["role"])


def request_origin() -> str:
    """Where the request came from (the client IP), for audit entries."""
    return flask.request.remote_addr or "unknown"


def _csrf() -> str:
    token = flask.session.get("csrf")
    if not token:
        token = flask.session["csrf"] = secrets.token_urlsafe(32)
    return token


def _safe_next(target: str | None) -> str:
    parsed = urlparse(target or "/")
    return parsed.path if not parsed.netloc and parsed.path.startswith("/") else "/"


def install(server: flask.Flask, store: DeskStore, *, secret_key: str, session_s: float,
            wall_public: bool = True) -> None:
    """Add login/logout, the login guard and the CSRF check to the Dash app's Flask server."""
    server.secret_key = secret_key
    server.config.update(SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax")
    public = {"/", "/wall"} if wall_public else set()

    @server.before_request
    def guard():
        if flask.session.get("user") and flask.session.get("expires_ts", 0) < time.time():
            flask.session.pop("user", None)  # the login expired: the CSRF token stays, the user goes
        token = _csrf()
        if flask.request.method not in ("GET", "HEAD", "OPTIONS"):
            sent = flask.request.headers.get(CSRF_HEADER) or flask.request.form.get("csrf_token", "")
            if not hmac.compare_digest(sent, token):
                return flask.Response("CSRF token missing or wrong; reload the page", status=403)
            return None
        path = flask.request.path
        if path in public or path.startswith(_OPEN_PREFIXES + OPEN_FEED_PREFIXES) or current_user() is not None:
            return None
        return flask.redirect(f"/login?next={flask.request.full_path if flask.request.query_string else path}")

    @server.after_request
    def csrf_cookie(response: flask.Response) -> flask.Response:
        if "csrf" in flask.session:
            response.set_cookie(CSRF_COOKIE, flask.session["csrf"], samesite="Strict", httponly=False)
        return response

    @server.route("/login", methods=["GET", "POST"])
    def login():
        nxt = _safe_next(flask.request.values.get("next"))
        error = ""
        if flask.request.method == "POST":
            user = store.authenticate(flask.request.form.get("username", ""), flask.request.form.get("password", ""))
            if user is not None:
                csrf = secrets.token_urlsafe(32)  # a fresh token and session on login
                flask.session.clear()
                flask.session.update(user={"name": user.name, "role": user.role}, csrf=csrf,
                                     expires_ts=time.time() + session_s)
                return flask.redirect(nxt)
            error = "wrong user name or password"
        return _LOGIN_HTML.format(error=html.escape(error), csrf=html.escape(_csrf()), next=html.escape(nxt))

    @server.route("/logout")
    def logout():
        flask.session.clear()
        return flask.redirect("/login")

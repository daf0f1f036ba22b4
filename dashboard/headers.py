"""Security headers on every response of the control-room server.

The Content-Security-Policy allows only this origin, plus what Dash and
Plotly need (checked in a real Chromium by ``tests/dashboard/test_security_browser.py``):

* scripts from this origin, and Dash's inline script (the renderer start-up)
  by its hash, from :meth:`dash.Dash.csp_hashes`: no ``'unsafe-inline'``
  script, so an injected ``<script>`` does not run;
* ``script-src 'unsafe-eval'`` — Plotly's WebGL traces (``scattergl``: the
  city map, its buses and road speeds) compile their drawing code with
  ``Function`` (regl, inside plotly.js 4.1); without it the map shows
  "WebGL is not supported by your browser" instead of the city;
* ``style-src 'unsafe-inline'`` — Plotly adds ``<style>`` elements and Dash
  components set style attributes;
* ``img-src data: blob:`` — Plotly's mode bar icons and image export.

``frame-ancestors 'none'`` and ``X-Frame-Options: DENY`` keep the pages out
of other sites' frames (click-jacking of the decide buttons).
"""

from __future__ import annotations

from collections.abc import Sequence

import flask

#: paths whose answers may be cached (versioned scripts and styles); every other answer is ``no-store``
STATIC_PREFIXES = ("/_dash-component-suites/", "/assets/", "/_favicon")
HSTS_MAX_AGE_S = 365 * 24 * 3600


def content_security_policy(script_hashes: Sequence[str] = ()) -> str:
    """The policy: this origin only, Dash's inline scripts by hash, eval for Plotly's WebGL, inline styles.

    ``script_hashes`` as :meth:`dash.Dash.csp_hashes` gives them: ``'sha256-...'``, quotes included.
    """
    directives = {
        "default-src": ["'self'"],
        "script-src": ["'self'", "'unsafe-eval'", *script_hashes],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:", "blob:"],
        "font-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "worker-src": ["'self'", "blob:"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
    return "; ".join(f"{name} {' '.join(values)}" for name, values in directives.items())


def security_headers(csp: str, *, https: bool) -> dict[str, str]:
    """The headers every response carries (Strict-Transport-Security only when served over https)."""
    headers = {
        "Content-Security-Policy": csp,
        "X-Frame-Options": "DENY",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
        "Cross-Origin-Opener-Policy": "same-origin",
        "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
    }
    if https:
        headers["Strict-Transport-Security"] = f"max-age={HSTS_MAX_AGE_S}"
    return headers


def install(server: flask.Flask, csp: str, *, https: bool) -> None:
    """Add the headers to every response of ``server``; dynamic answers (pages, callbacks) that set no
    Cache-Control of their own get ``no-store``: they may carry what only a signed-in role should see."""
    headers = security_headers(csp, https=https)

    @server.after_request
    def add_security_headers(response: flask.Response) -> flask.Response:
        response.headers.update(headers)
        if "Cache-Control" not in response.headers and not flask.request.path.startswith(STATIC_PREFIXES):
            response.headers["Cache-Control"] = "no-store"
        return response

"""The production web server of ``topis dashboard``: waitress, a pure-Python WSGI server with a thread pool.

Flask's own server (Werkzeug's) is a development server; waitress buffers
requests and responses, limits header and body sizes, and sends no
``Server`` header (``ident`` empty). Behind a TLS reverse proxy, set
``DashboardSettings.trusted_proxy`` so the client address (login throttle,
audit trail) and the https scheme come from its X-Forwarded-* headers; from
anyone else those headers are dropped.
"""

from __future__ import annotations

import flask
import waitress
from waitress.server import BaseWSGIServer

from topis.settings import DashboardSettings


def wsgi_server(server: flask.Flask, settings: DashboardSettings, *, port: int | None = None) -> BaseWSGIServer:
    """A waitress server for the Dash app's Flask ``server`` on ``settings.host``; ``port`` 0 = a free one (tests).

    Call ``.run()`` to serve until interrupted and ``.close()`` to stop;
    ``.effective_port`` is the port it listens on.
    """
    options = dict(host=settings.host, port=settings.port if port is None else port, threads=settings.threads,
                   ident="", expose_tracebacks=False, clear_untrusted_proxy_headers=True)
    if settings.trusted_proxy:
        options.update(trusted_proxy=settings.trusted_proxy, trusted_proxy_count=1,
                       trusted_proxy_headers={"x-forwarded-for", "x-forwarded-proto"})
    return waitress.create_server(server, **options)

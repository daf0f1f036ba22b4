"""The control-room app: wall, alerts, route view, plans and the enforcement queue, behind one login.

Pages (a page = its layout + its callbacks, in :mod:`dashboard.pages`):

==========  ============================================  ==========================
path        page                                          who
==========  ============================================  ==========================
/           wall, desk layout (map, tiles, side panel)    anyone on the network [*]
/wall       wall mode: full screen, large type            anyone on the network [*]
/alerts     alerts feed, acknowledge                      any logged-in user
/routes     route view (Marey, headways, load, ETAs)      any logged-in user
/plans      current vs proposed plans, accept             planners accept
/cases      enforcement queue                             enforcement, controllers
/api/...    open feed: GTFS-realtime, stop arrivals       anyone (public Open API)
==========  ============================================  ==========================

The open feed (:func:`dashboard.openfeed.openfeed_blueprint`) serves
``/api/gtfs-rt/vehicle-positions.pb``, ``/api/gtfs-rt/trip-updates.pb``
(``?format=json`` to read them) and ``/api/stops/<stop_id>/arrivals`` from the
read model (:meth:`dashboard.readmodel.ReadModel.open_feed_state`).

[*] when ``DeskSettings.wall_public`` (default): the wall is meant for the
control-room network; set ``TOPIS_DESK_WALL_PUBLIC=false`` to require login.
"""

from __future__ import annotations

import logging
import secrets
from urllib.parse import parse_qs

import dash
from dash import Input, Output, dcc, html

from dashboard import auth
from dashboard.basemap import base_traces, points, road_lines
from dashboard.desk import Desk
from dashboard.openfeed import openfeed_blueprint
from dashboard.pages import alerts as alerts_page
from dashboard.pages import cases as cases_page
from dashboard.pages import plans as plans_page
from dashboard.pages import routes as routes_page
from dashboard.pages import wall as wall_page
from dashboard.readmodel import ReadModel
from dashboard.store import DeskStore
from enforcement.store import CaseStore
from topis.geo import Projection
from topis.settings import DashboardSettings, DeskSettings, EnforcementSettings

log = logging.getLogger(__name__)

NAV = (("/", "Wall"), ("/wall", "Wall mode"), ("/alerts", "Alerts"), ("/routes", "Routes"), ("/plans", "Plans"),
       ("/cases", "Enforcement"))


def _nav(user) -> html.Div:
    who = ([html.Span(f"{user.name} ({user.role})", id="nav-user"), html.A("log out", href="/logout")] if user
           else [html.A("log in", href="/login", id="nav-login")])
    return html.Div([html.B("topis", className="brand"), *[dcc.Link(label, href=href) for href, label in NAV],
                     html.Span(className="spacer"), *who], className="nav")


def build_app(settings: DashboardSettings, geojson: dict, proj: Projection, read_model: ReadModel, *,
              desk_settings: DeskSettings | None = None, cases: CaseStore | None = None,
              records: DeskStore | None = None, enforcement: EnforcementSettings | None = None) -> dash.Dash:
    """The control-room app; ``read_model`` must be started (or fed) by the caller.

    ``cases`` defaults to the case store of ``enforcement`` (default settings:
    ``.topis/cases.sqlite``); ``records`` (users, acknowledgements, plan
    decisions) to ``desk_settings.db_url`` or else the case store's database.
    """
    desk_settings = desk_settings or DeskSettings()
    enforcement = enforcement or EnforcementSettings()
    cases = cases or CaseStore.from_settings(enforcement)
    records = records or DeskStore(desk_settings.db_url or cases.url)
    if desk_settings.demo_users:
        seeded = records.seed_demo_users()
        for name, (role, password) in seeded.items():
            log.warning("DEMO ONLY: created user %r (role %s) with password %r; remove it with "
                        "`topis users remove %s` before real use", name, role, password, name)
    desk = Desk(settings, proj, base_traces(geojson, proj), road_lines(geojson, proj), points(geojson, "camera", "camera_id"),
                points(geojson, "stop", "stop_id"), read_model, records, cases, enforcement)

    app = dash.Dash(__name__, title="topis — control room", update_title=None, suppress_callback_exceptions=True)
    secret = desk_settings.secret_key.get_secret_value() if desk_settings.secret_key else secrets.token_hex(32)
    auth.install(app.server, records, secret_key=secret, session_s=desk_settings.session_s,
                 wall_public=desk_settings.wall_public)
    app.server.register_blueprint(openfeed_blueprint(read_model.open_feed_state))
    app.layout = html.Div([dcc.Location(id="url"), html.Div(id="nav"), html.Div(id="page")], id="root")

    @app.callback(Output("page", "children"), Output("nav", "children"), Output("root", "className"),
                  Input("url", "pathname"), Input("url", "search"))
    def route(pathname, search):
        """Show the page of the URL (pages other than the wall need a login)."""
        query = parse_qs((search or "").lstrip("?"))
        user = auth.current_user()
        wall_mode = pathname == "/wall" or query.get("mode") == ["wall"]
        if pathname in ("/", "/wall", None) and (desk_settings.wall_public or user):
            return wall_page.layout(desk, wall_mode), ("" if wall_mode else _nav(user)), \
                "root-wall" if wall_mode else "root-desk"
        if user is None:
            return html.Div([html.P("Please log in."), html.A("log in", href=f"/login?next={pathname}")],
                            className="page"), _nav(None), "root-desk"
        if pathname == "/alerts":
            page = alerts_page.layout(desk)
        elif pathname == "/routes":
            page = routes_page.layout(desk, (query.get("route") or [None])[0])
        elif pathname == "/plans":
            page = plans_page.layout(desk)
        elif pathname == "/cases":
            page = cases_page.layout(desk)
        else:
            page = html.Div([html.H2("Not found"), dcc.Link("back to the wall", href="/")], className="page")
        return page, _nav(user), "root-desk"

    for page in (wall_page, alerts_page, routes_page, plans_page, cases_page):
        page.register(app, desk)
    app.desk = desk  # the services and map layers, for benchmarks and tests
    return app

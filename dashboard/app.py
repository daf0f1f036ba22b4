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
/cases      enforcement queue                             enforcement (others: counts)
/api/...    open feed: GTFS-realtime, stop arrivals       anyone (public Open API)
==========  ============================================  ==========================

The open feed (:func:`dashboard.openfeed.openfeed_blueprint`) serves
``/api/gtfs-rt/vehicle-positions.pb``, ``/api/gtfs-rt/trip-updates.pb``
(``?format=json`` to read them) and ``/api/stops/<stop_id>/arrivals`` from the
read model (:meth:`dashboard.readmodel.ReadModel.open_feed_state`).

[*] when ``DeskSettings.wall_public`` (default): the wall is meant for the
control-room network; set ``TOPIS_DESK_WALL_PUBLIC=false`` to require login.
Without a login the wall shows no watch-list hit and no plate, not even
masked, unless ``DeskSettings.wall_public_enforcement``; who sees what is
:mod:`dashboard.access`.

Every response carries the security headers of :mod:`dashboard.headers`;
:mod:`dashboard.auth` holds the login, its expiry and its throttle;
:mod:`dashboard.serve` is the production web server.
"""

from __future__ import annotations

import logging
import secrets
from urllib.parse import parse_qs

import dash
from dash import Input, Output, State, dcc, html, no_update

from dashboard import auth, headers
from dashboard.basemap import base_traces, points, road_lines
from dashboard.desk import Desk, watch_view
from dashboard.openfeed import openfeed_blueprint
from dashboard.pages import alerts as alerts_page
from dashboard.pages import cases as cases_page
from dashboard.pages import plans as plans_page
from dashboard.pages import routes as routes_page
from dashboard.pages import wall as wall_page
from dashboard.readmodel import ReadModel
from dashboard.store import DEMO_USERS, DeskStore
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


def _demo_accounts(records: DeskStore, desk_settings: DeskSettings, demo_city: bool) -> None:
    """Seed the demo users on the demo city; on a real city refuse them, with a warning."""
    if demo_city:
        if desk_settings.demo_users:
            for name, (role, password) in records.seed_demo_users().items():
                log.warning("DEMO ONLY: created user %r (role %s) with password %r; remove it with "
                            "`topis users remove %s` before real use", name, role, password, name)
        return
    if desk_settings.demo_users:
        log.warning("demo users are not seeded: this dashboard serves a real city (StreamSettings.gtfs_dir is set); "
                    "add users with `topis users add`")
    for name, (_, password) in DEMO_USERS.items():
        if records.has_password(name, password):
            log.warning("demo account %r still has its demo password and is refused on a real city; remove it "
                        "with `topis users remove %s`", name, name)


def build_app(settings: DashboardSettings, geojson: dict, proj: Projection, read_model: ReadModel, *,
              desk_settings: DeskSettings | None = None, cases: CaseStore | None = None,
              records: DeskStore | None = None, enforcement: EnforcementSettings | None = None,
              demo_city: bool = True) -> dash.Dash:
    """The control-room app; ``read_model`` must be started (or fed) by the caller.

    ``cases`` defaults to the case store of ``enforcement`` (default settings:
    ``.topis/cases.sqlite``); ``records`` (users, acknowledgements, plan
    decisions, the sign-in audit trail) to ``desk_settings.db_url`` or else the
    case store's database. ``demo_city`` False (a real city's feed) refuses the
    demo accounts.
    """
    desk_settings = desk_settings or DeskSettings()
    enforcement = enforcement or EnforcementSettings()
    cases = cases or CaseStore.from_settings(enforcement)
    records = records or DeskStore(desk_settings.db_url or cases.url)
    _demo_accounts(records, desk_settings, demo_city)
    desk = Desk(settings, proj, base_traces(geojson, proj), road_lines(geojson, proj), points(geojson, "camera", "camera_id"),
                points(geojson, "stop", "stop_id"), read_model, records, cases, enforcement, desk_settings)

    app = dash.Dash(__name__, title="topis — control room", update_title=None, suppress_callback_exceptions=True)
    secret = desk_settings.secret_key.get_secret_value() if desk_settings.secret_key else secrets.token_hex(32)
    auth.install(app.server, records, desk_settings, secret_key=secret, behind_https=settings.behind_https,
                 demo_city=demo_city)
    app.server.register_blueprint(openfeed_blueprint(read_model.open_feed_state))
    app.layout = html.Div([dcc.Location(id="url"), dcc.Location(id="session-exit", refresh=True),
                           dcc.Interval(id="session-tick", interval=int(desk_settings.session_check_s * 1000)),
                           html.Div(id="nav"), html.Div(id="page")], id="root")

    @app.callback(Output("session-exit", "href"), Input("session-tick", "n_intervals"), State("url", "pathname"),
                  prevent_initial_call=True)
    def leave_ended_login(_n, pathname):
        """Send a page whose login ended (expired, idle) to the login page, which says why."""
        return auth.exit_of_ended_login(pathname) or no_update

    @app.callback(Output("page", "children"), Output("nav", "children"), Output("root", "className"),
                  Input("url", "pathname"), Input("url", "search"))
    def route(pathname, search):
        """Show the page of the URL (pages other than the wall need a login)."""
        query = parse_qs((search or "").lstrip("?"))
        user = auth.current_user()
        wall_mode = pathname == "/wall" or query.get("mode") == ["wall"]
        if pathname in ("/", "/wall", None) and (desk_settings.wall_public or user):
            return wall_page.layout(desk, wall_mode, watch_view(desk, user, on_wall=True)), \
                ("" if wall_mode else _nav(user)), "root-wall" if wall_mode else "root-desk"
        if user is None:
            return html.Div([html.P("Please log in."), html.A("log in", href=auth.login_url(pathname or "/"))],
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
    headers.install(app.server, headers.content_security_policy(app.csp_hashes()), https=settings.behind_https)
    app.desk = desk  # the services and map layers, for benchmarks and tests
    return app

"""Enforcement queue: filter cases, read the evidence with its camera on the map, claim/confirm/dismiss.

Keyboard (``assets/keys.js``): ``j``/``k`` next/previous case, ``c`` claim,
``y`` confirm, ``d`` dismiss (type the reason first), ``r`` release.
Enforcement staff list and read cases with full plates and decide through
:mod:`enforcement.review` (actor = the logged-in user, origin = the request's
IP); everyone else sees the counts per status only (:mod:`dashboard.access`):
no case, plate or evidence reaches their browser, whatever callback they call.
"""

from __future__ import annotations

from dash import ALL, Input, Output, State, ctx, dcc, html, no_update

from dashboard import access, auth, figures
from dashboard.desk import Desk, local_time
from enforcement import review
from enforcement.models import STATUSES
from enforcement.privacy import mask_plate

RULES = ("bus_lane", "green_zone", "section_speed", "no_stopping")
PAGE_SIZE = 200


def shown_plate(plate: str, role: str | None) -> str:
    """Full plate for enforcement staff, masked for everyone else."""
    return plate if role == "enforcement" else mask_plate(plate)


def layout(desk: Desk) -> html.Div:
    user = auth.current_user()
    if user is None:
        return html.Div([html.H2("Enforcement queue"), html.P("login required")], className="page")
    if not access.can_read_cases(user.role):
        return html.Div([html.H2("Enforcement queue"), html.Div(_counts(desk), id="case-counts", className="case-counts"),
                         html.P("cases are for enforcement staff: you see the counts only", id="case-readonly")],
                        className="page")
    areas = desk.cases.areas()
    actions = html.Div([
        html.Button("Claim [c]", id="case-claim", **{"data-hotkey": "c"}),
        html.Button("Confirm [y]", id="case-confirm", **{"data-hotkey": "y"}),
        dcc.Checklist(id="case-plate-checked", options=[{"label": " plate checked against the image", "value": "yes"}],
                      value=[], inline=True),
        dcc.Input(id="case-reason", placeholder="reason to dismiss", debounce=False),
        html.Button("Dismiss [d]", id="case-dismiss", **{"data-hotkey": "d"}),
        html.Button("Release [r]", id="case-release", **{"data-hotkey": "r"}),
    ], className="case-actions") if access.can_decide_cases(user.role) else html.P(
        "read-only: you may not decide cases", id="case-readonly")
    return html.Div([
        html.H2("Enforcement queue"),
        html.Div([dcc.Dropdown(id="case-rule", options=list(RULES), placeholder="all rules"),
                  dcc.Dropdown(id="case-area", options=areas, placeholder="all areas"),
                  dcc.Dropdown(id="case-status", options=list(STATUSES), value="new", placeholder="all statuses")],
                 className="filters"),
        html.Div(id="case-counts", className="case-counts"),
        html.Div([html.Div(id="case-list", className="case-list"),
                  html.Div([html.Div(id="case-detail"), actions, html.Div(id="case-message", className="message"),
                            dcc.Graph(id="case-map", className="case-map")], className="case-side")],
                 className="case-row-layout"),
        dcc.Store(id="case-selected"), dcc.Store(id="case-version", data=0),
    ], className="page")


def _counts(desk: Desk) -> str:
    counts = desk.cases.counts()
    return " · ".join(f"{s.replace('_', ' ')}: {counts.get(f'cases_{s}', 0):,}" for s in STATUSES)


def register(app, desk: Desk) -> None:
    @app.callback(Output("case-list", "children"), Output("case-counts", "children"),
                  Input("case-rule", "value"), Input("case-area", "value"), Input("case-status", "value"),
                  Input("case-selected", "data"), Input("case-version", "data"))
    def list_cases(rule, area, status, selected, _version):
        """The filtered queue, oldest first (case readers only; plates masked unless enforcement staff)."""
        user = auth.current_user()
        if user is None or not access.can_read_cases(user.role):
            return "enforcement staff only", ""
        cases = desk.cases.list_cases(rule=rule, area=area, status=status, limit=PAGE_SIZE)
        rows = [html.Button([html.Span(c.rule, className="rule"),
                             html.Span(shown_plate(c.plate, user.role), className="plate"),
                             html.Span(local_time(c.first_ts, "%m-%d %H:%M")), html.Span(c.camera_id),
                             html.Span(c.status, className="status")],
                            id={"type": "case-row", "case": c.case_id},
                            className="case-row selected" if c.case_id == selected else "case-row")
                for c in cases]
        return rows or html.P("no case matches"), _counts(desk)

    @app.callback(Output("case-selected", "data"), Input({"type": "case-row", "case": ALL}, "n_clicks"),
                  prevent_initial_call=True)
    def select(clicks):
        """Remember the clicked case (case readers only)."""
        user = auth.current_user()
        if not ctx.triggered_id or not any(c for c in clicks if c) or user is None or not access.can_read_cases(user.role):
            return no_update
        return ctx.triggered_id["case"]

    @app.callback(Output("case-detail", "children"), Output("case-map", "figure"),
                  Input("case-selected", "data"), Input("case-version", "data"))
    def detail(case_id, _version):
        """The case, its evidence reads and the camera of the first read on the map."""
        user = auth.current_user()
        if user is None or not access.can_read_cases(user.role):
            return "enforcement staff only", figures.camera_figure(desk.base, None, "", desk.proj)
        if not case_id:
            return "select a case (j/k or click)", figures.camera_figure(desk.base, None, "", desk.proj)
        case = desk.cases.get_case(case_id)
        if case is None:
            return f"no case {case_id}", no_update
        plate = shown_plate(case.plate, user.role)
        rows = [html.Tr([html.Td(e.read_id), html.Td(e.camera_id), html.Td(local_time(e.ts, "%Y-%m-%d %H:%M:%S")),
                         html.Td(f"{e.confidence:.2f}"), html.Td(shown_plate(e.plate_text or case.plate, user.role)),
                         html.Td(e.image_ref or "–")]) for e in case.evidence]
        notes = [("needs a manual plate check" if case.needs_plate_check else ""),
                 (f"claimed by {case.claimed_by}" if case.claimed_by else ""), case.detail or ""]
        info = [html.H3([f"Case {case.case_id} · ", html.Span(plate, id="case-plate")]),
                html.P([f"{case.rule} · fine {case.fine_krw:,} KRW · area {case.area or '–'} · status ",
                        html.B(case.status, id="case-status-text")]),
                html.P(" · ".join(n for n in notes if n)),
                html.Table([html.Tr([html.Th(h) for h in ("read", "camera", "time", "confidence", "plate read",
                                                          "image")]), *rows], className="evidence")]
        first = case.evidence[0] if case.evidence else None
        where = (first.lat, first.lon) if first else desk.cameras.get(case.camera_id)
        return info, figures.camera_figure(desk.base, where, case.camera_id, desk.proj)

    @app.callback(Output("case-message", "children"), Output("case-version", "data"),
                  Input("case-claim", "n_clicks"), Input("case-confirm", "n_clicks"), Input("case-dismiss", "n_clicks"),
                  Input("case-release", "n_clicks"), State("case-selected", "data"), State("case-reason", "value"),
                  State("case-plate-checked", "value"), State("case-version", "data"), prevent_initial_call=True)
    def act(_c, _y, _d, _r, case_id, reason, plate_checked, version):
        """Claim, confirm, dismiss or release the selected case as the logged-in enforcement officer."""
        user = auth.current_user()
        if user is None or not access.can_decide_cases(user.role):
            return "only enforcement staff can decide cases", no_update
        if not case_id:
            return "select a case first", no_update
        origin = auth.request_origin()
        ttl = desk.enforcement.claim_ttl_s
        try:
            if ctx.triggered_id == "case-claim":
                case = review.claim(desk.cases, case_id, user.name, origin, ttl_s=ttl)
            elif ctx.triggered_id == "case-confirm":
                case = review.confirm(desk.cases, case_id, user.name, origin, plate_checked=bool(plate_checked),
                                      repeat_n=desk.enforcement.repeat_offender_n,
                                      repeat_days=desk.enforcement.repeat_offender_days)
            elif ctx.triggered_id == "case-dismiss":
                case = review.dismiss(desk.cases, case_id, user.name, origin, reason or "")
            else:
                case = review.release(desk.cases, case_id, user.name, origin)
        except review.ReviewError as exc:
            return str(exc), no_update
        return f"case {case.case_id} is now {case.status.replace('_', ' ')}", (version or 0) + 1

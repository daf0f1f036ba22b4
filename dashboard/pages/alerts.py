"""Alerts feed: bunching/gapping with holding advice, stale feeds, broker/worker health, watch-list hits.

Any logged-in user can acknowledge an alert they are shown; who, when and from
where is recorded in ``dashboard_acks`` (:class:`dashboard.store.DeskStore`).
Watch-list hits are shown per role (:mod:`dashboard.access`): full plates to
enforcement staff, masked to controllers, not at all to planners.
"""

from __future__ import annotations

import time

from dash import ALL, Input, Output, State, ctx, dcc, html, no_update

from dashboard import access, alerts, auth, kpis
from dashboard.desk import Desk, local_time, state_for, watch_view
from dashboard.store import User


def layout(desk: Desk) -> html.Div:
    return html.Div([
        html.H2("Alerts"),
        dcc.Checklist(id="alerts-kinds", options=[{"label": f" {k.replace('_', ' ')}", "value": k} for k in alerts.KINDS],
                      value=list(alerts.KINDS), inline=True),
        html.Div(id="alerts-message", className="message"),
        html.Div(id="alerts-list"),
        dcc.Store(id="alerts-version", data=0),
        dcc.Interval(id="alerts-tick", interval=max(desk.settings.refresh_ms, 3000)),
    ], className="page")


def visible_alerts(desk: Desk, user: User) -> list[alerts.AlertItem]:
    """Every current alert ``user`` may see, newest first."""
    view = watch_view(desk, user, on_wall=False)
    now = time.time()
    state = state_for(desk, view)
    k = kpis.compute(state, now, desk.settings.stale_after_s)
    return alerts.feed(state, k, now, desk.settings.stale_after_s, full_plates=view == access.FULL)


def register(app, desk: Desk) -> None:
    @app.callback(Output("alerts-list", "children"), Input("alerts-tick", "n_intervals"),
                  Input("alerts-version", "data"), Input("alerts-kinds", "value"))
    def show(_n, _version, kinds):
        """Every current alert, newest first, with its acknowledgement."""
        user = auth.current_user()
        if user is None:
            return "login required"
        items = [a for a in visible_alerts(desk, user) if a.kind in (kinds or [])]
        acks = desk.records.acks()
        rows = []
        for a in items:
            ack = acks.get(a.alert_id)
            action = (html.Span(f"acknowledged by {ack.actor} at {local_time(ack.ts)}", className="acked") if ack
                      else html.Button("Acknowledge", id={"type": "ack", "alert": a.alert_id}, className="ack"))
            rows.append(html.Tr([html.Td(local_time(a.ts)), html.Td(a.kind.replace("_", " ")), html.Td(a.text),
                                 html.Td(a.advice), html.Td(action)], className=f"alert alert-{a.kind}"))
        head = html.Tr([html.Th(h) for h in ("time", "kind", "alert", "advice", "")])
        return html.Table([head, *rows], id="alerts-table") if rows else html.P("no alerts")

    @app.callback(Output("alerts-message", "children"), Output("alerts-version", "data"),
                  Input({"type": "ack", "alert": ALL}, "n_clicks"), State("alerts-version", "data"),
                  prevent_initial_call=True)
    def acknowledge(clicks, version):
        """Record who acknowledged the clicked alert, and when (only an alert the user is shown)."""
        if not ctx.triggered_id or not any(c for c in clicks if c):
            return no_update, no_update
        user = auth.current_user()
        if user is None:
            return "login required", no_update
        shown = {a.alert_id: a for a in visible_alerts(desk, user)}
        item = shown.get(ctx.triggered_id["alert"])
        if item is None:
            return "no such alert (any more)", no_update
        desk.records.acknowledge(item.alert_id, item.kind, user.name, auth.request_origin())
        return f"acknowledged by {user.name}", (version or 0) + 1

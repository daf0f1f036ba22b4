"""Plans view: current vs proposed optimizer plans, the KPIs that change, accept (planners only).

A ``plans.proposed`` message (JSON) is read as::

    {"plan_id": "squirrel-2026-11-23", "kind": "headways" | "squirrel" | "owl",
     "created_ts": 1795000000.0, "title": "AM peak short-turns",
     "current":  {"rows": [{"route": "R1", "buses": 8, "headway_min": 10.0}, ...], "geojson": ... (optional)},
     "proposed": {"rows": [...], "geojson": FeatureCollection of LineStrings (optional)},
     "kpis": {"waiting_pax_min_per_h": {"current": 5400, "proposed": 4900, "unit": "pax·min/h",
                                        "better": "lower"}, ...}}

``rows`` are the rows of :mod:`optimizer.exports` (``headway_rows``,
``squirrel_rows``, ``owl_rows``: per route, or per stop of each route) and
``geojson`` is ``squirrel_geojson``/``owl_geojson``.
"""

from __future__ import annotations

from dash import ALL, Input, Output, State, ctx, dcc, html, no_update

from dashboard import auth, figures
from dashboard.desk import Desk, local_time


def route_table(rows: list[dict]) -> dict[str, dict]:
    """Per route: buses, headway and number of stops (per-stop rows are folded into their route)."""
    out: dict[str, dict] = {}
    for r in rows:
        held = out.setdefault(str(r.get("route")), {"buses": r.get("buses"), "headway_min": r.get("headway_min"),
                                                     "stops": 0})
        held["stops"] += 1 if "stop" in r else 0
    return out


def compare_routes(current: list[dict], proposed: list[dict]) -> list[dict]:
    """One row per route of either plan: buses and headway before/after, and what changed."""
    before, after = route_table(current), route_table(proposed)
    out = []
    for route in sorted(set(before) | set(after)):
        b, a = before.get(route, {}), after.get(route, {})
        change = "new" if not b else "removed" if not a else (
            "changed" if (b.get("buses"), b.get("headway_min")) != (a.get("buses"), a.get("headway_min")) else "same")
        out.append({"route": route, "buses_current": b.get("buses"), "buses_proposed": a.get("buses"),
                    "headway_current_min": b.get("headway_min"), "headway_proposed_min": a.get("headway_min"),
                    "change": change})
    return out


def kpi_changes(kpis: dict) -> list[dict]:
    """Each KPI with its change and whether the proposal improves it (``better`` = lower/higher)."""
    out = []
    for name in sorted(kpis):
        k = kpis[name]
        cur, new = k.get("current"), k.get("proposed")
        delta = None if cur is None or new is None else new - cur
        better = k.get("better", "lower")
        improves = None if not delta else (delta < 0) == (better == "lower")
        out.append({"kpi": name, "current": cur, "proposed": new, "change": delta, "unit": k.get("unit", ""),
                    "improves": improves})
    return out


def _fmt(v) -> str:
    return "–" if v is None else f"{v:,.2f}".rstrip("0").rstrip(".") if isinstance(v, float) else str(v)


def _plan_card(desk: Desk, plan: dict, decision) -> html.Div:
    pid = str(plan["plan_id"])
    cmp_rows = compare_routes((plan.get("current") or {}).get("rows", []), (plan.get("proposed") or {}).get("rows", []))
    kpi_rows = kpi_changes(plan.get("kpis") or {})
    status = (f"accepted by {decision.actor} at {local_time(decision.ts, '%Y-%m-%d %H:%M:%S')}" if decision
              else "proposed")
    return html.Div([
        html.H3(f"{plan.get('kind', '?')} — {plan.get('title') or pid}"),
        html.Div(f"plan {pid}, made {local_time(plan.get('created_ts'), '%Y-%m-%d %H:%M')} · {status}",
                 id={"type": "plan-status", "plan": pid}),
        html.Table([html.Tr([html.Th(h) for h in ("KPI", "current", "proposed", "change", "unit")]),
                    *[html.Tr([html.Td(r["kpi"]), html.Td(_fmt(r["current"])), html.Td(_fmt(r["proposed"])),
                               html.Td(_fmt(r["change"]), className="better" if r["improves"] else
                                       "worse" if r["improves"] is False else ""), html.Td(r["unit"])])
                      for r in kpi_rows]], className="kpi-table"),
        html.Table([html.Tr([html.Th(h) for h in ("route", "buses now", "buses proposed", "headway now (min)",
                                                  "headway proposed (min)", "")]),
                    *[html.Tr([html.Td(r["route"]), html.Td(_fmt(r["buses_current"])),
                               html.Td(_fmt(r["buses_proposed"])), html.Td(_fmt(r["headway_current_min"])),
                               html.Td(_fmt(r["headway_proposed_min"])), html.Td(r["change"])])
                      for r in cmp_rows]], className="plan-table"),
        dcc.Graph(figure=figures.plan_map_figure(desk.base, plan, desk.proj), className="plan-map")
        if (plan.get("proposed") or {}).get("geojson") else html.Div(),
        html.Button("Accept proposal", id={"type": "accept-plan", "plan": pid}, disabled=decision is not None,
                    className="accept"),
    ], className="plan-card")


def layout(desk: Desk) -> html.Div:
    state = desk.read_model.state()
    decisions = desk.records.plan_decisions()
    cards = [_plan_card(desk, p, decisions.get(pid))
             for pid, p in sorted(state.plans.items(), key=lambda kv: -(kv[1].get("created_ts") or 0))]
    return html.Div([html.H2("Plans"), html.Div(id="plan-message", className="message"),
                     *(cards or [html.P("no plan proposed yet (the optimizer publishes to plans.proposed)")])],
                    className="page")


def register(app, desk: Desk) -> None:
    @app.callback(Output("plan-message", "children"), Output({"type": "accept-plan", "plan": ALL}, "disabled"),
                  Input({"type": "accept-plan", "plan": ALL}, "n_clicks"),
                  State({"type": "accept-plan", "plan": ALL}, "disabled"), prevent_initial_call=True)
    def accept(clicks, disabled):
        """Record a planner's acceptance (who, when, from where)."""
        if not ctx.triggered_id or not any(clicks):
            return no_update, disabled
        user = auth.current_user()
        if user is None or user.role != "planner":
            return "only a planner can accept a plan", disabled
        pid = ctx.triggered_id["plan"]
        plan = desk.read_model.state().plans.get(pid, {})
        if pid in desk.records.plan_decisions():
            return f"plan {pid} was accepted already", disabled
        desk.records.accept_plan(pid, str(plan.get("kind", "")), user.name, auth.request_origin())
        ids = [i["id"]["plan"] for i in ctx.inputs_list[0]]
        return f"plan {pid} accepted by {user.name}", [d or i == pid for d, i in zip(disabled, ids)]

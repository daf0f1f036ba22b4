"""Route view: pick a route → Marey diagram, headways along it, load profile, predictions at its stops."""

from __future__ import annotations

from dash import Input, Output, dcc, html, no_update

from dashboard import auth, figures
from dashboard.desk import Desk, local_time


def layout(desk: Desk, route_id: str | None) -> html.Div:
    routes = sorted(desk.read_model.state().routes)
    chosen = route_id if route_id in routes else (routes[0] if routes else None)
    return html.Div([
        html.H2("Route view"),
        dcc.Dropdown(id="route-pick", options=[{"label": r, "value": r} for r in routes], value=chosen,
                     placeholder="pick a route", className="route-pick"),
        html.Div(id="route-summary", className="route-summary"),
        dcc.Graph(id="route-marey"),
        dcc.Graph(id="route-headways"),
        html.Div(id="route-load"),
        html.H3("Next arrivals at its stops"),
        html.Div(id="route-predictions"),
        dcc.Interval(id="route-tick", interval=max(desk.settings.refresh_ms, 2000)),
    ], className="page")


def predictions_table(route: dict, limit_per_stop: int = 3) -> html.Table:
    """Next arrivals per stop ("direction|stop"), soonest first."""
    rows = []
    for key in sorted(route.get("next_arrivals") or {}):
        direction, stop_id = key.split("|", 1)
        for vehicle_id, ts in route["next_arrivals"][key][:limit_per_stop]:
            rows.append(html.Tr([html.Td(stop_id), html.Td(direction), html.Td(vehicle_id), html.Td(local_time(ts))]))
    head = html.Tr([html.Th("stop"), html.Th("direction"), html.Th("bus"), html.Th("predicted arrival")])
    return html.Table([head, *(rows or [html.Tr(html.Td("no predictions yet", colSpan=4))])], id="predictions-table")


def register(app, desk: Desk) -> None:
    @app.callback(Output("route-summary", "children"), Output("route-marey", "figure"),
                  Output("route-headways", "figure"), Output("route-load", "children"),
                  Output("route-predictions", "children"),
                  Input("route-pick", "value"), Input("route-tick", "n_intervals"))
    def show_route(route_id, _n):
        """Draw the chosen route's diagrams from its newest state.routes snapshot (logged-in users only)."""
        if auth.current_user() is None:
            return "login required", no_update, no_update, "", ""
        state = desk.read_model.state()
        route = state.route(route_id or "")
        if route is None:
            empty = figures.marey_figure({"route_id": route_id})
            return "no data for this route yet", empty, figures.headway_figure({}), "", ""
        vehicles = route.get("vehicles", [])
        by_status: dict[str, int] = {}
        for v in vehicles:
            by_status[v.get("status", "?")] = by_status.get(v.get("status", "?"), 0) + 1
        summary = (f"{len(vehicles)} buses (" + ", ".join(f"{n} {s.replace('_', ' ')}" for s, n in
                                                            sorted(by_status.items())) +
                   f"), clock {local_time(route.get('clock_ts'))}")
        load = figures.load_figure(route, vehicles)
        load_part = dcc.Graph(figure=load) if load is not None else html.P("no load data (no bus reports occupancy)")
        return summary, figures.marey_figure(route), figures.headway_figure(route), load_part, predictions_table(route)

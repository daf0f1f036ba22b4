"""The Dash wall display: built once from settings, city geometry and a read model."""

from __future__ import annotations

import datetime as dt
import time

import dash
from dash import Input, Output, dcc, html

from dashboard import figures, kpis
from dashboard.basemap import THEME, base_traces
from dashboard.readmodel import ReadModel
from topis.city.geo import Projection
from topis.settings import DashboardSettings

KST = dt.timezone(dt.timedelta(hours=9))
_TILE = {"background": "#141b24", "borderRadius": "6px", "padding": "10px 16px", "minWidth": "150px"}


def _tile(tile_id: str, label: str) -> html.Div:
    return html.Div(
        [html.Div(label, style={"fontSize": "14px", "opacity": 0.7}),
         html.Div("–", id=tile_id, style={"fontSize": "30px", "fontWeight": 600})],
        style=_TILE,
    )


def _fmt_age(age_s: float | None, stale_after_s: float) -> tuple[str, dict]:
    if age_s is None:
        return "no data", {"color": "#ff5252"}
    return f"{age_s:.0f} s ago", {"color": "#ff5252" if age_s > stale_after_s else "#69f0ae"}


def build_app(settings: DashboardSettings, geojson: dict, proj: Projection, read_model: ReadModel) -> dash.Dash:
    """The wall display app; ``read_model`` must be started by the caller."""
    app = dash.Dash(__name__, title="topis — city wall", update_title=None)
    base = base_traces(geojson, proj)
    bus_index = len(base)

    def current_layer() -> figures.BusLayer:
        state = read_model.state()
        clock = kpis.compute(state, time.time()).clock_ts or 0.0
        return figures.bus_layer(state.vehicles_by_route, proj, clock, settings.stale_after_s)

    def layout() -> html.Div:
        return html.Div(
            [
                html.Div(
                    [html.H1("topis", style={"margin": 0, "fontSize": "28px"}),
                     html.Div("city clock –", id="clock", style={"fontSize": "22px", "marginLeft": "auto"})],
                    style={"display": "flex", "alignItems": "center", "padding": "8px 16px"},
                ),
                html.Div(
                    [_tile("kpi-buses", "buses in service"), _tile("kpi-taps", "card taps / min"),
                     _tile("kpi-reads", "plate reads / min"), _tile("kpi-dead", "rejected messages"),
                     _tile("feed-positions", "GPS feed"), _tile("feed-taps", "card feed"),
                     _tile("feed-reads", "camera feed")],
                    style={"display": "flex", "gap": "12px", "padding": "0 16px 8px", "flexWrap": "wrap"},
                ),
                dcc.Graph(id="city-map", figure=figures.city_figure(base, current_layer()),
                          style={"height": "calc(100vh - 150px)"}, config={"scrollZoom": True, "displaylogo": False}),
                html.Div(id="readmodel-error", style={"color": "#ff5252", "padding": "0 16px"}),
                dcc.Interval(id="tick", interval=settings.refresh_ms),
            ],
            style={"background": THEME["background"], "color": THEME["text"], "fontFamily": "sans-serif",
                   "height": "100vh", "overflow": "hidden"},
        )

    app.layout = layout

    @app.callback(Output("city-map", "figure"), Input("tick", "n_intervals"), prevent_initial_call=True)
    def move_buses(_n: int):
        """Move the buses: patch positions only, the base map stays in the browser."""
        return figures.bus_patch(current_layer(), bus_index)

    @app.callback(
        [Output("kpi-buses", "children"), Output("kpi-taps", "children"), Output("kpi-reads", "children"),
         Output("kpi-dead", "children"), Output("clock", "children"), Output("readmodel-error", "children"),
         Output("feed-positions", "children"), Output("feed-positions", "style"),
         Output("feed-taps", "children"), Output("feed-taps", "style"),
         Output("feed-reads", "children"), Output("feed-reads", "style")],
        Input("tick", "n_intervals"),
    )
    def update_tiles(_n: int):
        """Refresh the KPI tiles and feed-freshness alarms."""
        k = kpis.compute(read_model.state(), time.time())
        clock = "city clock –" if k.clock_ts is None else dt.datetime.fromtimestamp(k.clock_ts, KST).strftime(
            "city clock %a %Y-%m-%d %H:%M:%S KST")
        feeds = [part for feed in kpis.FEEDS for part in _fmt_age(k.feed_age_s[feed], settings.stale_after_s)]
        return (f"{k.buses_in_service:,}", f"{k.taps_per_min:,}", f"{k.reads_per_min:,}", f"{k.dead_letters:,}",
                clock, read_model.error or "", *feeds)

    return app

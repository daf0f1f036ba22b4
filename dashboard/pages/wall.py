"""The wall: city map with moving buses, road speeds and alerts, KPI tiles, feed alarms, playback.

Desk layout at ``/`` (navigation, side panel), wall mode at ``/wall`` or
``/?mode=wall`` (full screen, no scrolling, large type). Viewable without
login when ``DeskSettings.wall_public`` (the control-room network); watch-list
hits are on it only for those who may see them (:func:`dashboard.desk.watch_view`),
left out of the layout and of every callback's answer for the others, and
their plates are masked on the wall for everyone.
"""

from __future__ import annotations

import time

from dash import ALL, Input, Output, State, dcc, html, no_update

from dashboard import alerts, auth, figures, kpis
from dashboard.desk import Desk, local_time, state_for, watch_view
from dashboard.readmodel import STATUSES, CityState, fleet_arrays

#: (id, label) of the KPI tiles; "kpi-buses" is what the foundation test reads.
TILES = (("kpi-buses", "buses in service"), ("kpi-onheadway", "on headway"), ("kpi-bunching", "bunching alerts"),
         ("kpi-speed", "network speed"), ("kpi-taps", "card taps / min"), ("kpi-reads", "plate reads / min"),
         ("kpi-cases", "open enforcement cases"), ("kpi-dead", kpis.REJECTED_LABEL))
PLAYBACK_MAX_MIN = 180


def _tile(tile_id: str, label: str) -> html.Div:
    return html.Div([html.Div(label, className="tile-label"), html.Div("–", id=tile_id, className="tile-value")],
                    className="tile")


def _feed_tile(name: str) -> html.Div:
    return html.Div([html.Div(f"{name.replace('_', ' ')} feed", className="tile-label"),
                     html.Div("–", id={"type": "feed-age", "feed": name}, className="tile-value")], className="tile")


def _legend() -> html.Div:
    return html.Div([html.Span([html.Span("●", style={"color": figures.STATUS_COLORS[s]}),
                                html.Span(f" {s.replace('_', ' ')} ", className="legend-name"),
                                html.Span("0", id={"type": "status-count", "status": s})], className="legend-item")
                     for s in STATUSES], className="legend")


def initial_figure(desk: Desk, state: CityState, bus_size: float = 7):
    buses = fleet_arrays(state, state.clock_ts(), desk.settings.stale_after_s)
    markers = figures.alert_markers(list(state.bus_alerts.values()), buses, list(state.watch_hits.values()),
                                    desk.cameras, desk.proj)
    return figures.city_figure(desk.base, figures.speed_band_lines(desk.roads, state.link_speeds), markers,
                               figures.fleet_layer(buses, desk.proj), bus_size)


def layout(desk: Desk, wall_mode: bool, watch: str | None) -> html.Div:
    """The wall; ``watch`` is how the viewer sees watch-list hits (None: not at all)."""
    state = state_for(desk, watch)
    side = html.Div([html.H3("Details"), html.Div("Click a bus, stop or camera on the map.", id="map-panel"),
                     html.H3("Latest alerts"), html.Div(id="wall-alerts")], className="side-panel")
    return html.Div(
        [
            html.Div([html.Div("city clock –", id="clock", className="clock"),
                      html.Div(id="components", className="components"),
                      html.Div(id="readmodel-error", className="error")], className="wall-header"),
            html.Div([_tile(i, label) for i, label in TILES] + [_feed_tile(f) for f in kpis.FEEDS], className="tiles"),
            _legend(),
            html.Div([dcc.Graph(id="city-map", figure=initial_figure(desk, state, 14 if wall_mode else 7),
                                className="city-map", config={"scrollZoom": True, "displaylogo": False}),
                      *([] if wall_mode else [side])], className="map-row"),
            html.Div([html.Span("live", id="playback-label", className="playback-label"),
                      dcc.Slider(id="playback", min=0, max=PLAYBACK_MAX_MIN, step=1, value=0, included=False,
                                 marks={0: "live", 60: "−1 h", 120: "−2 h", 180: "−3 h"}, className="playback")],
                     className="playback-row"),
            dcc.Store(id="bus-sig"), dcc.Store(id="speed-sig"),
            dcc.Interval(id="tick", interval=desk.settings.refresh_ms),
        ],
        className="wall wall-mode" if wall_mode else "wall desk-mode",
    )


def frame_at(state: CityState, minutes_back: int):
    """The playback frame ``minutes_back`` before the newest one (None = live)."""
    if not minutes_back or not state.history:
        return None
    target = state.history[-1].clock_ts - 60.0 * minutes_back
    chosen = state.history[0]
    for frame in state.history:
        if frame.clock_ts <= target:
            chosen = frame
    return chosen


#: a feed's state lag (p99) above this is shown amber, above LAG_ALARM_S red, seconds
LAG_WARN_S, LAG_ALARM_S = 5.0, 60.0


def _fmt_age(age_s: float | None, stale_after_s: float, lag_s: float | None = None) -> tuple[str, dict]:
    """A feed tile: when it last reached the wall and how far behind its state is (the workers' p99 lag)."""
    if age_s is None:
        return "no data", {"color": "#ff5252"}
    text = f"{age_s:.0f} s ago" + ("" if lag_s is None else f" · lag {lag_s:.1f} s")
    bad = age_s > stale_after_s or (lag_s is not None and lag_s > LAG_ALARM_S)
    color = "#ff5252" if bad else "#ffd740" if lag_s is not None and lag_s > LAG_WARN_S else "#69f0ae"
    return text, {"color": color}


def components_line(parts: tuple, backlog_messages: int, agent_crashes: dict[str, int] | None = None) -> str:
    """The supervisor's view in one line: whatever is not up, since when; the workers' backlog; agents
    that crashed (and were started again) in the running workers."""
    down = [f"{name} {state} since {local_time(since_ts, '%H:%M:%S')} ({restarts} restarts)"
            for name, state, since_ts, restarts in parts if state != "up"]
    text = " · ".join(down) or (f"all {len(parts)} components up" if parts else "")
    if backlog_messages:
        text += f" · workers behind by {backlog_messages:,} messages"
    for name, n in sorted((agent_crashes or {}).items()):
        text += f" · agent {name} crashed {n}×"
    return text


def _bus_panel(state: CityState, key: str) -> list:
    route_id, vehicle_id = key.split("|", 1)
    snap = state.routes.get(route_id) or state.vehicles_by_route.get(route_id) or {}
    row = next((v for v in snap.get("vehicles", []) if v["vehicle_id"] == vehicle_id), None)
    if row is None:
        return [html.P(f"bus {vehicle_id} is no longer in service")]
    fields = [("route", route_id), ("trip", row.get("trip_id")), ("status", row.get("status", "unassigned")),
              ("last fix", local_time(row["ts"])), ("headway", row.get("headway_s")),
              ("planned headway", row.get("scheduled_headway_s")), ("hold advice", row.get("hold_s")),
              ("vs timetable", row.get("schedule_deviation_s")), ("speed km/h", row.get("speed_kph")),
              ("load", row.get("occupancy"))]
    return [html.H4(f"Bus {vehicle_id}", id="panel-title"),
            html.Table([html.Tr([html.Td(k), html.Td("–" if v is None else (f"{v:.0f}" if isinstance(v, float) else v))])
                        for k, v in fields]),
            dcc.Link("route view →", href=f"/routes?route={route_id}")]


def _stop_panel(state: CityState, stop_id: str) -> list:
    rows = []
    for route_id, snap in sorted(state.routes.items()):
        for key, arrivals in (snap.get("next_arrivals") or {}).items():
            if key.split("|", 1)[-1] == stop_id:
                rows += [(local_time(ts), route_id, vid) for vid, ts in arrivals[:3]]
    rows.sort()
    body = [html.Tr([html.Td(t), html.Td(r), html.Td(v)]) for t, r, v in rows] or [html.Tr(html.Td("no prediction"))]
    return [html.H4(f"Stop {stop_id}", id="panel-title"),
            html.Table([html.Tr([html.Th("due"), html.Th("route"), html.Th("bus")]), *body])]


def register(app, desk: Desk) -> None:
    n_base = len(desk.base)
    speed_index, alert_index, bus_index = n_base, n_base + len(figures.SPEED_BANDS), n_base + len(figures.SPEED_BANDS) + 1

    @app.callback(Output("city-map", "figure"), Output("bus-sig", "data"), Output("speed-sig", "data"),
                  Output("playback-label", "children"),
                  Input("tick", "n_intervals"), State("playback", "value"), State("bus-sig", "data"),
                  State("speed-sig", "data"), prevent_initial_call=True)
    def move_buses(_n, minutes_back, bus_sig, speed_sig):
        """Move the buses (patch: positions, statuses, keys when the set changed), alerts and road speeds."""
        state = state_for(desk, watch_view(desk, auth.current_user(), on_wall=True))
        frame = frame_at(state, minutes_back or 0)
        if frame is None:
            buses = fleet_arrays(state, state.clock_ts(), desk.settings.stale_after_s)
            layer = figures.fleet_layer(buses, desk.proj)
            label = "live"
        else:
            buses = []
            layer = figures.frame_layer(frame, desk.proj)
            label = f"playback {local_time(frame.clock_ts, '%a %H:%M:%S')}"
        sig = figures.keys_signature(layer.keys)
        patch = figures.bus_patch(layer, bus_index, send_keys=sig != bus_sig)
        markers = figures.alert_markers(list(state.bus_alerts.values()), buses, list(state.watch_hits.values()),
                                        desk.cameras, desk.proj)
        patch["data"][alert_index]["x"] = markers.x_m
        patch["data"][alert_index]["y"] = markers.y_m
        patch["data"][alert_index]["text"] = markers.labels
        new_speed_sig = str(max((s["bin_start_ts"] for s in state.link_speeds.values()), default=0)) + \
            f"/{len(state.link_speeds)}"
        if new_speed_sig != speed_sig:
            for k, (x, y) in enumerate(figures.speed_band_lines(desk.roads, state.link_speeds)):
                patch["data"][speed_index + k]["x"] = x
                patch["data"][speed_index + k]["y"] = y
        return patch, sig, new_speed_sig, label

    @app.callback(
        [Output(tile_id, "children") for tile_id, _ in TILES]
        + [Output("clock", "children"), Output("components", "children"), Output("readmodel-error", "children"),
           Output({"type": "feed-age", "feed": ALL}, "children"), Output({"type": "feed-age", "feed": ALL}, "style"),
           Output({"type": "status-count", "status": ALL}, "children")],
        Input("tick", "n_intervals"),
    )
    def update_tiles(_n):
        """Refresh the KPI tiles, the status legend and the feed-freshness alarms."""
        state = desk.read_model.state()
        k = kpis.compute(state, time.time(), desk.settings.stale_after_s)
        open_cases = desk.cases.open_case_count()  # one indexed COUNT per refresh
        ages = [_fmt_age(k.feed_age_s[f], desk.settings.stale_after_s, (k.state_lag_s or {}).get(f)) for f in kpis.FEEDS]
        share = "–" if k.on_headway_share is None else f"{100 * k.on_headway_share:.0f} %"
        speed = "–" if k.network_speed_kph is None else f"{k.network_speed_kph:.1f} km/h"
        clock = "city clock –" if k.clock_ts is None else f"city clock {local_time(k.clock_ts, '%a %Y-%m-%d %H:%M:%S')} KST"
        return (f"{k.buses_in_service:,}", share, f"{k.bunching_events:,}", speed, f"{k.taps_per_min:,}",
                f"{k.reads_per_min:,}", f"{open_cases:,}", kpis.rejected_text(k), clock,
                components_line(k.components, k.backlog_messages, k.agent_crashes), desk.read_model.error or "",
                [a[0] for a in ages], [a[1] for a in ages],
                [f"{k.status_counts[s]:,}" for s in STATUSES])

    @app.callback(Output("wall-alerts", "children"), Input("tick", "n_intervals"))
    def wall_alerts(_n):
        """The five newest alerts (watch-list hits only for those who may see them, plates masked on the wall)."""
        state = state_for(desk, watch_view(desk, auth.current_user(), on_wall=True))
        k = kpis.compute(state, time.time(), desk.settings.stale_after_s)
        items = alerts.feed(state, k, time.time(), desk.settings.stale_after_s, full_plates=False)[:5]
        return [html.Div([html.B(a.kind.replace("_", " ")), f" {local_time(a.ts)} — {a.text}",
                          html.Div(a.advice, className="advice")], className=f"alert alert-{a.kind}")
                for a in items] or "no alerts"

    @app.callback(Output("map-panel", "children"), Input("city-map", "clickData"), prevent_initial_call=True)
    def show_panel(click):
        """Details of the clicked bus, stop or camera."""
        points = (click or {}).get("points") or []
        data = points[0].get("customdata") if points else None
        if not isinstance(data, str) or "|" not in data:
            return no_update
        state = desk.read_model.state()
        kind, ident = data.split("|", 1)
        if kind == "stop":
            return _stop_panel(state, ident)
        if kind == "camera":
            return [html.H4(f"Camera {ident}", id="panel-title"), dcc.Link("enforcement queue →", href="/cases")]
        return _bus_panel(state, data)

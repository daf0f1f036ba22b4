"""Figure builders: pure functions from read-model state to plotly figures and patches.

The city map's traces, in order: the static base (:func:`dashboard.basemap.base_traces`),
one trace per road speed band (:data:`SPEED_BANDS`), the alert markers, the
buses. Every second only the buses move: :func:`bus_patch` sends their
positions as base64 float32 and their status as base64 uint8 (a discrete
colour scale turns codes into colours), and the bus keys (hover text, click target) only when the
set of buses changed.
"""

from __future__ import annotations

import base64
import hashlib
import math
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go
from dash import Patch

from dashboard.basemap import THEME
from dashboard.readmodel import STATUSES, Bus, Fleet, Frame
from topis.geo import Projection

#: colour of each bus status, in STATUSES order.
STATUS_COLORS = {
    "on_headway": "#00e5ff",
    "bunched": "#ff4081",
    "gapped": "#ffab40",
    "off_route": "#b388ff",
    "stale_gps": "#ff5252",
    "unassigned": "#90a4ae",
}
#: road speed bands: (name, upper bound km/h, colour).
SPEED_BANDS = (("speed < 15 km/h", 15.0, "#e53935"), ("speed 15–25 km/h", 25.0, "#fb8c00"),
               ("speed 25–40 km/h", 40.0, "#fdd835"), ("speed ≥ 40 km/h", math.inf, "#43a047"))
ALERT_COLOR = "#ff1744"


def status_colorscale() -> list:
    """A stepwise colour scale: status code ``k`` (cmin 0, cmax n-1) gets ``STATUS_COLORS[STATUSES[k]]``."""
    n = len(STATUSES)
    scale = []
    for k, status in enumerate(STATUSES):
        lo, hi = max(k - 0.5, 0) / (n - 1), min(k + 0.5, n - 1) / (n - 1)
        scale += [[lo, STATUS_COLORS[status]], [hi, STATUS_COLORS[status]]]
    return scale


@dataclass(frozen=True)
class BusLayer:
    """Every live bus, projected: parallel arrays in a stable (route, vehicle) order."""

    x_m: np.ndarray  #: float32 metres east of the centre
    y_m: np.ndarray  #: float32 metres north of the centre
    status: np.ndarray  #: uint8 index into STATUSES
    keys: list[str]  #: "route|vehicle", the hover text and what a click reports


def bus_layer(buses: list[Bus], proj: Projection) -> BusLayer:
    """Project the buses of :func:`dashboard.readmodel.fleet`."""
    lat = np.fromiter((b.lat for b in buses), float, len(buses))
    lon = np.fromiter((b.lon for b in buses), float, len(buses))
    x, y = proj.to_xy(lat, lon)
    codes = {s: k for k, s in enumerate(STATUSES)}
    status = np.fromiter((codes[b.status] for b in buses), np.uint8, len(buses))
    return BusLayer(np.asarray(x, np.float32), np.asarray(y, np.float32), status, [b.key for b in buses])


def fleet_layer(buses: Fleet, proj: Projection) -> BusLayer:
    """Project the buses of :func:`dashboard.readmodel.fleet_arrays` (the fast path of every update)."""
    x, y = proj.to_xy(buses.lat, buses.lon)
    return BusLayer(np.asarray(x, np.float32), np.asarray(y, np.float32), buses.status, buses.keys)


def frame_layer(frame: Frame, proj: Projection) -> BusLayer:
    """A playback frame as a bus layer."""
    x, y = proj.to_xy(frame.lat, frame.lon)
    return BusLayer(np.asarray(x, np.float32), np.asarray(y, np.float32), frame.status, list(frame.keys))


def keys_signature(keys: list[str]) -> str:
    """A short digest of the set and order of buses: keys are re-sent only when it changes."""
    return hashlib.blake2b("\n".join(keys).encode(), digest_size=8).hexdigest()


def typed_array(values: np.ndarray, dtype: str = "f4") -> dict:
    """A plotly typed array (base64): ~4 bytes a float32 (1 a uint8) instead of ~10 as JSON text."""
    arr = np.ascontiguousarray(values, dtype={"f4": np.float32, "u1": np.uint8}[dtype])
    return {"dtype": dtype, "bdata": base64.b64encode(arr.tobytes()).decode()}


def _marker(size: float = 7) -> dict:
    return {"size": size, "cmin": 0, "cmax": len(STATUSES) - 1, "colorscale": status_colorscale(), "line": {"width": 0}}


def bus_trace(layer: BusLayer, marker_size: float = 7) -> go.Scattergl:
    """The moving-bus trace (drawn once; later updates patch its arrays)."""
    return go.Scattergl(
        x=layer.x_m, y=layer.y_m, mode="markers", name="buses", customdata=layer.keys,
        hovertemplate="route|bus %{customdata}<br>click for details<extra></extra>",
        marker={**_marker(marker_size), "color": layer.status.astype(int)},
    )


def bus_patch(layer: BusLayer, trace_index: int, send_keys: bool) -> Patch:
    """A Patch that moves the bus trace: float32 positions and uint8 statuses; the bus keys when asked."""
    patch = Patch()
    patch["data"][trace_index]["x"] = typed_array(layer.x_m)
    patch["data"][trace_index]["y"] = typed_array(layer.y_m)
    patch["data"][trace_index]["marker"]["color"] = typed_array(layer.status, "u1")
    if send_keys:
        patch["data"][trace_index]["customdata"] = layer.keys
    return patch


def speed_band(speed_kph: float) -> int:
    """Index of the SPEED_BANDS band of a speed."""
    for k, (_, upper, _) in enumerate(SPEED_BANDS):
        if speed_kph < upper:
            return k
    return len(SPEED_BANDS) - 1


def speed_band_lines(roads: dict[str, tuple[list, list]], link_speeds: dict[str, dict]) -> list[tuple[list, list]]:
    """(x, y) with None separators per speed band, from the newest speed of every link drawn on the map."""
    out: list[tuple[list, list]] = [([], []) for _ in SPEED_BANDS]
    for link_id in sorted(link_speeds):
        line = roads.get(link_id)
        speed = link_speeds[link_id].get("speed_kph")
        if line is None or speed is None:
            continue
        xs, ys = out[speed_band(float(speed))]
        xs.extend([*line[0], None])
        ys.extend([*line[1], None])
    return out


def speed_traces(lines: list[tuple[list, list]]) -> list[go.Scattergl]:
    return [go.Scattergl(x=x, y=y, mode="lines", name=name, line={"color": color, "width": 3}, hoverinfo="skip")
            for (x, y), (name, _, color) in zip(lines, SPEED_BANDS)]


def speed_patch(lines: list[tuple[list, list]], first_index: int) -> Patch:
    patch = Patch()
    for k, (x, y) in enumerate(lines):
        patch["data"][first_index + k]["x"] = x
        patch["data"][first_index + k]["y"] = y
    return patch


@dataclass(frozen=True)
class Markers:
    """Alert markers on the map."""

    x_m: list[float]
    y_m: list[float]
    labels: list[str]


def alert_markers(alerts: list[dict], buses: Fleet | list[Bus], watch_hits: list[dict],
                  cameras: dict[str, tuple[float, float]], proj: Projection) -> Markers:
    """Where the open alerts are: at the alerted bus (bunching/gapping) or the camera (watch-list hits)."""
    if isinstance(buses, Fleet):
        where = {k: (buses.lat[i], buses.lon[i]) for i, k in enumerate(buses.keys)}
    else:
        where = {b.key: (b.lat, b.lon) for b in buses}
    lat, lon, labels = [], [], []
    for a in alerts:
        obs = a.get("observation", {})
        pos = where.get(f"{obs.get('route_id')}|{obs.get('vehicle_id')}")
        if pos is None:
            continue
        kind = "bunching" if a.get("schema") == "bus.bunching/1" else "gapping"
        hold = f", hold {a['hold_s']:.0f} s" if a.get("hold_s") else ""
        lat.append(pos[0]), lon.append(pos[1])
        labels.append(f"{kind}: bus {obs.get('vehicle_id')} route {obs.get('route_id')} at stop {obs.get('stop_id')}{hold}")
    for h in watch_hits:
        pos = (h["lat"], h["lon"]) if h.get("lat") is not None else cameras.get(str(h.get("camera_id")))
        if pos is None:
            continue
        lat.append(pos[0]), lon.append(pos[1])
        labels.append(f"watch list ({h.get('reason', 'watch')}) at camera {h.get('camera_id')}")
    if not lat:
        return Markers([], [], [])
    x, y = proj.to_xy(np.array(lat), np.array(lon))
    return Markers(np.round(x, 1).tolist(), np.round(y, 1).tolist(), labels)


def alert_trace(m: Markers) -> go.Scattergl:
    return go.Scattergl(x=m.x_m, y=m.y_m, mode="markers", name="alerts", text=m.labels, hoverinfo="text",
                        marker={"size": 18, "symbol": "circle-open", "color": ALERT_COLOR, "line": {"width": 3}})


def alert_patch(m: Markers, index: int) -> Patch:
    patch = Patch()
    patch["data"][index]["x"] = m.x_m
    patch["data"][index]["y"] = m.y_m
    patch["data"][index]["text"] = m.labels
    return patch


def _dark(fig: go.Figure, **layout) -> go.Figure:
    layout = {"margin": {"l": 50, "r": 10, "t": 40, "b": 40}, **layout}
    fig.update_layout(paper_bgcolor=THEME["paper"], plot_bgcolor=THEME["background"], font={"color": THEME["text"]},
                      **layout)
    return fig


def city_figure(base: list, speed_lines: list[tuple[list, list]], markers: Markers, layer: BusLayer,
                bus_size: float = 7) -> go.Figure:
    """The wall map: static layers, road speeds, alerts, then buses on top; equal axes, dark theme."""
    fig = go.Figure(data=[*base, *speed_traces(speed_lines), alert_trace(markers), bus_trace(layer, bus_size)])
    _dark(fig, margin={"l": 0, "r": 0, "t": 0, "b": 0}, showlegend=False, uirevision="city", dragmode="pan",
          clickmode="event", xaxis={"visible": False}, yaxis={"visible": False, "scaleanchor": "x", "scaleratio": 1})
    return fig


def marey_figure(route: dict, tz_offset_s: float = 9 * 3600.0) -> go.Figure:
    """Time-space diagram: distance along the trip against local time, one line per trip."""
    fig = go.Figure()
    for trip_id in sorted(route.get("marey", {})):
        pts = route["marey"][trip_id]
        t = (np.round((np.array([p[0] for p in pts], float) + tz_offset_s) * 1000)).astype("datetime64[ms]")
        fig.add_trace(go.Scatter(x=t, y=[p[1] / 1000.0 for p in pts], mode="lines", name=trip_id,
                                 line={"width": 2}, hovertemplate=f"trip {trip_id}<br>%{{x}}<br>%{{y:.2f}} km"))
    return _dark(fig, title=f"Route {route.get('route_id')} — time-space (Marey)", showlegend=False,
                 xaxis={"title": "local time"}, yaxis={"title": "distance along trip (km)"})


def headway_figure(route: dict) -> go.Figure:
    """Mean headway per stop (bars, with ± std) and its coefficient of variation, per direction."""
    rows = sorted(route.get("headways", {}).items())
    keys = [k for k, _ in rows]
    mean = [v.get("mean_headway_s") for _, v in rows]
    std = [v.get("std_headway_s") for _, v in rows]
    cv = [v.get("headway_cv") for _, v in rows]
    fig = go.Figure([go.Bar(x=keys, y=[m / 60 if m is not None else None for m in mean], name="mean headway (min)",
                            error_y={"type": "data", "array": [s / 60 if s is not None else 0 for s in std]}),
                     go.Scatter(x=keys, y=cv, name="headway CV", yaxis="y2", mode="lines+markers")])
    return _dark(fig, title="Headways along the route (direction|stop)", legend={"orientation": "h"},
                 xaxis={"title": "direction | stop"}, yaxis={"title": "minutes"},
                 yaxis2={"title": "CV", "overlaying": "y", "side": "right", "showgrid": False})


def load_figure(route: dict, vehicles: list[dict]) -> go.Figure | None:
    """Occupancy of each bus against its distance along the trip; None when no bus reports a load."""
    rows = [(v.get("dist_m"), v.get("occupancy"), v["vehicle_id"]) for v in vehicles
            if v.get("occupancy") is not None and v.get("dist_m") is not None]
    if not rows:
        return None
    fig = go.Figure(go.Bar(x=[r[0] / 1000 for r in rows], y=[r[1] for r in rows], text=[r[2] for r in rows],
                           name="load"))
    return _dark(fig, title=f"Route {route.get('route_id')} — load profile", xaxis={"title": "km along trip"},
                 yaxis={"title": "passengers on board"})


def plan_map_figure(base: list, plan: dict, proj: Projection) -> go.Figure:
    """Base map with a plan's current lines (grey, dashed) and proposed lines (colour) on top."""
    fig = go.Figure(data=list(base))
    for feat in ((plan.get("current") or {}).get("geojson") or {}).get("features", []):
        coords = feat["geometry"]["coordinates"]
        x, y = proj.to_xy(np.array([c[1] for c in coords]), np.array([c[0] for c in coords]))
        fig.add_trace(go.Scattergl(x=x, y=y, mode="lines", name=f"current {feat.get('properties', {}).get('route')}",
                                   line={"width": 3, "color": "#9e9e9e", "dash": "dash"}, hoverinfo="name"))
    features = ((plan.get("proposed") or {}).get("geojson") or {}).get("features", [])
    for feat in features:
        coords = feat["geometry"]["coordinates"]
        x, y = proj.to_xy(np.array([c[1] for c in coords]), np.array([c[0] for c in coords]))
        props = feat.get("properties", {})
        fig.add_trace(go.Scattergl(x=x, y=y, mode="lines+markers", name=str(props.get("route", "route")),
                                   line={"width": 4}, hoverinfo="text",
                                   text=f"{props.get('route')} · {props.get('buses', '?')} buses · "
                                        f"every {props.get('headway_min', '?')} min"))
    return _dark(fig, margin={"l": 0, "r": 0, "t": 0, "b": 0}, showlegend=False, dragmode="pan",
                 xaxis={"visible": False}, yaxis={"visible": False, "scaleanchor": "x", "scaleratio": 1})


def camera_figure(base: list, camera: tuple[float, float] | None, label: str, proj: Projection) -> go.Figure:
    """Base map zoomed on one camera (the evidence of a case)."""
    fig = go.Figure(data=list(base))
    layout = {}
    if camera is not None:
        x, y = proj.to_xy(np.array([camera[0]]), np.array([camera[1]]))
        fig.add_trace(go.Scatter(x=x, y=y, mode="markers+text", name="evidence camera", text=[label],
                                 textposition="top center", marker={"size": 18, "color": ALERT_COLOR, "symbol": "diamond"}))
        layout = {"xaxis": {"visible": False, "range": [float(x[0]) - 1500, float(x[0]) + 1500]},
                  "yaxis": {"visible": False, "scaleanchor": "x", "scaleratio": 1,
                            "range": [float(y[0]) - 1000, float(y[0]) + 1000]}}
    return _dark(fig, margin={"l": 0, "r": 0, "t": 0, "b": 0}, showlegend=False,
                 **(layout or {"xaxis": {"visible": False}, "yaxis": {"visible": False, "scaleanchor": "x"}}))

"""Figure builders: pure functions from read-model state to plotly figures and patches."""

from __future__ import annotations

import base64
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go
from dash import Patch

from dashboard.basemap import THEME
from topis.city.geo import Projection

#: bus colour when its last fix is fresh, and when it is stale.
BUS_FRESH = "#00e5ff"
BUS_STALE = "#ff5252"


@dataclass(frozen=True)
class BusLayer:
    """Every live bus, projected: parallel arrays in a stable (route, vehicle) order."""

    x_m: np.ndarray  #: float32 metres east of the centre
    y_m: np.ndarray  #: float32 metres north of the centre
    stale: np.ndarray  #: bool, last fix older than the stale limit
    labels: list[str]  #: "vehicle · route"


def bus_layer(vehicles_by_route: dict[str, dict], proj: Projection, newest_ts: float, stale_after_s: float) -> BusLayer:
    """Project the latest position of every vehicle; ``newest_ts`` is the feed's clock (event time)."""
    rows = [v for route in sorted(vehicles_by_route) for v in vehicles_by_route[route]["vehicles"]]
    lat = np.fromiter((v["lat"] for v in rows), float, len(rows))
    lon = np.fromiter((v["lon"] for v in rows), float, len(rows))
    ts = np.fromiter((v["ts"] for v in rows), float, len(rows))
    x, y = proj.to_xy(lat, lon)
    labels = [f"{v['vehicle_id']} · {v['route_id']}" for v in rows]
    return BusLayer(x.astype(np.float32), y.astype(np.float32), (newest_ts - ts) > stale_after_s, labels)


def typed_array(values: np.ndarray) -> dict:
    """A plotly typed array (base64), ~4 bytes a float instead of ~10 as JSON text."""
    arr = np.ascontiguousarray(values, dtype=np.float32)
    return {"dtype": "f4", "bdata": base64.b64encode(arr.tobytes()).decode()}


def bus_trace(layer: BusLayer) -> go.Scattergl:
    """The moving-bus trace (drawn once; later updates patch its arrays)."""
    return go.Scattergl(
        x=layer.x_m, y=layer.y_m, mode="markers", name="buses", text=layer.labels, hoverinfo="text",
        marker={"size": 7, "color": np.where(layer.stale, BUS_STALE, BUS_FRESH).tolist(),
                "line": {"width": 0}},
    )


def bus_patch(layer: BusLayer, trace_index: int) -> Patch:
    """A Patch that moves the bus trace: positions as float32 base64, colours and labels."""
    patch = Patch()
    patch["data"][trace_index]["x"] = typed_array(layer.x_m)
    patch["data"][trace_index]["y"] = typed_array(layer.y_m)
    patch["data"][trace_index]["text"] = layer.labels
    patch["data"][trace_index]["marker"]["color"] = np.where(layer.stale, BUS_STALE, BUS_FRESH).tolist()
    return patch


def city_figure(base: list, layer: BusLayer) -> go.Figure:
    """The wall map: static layers, then buses on top, equal axes, dark theme."""
    fig = go.Figure(data=[*base, bus_trace(layer)])
    fig.update_layout(
        paper_bgcolor=THEME["paper"], plot_bgcolor=THEME["background"], font={"color": THEME["text"]},
        margin={"l": 0, "r": 0, "t": 0, "b": 0}, showlegend=False, uirevision="city", dragmode="pan",
        xaxis={"visible": False}, yaxis={"visible": False, "scaleanchor": "x", "scaleratio": 1},
    )
    return fig

"""The city's own geometry, projected to metres, as plotly traces (no internet tiles)."""

from __future__ import annotations

from collections.abc import Iterable

import plotly.graph_objects as go

from topis.geo import Projection

#: colours of the dark wall theme.
THEME = {
    "background": "#0b0f14",
    "paper": "#0b0f14",
    "road": "#3a4452",
    "arterial": "#56657a",
    "river": "#12324f",
    "district": "#1c232d",
    "green_zone": "#2e7d32",
    "stop": "#8a97a8",
    "camera": "#ffb300",
    "text": "#e6edf3",
}


def _lines_xy(proj: Projection, lines: Iterable[list[tuple[float, float]]]) -> tuple[list, list]:
    """Concatenate (lon, lat) polylines into one x/y list with None separators."""
    xs: list = []
    ys: list = []
    for coords in lines:
        lon = [c[0] for c in coords]
        lat = [c[1] for c in coords]
        x, y = proj.to_xy(lat, lon)
        xs.extend([*x.round(1).tolist(), None])
        ys.extend([*y.round(1).tolist(), None])
    return xs, ys


def _rings(geometry: dict) -> list:
    if geometry["type"] == "Polygon":
        return [geometry["coordinates"][0]]
    if geometry["type"] == "MultiPolygon":
        return [poly[0] for poly in geometry["coordinates"]]
    if geometry["type"] == "LineString":
        return [geometry["coordinates"]]
    return []


def base_traces(geojson: dict, proj: Projection) -> list[go.Scattergl | go.Scatter]:
    """Static layers: river, districts, green zone, roads, stops, cameras (in that order)."""
    by_layer: dict[str, list[dict]] = {}
    for feat in geojson["features"]:
        by_layer.setdefault(feat["properties"]["layer"], []).append(feat)

    def area(layer: str, color: str, name: str, line: str) -> go.Scatter:
        x, y = _lines_xy(proj, [r for f in by_layer.get(layer, []) for r in _rings(f["geometry"])])
        return go.Scatter(x=x, y=y, mode="lines", fill="toself", fillcolor=color, line={"color": line, "width": 1},
                          name=name, hoverinfo="skip")

    roads = by_layer.get("road", [])
    major = [f for f in roads if f["properties"].get("road_class") in ("arterial", "expressway", "bridge")]
    minor = [f for f in roads if f not in major]
    traces = [
        area("district", THEME["district"], "districts", "#27303c"),
        area("river", THEME["river"], "Han River", THEME["river"]),
        area("green_zone", "rgba(46,125,50,0.18)", "green zone", THEME["green_zone"]),
    ]
    for feats, color, width, name in ((minor, THEME["road"], 1, "roads"), (major, THEME["arterial"], 2, "arterials")):
        x, y = _lines_xy(proj, [r for f in feats for r in _rings(f["geometry"])])
        traces.append(go.Scattergl(x=x, y=y, mode="lines", line={"color": color, "width": width}, name=name,
                                   hoverinfo="skip"))
    for layer, color, size, symbol, label in (("stop", THEME["stop"], 3, "circle", "stop_id"),
                                              ("camera", THEME["camera"], 6, "diamond", "camera_id")):
        feats = by_layer.get(layer, [])
        lon = [f["geometry"]["coordinates"][0] for f in feats]
        lat = [f["geometry"]["coordinates"][1] for f in feats]
        x, y = proj.to_xy(lat, lon)
        traces.append(go.Scattergl(x=x, y=y, mode="markers", name=f"{layer}s",
                                   marker={"color": color, "size": size, "symbol": symbol},
                                   text=[f["properties"][label] for f in feats], hoverinfo="text",
                                   customdata=[f"{layer}|{f['properties'][label]}" for f in feats]))
    return traces


def road_lines(geojson: dict, proj: Projection) -> dict[str, tuple[list, list]]:
    """Projected polyline of every road link: link_id -> (x list, y list), for colouring by speed."""
    out = {}
    for feat in geojson["features"]:
        props = feat["properties"]
        if props.get("layer") == "road" and props.get("link_id") is not None:
            coords = feat["geometry"]["coordinates"]
            x, y = proj.to_xy([c[1] for c in coords], [c[0] for c in coords])
            out[str(props["link_id"])] = (x.round(1).tolist(), y.round(1).tolist())
    return out


def points(geojson: dict, layer: str, id_prop: str) -> dict[str, tuple[float, float]]:
    """(lat, lon) of every point feature of ``layer`` by its ``id_prop`` (stops, cameras)."""
    return {str(f["properties"][id_prop]): (f["geometry"]["coordinates"][1], f["geometry"]["coordinates"][0])
            for f in geojson["features"] if f["properties"].get("layer") == layer}

"""ANPR cameras: bus lanes, the green zone, section-speed pairs and no-stopping zones."""

from __future__ import annotations

import math
from collections import Counter

import networkx as nx
import numpy as np
from shapely.geometry import LineString, Point, Polygon

from topis.city.model import Camera
from topis.geo import Projection

#: cameras of each kind at scale 1 (linear in scale)
CAMERAS_PER_SCALE = {"median": 10, "roadside_full": 8, "roadside_part": 6, "section_pairs": 6, "no_stopping": 14}
#: green zone area as a share of the city (Seoul: 16.7 km2 of 605 km2)
GREEN_ZONE_SHARE = 0.028
CAMERA_SIDE_M = 4.0


def point_on_link(graph: nx.DiGraph, proj: Projection, u: int, v: int, offset_m: float,
                  side_m: float = 0.0) -> tuple[float, float]:
    """(lat, lon) of a point ``offset_m`` along link u->v, ``side_m`` to its right."""
    a, b = graph.nodes[u], graph.nodes[v]
    length = graph.edges[u, v]["length_m"]
    f = min(max(offset_m / length, 0.0), 1.0)
    dx, dy = b["x_m"] - a["x_m"], b["y_m"] - a["y_m"]
    x = a["x_m"] + f * dx + side_m * dy / length
    y = a["y_m"] + f * dy - side_m * dx / length
    lat, lon = proj.to_latlon(x, y)
    return float(lat), float(lon)


def assign_bus_lanes(graph: nx.DiGraph, usage: Counter, scale: float) -> None:
    """Give the busiest arterial corridors median, roadside full-time or part-time bus lanes.

    A corridor is one named arterial; the lane covers its links that buses use.
    Mutates the ``lane_type`` edge attribute.
    """
    by_line: Counter = Counter()
    for u, v, d in graph.edges(data=True):
        if d["road_class"] == "arterial":
            by_line[d["road_name"]] += usage.get(d["link_id"], 0)
    lines = [name for name, n in sorted(by_line.items(), key=lambda kv: (-kv[1], kv[0])) if n > 0]
    k = math.sqrt(scale)
    counts = (("median", max(1, round(2 * k))), ("roadside_full", max(1, round(2 * k))), ("roadside_part", max(1, round(1.5 * k))))
    lane_of_line = {}
    for lane, n in counts:
        for name in lines[len(lane_of_line): len(lane_of_line) + n]:
            lane_of_line[name] = lane
    for u, v, d in graph.edges(data=True):
        lane = lane_of_line.get(d["road_name"])
        if lane and d["road_class"] == "arterial" and usage.get(d["link_id"], 0) > 0:
            d["lane_type"] = lane


def green_zone_polygon_m(rng: np.random.Generator, width_m: float, height_m: float) -> Polygon:
    """An irregular quadrilateral just north of the centre, ~2.8 % of the city's area."""
    side = math.sqrt(GREEN_ZONE_SHARE * width_m * height_m)
    cx, cy = 0.0, 0.05 * height_m
    angle = math.radians(rng.uniform(-10, 10))
    corners = []
    for sx, sy in ((-1, -1), (1, -1), (1, 1), (-1, 1)):
        x, y = sx * side / 2 * rng.uniform(0.9, 1.1), sy * side / 2 * rng.uniform(0.9, 1.1)
        corners.append((cx + x * math.cos(angle) - y * math.sin(angle), cy + x * math.sin(angle) + y * math.cos(angle)))
    return Polygon(corners)


def entering_links(graph: nx.DiGraph, zone_m: Polygon) -> list[tuple[int, int, float]]:
    """Directed links that enter the zone from outside: (u, v, distance of the crossing from u in m)."""
    out = []
    for u, v in sorted(graph.edges):
        a, b = graph.nodes[u], graph.nodes[v]
        pa = Point(a["x_m"], a["y_m"])
        if zone_m.contains(pa):
            continue
        seg = LineString([(a["x_m"], a["y_m"]), (b["x_m"], b["y_m"])])
        if not seg.intersects(zone_m):
            continue
        crossing = seg.intersection(zone_m.boundary)
        pts = [crossing] if crossing.geom_type == "Point" else list(getattr(crossing, "geoms", []))
        if pts:
            out.append((u, v, min(pa.distance(p) for p in pts)))
    return out


def _section_paths(graph: nx.DiGraph, rng: np.random.Generator, n: int, used: set) -> list[list[int]]:
    """Straight runs of 3-5 arterial links along one named road, not sharing links."""
    starts = sorted((u, v) for u, v, d in graph.edges(data=True) if d["road_class"] == "arterial")
    paths: list[list[int]] = []
    for k in rng.permutation(len(starts)):
        if len(paths) >= n:
            break
        u, v = starts[k]
        name = graph.edges[u, v]["road_name"]
        path = [u, v]
        want = int(rng.integers(3, 6))
        while len(path) <= want:
            nxt = [w for w in sorted(graph.successors(path[-1])) if w != path[-2] and w not in path
                   and graph.edges[path[-1], w]["road_name"] == name and graph.edges[path[-1], w]["road_class"] == "arterial"]
            if not nxt:
                break
            path.append(nxt[0])
        links = {(a, b) for a, b in zip(path[:-1], path[1:])}
        if len(path) >= 4 and not links & used:
            used |= links | {(b, a) for a, b in links}
            paths.append(path)
    return paths


def build_cameras(graph: nx.DiGraph, proj: Projection, zone_m: Polygon, usage: Counter, scale: float,
                  rng: np.random.Generator) -> tuple[Camera, ...]:
    """All cameras, numbered C0001... in the order bus lane, green zone, section, no stopping."""
    specs: list[dict] = []
    used: set = set()
    for lane in ("median", "roadside_full", "roadside_part"):
        cand = sorted(((u, v) for u, v, d in graph.edges(data=True) if d["lane_type"] == lane),
                      key=lambda e: (-usage.get(graph.edges[e]["link_id"], 0), graph.edges[e]["link_id"]))
        for u, v in cand[: max(1, round(CAMERAS_PER_SCALE[lane] * scale))]:
            used.add((u, v))
            specs.append(dict(u=u, v=v, offset_m=0.3 * graph.edges[u, v]["length_m"], lane_type=lane))
    for u, v, cross_m in entering_links(graph, zone_m):
        offset = min(cross_m + 15.0, graph.edges[u, v]["length_m"])
        specs.append(dict(u=u, v=v, offset_m=offset, green_zone_entry=True))
    for s, path in enumerate(_section_paths(graph, rng, round(CAMERAS_PER_SCALE["section_pairs"] * scale), used)):
        lengths = [graph.edges[a, b]["length_m"] for a, b in zip(path[:-1], path[1:])]
        limit = min(graph.edges[a, b]["speed_limit_kph"] for a, b in zip(path[:-1], path[1:]))
        section_len = sum(lengths) - 0.5 * lengths[0] - 0.5 * lengths[-1]
        common = dict(section_id=f"S{s + 1:03d}", section_length_m=round(section_len, 1), section_limit_kph=limit)
        specs.append(dict(u=path[0], v=path[1], offset_m=0.5 * lengths[0], section_role="entry", **common))
        specs.append(dict(u=path[-2], v=path[-1], offset_m=0.5 * lengths[-1], section_role="exit", **common))
    free = sorted((u, v) for u, v, d in graph.edges(data=True) if (u, v) not in used and d["road_class"] != "bridge")
    for k in sorted(rng.choice(len(free), size=min(len(free), round(CAMERAS_PER_SCALE["no_stopping"] * scale)), replace=False)):
        u, v = free[k]
        specs.append(dict(u=u, v=v, offset_m=0.8 * graph.edges[u, v]["length_m"], no_stopping=True))
    cameras = []
    for k, spec in enumerate(specs):
        u, v = spec.pop("u"), spec.pop("v")
        lat, lon = point_on_link(graph, proj, u, v, spec["offset_m"], CAMERA_SIDE_M)
        spec["offset_m"] = round(spec["offset_m"], 1)
        cameras.append(Camera(camera_id=f"C{k + 1:04d}", lat=round(lat, 7), lon=round(lon, 7),
                              link_id=graph.edges[u, v]["link_id"], **spec))
    return tuple(cameras)

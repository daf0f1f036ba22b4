"""Generate the demo city from a seed and a scale (1 = a Seoul 18.5th, 18.5 = Seoul size)."""

from __future__ import annotations

import datetime as dt
import logging
import math
from collections import Counter

import msgspec
import networkx as nx
import numpy as np
import shapely
from shapely import transform
from shapely.geometry import MultiPoint, Polygon, box

from topis.city import routes as rt
from topis.city.cameras import assign_bus_lanes, build_cameras, green_zone_polygon_m
from topis.city.model import Bus, City, District, Pattern, Route, Stop
from topis.city.registry import build_registry
from topis.city.roads import build_road_network
from topis.geo import SEOUL_CENTER, Projection
from topis.holidays import YEARS, HolidayChanges, korean_holidays

log = logging.getLogger(__name__)

DISTRICT_NAMES = (
    "Jung-gu", "Jongno-gu", "Yongsan-gu", "Seodaemun-gu", "Seongdong-gu", "Mapo-gu", "Dongdaemun-gu",
    "Seongbuk-gu", "Gwangjin-gu", "Dongjak-gu", "Gangnam-gu", "Seocho-gu", "Yeongdeungpo-gu", "Eunpyeong-gu",
    "Jungnang-gu", "Songpa-gu", "Gangbuk-gu", "Gwanak-gu", "Guro-gu", "Nowon-gu", "Dobong-gu", "Yangcheon-gu",
    "Geumcheon-gu", "Gangseo-gu", "Gangdong-gu",
)
#: buses per unit of scale (Seoul: 7,400 at 18.5)
BUSES_PER_SCALE = 400
BUS_CAPACITY = 75
SQUIRREL_HEADWAY_S = 360
N_SQUIRREL = 3


def _to_lonlat(geom_m, proj: Projection):
    return transform(geom_m, lambda xy: np.column_stack(proj.to_latlon(xy[:, 0], xy[:, 1])[::-1]))


def _districts(rng: np.random.Generator, scale: float, width_m: float, height_m: float,
               proj: Projection) -> tuple[tuple[District, ...], list[Polygon]]:
    n = int(np.clip(round(25 * math.sqrt(scale / 18.5)), 3, 25))
    seeds = np.column_stack([rng.uniform(-width_m / 2, width_m / 2, n), rng.uniform(-height_m / 2, height_m / 2, n)])
    seeds = seeds[np.argsort(np.hypot(seeds[:, 0], seeds[:, 1]), kind="stable")]
    bounds = box(-width_m / 2 - 400, -height_m / 2 - 400, width_m / 2 + 400, height_m / 2 + 400)
    cells = list(shapely.voronoi_polygons(MultiPoint(seeds), extend_to=bounds).geoms)
    metric = []
    for x, y in seeds:
        cell = next(c for c in cells if c.contains(shapely.Point(x, y)))
        metric.append(cell.intersection(bounds))
    return tuple(District(DISTRICT_NAMES[k], _to_lonlat(p, proj)) for k, p in enumerate(metric)), metric


def _pick_od(index: rt.RoadIndex, rng: np.random.Generator, size_m: float, to_centre: bool) -> tuple[int, int]:
    xy = index.xy_m
    o = int(rng.integers(len(xy)))
    d2 = np.hypot(xy[:, 0] - xy[o, 0], xy[:, 1] - xy[o, 1])
    if to_centre:
        near = np.flatnonzero(np.hypot(xy[:, 0], xy[:, 1]) < 0.2 * size_m)
        near = near[d2[near] > 0.5 * size_m]
        if len(near):
            return int(index.nodes[o]), int(index.nodes[rng.choice(near)])
    lo, hi = min(0.65 * size_m, 9000.0), min(1.2 * size_m, 16000.0)
    ok = np.flatnonzero((d2 > lo) & (d2 < hi))
    if not len(ok):
        ok = np.array([int(np.argmax(d2))])
    return int(index.nodes[o]), int(index.nodes[rng.choice(ok)])


def _stops(graph: nx.DiGraph, used: set[str], districts_m: list[Polygon], names: tuple[str, ...],
           rng: np.random.Generator, proj: Projection) -> tuple[tuple[Stop, ...], dict[str, str]]:
    from topis.city.cameras import point_on_link

    edges = sorted((d["link_id"], u, v) for u, v, d in graph.edges(data=True)
                   if d["link_id"] in used and d["length_m"] >= rt.MIN_STOP_LINK_M)
    size = math.sqrt(max(abs(graph.nodes[n]["x_m"]) for n in graph) * max(abs(graph.nodes[n]["y_m"]) for n in graph))
    weights = rng.lognormal(0.0, 0.5, size=len(edges))
    stops, by_link = [], {}
    where = [point_on_link(graph, proj, u, v, rt.STOP_OFFSET_SHARE * graph.edges[u, v]["length_m"], rt.STOP_SIDE_M)
             for _, u, v in edges]
    xs, ys = proj.to_xy(np.array([w[0] for w in where]), np.array([w[1] for w in where]))
    district_of = np.zeros(len(edges), dtype=int)
    for j in range(len(districts_m) - 1, -1, -1):
        district_of[shapely.contains_xy(districts_m[j], xs, ys)] = j
    for k, (link_id, u, v) in enumerate(edges):
        d = graph.edges[u, v]
        (lat, lon), x, y, district = where[k], float(xs[k]), float(ys[k]), names[district_of[k]]
        cross = sorted(graph.edges[v, w]["road_name"] for w in graph.successors(v)
                       if graph.edges[v, w]["road_name"] != d["road_name"])
        name = f"{d['road_name']} / {cross[0]}" if cross else f"{d['road_name']} {k + 1}"
        centre = 1.0 + 1.5 * math.exp(-((math.hypot(x, y) / (0.5 * size)) ** 2))
        stop = Stop(f"{k + 1:05d}", name, round(float(lat), 7), round(float(lon), 7), link_id, district,
                    float(weights[k] * centre))
        stops.append(stop)
        by_link[link_id] = stop.stop_id
    mean = np.mean([s.demand_weight for s in stops])
    stops = [Stop(s.stop_id, s.name, s.lat, s.lon, s.link_id, s.district, round(float(s.demand_weight / mean), 4)) for s in stops]
    return tuple(stops), by_link


def _patterns(graph: nx.DiGraph, path: list[int], by_link: dict[str, str], names: tuple[str, str]) -> tuple[Pattern, ...]:
    return (rt.build_pattern(graph, path, 0, names[1], by_link), rt.build_pattern(graph, path[::-1], 1, names[0], by_link))


def _stop_name(stops_by_id: dict[str, Stop], pattern_stops: tuple[str, ...], k: int) -> str:
    return stops_by_id[pattern_stops[k]].name.split(" / ")[0]


def _route_paths(index: rt.RoadIndex, width_m: float, height_m: float, scale: float, rng: np.random.Generator):
    """Node paths of every route as (kind, route_id, path), the regular routes' demand weights,
    and the indices of the regular routes that get a Squirrel section."""
    size_m = math.sqrt(width_m * height_m)
    n_regular = max(4, int(round(40 * scale ** 0.78)))
    paths: list[tuple[str, str, list[int]]] = []
    for k in range(n_regular):
        o, d = _pick_od(index, rng, size_m, to_centre=rng.random() < 0.4)
        paths.append(("regular", str(100 + k), rt.shortest_path(index, rt.route_weights(index, rng), o, d)))
    for k, name in enumerate(rt.OWL_NAMES):  # long cross-city lines through the centre
        angle = math.pi * (k / len(rt.OWL_NAMES)) + rng.uniform(-0.1, 0.1)
        dx, dy = 0.45 * width_m * math.cos(angle), 0.42 * height_m * math.sin(angle)
        o, d = rt.node_near(index, -dx, -dy), rt.node_near(index, dx, dy)
        paths.append(("owl", name, rt.shortest_path(index, rt.route_weights(index, rng), o, d)))
    demand_w = rng.lognormal(0.0, 0.4, size=n_regular)
    parents = [int(k) for k in np.argsort(-demand_w, kind="stable")[:N_SQUIRREL]]
    for k in parents:  # a third of the busiest routes, where the crowding is
        full = paths[k][2]
        n = max(3, len(full) // 3)
        a = int(rng.integers(0, max(1, len(full) - n)))
        paths.append(("squirrel", f"8{paths[k][1]}", full[a: a + n + 1]))
    return paths, demand_w, parents


def _link_usage(graph: nx.DiGraph, paths) -> tuple[set[str], Counter]:
    """Links driven by some route (either direction) and how many route-directions drive each."""
    used: set[str] = set()
    usage: Counter = Counter()
    for _, _, path in paths:
        for u, v in zip(path[:-1], path[1:]):
            for a, b in ((u, v), (v, u)):
                used.add(graph.edges[a, b]["link_id"])
                usage[graph.edges[a, b]["link_id"]] += 1
    return used, usage


def _routes(graph: nx.DiGraph, paths, by_link: dict[str, str], stops_by_id: dict[str, Stop], demand_w: np.ndarray,
            parents: list[int], scale: float, size_m: float) -> list[Route]:
    """Routes with patterns and hourly headways sized so the fleet is ~BUSES_PER_SCALE * scale."""
    proto, cycles = [], []
    for kind, rid, path in paths:
        pats = _patterns(graph, path, by_link, ("", ""))
        heads = (_stop_name(stops_by_id, pats[0].stop_ids, 0), _stop_name(stops_by_id, pats[0].stop_ids, -1))
        pats = (msgspec.structs.replace(pats[0], headsign=heads[1]), msgspec.structs.replace(pats[1], headsign=heads[0]))
        proto.append((kind, rid, pats))
        cycles.append(rt.peak_cycle_s(pats))
    n_regular = len(demand_w)
    n_owl_buses = max(2, round(3 * math.sqrt(scale)))
    regular_target = BUSES_PER_SCALE * scale - len(rt.OWL_NAMES) * n_owl_buses - N_SQUIRREL * 4
    regular_cycles = np.array(cycles[:n_regular])
    share = demand_w * regular_cycles / np.sum(demand_w * regular_cycles)
    routes = []
    for k, (kind, rid, pats) in enumerate(proto):
        if kind == "regular":
            buses = max(2.0, regular_target * share[k] * 0.96)
            wd, we = rt.regular_headways(int(np.clip(cycles[k] / buses, 180, 1500)))
            parent, color = None, "0068B7" if pats[0].length_m > 0.6 * size_m else "53B332"
        elif kind == "owl":
            h = int(30 * round(np.clip(cycles[k] * 0.75 / n_owl_buses, 900, 2400) / 30))
            wd = we = tuple(h if hour in (0, 1, 2, 3, 4) else 0 for hour in range(24))
            parent, color = None, "1B2A5B"
        else:
            wd = tuple(SQUIRREL_HEADWAY_S if hour in (7, 8, 17, 18) else 0 for hour in range(24))
            we = (0,) * 24
            parent, color = proto[parents[k - n_regular - len(rt.OWL_NAMES)]][1], "F2A900"
        routes.append(Route(rid, rid, kind, pats, wd, we, parent, color))
    return routes


def generate_city(seed: int = 1, scale: float = 1.0, year: int = 2026,
                  holiday_changes: HolidayChanges | None = None) -> City:
    """Generate a Seoul-like demo city, deterministic in ``seed`` and ``scale``.

    Parameters
    ----------
    seed : int
        Seed of every random choice; the same seed gives an identical city.
    scale : float
        Size: 1 gives ~40 routes, ~400 buses, ~60 cameras; 18.5 gives Seoul
        (~390 routes, ~7,400 buses, ~11,000 stops, ~1,000 cameras).
    year : int
        First year of the service calendar, in :data:`topis.holidays.YEARS`; the
        calendar runs to the end of the next year when the holiday calendar knows it.
    holiday_changes : HolidayChanges, optional
        Days to add to or remove from the Korean holiday calendar (an override file,
        :func:`topis.holidays.read_holiday_file`).

    Returns
    -------
    City
    """
    if not scale > 0:
        raise ValueError(f"scale must be positive, got {scale}")
    if year not in YEARS:
        raise ValueError(f"year must be in {YEARS.start}-{YEARS.stop - 1}, got {year}")
    rngs = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(8)]
    proj = Projection(*SEOUL_CENTER)
    roads = build_road_network(rngs[0], scale, proj)
    graph = roads.graph
    districts, districts_m = _districts(rngs[1], scale, roads.width_m, roads.height_m, proj)
    zone_m = green_zone_polygon_m(rngs[2], roads.width_m, roads.height_m)
    index = rt.road_index(graph)
    size_m = math.sqrt(roads.width_m * roads.height_m)

    paths, demand_w, parents = _route_paths(index, roads.width_m, roads.height_m, scale, rngs[3])
    used, usage = _link_usage(graph, paths)
    stops, by_link = _stops(graph, used, districts_m, tuple(d.name for d in districts), rngs[4], proj)
    routes = _routes(graph, paths, by_link, {s.stop_id: s for s in stops}, demand_w, parents, scale, size_m)
    trips = []
    for route in routes:
        trips += rt.route_trips(route, rngs[5])
    fleet = sorted({(t.route_id, t.vehicle_id) for t in trips}, key=lambda rv: rv[1])
    registry, plates = build_registry(rngs[6], scale, len(fleet))
    buses = tuple(Bus(vid, rid, plate, BUS_CAPACITY) for (rid, vid), plate in zip(fleet, plates))
    assign_bus_lanes(graph, usage, scale)
    cameras = build_cameras(graph, proj, zone_m, usage, scale, rngs[7])
    years = tuple(y for y in (year, year + 1) if y in YEARS)
    city = City(
        seed=seed, scale=scale, center_lat=SEOUL_CENTER[0], center_lon=SEOUL_CENTER[1], graph=graph,
        river=roads.river, districts=districts, green_zone=_to_lonlat(zone_m, proj), stops=stops,
        routes=tuple(routes), trips=tuple(trips), buses=buses, cameras=cameras, registry=registry,
        holidays=korean_holidays(years, holiday_changes), service_start=dt.date(year, 1, 1), service_end=dt.date(years[-1], 12, 31),
    )
    log.info("city seed=%d scale=%.2f: %d routes, %d stops, %d buses, %d cameras, %d trips",
             seed, scale, len(routes), len(stops), len(buses), len(cameras), len(trips))
    return city

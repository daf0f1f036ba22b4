"""Road graph of the demo city: a jittered street grid cut by a river, joined by bridges."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import networkx as nx
import numpy as np
import shapely
from shapely import transform
from shapely.geometry import Polygon

from topis.geo import Projection

log = logging.getLogger(__name__)

#: Seoul's area divided by 18.5: the area of a scale-1 city, square metres.
AREA_PER_SCALE_M2 = 605e6 / 18.5
GRID_SPACING_M = 350.0
SPEED_LIMIT_KPH = {"arterial": 60.0, "collector": 50.0, "bridge": 60.0}

_EW_NAMES = (
    "Jong-ro", "Eulji-ro", "Toegye-ro", "Cheonggyecheon-ro", "Yulgok-ro", "Sajik-ro", "Saemunan-ro",
    "Changgyeonggung-ro", "Dosan-daero", "Teheran-ro", "Olympic-ro", "Yeongdong-daero", "Hangang-daero",
    "Nambusunhwan-ro", "Gangnam-daero", "Bongeunsa-ro", "Samseong-ro", "Yangjae-daero", "Mapo-daero",
    "Yanghwa-ro", "Sinchon-ro", "Wangsan-ro", "Cheonho-daero", "Dongil-ro", "Gonghang-daero",
)
_NS_NAMES = (
    "Sejong-daero", "Namdaemun-ro", "Samil-daero", "Donhwamun-ro", "Changgyeong-ro", "Dongho-ro",
    "Jangchungdan-ro", "Dobong-ro", "Mia-ro", "Seongsan-ro", "Yeonhui-ro", "Susaek-ro", "Siheung-daero",
    "Noryangjin-ro", "Dongjak-daero", "Banpo-daero", "Seocho-daero", "Nonhyeon-ro", "Eonju-ro",
    "Seolleung-ro", "Yeongdong-ro", "Songpa-daero", "Bukbu-ro", "Hwarang-ro", "Gwangnaru-ro",
)


@dataclass(frozen=True)
class RoadNetwork:
    """The road graph with the river cutting it, in lat/lon and metric forms."""

    graph: nx.DiGraph
    river: Polygon  #: lon/lat
    river_m: Polygon  #: metric x/y
    width_m: float
    height_m: float


def _line_name(names: tuple[str, ...], k: int) -> str:
    base = names[k % len(names)]
    return base if k < len(names) else f"{base} {k // len(names) + 1}"


def _river_polygon_m(rng: np.random.Generator, width_m: float, height_m: float, scale: float) -> tuple[Polygon, callable]:
    """An east-west band south of the centre, wavy, ~300-900 m wide."""
    river_w = min(900.0, 300.0 + 35.0 * scale)
    base_y = -height_m / 2 + 0.33 * height_m
    amp = 0.35 * GRID_SPACING_M + 0.01 * height_m
    wavelength = max(3000.0, 0.6 * width_m)
    phase = rng.uniform(0, 2 * math.pi)

    def centre_y(x):
        return base_y + amp * np.sin(2 * math.pi * np.asarray(x) / wavelength + phase)

    xs = np.linspace(-width_m / 2 - 800, width_m / 2 + 800, 240)
    upper = np.column_stack([xs, centre_y(xs) + river_w / 2])
    lower = np.column_stack([xs[::-1], centre_y(xs[::-1]) - river_w / 2])
    return Polygon(np.vstack([upper, lower])), centre_y


def build_road_network(rng: np.random.Generator, scale: float, proj: Projection) -> RoadNetwork:
    """Generate the road graph for a city of ``scale`` (1 = a Seoul 18.5th).

    Every road is two-way (two directed edges). Nodes inside the river are
    dropped, every edge crossing it is dropped except the bridges (an arterial
    column every ~1.3 km), and the largest connected part is kept, so the
    result is strongly connected.
    """
    area_m2 = AREA_PER_SCALE_M2 * scale
    width_m = math.sqrt(area_m2 * 1.2)
    height_m = area_m2 / width_m
    n_cols = max(6, int(round(width_m / GRID_SPACING_M)) + 1)
    n_rows = max(6, int(round(height_m / GRID_SPACING_M)) + 1)
    river_m, centre_y = _river_polygon_m(rng, width_m, height_m, scale)
    river_zone = river_m.buffer(40.0)

    xs = -width_m / 2 + np.arange(n_cols) * GRID_SPACING_M
    ys = -height_m / 2 + np.arange(n_rows) * GRID_SPACING_M
    jitter = rng.uniform(-0.12, 0.12, size=(n_cols, n_rows, 2)) * GRID_SPACING_M
    gx = xs[:, None] + jitter[:, :, 0]
    gy = ys[None, :] + jitter[:, :, 1]
    wet = shapely.contains_xy(river_zone, gx, gy)
    pos: dict[int, tuple[float, float]] = {}
    grid: dict[int, tuple[int, int]] = {}
    for i in range(n_cols):
        for j in range(n_rows):
            if not wet[i, j]:
                node = i * n_rows + j
                pos[node], grid[node] = (float(gx[i, j]), float(gy[i, j])), (i, j)

    bridge_every = max(2, int(round(1300.0 / GRID_SPACING_M)))
    und = nx.Graph()
    und.add_nodes_from(pos)
    pairs = [(node, other, i, j, di) for node, (i, j) in grid.items() for di, dj in ((1, 0), (0, 1))
             if (other := (i + di) * n_rows + (j + dj)) in pos]
    crosses = shapely.intersects(shapely.linestrings([[pos[a], pos[b]] for a, b, *_ in pairs]), river_m)
    for (node, other, i, j, di), wet_edge in zip(pairs, crosses.tolist()):
        if wet_edge:
            continue
        arterial = (j % 3 == 0) if di else (i % 3 == 0)
        name = _line_name(_EW_NAMES, j) if di else _line_name(_NS_NAMES, i)
        und.add_edge(node, other, road_class="arterial" if arterial else "collector", road_name=name)
    # bridges: join the last node south of the river to the first north of it
    for i in range(0, n_cols, bridge_every):
        column = sorted((grid[n][1], n) for n in pos if grid[n][0] == i)
        south = [n for _, n in column if pos[n][1] < centre_y(pos[n][0])]
        north = [n for _, n in column if pos[n][1] > centre_y(pos[n][0])]
        if south and north:
            und.add_edge(south[-1], north[0], road_class="bridge", road_name=f"{_line_name(_NS_NAMES, i)} Bridge")
    # thin out some collectors, keeping every node at degree >= 2
    collectors = sorted((u, v) for u, v, d in und.edges(data=True) if d["road_class"] == "collector")
    for k in rng.permutation(len(collectors))[: int(0.06 * len(collectors))]:
        u, v = collectors[k]
        if und.degree(u) > 2 and und.degree(v) > 2:
            und.remove_edge(u, v)
    keep = max(nx.connected_components(und), key=len)
    und = und.subgraph(keep).copy()

    graph = nx.DiGraph()
    for node in sorted(und.nodes):
        x, y = pos[node]
        lat, lon = proj.to_latlon(x, y)
        graph.add_node(node, x_m=float(x), y_m=float(y), lat=float(lat), lon=float(lon))
    directed = sorted([(u, v) for u, v in und.edges] + [(v, u) for u, v in und.edges])
    lonlat = {n: (d["lon"], d["lat"]) for n, d in graph.nodes(data=True)}
    geoms = shapely.linestrings([[lonlat[u], lonlat[v]] for u, v in directed])
    for k, (u, v) in enumerate(directed):
        attrs = und.edges[u, v]
        a, b = graph.nodes[u], graph.nodes[v]
        graph.add_edge(
            u, v,
            link_id=f"L{k:06d}",
            length_m=float(math.hypot(b["x_m"] - a["x_m"], b["y_m"] - a["y_m"])),
            speed_limit_kph=SPEED_LIMIT_KPH[attrs["road_class"]],
            road_class=attrs["road_class"],
            road_name=attrs["road_name"],
            lane_type="none",
            geometry=geoms[k],
        )
    river = transform(river_m, lambda xy: np.column_stack(proj.to_latlon(xy[:, 0], xy[:, 1])[::-1]))
    log.info("road graph: %d nodes, %d links", graph.number_of_nodes(), graph.number_of_edges())
    return RoadNetwork(graph=graph, river=river, river_m=river_m, width_m=width_m, height_m=height_m)

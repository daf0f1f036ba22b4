"""Bus routes of the demo city: paths on the road graph, stops, patterns, timetables, blocks."""

from __future__ import annotations

import heapq
from dataclasses import dataclass

import networkx as nx
import numpy as np

from topis.city.model import (
    SERVICE_DAILY,
    SERVICE_WEEKDAY,
    SERVICE_WEEKEND,
    Pattern,
    Route,
    Trip,
)
from topis.city.profiles import HEADWAY_FACTOR_WEEKDAY, HEADWAY_FACTOR_WEEKEND, congestion_factor

#: bus running speed as a share of the speed limit (signals, traffic, acceleration)
BUS_SPEED_SHARE = 0.5
#: scheduled dwell per intermediate stop, seconds
DWELL_ALLOWANCE_S = 20.0
#: minimum layover at a terminal between trips of a block, seconds
LAYOVER_S = 300
FIRST_TRIP_S = 5 * 3600
LAST_TRIP_S = 23 * 3600 + 30 * 60
OWL_FIRST_S = 24 * 3600
OWL_LAST_S = 28 * 3600
SQUIRREL_WINDOWS_S = ((7 * 3600, 9 * 3600), (17 * 3600, 19 * 3600))
OWL_NAMES = ("N13", "N15", "N16", "N26", "N30", "N37", "N61", "N62", "N65")
STOP_OFFSET_SHARE = 0.55  #: stop position along its link (share of the link length)
STOP_SIDE_M = 8.0  #: stops sit this far to the right of the centre line
MIN_STOP_LINK_M = 150.0


@dataclass(frozen=True)
class RoadIndex:
    """Array view of the directed road graph for fast shortest paths."""

    nodes: np.ndarray  #: node ids, sorted
    xy_m: np.ndarray  #: (n, 2) metric coordinates
    adjacency: list  #: per node position: list of (neighbour position, edge position)
    edge_uv: list  #: per edge position: (u, v) node ids
    edge_time_s: np.ndarray  #: free-flow bus time per edge
    edge_arterial: np.ndarray  #: bool per edge
    pos: dict  #: node id -> position in ``nodes``
    indptr: np.ndarray  #: CSR row pointers over node positions
    indices: np.ndarray  #: CSR successor positions
    edge_ids: np.ndarray  #: CSR edge positions (into edge_uv / weights)


def road_index(graph: nx.DiGraph) -> RoadIndex:
    """Build the array view of ``graph`` used by :func:`shortest_path`."""
    nodes = np.array(sorted(graph.nodes))
    pos = {int(n): k for k, n in enumerate(nodes)}
    xy = np.array([[graph.nodes[n]["x_m"], graph.nodes[n]["y_m"]] for n in nodes])
    adjacency: list[list[tuple[int, int]]] = [[] for _ in nodes]
    edge_uv, times, arterial = [], [], []
    for u, v, d in sorted(graph.edges(data=True), key=lambda e: e[2]["link_id"]):
        adjacency[pos[u]].append((pos[v], len(edge_uv)))
        edge_uv.append((u, v))
        times.append(d["length_m"] / (d["speed_limit_kph"] * BUS_SPEED_SHARE / 3.6))
        arterial.append(d["road_class"] != "collector")
    indptr = np.concatenate(([0], np.cumsum([len(a) for a in adjacency]))).astype(np.int64)
    indices = np.array([b for a in adjacency for b, _ in a], dtype=np.int64)
    edge_ids = np.array([e for a in adjacency for _, e in a], dtype=np.int64)
    return RoadIndex(nodes, xy, adjacency, edge_uv, np.array(times), np.array(arterial), pos, indptr, indices, edge_ids)


def shortest_path(index: RoadIndex, weight: np.ndarray, src: int, dst: int) -> list[int]:
    """Least-``weight`` path from node ``src`` to node ``dst`` (node ids).

    Raises
    ------
    ValueError
        If a weight is negative or NaN, a node is unknown, or ``dst`` is unreachable.
    """
    from topis.city._kernels import dijkstra_path

    weight = np.asarray(weight, dtype=np.float64)
    if weight.shape != (len(index.edge_uv),) or not np.all(weight >= 0):
        raise ValueError("weights must be one non-negative number per edge")
    if src not in index.pos or dst not in index.pos:
        raise ValueError(f"unknown node {src if src not in index.pos else dst}")
    path = dijkstra_path(index.indptr, index.indices, index.edge_ids, weight, index.pos[src], index.pos[dst])
    if not len(path):
        raise ValueError(f"no path from {src} to {dst}")
    return index.nodes[path].tolist()


def route_weights(index: RoadIndex, rng: np.random.Generator) -> np.ndarray:
    """Per-route perturbed edge costs: prefer arterials, spread routes over the grid."""
    noise = rng.lognormal(0.0, 0.5, size=len(index.edge_time_s))
    return index.edge_time_s * np.where(index.edge_arterial, 1.0, 1.15) * noise


def node_near(index: RoadIndex, x_m: float, y_m: float) -> int:
    """Id of the node nearest a metric point."""
    k = int(np.argmin((index.xy_m[:, 0] - x_m) ** 2 + (index.xy_m[:, 1] - y_m) ** 2))
    return int(index.nodes[k])


def build_pattern(graph: nx.DiGraph, path: list[int], direction_id: int, headsign: str,
                  stop_by_link: dict[str, str]) -> Pattern:
    """Pattern of a node path: its shape, the stops on its links, free-flow segment times."""
    links = [graph.edges[u, v] for u, v in zip(path[:-1], path[1:])]
    lengths = np.array([d["length_m"] for d in links])
    times = np.array([d["length_m"] / (d["speed_limit_kph"] * BUS_SPEED_SHARE / 3.6) for d in links])
    node_dist = np.concatenate(([0.0], np.cumsum(lengths)))
    node_time = np.concatenate(([0.0], np.cumsum(times)))
    stop_ids, stop_dist = [], []
    for k, d in enumerate(links):
        stop_id = stop_by_link.get(d["link_id"])
        if stop_id is not None:
            stop_ids.append(stop_id)
            stop_dist.append(node_dist[k] + STOP_OFFSET_SHARE * lengths[k])
    stop_time = np.interp(stop_dist, node_dist, node_time)
    return Pattern(
        direction_id=direction_id,
        headsign=headsign,
        link_ids=tuple(d["link_id"] for d in links),
        stop_ids=tuple(stop_ids),
        stop_dist_m=tuple(float(x) for x in stop_dist),
        shape_lat=tuple(float(graph.nodes[n]["lat"]) for n in path),
        shape_lon=tuple(float(graph.nodes[n]["lon"]) for n in path),
        shape_dist_m=tuple(float(x) for x in node_dist),
        segment_run_s=tuple(float(x) for x in np.diff(stop_time)),
    )


def peak_cycle_s(patterns: tuple[Pattern, ...]) -> float:
    """Round-trip time at the AM peak including scheduled dwell and layovers, seconds."""
    factor = congestion_factor(8, weekend=False)
    run = sum(sum(p.segment_run_s) * factor + DWELL_ALLOWANCE_S * (len(p.stop_ids) - 1) for p in patterns)
    return run + LAYOVER_S * len(patterns)


def headways_by_hour(peak_headway_s: int, factors: np.ndarray) -> tuple[int, ...]:
    """Hourly headways from a peak headway and hour factors (0 = no service), rounded to 30 s."""
    return tuple(int(30 * round(peak_headway_s * f / 30)) if f > 0 else 0 for f in factors)


def regular_headways(peak_headway_s: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Weekday and weekend hourly headways of a regular route."""
    return headways_by_hour(peak_headway_s, HEADWAY_FACTOR_WEEKDAY), headways_by_hour(peak_headway_s, HEADWAY_FACTOR_WEEKEND)


def start_times_s(headway_by_hour: tuple[int, ...], first_s: int, last_s: int) -> list[int]:
    """Departure times from ``first_s`` to ``last_s`` following the hourly headways.

    An hour with headway 0 has no departures; the next departure is the first
    second of the next hour that has service.
    """
    out: list[int] = []
    t = first_s
    while t <= last_s:
        h = headway_by_hour[(t // 3600) % 24]
        if h <= 0:
            t = (t // 3600 + 1) * 3600
            continue
        out.append(t)
        t += h
    return out


def windowed_start_times_s(headway_s: int, windows: tuple[tuple[int, int], ...], offset_s: int) -> list[int]:
    """Departures every ``headway_s`` inside each [start, end) window."""
    return [t for a, b in windows for t in range(a + offset_s, b, headway_s)]


def make_trips(route: Route, service_id: str, starts_by_direction: list[list[int]], weekend: bool) -> list[Trip]:
    """Trips of one route and service with blocks chained greedily at the terminals.

    Each departure takes the bus that has waited longest at its terminal (at
    least ``LAYOVER_S`` after its previous arrival), or a new bus from the depot.
    """
    raw = []
    for direction, starts in enumerate(starts_by_direction):
        for k, start in enumerate(starts):
            raw.append((start, direction, k))
    raw.sort()
    free: dict[int, list[tuple[int, int]]] = {0: [], 1: []}
    n_buses = 0
    trips = []
    n_dirs = len(route.patterns)
    factors = [round(congestion_factor(h, weekend), 2) for h in range(24)]
    run_s = [sum(p.segment_run_s) for p in route.patterns]
    dwell_s = [DWELL_ALLOWANCE_S * (len(p.stop_ids) - 1) for p in route.patterns]
    for start, direction, k in raw:
        at = free[direction]
        if at and at[0][0] <= start:
            _, bus = heapq.heappop(at)
        else:
            bus, n_buses = n_buses, n_buses + 1
        factor = factors[(start // 3600) % 24]
        trip = Trip(
            trip_id=f"{route.route_id}-{service_id}-{direction}-{k:03d}",
            route_id=route.route_id,
            direction_id=direction,
            service_id=service_id,
            block_id=f"{route.route_id}-{service_id}-{bus:02d}",
            vehicle_id=f"{route.route_id}-{bus:02d}",
            start_s=start,
            run_factor=factor,
        )
        end_s = start + int(round(run_s[direction] * factor + dwell_s[direction]))
        heapq.heappush(free[(direction + 1) % n_dirs], (end_s + LAYOVER_S, bus))
        trips.append(trip)
    return trips


def route_trips(route: Route, rng: np.random.Generator) -> list[Trip]:
    """All trips of a route on every service it runs."""
    offsets = [int(60 * rng.integers(0, 10)) for _ in route.patterns]
    if route.kind == "regular":
        out = []
        for service, headways, weekend in ((SERVICE_WEEKDAY, route.headway_weekday_s, False),
                                           (SERVICE_WEEKEND, route.headway_weekend_s, True)):
            starts = [start_times_s(headways, FIRST_TRIP_S + off, LAST_TRIP_S) for off in offsets]
            out += make_trips(route, service, starts, weekend)
        return out
    if route.kind == "squirrel":
        h = max(x for x in route.headway_weekday_s)
        starts = [windowed_start_times_s(h, SQUIRREL_WINDOWS_S, off % h) for off in offsets]
        return make_trips(route, SERVICE_WEEKDAY, starts, weekend=False)
    h = max(x for x in route.headway_weekday_s)
    starts = [windowed_start_times_s(h, ((OWL_FIRST_S, OWL_LAST_S + 1),), off % h) for off in offsets]
    return make_trips(route, SERVICE_DAILY, starts, weekend=False)

"""Hand-made road networks and synthetic probe traces with ground truth (tests and ``benchmarks/mapmatch.py``).

:func:`drive` sends vehicles along shortest paths between random nodes of a
:class:`streams.traffic.mapmatch.MatchNetwork` at per-link speeds (times a per-vehicle
factor), samples a fix every ``period_s`` with Gaussian GPS noise and drops a share of
them. The truth is each fix's link and offset, and every complete link traversal.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import networkx as nx
import numpy as np

from streams.traffic import mapmatch as mm


def two_way(links: list[tuple[str, str, list]]) -> tuple[list, list, list, list]:
    """Directed link table of two-way roads: ``(a, b, polyline)`` → links ``a>b`` and ``b>a``."""
    ids, starts, ends, lines = [], [], [], []
    for a, b, xy in links:
        for s, e, line in ((a, b, xy), (b, a, xy[::-1])):
            ids.append(f"{s}>{e}")
            starts.append(s)
            ends.append(e)
            lines.append(np.asarray(line, dtype=float))
    return ids, starts, ends, lines


def grid_network(n: int = 4, spacing_m: float = 200.0, **kw) -> mm.MatchNetwork:
    """An ``n`` × ``n`` grid of two-way streets; node ``"i,j"`` at (i·spacing, j·spacing)."""
    roads = []
    for i in range(n):
        for j in range(n):
            if i + 1 < n:
                roads.append((f"{i},{j}", f"{i + 1},{j}", [(i * spacing_m, j * spacing_m), ((i + 1) * spacing_m, j * spacing_m)]))
            if j + 1 < n:
                roads.append((f"{i},{j}", f"{i},{j + 1}", [(i * spacing_m, j * spacing_m), (i * spacing_m, (j + 1) * spacing_m)]))
    return mm.build_network(*two_way(roads), **kw)


@dataclass(frozen=True)
class Trace:
    """Fixes (columns, time order per vehicle) and their truth."""

    vehicle_id: np.ndarray
    ts_s: np.ndarray
    x_m: np.ndarray
    y_m: np.ndarray
    heading_deg: np.ndarray  #: noisy heading (true bearing + noise)
    true_link: np.ndarray
    true_along_m: np.ndarray
    #: complete true traversals
    trav_vehicle: np.ndarray
    trav_link: np.ndarray
    trav_entry_ts: np.ndarray
    trav_exit_ts: np.ndarray


def point_at(net: mm.MatchNetwork, link: int, along_m: float) -> tuple[float, float, float]:
    """(x, y, bearing_deg) at ``along_m`` from the start of ``link``."""
    vert_ptr, vx, vy, valong = net.geo
    lo, hi = vert_ptr[link], vert_ptr[link + 1]
    j = min(max(int(np.searchsorted(valong[lo:hi], along_m, side="right")) - 1, 0), hi - lo - 2) + lo
    span = valong[j + 1] - valong[j]
    t = (along_m - valong[j]) / span if span > 0 else 0.0
    dx, dy = vx[j + 1] - vx[j], vy[j + 1] - vy[j]
    return vx[j] + t * dx, vy[j] + t * dy, math.degrees(math.atan2(dx, dy)) % 360.0


def drive(net: mm.MatchNetwork, speed_kph: np.ndarray, n_vehicles: int, duration_s: float, seed: int = 0,
          period_s: float = 10.0, sigma_m: float = 8.0, drop_share: float = 0.05, heading_sigma_deg: float = 20.0,
          start_ts: float = 1_800_000_000.0, vehicle_factor: float = 0.1) -> Trace:
    """Vehicles driving shortest paths between random nodes at ``speed_kph`` per link.

    Each vehicle's speed on a link is ``speed_kph[link]`` times a factor drawn once per
    vehicle from U(1 - vehicle_factor, 1 + vehicle_factor). Fixes every ``period_s`` from a
    random phase, noise N(0, sigma_m) on each axis, ``drop_share`` of fixes left out.
    """
    rng = np.random.default_rng(seed)
    g = nx.DiGraph()
    for l in range(len(net.link_ids)):
        g.add_edge(int(net.start_node[l]), int(net.end_node[l]), link=l, weight=float(net.length_m[l]))
    nodes = sorted(g.nodes)
    cols = {k: [] for k in ("v", "ts", "x", "y", "h", "link", "along")}
    trav = {k: [] for k in ("v", "link", "t0", "t1")}
    for k in range(n_vehicles):
        vid = f"T{k:04d}"
        factor = rng.uniform(1 - vehicle_factor, 1 + vehicle_factor)
        node = nodes[rng.integers(len(nodes))]
        t = start_ts + rng.uniform(0, period_s)
        legs = []  # (link, t_entry, t_exit)
        came_from = None
        while t < start_ts + duration_s:
            dest = nodes[rng.integers(len(nodes))]
            if dest == node:
                continue
            path = nx.shortest_path(g, node, dest, weight="weight")
            if path[1] == came_from and g.out_degree(node) > 1:
                continue  # no U-turn where the vehicle can go on
            came_from = path[-2]
            for a, b in zip(path[:-1], path[1:]):
                l = g.edges[a, b]["link"]
                dt = net.length_m[l] / (speed_kph[l] * factor / 3.6)
                legs.append((l, t, t + dt))
                t += dt
            node = dest
        t_fix = start_ts + rng.uniform(0, period_s)
        j = 0
        while t_fix < legs[-1][2]:
            while legs[j][2] <= t_fix:
                j += 1
            l, t0, t1 = legs[j]
            if t_fix >= t0 and rng.random() >= drop_share:
                along = net.length_m[l] * (t_fix - t0) / (t1 - t0)
                x, y, bear = point_at(net, l, along)
                for key, val in zip(("v", "ts", "x", "y", "h", "link", "along"),
                                    (vid, t_fix, x + rng.normal(0, sigma_m), y + rng.normal(0, sigma_m),
                                     (bear + rng.normal(0, heading_sigma_deg)) % 360.0, l, along)):
                    cols[key].append(val)
            t_fix += period_s
        for l, t0, t1 in legs:
            trav["v"].append(vid)
            trav["link"].append(l)
            trav["t0"].append(t0)
            trav["t1"].append(t1)
    return Trace(np.array(cols["v"], dtype=object), np.array(cols["ts"]), np.array(cols["x"]), np.array(cols["y"]),
                 np.array(cols["h"]), np.array(cols["link"], dtype=np.int64), np.array(cols["along"]),
                 np.array(trav["v"], dtype=object), np.array(trav["link"], dtype=np.int64), np.array(trav["t0"]),
                 np.array(trav["t1"]))

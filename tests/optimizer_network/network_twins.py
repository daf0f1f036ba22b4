"""Slow, obviously-correct twins of the Numba kernels in ``optimizer._kernels``.

Used only by tests. The end-to-end twin is the textbook transit graph: one vertex per
(node, route), in-vehicle edges along each route, 5-minute transfer edges between the
routes at a node, and a Dijkstra from each origin ordered by (time, transfers).
"""

from __future__ import annotations

import heapq
import math

import numpy as np


def twin_ride_costs(travel_time_min, routes, transfer_min):
    n = travel_time_min.shape[0]
    w = [[0.0 if i == j else math.inf for j in range(n)] for i in range(n)]
    for route in routes:
        for p in range(len(route)):
            for q in range(p + 1, len(route)):
                t = sum(travel_time_min[route[x], route[x + 1]] for x in range(p, q)) + transfer_min
                u, v = route[p], route[q]
                w[u][v] = w[v][u] = min(w[u][v], t)
    return np.array(w)


def twin_shortest_rides(ride_cost):
    """Dijkstra from every node over the complete ride graph, by (cost, rides)."""
    n = ride_cost.shape[0]
    cost = np.full((n, n), np.inf)
    rides = np.zeros((n, n), dtype=np.int64)
    for s in range(n):
        best = {s: (0.0, 0)}
        heap = [(0.0, 0, s)]
        done = set()
        while heap:
            c, k, u = heapq.heappop(heap)
            if u in done:
                continue
            done.add(u)
            for v in range(n):
                if v != u and ride_cost[u, v] < math.inf:
                    cand = (c + ride_cost[u, v], k + 1)
                    if v not in best or cand < best[v]:
                        best[v] = cand
                        heapq.heappush(heap, (cand[0], cand[1], v))
        for v, (c, k) in best.items():
            cost[s, v], rides[s, v] = c, k
    return cost, rides


def twin_journeys(travel_time_min, routes, transfer_min):
    """Journey time and transfers between all node pairs over the transit graph."""
    n = travel_time_min.shape[0]
    at_node = {v: [r for r, route in enumerate(routes) if v in route] for v in range(n)}
    time_min = np.full((n, n), np.inf)
    transfers = np.full((n, n), -1, dtype=np.int64)
    for o in range(n):
        best = {}
        heap = [(0.0, 0, o, r) for r in at_node[o]]
        for item in heap:
            best[(o, item[3])] = (0.0, 0)
        heapq.heapify(heap)
        while heap:
            c, k, v, r = heapq.heappop(heap)
            if best.get((v, r)) != (c, k):
                continue
            route = routes[r]
            p = route.index(v)
            steps = [(route[q], r, c + travel_time_min[v, route[q]], k) for q in (p - 1, p + 1) if 0 <= q < len(route)]
            steps += [(v, r2, c + transfer_min, k + 1) for r2 in at_node[v] if r2 != r]
            for u, r2, c2, k2 in steps:
                if (u, r2) not in best or (c2, k2) < best[(u, r2)]:
                    best[(u, r2)] = (c2, k2)
                    heapq.heappush(heap, (c2, k2, u, r2))
        reached = {o: (0.0, 0)}
        for (v, _), ck in best.items():
            if v not in reached or ck < reached[v]:
                reached[v] = ck
        for v, (c, k) in reached.items():
            time_min[o, v], transfers[o, v] = c, k
    return time_min, transfers


def twin_kpis(time_min, transfers, demand):
    """(ATT over served demand, [d0, d1, d2, dmore, unserved] as trip totals)."""
    n = time_min.shape[0]
    total = served = 0.0
    shares = [0.0] * 5
    for i in range(n):
        for j in range(n):
            if i == j or demand[i, j] == 0:
                continue
            if math.isinf(time_min[i, j]):
                shares[4] += demand[i, j]
                continue
            total += demand[i, j] * time_min[i, j]
            served += demand[i, j]
            shares[min(transfers[i, j], 3)] += demand[i, j]
    return (total / served if served else math.inf), shares


def random_instance(n, seed, *, extra_edges=None):
    """A connected random road network with integer times (ties on purpose) and demand."""
    rng = np.random.default_rng(seed)
    tt = np.full((n, n), np.inf)
    np.fill_diagonal(tt, 0.0)
    for v in range(1, n):  # random spanning tree keeps it connected
        u = int(rng.integers(v))
        tt[u, v] = tt[v, u] = float(rng.integers(1, 6))
    for _ in range(extra_edges if extra_edges is not None else n):
        u, v = map(int, rng.choice(n, 2, replace=False))
        tt[u, v] = tt[v, u] = float(rng.integers(1, 6))
    demand = rng.integers(0, 50, (n, n)).astype(float)
    demand = demand + demand.T
    np.fill_diagonal(demand, 0.0)
    return tt, demand


def random_routes(tt, n_routes, max_nodes, seed):
    """Random simple paths by random walks on the road graph."""
    rng = np.random.default_rng(seed)
    n = tt.shape[0]
    routes = []
    for _ in range(n_routes):
        route = [int(rng.integers(n))]
        target = int(rng.integers(1, max_nodes + 1))
        while len(route) < target:
            options = [v for v in np.flatnonzero(np.isfinite(tt[route[-1]])) if v not in route]
            if not options:
                break
            route.append(int(rng.choice(options)))
        routes.append(route)
    return routes

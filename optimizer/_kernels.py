"""Numba kernels for evaluating transit route sets (Mumford 2013 rules).

A route set is passed flat: ``stops`` (int64, 0-based node ids of every route, one
route after another) and ``offsets`` (int64, length R + 1) so route r is
``stops[offsets[r]:offsets[r + 1]]``. Routes are bidirectional simple paths.

The journey model: a journey is a sequence of rides, each on one route between two of
its stops, costing the in-vehicle time along the route plus ``transfer_min`` for every
ride after the first. So the cheapest journeys are shortest paths over a complete
"ride graph" on the n nodes whose edge (i, j) costs the fastest direct ride i -> j plus
``transfer_min``; subtracting one ``transfer_min`` gives the journey time. This is the
same answer as Dijkstra over the classic transit graph of (node, route) vertices with
5-minute transfer edges (the tests check that against a plain-Python twin), at
O(n^3) per evaluation without building the graph. Ties in time are broken towards
fewer transfers.

Kernels trust their inputs; :mod:`optimizer.evaluate` validates.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def _add_rides(w, travel_time_min, route, transfer_min):
    """Lower ``w`` to every direct ride (+ transfer_min) along one route, in place."""
    m = route.shape[0]
    for p in range(m):
        u = route[p]
        t = 0.0
        for q in range(p + 1, m):
            t += travel_time_min[route[q - 1], route[q]]
            v = route[q]
            c = t + transfer_min
            if c < w[u, v]:
                w[u, v] = c
                w[v, u] = c


@njit(cache=True)
def ride_costs(travel_time_min, stops, offsets, transfer_min):
    """Fastest direct ride between every node pair, plus one transfer penalty.

    Parameters
    ----------
    travel_time_min : (n, n) float64
        Road travel times (minutes); finite between consecutive stops of every route.
    stops, offsets : int64 arrays
        Flat route set (see module docstring).
    transfer_min : float
        Penalty added per ride.

    Returns
    -------
    (n, n) float64
        ``inf`` where no route serves both nodes, 0 on the diagonal.
    """
    n = travel_time_min.shape[0]
    w = np.full((n, n), np.inf)
    for i in range(n):
        w[i, i] = 0.0
    for r in range(offsets.shape[0] - 1):
        _add_rides(w, travel_time_min, stops[offsets[r] : offsets[r + 1]], transfer_min)
    return w


@njit(cache=True)
def shortest_rides(ride_cost):
    """All-pairs cheapest ride sequences, ties broken towards fewer rides.

    Parameters
    ----------
    ride_cost : (n, n) float64
        Output of :func:`ride_costs`.

    Returns
    -------
    cost : (n, n) float64
        Cheapest total of ride costs (journey time + one ``transfer_min``); ``inf`` when
        unreachable, 0 on the diagonal.
    rides : (n, n) int64
        Number of rides of that journey (transfers + 1); 0 on the diagonal and where
        unreachable.
    """
    n = ride_cost.shape[0]
    cost = ride_cost.copy()
    rides = np.zeros((n, n), dtype=np.int64)
    for i in range(n):
        for j in range(n):
            if i != j and cost[i, j] < np.inf:
                rides[i, j] = 1
    for k in range(n):
        for i in range(n):
            cik = cost[i, k]
            if cik == np.inf or i == k:
                continue
            rik = rides[i, k]
            for j in range(n):
                c = cik + cost[k, j]
                if c < cost[i, j]:
                    cost[i, j] = c
                    rides[i, j] = rik + rides[k, j]
                elif c == cost[i, j] and j != k and rik + rides[k, j] < rides[i, j]:
                    rides[i, j] = rik + rides[k, j]
    return cost, rides


@njit(cache=True)
def demand_kpis(cost, rides, demand, transfer_min):
    """Demand-weighted journey time and transfer shares.

    Parameters
    ----------
    cost, rides : arrays from :func:`shortest_rides`
    demand : (n, n) float64
        Trips per ordered pair (diagonal ignored).
    transfer_min : float
        The penalty included once too often in ``cost`` (removed here).

    Returns
    -------
    numpy.ndarray
        float64 ``[total_time, served_demand, d0, d1, d2, d_more, unserved_demand]``:
        sum of demand x journey time over served pairs, their demand, the demand
        served with 0, 1, 2 and more than 2 transfers, and demand with no journey.
    """
    n = cost.shape[0]
    out = np.zeros(7)
    for i in range(n):
        for j in range(n):
            d = demand[i, j]
            if i == j or d == 0.0:
                continue
            if cost[i, j] == np.inf:
                out[6] += d
                continue
            out[0] += d * (cost[i, j] - transfer_min)
            out[1] += d
            transfers = rides[i, j] - 1
            if transfers > 2:
                transfers = 3
            out[2 + transfers] += d
    return out


@njit(cache=True)
def _floyd_cost(cost):
    # min() on 2-D indices lets LLVM vectorise the inner loop (about 2x faster than a branch).
    n = cost.shape[0]
    for k in range(n):
        for i in range(n):
            cik = cost[i, k]
            if cik == np.inf:
                continue
            for j in range(n):
                cost[i, j] = min(cost[i, j], cik + cost[k, j])


@njit(cache=True)
def att_objective(travel_time_min, stops, offsets, demand, transfer_min):
    """Average travel time of a route set, the designer's inner-loop objective.

    Parameters
    ----------
    travel_time_min, stops, offsets, demand, transfer_min
        As for :func:`ride_costs` and :func:`demand_kpis`.

    Returns
    -------
    att_min : float
        Demand-weighted mean journey time over served demand (``inf`` if none).
    unserved : float
        Demand with no journey at all (route set disconnected or a node uncovered).
    """
    cost = ride_costs(travel_time_min, stops, offsets, transfer_min)
    return _att_of_ride_costs(cost, demand, transfer_min)


@njit(cache=True)
def att_objective_padded(travel_time_min, routes, lengths, demand, transfer_min, cost):
    """:func:`att_objective` for a padded route array; keeps the all-pairs matrix.

    Parameters
    ----------
    routes : (R, max_nodes) int64
        Row r holds route r in its first ``lengths[r]`` entries.
    lengths : (R,) int64
    cost : (n, n) float64
        Overwritten with the all-pairs cheapest ride-sequence costs (as from
        :func:`shortest_rides`), the state :func:`att_objective_extended` updates.

    Returns
    -------
    att_min, unserved, uncovered
        As :func:`att_objective`, and the number of nodes on no route.
    """
    n = travel_time_min.shape[0]
    for i in range(n):
        for j in range(n):
            cost[i, j] = np.inf
        cost[i, i] = 0.0
    for r in range(routes.shape[0]):
        _add_rides(cost, travel_time_min, routes[r, : lengths[r]], transfer_min)
    _floyd_cost(cost)
    att, unserved = _att_sum(cost, demand, transfer_min)
    return att, unserved, _uncovered(n, routes, lengths)


@njit(cache=True)
def att_objective_extended(cost, travel_time_min, routes, lengths, r, old_lo, old_hi, demand, transfer_min):
    """Incremental :func:`att_objective_padded` after route ``r`` grew at its ends.

    Route r (row r of ``routes``) must contain its previous version as the contiguous
    run of positions ``old_lo:old_hi``; every other route unchanged. Adding stops only
    adds rides, so journeys can only get cheaper: each new ride (u, v, c) lowers
    ``cost[a, b]`` to ``cost[a, u] + c + cost[v, b]`` where that is cheaper, O(n^2) per
    new ride instead of O(n^3) for a full recomputation.

    Parameters
    ----------
    cost : (n, n) float64
        All-pairs costs of the route set before the change; updated in place.
    travel_time_min, routes, lengths, demand, transfer_min
        As :func:`att_objective_padded`, with route r already in its new form.
    r, old_lo, old_hi : int
        Changed route and where its old stops sit in the new one.

    Returns
    -------
    att_min, unserved, uncovered
        As :func:`att_objective_padded`.
    """
    n = travel_time_min.shape[0]
    m = lengths[r]
    route = routes[r, :m]
    cum = np.zeros(m)
    for p in range(1, m):
        cum[p] = cum[p - 1] + travel_time_min[route[p - 1], route[p]]
    for p in range(m):
        for q in range(p + 1, m):
            if old_lo <= p and q < old_hi:
                continue
            u = route[p]
            v = route[q]
            c = cum[q] - cum[p] + transfer_min
            if c >= cost[u, v]:
                continue
            for a in range(n):
                via_u = cost[a, u] + c
                via_v = cost[a, v] + c
                if via_u == np.inf and via_v == np.inf:
                    continue
                for b in range(n):
                    cost[a, b] = min(cost[a, b], via_u + cost[v, b], via_v + cost[u, b])
    att, unserved = _att_sum(cost, demand, transfer_min)
    return att, unserved, _uncovered(n, routes, lengths)


@njit(cache=True)
def _uncovered(n, routes, lengths):
    covered = np.zeros(n, dtype=np.bool_)
    for r in range(routes.shape[0]):
        for p in range(lengths[r]):
            covered[routes[r, p]] = True
    count = 0
    for i in range(n):
        if not covered[i]:
            count += 1
    return count


@njit(cache=True)
def _att_of_ride_costs(cost, demand, transfer_min):
    _floyd_cost(cost)
    return _att_sum(cost, demand, transfer_min)


@njit(cache=True)
def _att_sum(cost, demand, transfer_min):
    n = cost.shape[0]
    total = 0.0
    served = 0.0
    unserved = 0.0
    for i in range(n):
        for j in range(n):
            d = demand[i, j]
            if i == j or d == 0.0:
                continue
            c = cost[i, j]
            if c == np.inf:
                unserved += d
            else:
                total += d * (c - transfer_min)
                served += d
    if served == 0.0:
        return np.inf, unserved
    return total / served, unserved


def warm_up() -> None:
    """Load (or compile) the designer's kernels on a tiny input, so a timed search
    does not spend its first seconds in Numba."""
    tt = np.array([[0.0, 1.0], [1.0, 0.0]])
    routes = np.array([[0, 1]], dtype=np.int64)
    lengths = np.array([2], dtype=np.int64)
    cost = np.empty((2, 2))
    att_objective_padded(tt, routes, lengths, tt, 5.0, cost)
    att_objective_extended(cost, tt, routes, lengths, 0, 0, 1, tt, 5.0)

"""Candidate routes for network design and the initial route set.

Candidates are road paths (k shortest simple paths, networkx) between node pairs,
preferring pairs with high demand and nodes at the edge of the network; the initial
route set is chosen among them by an OR-Tools CP-SAT set-covering model that picks
``n_routes`` candidates covering every node while serving the most demand directly.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Sequence

import networkx as nx
import numpy as np
from ortools.sat.python import cp_model

from optimizer.evaluate import RouteLimits
from optimizer.instance import Instance, InstanceError

logger = logging.getLogger(__name__)


def road_graph(instance: Instance) -> nx.Graph:
    """Undirected road graph with ``weight`` = travel time in minutes."""
    g = nx.Graph()
    g.add_nodes_from(range(instance.n))
    tt = instance.travel_time_min
    for i, j in zip(*np.nonzero(np.isfinite(tt))):
        if i < j:
            g.add_edge(int(i), int(j), weight=float(tt[i, j]))
    return g


def direct_demand(instance: Instance, route: Sequence[int]) -> float:
    """Trips (both directions) between pairs of stops of one route."""
    idx = np.asarray(route)
    return float(instance.demand[np.ix_(idx, idx)].sum())


def candidate_routes(
    instance: Instance,
    limits: RouteLimits,
    *,
    paths_per_pair: int = 3,
    max_pairs: int = 1500,
) -> list[list[int]]:
    """Road paths usable as routes, best first (by demand served directly per minute).

    Parameters
    ----------
    instance : Instance
        Network and demand.
    limits : RouteLimits
        Node limits; only paths within them are kept.
    paths_per_pair : int
        How many shortest simple paths (Yen's algorithm) per node pair.
    max_pairs : int
        Pairs considered, chosen by demand between and around their end nodes.

    Returns
    -------
    list of list of int
        Distinct 0-based paths (a path and its reverse count once).

    Raises
    ------
    InstanceError
        When no road path meets the node limits.
    """
    g = road_graph(instance)
    hops = dict(nx.all_pairs_shortest_path_length(g))
    node_demand = instance.demand.sum(axis=0) + instance.demand.sum(axis=1)
    degree = np.array([g.degree(v) for v in range(instance.n)])
    pairs = []
    for i, j in itertools.combinations(range(instance.n), 2):
        if hops[i][j] + 1 > limits.max_nodes:
            continue
        leaf_bonus = (degree[i] == 1) + (degree[j] == 1)
        score = instance.demand[i, j] + instance.demand[j, i] + 1e-3 * (node_demand[i] + node_demand[j])
        pairs.append((-(score * (1 + leaf_bonus)), i, j))
    pairs.sort()
    seen: set[tuple[int, ...]] = set()
    found: list[list[int]] = []
    for _, i, j in pairs[:max_pairs]:
        for path in itertools.islice(nx.shortest_simple_paths(g, i, j, weight="weight"), paths_per_pair):
            if len(path) > limits.max_nodes:
                break
            if len(path) < limits.min_nodes:
                path = _extend_to(g, path, limits.min_nodes, node_demand)
                if path is None:
                    continue
            key = tuple(path) if path[0] < path[-1] else tuple(reversed(path))
            if key not in seen:
                seen.add(key)
                found.append(list(key))
    if not found:
        raise InstanceError(
            f"no road path in {instance.name} has between {limits.min_nodes} and "
            f"{limits.max_nodes} nodes; the node limits cannot be met"
        )
    tt = instance.travel_time_min
    value = [direct_demand(instance, p) / max(1.0, sum(tt[a, b] for a, b in zip(p, p[1:]))) for p in found]
    order = np.argsort(-np.asarray(value), kind="stable")
    return [found[k] for k in order]


def _extend_to(g: nx.Graph, path: list[int], n_nodes: int, node_demand: np.ndarray) -> list[int] | None:
    """Grow a path at its ends, busiest free neighbour first, up to ``n_nodes`` stops."""
    path = list(path)
    on_path = set(path)
    while len(path) < n_nodes:
        options = [(-node_demand[v], v, True) for v in g.neighbors(path[-1]) if v not in on_path]
        options += [(-node_demand[v], v, False) for v in g.neighbors(path[0]) if v not in on_path]
        if not options:
            return None
        _, v, at_end = min(options)
        path = path + [v] if at_end else [v] + path
        on_path.add(v)
    return path


def initial_route_set(
    instance: Instance,
    limits: RouteLimits,
    candidates: Sequence[Sequence[int]],
    *,
    seed: int = 0,
    deterministic_time: float = 5.0,
    max_candidates: int = 3000,
) -> list[list[int]]:
    """Pick ``n_routes`` candidates covering every node, serving most demand directly.

    A CP-SAT model: one boolean per candidate, exactly ``n_routes`` chosen, every node
    covered at least once, maximise the demand each chosen route serves on its own
    (integer-scaled). Connectivity is not modelled; the designer repairs it.
    Deterministic for a given seed (single worker, deterministic time limit).

    Returns
    -------
    list of list of int
        The chosen routes; if the model has no solution (candidates cannot cover every
        node), the best-valued candidates instead.
    """
    pool = _coverage_pool(instance, candidates, max_candidates)
    model, chosen = build_cover_model(instance, limits, pool)
    greedy = greedy_cover(instance.n, limits.n_routes, pool)
    for c, var in enumerate(chosen):
        model.add_hint(var, c in greedy)
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 1
    solver.parameters.random_seed = int(seed) % (2**31)
    solver.parameters.max_deterministic_time = float(deterministic_time)
    status = solver.solve(model)
    if status in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return [list(pool[c]) for c, var in enumerate(chosen) if solver.value(var)]
    logger.info("set-cover model: %s; starting from a greedy cover", solver.status_name(status))
    return [list(pool[c]) for c in sorted(greedy)]


def greedy_cover(n_nodes: int, n_routes: int, pool: Sequence[Sequence[int]]) -> set[int]:
    """Indices of ``n_routes`` candidates: most newly covered nodes first, then best-valued."""
    uncovered = set(range(n_nodes))
    chosen: set[int] = set()
    while uncovered and len(chosen) < n_routes:
        gain, c = max((len(uncovered.intersection(p)), -c) for c, p in enumerate(pool) if c not in chosen)
        if gain == 0:
            break
        chosen.add(-c)
        uncovered.difference_update(pool[-c])
    for c in range(len(pool)):
        if len(chosen) >= n_routes:
            break
        chosen.add(c)
    return chosen


def build_cover_model(
    instance: Instance, limits: RouteLimits, pool: Sequence[Sequence[int]]
) -> tuple[cp_model.CpModel, list[cp_model.IntVar]]:
    """The CP-SAT set-covering model of :func:`initial_route_set`."""
    model = cp_model.CpModel()
    chosen = [model.new_bool_var(f"route_{c}") for c in range(len(pool))]
    model.add(sum(chosen) == limits.n_routes)
    covering: list[list[int]] = [[] for _ in range(instance.n)]
    for c, path in enumerate(pool):
        for v in path:
            covering[v].append(c)
    for v, cs in enumerate(covering):
        if cs:
            model.add_bool_or([chosen[c] for c in cs])
    value = [int(round(direct_demand(instance, p))) for p in pool]
    model.maximize(sum(v * x for v, x in zip(value, chosen)))
    return model, chosen


def _coverage_pool(
    instance: Instance, candidates: Sequence[Sequence[int]], max_candidates: int
) -> list[Sequence[int]]:
    pool = list(candidates[:max_candidates])
    covered = {v for p in pool for v in p}
    for path in candidates[max_candidates:]:
        if not covered.issuperset(path):
            pool.append(path)
            covered.update(path)
    return pool

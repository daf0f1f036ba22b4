"""Transit route network design: build a route set that minimises ATT.

Pipeline: candidate road paths (:mod:`optimizer.candidates`) -> an initial set by
CP-SAT set covering -> simulated annealing over route-set moves whose inner loop is the
Numba evaluator (:func:`optimizer._kernels.att_objective_padded`). Only the changed
route is rewritten between evaluations.

Moves: grow or trim a route end, insert / remove / replace an interior stop where
roads allow, extend an end along a road shortest path, exchange the tails of two
routes at a shared stop, and replace a whole route by a candidate path.
Infeasible states (uncovered nodes, disconnected set) are allowed during the search
with a large penalty; only feasible states are kept as the best.

Seeded and deterministic: the same seed and ``max_iterations`` give the same route set
when the iteration budget, not the clock, ends the search. Anytime: the best feasible
set found so far is returned when ``seconds`` run out.
"""

from __future__ import annotations

import logging
import math
import random
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import networkx as nx
import numpy as np
from tqdm import tqdm

from optimizer import _kernels
from optimizer.candidates import candidate_routes, initial_route_set, road_graph
from optimizer.evaluate import Evaluation, RouteLimits, evaluate, feasibility_violations
from optimizer.instance import TRANSFER_PENALTY_MIN, Instance, InstanceError, check_limits

logger = logging.getLogger(__name__)

#: objective penalty per uncovered node and per unit share of unserved demand.
_INFEASIBLE_PENALTY = 1000.0


@dataclass(frozen=True)
class DesignResult:
    """Outcome of :func:`design_network`."""

    routes: list[list[int]]
    evaluation: Evaluation
    initial_routes: list[list[int]]
    initial_evaluation: Evaluation
    iterations: int
    elapsed_s: float
    #: (elapsed_s, iteration, best_att_min) each time the best feasible set improved.
    trace: tuple[tuple[float, int, float], ...]


def design_network(
    instance: Instance,
    limits: RouteLimits,
    *,
    seconds: float = 60.0,
    seed: int = 0,
    max_iterations: int | None = None,
    initial: Sequence[Sequence[int]] | None = None,
    progress: bool | None = None,
    on_improve: Callable[[float, list[list[int]]], None] | None = None,
) -> DesignResult:
    """Design a route set minimising average travel time (ATT) under Mumford's rules.

    Parameters
    ----------
    instance : Instance
        Network and demand.
    limits : RouteLimits
        Number of routes and node limits per route.
    seconds : float
        Wall-clock budget, including candidate generation and the initial set (not
        the one-off loading of the Numba kernels).
    seed : int
        Random seed.
    max_iterations : int, optional
        Annealing iterations; when given, the cooling schedule follows iterations (not
        the clock), which makes the result reproducible if the clock does not end it.
    initial : sequence of routes, optional
        Start from this route set (0-based) instead of the set-covering one.
    progress : bool, optional
        Show a tqdm bar with the best ATT; default: only when stderr is a terminal.
    on_improve : callable, optional
        Called with ``(att_min, routes)`` whenever the best feasible set improves.

    Returns
    -------
    DesignResult
        Best feasible route set found (or the least infeasible if none was feasible).

    Raises
    ------
    optimizer.instance.InstanceError
        If the limits cannot be met.
    """
    _kernels.warm_up()  # one-off JIT/cache loading is not part of the search budget
    started = time.perf_counter()
    check_limits(instance, limits.n_routes, limits.min_nodes, limits.max_nodes)
    pool = candidate_routes(instance, limits)
    if initial is None:
        routes = initial_route_set(instance, limits, pool, seed=seed, deterministic_time=min(5.0, seconds / 10))
        routes = _pad_route_count(routes, pool, limits.n_routes)
    else:
        routes = [list(r) for r in initial]
        broken = [v for v in feasibility_violations(instance, routes, limits) if "covered" not in v and "connected" not in v]
        if broken:
            raise InstanceError("initial route set: " + "; ".join(broken))
    initial_routes = [list(r) for r in routes]
    search = _Search(instance, limits, pool, routes, random.Random(seed))
    show = sys.stderr.isatty() if progress is None else progress
    deadline = started + seconds
    bar = tqdm(total=round(seconds), unit="s", disable=not show, desc="designing", leave=False)
    iteration = 0
    trace: list[tuple[float, int, float]] = []
    last_tick = now = started
    try:
        while max_iterations is None or iteration < max_iterations:
            if iteration % 16 == 0:  # reading the clock every move costs more than a Mandl move
                now = time.perf_counter()
                if now >= deadline:
                    break
                if now - last_tick >= 0.5:
                    bar.update(min(round(now - started), bar.total) - bar.n)
                    bar.set_postfix(best_att=f"{search.best_f:.4f}", it=iteration, refresh=False)
                    last_tick = now
            if max_iterations is not None:
                fraction = iteration / max_iterations
            else:
                fraction = (now - started) / seconds
            improved = search.step(fraction)
            iteration += 1
            if improved:
                elapsed = time.perf_counter() - started
                trace.append((elapsed, iteration, search.best_f))
                if on_improve is not None:
                    on_improve(search.best_f, search.best_routes())
    finally:
        bar.close()
    best = search.best_routes()
    elapsed = time.perf_counter() - started
    logger.info("designed %s: ATT %.4f after %d iterations in %.1f s", instance.name, search.best_f, iteration, elapsed)
    return DesignResult(
        routes=best,
        evaluation=evaluate(instance, best, limits),
        initial_routes=initial_routes,
        initial_evaluation=evaluate(instance, initial_routes, limits),
        iterations=iteration,
        elapsed_s=elapsed,
        trace=tuple(trace),
    )


def _pad_route_count(routes: list[list[int]], pool: Sequence[Sequence[int]], n_routes: int) -> list[list[int]]:
    routes = routes[:n_routes]
    k = 0
    while len(routes) < n_routes:
        routes.append(list(pool[k % len(pool)]))
        k += 1
    return routes


def _grown_at_ends(old: dict[int, list[int]], new: dict[int, list[int]]) -> tuple[int, int, int] | None:
    """``(r, old_lo, old_hi)`` if one route changed and only by gaining end stops."""
    if len(new) != 1:
        return None
    (r, route), = new.items()
    before = old[r]
    k = len(route) - len(before)
    if k <= 0:
        return None
    for lo in (0, k):
        if route[lo : lo + len(before)] == before:
            return r, lo, lo + len(before)
    return None


class _Search:
    """Simulated-annealing state over a padded route array (one row per route)."""

    def __init__(self, instance, limits, pool, routes, rng):
        self.inst = instance
        self.limits = limits
        self.pool = [list(p) for p in pool]
        self.rng = rng
        n = instance.n
        self.tt = np.ascontiguousarray(instance.travel_time_min)
        self.demand = np.ascontiguousarray(instance.demand)
        self.total_demand = float(self.demand.sum()) or 1.0
        self.road = np.isfinite(self.tt) & ~np.eye(n, dtype=bool)
        self.nbrs = [list(map(int, np.flatnonzero(self.road[v]))) for v in range(n)]
        self.routes = [list(map(int, r)) for r in routes]
        self.padded = np.zeros((limits.n_routes, limits.max_nodes), dtype=np.int64)
        self.lengths = np.zeros(limits.n_routes, dtype=np.int64)
        for r, route in enumerate(self.routes):
            self._write(r, route)
        self.paths = dict(nx.all_pairs_dijkstra_path(road_graph(instance), weight="weight"))
        self.cost = np.empty((n, n))
        self.trial = np.empty((n, n))
        self.cur_f, self.cur_feasible = self._objective()
        self.cost, self.trial = self.trial, self.cost
        self.best_f = self.cur_f if self.cur_feasible else math.inf
        self.best = [list(r) for r in self.routes]
        self.best_any_f = self.cur_f
        self.since_best = 0
        self.moves = [
            self._grow, self._grow, self._trim, self._insert, self._remove,
            self._swap_stop, self._extend_path, self._exchange, self._replace,
        ]

    def best_routes(self) -> list[list[int]]:
        return [list(r) for r in self.best]

    def _write(self, r: int, route: list[int]) -> None:
        self.padded[r, : len(route)] = route
        self.lengths[r] = len(route)

    def _objective(self, grown: tuple[int, int, int] | None = None) -> tuple[float, bool]:
        """Objective of the route set in ``padded``; all-pairs costs go to ``trial``.

        ``grown = (r, old_lo, old_hi)`` says route r only gained stops at its ends, so
        the current costs can be updated incrementally instead of recomputed.
        """
        if grown is None:
            att, unserved, uncovered = _kernels.att_objective_padded(
                self.tt, self.padded, self.lengths, self.demand, TRANSFER_PENALTY_MIN, self.trial
            )
        else:
            np.copyto(self.trial, self.cost)
            att, unserved, uncovered = _kernels.att_objective_extended(
                self.trial, self.tt, self.padded, self.lengths, *grown, self.demand, TRANSFER_PENALTY_MIN
            )
        feasible = uncovered == 0 and unserved == 0.0
        if math.isinf(att):
            att = 1e3
        return att + _INFEASIBLE_PENALTY * (uncovered + unserved / self.total_demand), feasible

    def step(self, fraction: float) -> bool:
        """One annealing move; True when it improved the best feasible set."""
        change = self.rng.choice(self.moves)()
        if not change:
            return False
        old = {r: self.routes[r] for r in change}
        for r, route in change.items():
            self._write(r, route)
        f, feasible = self._objective(_grown_at_ends(old, change))
        temperature = self.cur_f * 0.003 * (0.01 ** fraction) if self.cur_feasible else 1.0
        delta = f - self.cur_f
        if delta <= 0 or self.rng.random() < math.exp(-delta / temperature):
            for r, route in change.items():
                self.routes[r] = route
            self.cost, self.trial = self.trial, self.cost
            self.cur_f, self.cur_feasible = f, feasible
            if feasible and f < self.best_f - 1e-12:
                self.best_f = f
                self.best = [list(x) for x in self.routes]
                self.since_best = 0
                return True
            if math.isinf(self.best_f) and f < self.best_any_f:
                self.best_any_f = f  # nothing feasible yet: keep the least infeasible
                self.best = [list(x) for x in self.routes]
        else:
            for r, route in old.items():
                self._write(r, route)
        self.since_best += 1
        if self.since_best > 20000 and self.best_f < math.inf:
            self._restore_best()
        return False

    def _restore_best(self) -> None:
        self.routes = [list(r) for r in self.best]
        for r, route in enumerate(self.routes):
            self._write(r, route)
        self.cur_f, self.cur_feasible = self._objective()
        self.cost, self.trial = self.trial, self.cost
        self.since_best = 0

    # ---- moves: each returns {route index: new route} or None --------------------
    def _pick(self) -> tuple[int, list[int]]:
        r = self.rng.randrange(len(self.routes))
        return r, self.routes[r]

    def _grow(self):
        r, route = self._pick()
        if len(route) >= self.limits.max_nodes:
            return None
        at_end = self.rng.random() < 0.5
        end = route[-1] if at_end else route[0]
        options = [v for v in self.nbrs[end] if v not in route]
        if not options:
            return None
        v = self.rng.choice(options)
        return {r: route + [v] if at_end else [v] + route}

    def _trim(self):
        r, route = self._pick()
        if len(route) <= self.limits.min_nodes:
            return None
        return {r: route[:-1] if self.rng.random() < 0.5 else route[1:]}

    def _insert(self):
        r, route = self._pick()
        if len(route) >= self.limits.max_nodes:
            return None
        p = self.rng.randrange(len(route) - 1)
        a, b = route[p], route[p + 1]
        options = [v for v in self.nbrs[a] if self.road[v, b] and v not in route]
        if not options:
            return None
        return {r: route[: p + 1] + [self.rng.choice(options)] + route[p + 1 :]}

    def _remove(self):
        r, route = self._pick()
        if len(route) <= max(self.limits.min_nodes, 2) or len(route) < 3:
            return None
        p = self.rng.randrange(1, len(route) - 1)
        if not self.road[route[p - 1], route[p + 1]]:
            return None
        return {r: route[:p] + route[p + 1 :]}

    def _swap_stop(self):
        r, route = self._pick()
        p = self.rng.randrange(len(route))
        before = route[p - 1] if p > 0 else -1
        after = route[p + 1] if p + 1 < len(route) else -1
        anchor = before if before >= 0 else after
        options = [
            v for v in self.nbrs[anchor]
            if v not in route and (before < 0 or self.road[before, v]) and (after < 0 or self.road[v, after])
        ]
        if not options:
            return None
        new = list(route)
        new[p] = self.rng.choice(options)
        return {r: new}

    def _extend_path(self):
        r, route = self._pick()
        room = self.limits.max_nodes - len(route)
        if room <= 0:
            return None
        at_end = self.rng.random() < 0.5
        end = route[-1] if at_end else route[0]
        target = self.rng.randrange(self.inst.n)
        path = self.paths[end].get(target, [])[1:]
        extra = []
        for v in path:
            if v in route or len(extra) >= room:
                break
            extra.append(v)
        if not extra:
            return None
        return {r: route + extra if at_end else extra[::-1] + route}

    def _exchange(self):
        r1, a = self._pick()
        r2 = self.rng.randrange(len(self.routes))
        b = self.routes[r2]
        if r1 == r2:
            return None
        shared = [v for v in a if v in set(b)]
        if not shared:
            return None
        v = self.rng.choice(shared)
        i, j = a.index(v), b.index(v)
        if self.rng.random() < 0.5:
            b = b[::-1]
            j = len(b) - 1 - j
        new_a, new_b = a[:i] + b[j:], b[:j] + a[i:]
        lo, hi = self.limits.min_nodes, self.limits.max_nodes
        for route in (new_a, new_b):
            if not lo <= len(route) <= hi or len(set(route)) != len(route):
                return None
        return {r1: new_a, r2: new_b}

    def _replace(self):
        r, old = self._pick()
        # bias towards the best-valued candidates without excluding the rest
        k = int(len(self.pool) * self.rng.random() ** 2)
        route = list(self.pool[k])
        # candidates are short (demand per minute ranks them); grow the new route to the
        # old one's length at random ends so a long route is not swapped for a stub
        while len(route) < len(old):
            at_end = self.rng.random() < 0.5
            options = [v for v in self.nbrs[route[-1] if at_end else route[0]] if v not in route]
            if not options:
                at_end = not at_end
                options = [v for v in self.nbrs[route[-1] if at_end else route[0]] if v not in route]
                if not options:
                    break
            v = self.rng.choice(options)
            route = route + [v] if at_end else [v] + route
        return {r: route}

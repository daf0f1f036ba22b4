"""Evaluate a transit route set under the Mumford (2013) rules.

ATT is the demand-weighted mean over origin-destination trips of the shortest
in-vehicle time plus 5 minutes per transfer (no waiting time); TRT is the sum of the
one-way times of the routes; d0/d1/d2/dun are the percentages of demand served with
0, 1, 2 and more than 2 transfers. Demand with no journey at all (only possible for an
infeasible, disconnected set) is counted in dun and left out of ATT.

Route sets are lists of routes; a route is a sequence of 0-based node ids. Files use
the published format: one route per line, space-separated 1-based node ids.

Examples
--------
>>> from optimizer.instance import load_instance
>>> from optimizer.evaluate import evaluate, read_routes
>>> inst = load_instance("../shared/data/trndp/mumford_format/Mandl")  # doctest: +SKIP
>>> evaluate(inst, read_routes("mandl6.txt"), RouteLimits(6, 2, 8)).att_min  # doctest: +SKIP
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from optimizer import _kernels
from optimizer.instance import TRANSFER_PENALTY_MIN, Instance, InstanceError

logger = logging.getLogger(__name__)

Route = Sequence[int]


@dataclass(frozen=True)
class RouteLimits:
    """Constraints on a route set: how many routes and how many nodes per route."""

    n_routes: int
    min_nodes: int
    max_nodes: int


@dataclass(frozen=True)
class Evaluation:
    """KPIs of a route set (times in minutes, shares in percent of total demand)."""

    att_min: float
    trt_min: float
    d0_pct: float
    d1_pct: float
    d2_pct: float
    dun_pct: float
    #: share of demand with no journey at all (included in ``dun_pct``).
    unserved_pct: float
    #: human-readable constraint violations; empty when feasible.
    violations: tuple[str, ...] = field(default=())

    @property
    def feasible(self) -> bool:
        """True when the route set meets every constraint."""
        return not self.violations

    def summary(self) -> str:
        """One line of KPIs as printed by the CLI."""
        state = "feasible" if self.feasible else "INFEASIBLE"
        return (
            f"ATT {self.att_min:.4f} min  TRT {self.trt_min:.0f} min  d0 {self.d0_pct:.2f}%  "
            f"d1 {self.d1_pct:.2f}%  d2 {self.d2_pct:.2f}%  dun {self.dun_pct:.2f}%  {state}"
        )


def flatten_routes(routes: Sequence[Route]) -> tuple[np.ndarray, np.ndarray]:
    """Pack routes into the ``(stops, offsets)`` int64 arrays the kernels take."""
    lengths = [len(r) for r in routes]
    offsets = np.zeros(len(routes) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum(lengths)
    stops = np.fromiter((v for r in routes for v in r), dtype=np.int64, count=int(offsets[-1]))
    return stops, offsets


def route_time_min(instance: Instance, route: Route) -> float:
    """One-way travel time of a route in minutes (``inf`` if two stops lack a road)."""
    tt = instance.travel_time_min
    return float(sum(tt[a, b] for a, b in zip(route[:-1], route[1:])))


def feasibility_violations(
    instance: Instance, routes: Sequence[Route], limits: RouteLimits | None = None
) -> list[str]:
    """Every constraint the route set breaks, as messages with 1-based node ids.

    Checks node ids in range, simple paths, consecutive stops linked by a road, node
    limits and route count (when ``limits`` is given), every node covered and the
    route set connected.
    """
    n = instance.n
    problems: list[str] = []
    if limits is not None and len(routes) != limits.n_routes:
        problems.append(f"{len(routes)} routes, expected {limits.n_routes}")
    for r, route in enumerate(routes, start=1):
        bad = [v for v in route if not 0 <= v < n]
        if bad:
            problems.append(f"route {r}: node ids {[v + 1 for v in bad]} outside 1..{n}")
            continue
        if len(set(route)) != len(route):
            problems.append(f"route {r}: not a simple path (repeats a node)")
        if limits is not None and not limits.min_nodes <= len(route) <= limits.max_nodes:
            problems.append(
                f"route {r}: {len(route)} nodes, outside {limits.min_nodes}..{limits.max_nodes}"
            )
        for a, b in zip(route[:-1], route[1:]):
            if not np.isfinite(instance.travel_time_min[a, b]) or a == b:
                problems.append(f"route {r}: no road between consecutive nodes {a + 1} and {b + 1}")
    valid = [[v for v in route if 0 <= v < n] for route in routes]
    covered = {v for route in valid for v in route}
    missing = sorted(set(range(n)) - covered)
    if missing:
        problems.append(f"nodes not covered by any route: {[v + 1 for v in missing]}")
    if valid and not _routes_connected(valid):
        problems.append("route set is not connected (some routes share no path of transfers)")
    return problems


def evaluate(
    instance: Instance,
    routes: Sequence[Route],
    limits: RouteLimits | None = None,
    *,
    transfer_min: float = TRANSFER_PENALTY_MIN,
) -> Evaluation:
    """ATT, TRT, d-values and feasibility of a route set.

    Parameters
    ----------
    instance : Instance
        Network and demand.
    routes : sequence of sequences of int
        0-based node ids per route.
    limits : RouteLimits, optional
        Route count and node limits to check; without it only structural constraints
        (coverage, connectivity, simple paths, roads) are checked.
    transfer_min : float
        Minutes per transfer (5 under the published rules).

    Returns
    -------
    Evaluation
        Travel-time KPIs cover only structurally usable routes: when a route breaks a
        road or node-id rule the KPIs are ``nan`` and ``violations`` says why.
    """
    violations = tuple(feasibility_violations(instance, routes, limits))
    if any("outside 1.." in v or "no road" in v or "simple path" in v for v in violations):
        nan = float("nan")
        return Evaluation(nan, nan, nan, nan, nan, nan, nan, violations)
    cost, rides = _ride_matrices(instance, routes, transfer_min)
    k = _kernels.demand_kpis(cost, rides, instance.demand, transfer_min)
    total_demand = k[1] + k[6]
    pct = 100.0 / total_demand if total_demand > 0 else 0.0
    att = k[0] / k[1] if k[1] > 0 else (0.0 if total_demand == 0 else float("inf"))
    trt = sum(route_time_min(instance, r) for r in routes)
    return Evaluation(
        att_min=float(att),
        trt_min=float(trt),
        d0_pct=float(k[2] * pct),
        d1_pct=float(k[3] * pct),
        d2_pct=float(k[4] * pct),
        dun_pct=float((k[5] + k[6]) * pct),
        unserved_pct=float(k[6] * pct),
        violations=violations,
    )


def journey_matrices(
    instance: Instance, routes: Sequence[Route], *, transfer_min: float = TRANSFER_PENALTY_MIN
) -> tuple[np.ndarray, np.ndarray]:
    """Journey time (minutes, incl. transfer penalties) and transfers between all node pairs.

    Returns
    -------
    time_min : (n, n) float64
        ``inf`` where no journey exists, 0 on the diagonal.
    transfers : (n, n) int64
        Transfers of that journey; -1 where no journey exists.
    """
    cost, rides = _ride_matrices(instance, routes, transfer_min)
    time_min = cost - transfer_min
    np.fill_diagonal(time_min, 0.0)
    transfers = np.where(np.isfinite(cost), rides - 1, -1)
    np.fill_diagonal(transfers, 0)
    return time_min, transfers


def _ride_matrices(
    instance: Instance, routes: Sequence[Route], transfer_min: float
) -> tuple[np.ndarray, np.ndarray]:
    stops, offsets = flatten_routes(routes)
    w = _kernels.ride_costs(instance.travel_time_min, stops, offsets, float(transfer_min))
    return _kernels.shortest_rides(w)


def att_lower_bound(instance: Instance) -> float:
    """Lower bound on ATT: demand-weighted shortest road time, no transfers (Mumford 2013).

    Returns
    -------
    float
        Minutes; 0 when there is no demand.
    """
    n = instance.n
    one_route_per_road = [[i, j] for i in range(n) for j in range(i + 1, n)
                          if np.isfinite(instance.travel_time_min[i, j])]
    # every road link a route and no transfer penalty: journeys follow shortest road paths
    stops, offsets = flatten_routes(one_route_per_road)
    att, _ = _kernels.att_objective(instance.travel_time_min, stops, offsets, instance.demand, 0.0)
    return float(att) if instance.demand.sum() > 0 else 0.0


def read_routes(path: str | Path) -> list[list[int]]:
    """Read a route file (one route per line, 1-based node ids) as 0-based lists.

    Blank lines and lines starting with ``#`` are skipped; ``-`` or ``,`` may separate ids.
    """
    routes = []
    for lineno, line in enumerate(Path(path).read_text().splitlines(), start=1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        try:
            routes.append([int(tok) - 1 for tok in text.replace("-", " ").replace(",", " ").split()])
        except ValueError:
            raise InstanceError(f"{path}:{lineno}: route must be whitespace-separated node ids") from None
    if not routes:
        raise InstanceError(f"{path}: no routes found")
    return routes


def format_routes(routes: Sequence[Route]) -> str:
    """Routes in the published format: one per line, space-separated 1-based ids."""
    return "".join(" ".join(str(v + 1) for v in route) + "\n" for route in routes)


def _routes_connected(routes: Sequence[Route]) -> bool:
    parent = list(range(len(routes)))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    first_route_at: dict[int, int] = {}
    for r, route in enumerate(routes):
        for v in route:
            if v in first_route_at:
                parent[find(r)] = find(first_route_at[v])
            else:
                first_route_at[v] = r
    return len({find(r) for r in range(len(routes))}) == 1

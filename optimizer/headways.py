"""Headway allocation: share a fleet across routes to cut waiting and crowding.

Problem
-------
Route ``r`` has a cycle (round-trip) time ``c_r`` minutes, ``B_r`` boardings per
hour and a peak link load ``P_r`` passengers per hour. With ``n_r`` whole buses
its headway is ``h_r = c_r / n_r`` minutes (so ``n_r = ceil(c_r / h_r)`` is the
least fleet that runs headway ``h_r``), and the hourly cost is

    cost_r(n) = B_r * h_r / 2                         (passenger-min of waiting)
              + w * max(0, P_r - K * 60 * n / c_r)     (riders over capacity K)

minimised subject to ``sum n_r <= fleet`` and the policy bounds
``min_headway_min <= h_r <= max_headway_min``, i.e.
``ceil(c_r / max_h) <= n_r <= floor(c_r / min_h)``.

Why greedy is exact
-------------------
Both terms are convex in ``n`` (``1/n`` is convex for ``n > 0``; the excess is
the maximum of two affine functions), so each ``cost_r`` has non-increasing
marginal gains ``g_r(n) = cost_r(n) - cost_r(n + 1)``. Start every route at its
lower bound and repeatedly give one bus to the route with the largest positive
marginal gain. For separable convex costs under a single "sum <= fleet"
constraint this is exact (Gross 1956; Ibaraki & Katoh 1988, *Resource
Allocation Problems*, ch. 4): the result takes the ``F`` largest gains among all
routes' gain sequences, and because every sequence is non-increasing, any
feasible allocation's gains are a subset of those sequences whose sum is at most
the sum of the ``F`` largest - which is exactly the greedy total.

Without crowding and bounds the continuous optimum (Lagrange:
``B_r c_r / (2 n_r^2) = lambda``) is ``n_r proportional to sqrt(B_r c_r)``,
i.e. frequency ``n_r / c_r proportional to sqrt(B_r / c_r)`` - the square-root
rule used as the test oracle. The greedy is then the Huntington-Hill
apportionment of the fleet with weights ``sqrt(B_r c_r)``.

``build_model``/``solve``/``extract`` give the same answer with CP-SAT on
integer-scaled costs, for cross-checking (``benchmarks/headways_speed.py``).
"""

from __future__ import annotations

import heapq
import logging
import math
from dataclasses import dataclass

import numpy as np

log = logging.getLogger(__name__)

#: integer scale of CP-SAT costs: centi-passenger-minutes.
COST_SCALE = 100


class InfeasibleFleet(ValueError):
    """The policy bounds cannot be met with the given fleet."""


@dataclass(frozen=True)
class HeadwayProblem:
    """Inputs of a headway allocation (one entry per route).

    Attributes
    ----------
    route_ids : list of str
    boardings_per_h : ndarray, float, shape (R,)
    cycle_time_min : ndarray, float, shape (R,), round-trip time incl. layover.
    fleet : int, buses available.
    min_headway_min, max_headway_min : float, policy bounds.
    peak_load_per_h : ndarray, float, shape (R,), max link load; zeros = no
        crowding term.
    capacity_per_bus : float, passengers (seats + standing).
    crowding_weight_min : float, cost in minutes per passenger over capacity.
    """

    route_ids: list[str]
    boardings_per_h: np.ndarray
    cycle_time_min: np.ndarray
    fleet: int
    min_headway_min: float = 3.0
    max_headway_min: float = 30.0
    peak_load_per_h: np.ndarray | None = None
    capacity_per_bus: float = 60.0
    crowding_weight_min: float = 10.0


@dataclass(frozen=True)
class HeadwayPlan:
    """Result: whole buses and headways per route."""

    route_ids: list[str]
    buses: np.ndarray  #: int, shape (R,)
    headway_min: np.ndarray  #: float, cycle_time_min / buses
    waiting_pax_min_per_h: float  #: sum of B_r * h_r / 2
    excess_pax_per_h: float  #: riders over capacity, summed over routes
    cost: float  #: objective, passenger-minutes per hour


def validate(problem: HeadwayProblem) -> tuple[np.ndarray, np.ndarray]:
    """Check a problem and return the per-route bus bounds ``(lo, hi)``.

    Raises
    ------
    ValueError
        On negative or mismatched inputs.
    InfeasibleFleet
        When the fleet cannot give every route its maximum headway, or the
        bounds are contradictory for a route.
    """
    b = np.asarray(problem.boardings_per_h, dtype=float)
    c = np.asarray(problem.cycle_time_min, dtype=float)
    if b.shape != c.shape or b.ndim != 1 or len(problem.route_ids) != b.size:
        raise ValueError("route_ids, boardings_per_h and cycle_time_min must have one entry per route")
    if not np.all(np.isfinite(b)) or np.any(b < 0):
        raise ValueError("boardings_per_h must be finite and >= 0")
    if not np.all(np.isfinite(c)) or np.any(c <= 0):
        raise ValueError("cycle_time_min must be finite and > 0")
    if not 0 < problem.min_headway_min <= problem.max_headway_min:
        raise ValueError("need 0 < min_headway_min <= max_headway_min")
    if problem.peak_load_per_h is not None and np.shape(problem.peak_load_per_h) != b.shape:
        raise ValueError("peak_load_per_h must have one entry per route")
    lo = np.maximum(1, np.ceil(c / problem.max_headway_min - 1e-9)).astype(np.int64)
    hi = np.floor(c / problem.min_headway_min + 1e-9).astype(np.int64)
    bad = np.flatnonzero(hi < lo)
    if bad.size:
        r = bad[0]
        raise InfeasibleFleet(
            f"route {problem.route_ids[r]}: cycle {c[r]:g} min admits no whole number of buses "
            f"with headway in [{problem.min_headway_min:g}, {problem.max_headway_min:g}] min"
        )
    if lo.sum() > problem.fleet:
        raise InfeasibleFleet(
            f"fleet {problem.fleet} is too small: running every route at the maximum headway "
            f"{problem.max_headway_min:g} min needs {int(lo.sum())} buses"
        )
    return lo, hi


def route_cost(problem: HeadwayProblem, r: int, n: int) -> float:
    """Hourly cost of route ``r`` run with ``n`` buses (passenger-minutes)."""
    c = float(problem.cycle_time_min[r])
    cost = float(problem.boardings_per_h[r]) * c / n / 2.0
    if problem.peak_load_per_h is not None:
        supply = problem.capacity_per_bus * 60.0 * n / c
        cost += problem.crowding_weight_min * max(0.0, float(problem.peak_load_per_h[r]) - supply)
    return cost


def allocate(problem: HeadwayProblem) -> HeadwayPlan:
    """Exact integer allocation by marginal gains (see module docstring).

    Parameters
    ----------
    problem : HeadwayProblem

    Returns
    -------
    HeadwayPlan
        Buses and headways per route. Spare buses are left unused once no
        route gains from one more (e.g. all at the minimum headway).

    Raises
    ------
    InfeasibleFleet
        If the fleet cannot meet the maximum-headway policy.
    """
    lo, hi = validate(problem)
    buses = allocate_convex(lambda r, n: route_cost(problem, r, n), lo, hi, problem.fleet)
    return summarise(problem, buses)


def allocate_convex(cost, lo: np.ndarray, hi: np.ndarray, budget: int) -> np.ndarray:
    """Minimise ``sum_r cost(r, n_r)`` s.t. ``sum n_r <= budget``, ``lo <= n <= hi``, each
    ``cost(r, .)`` convex: greedy on marginal gains from ``lo`` (exact, see module docstring).

    Parameters
    ----------
    cost : callable (r, n) -> float
    lo, hi : ndarray of int, bounds per item; ``lo.sum() <= budget`` is the caller's check.
    budget : int

    Returns
    -------
    ndarray of int64, units per item; units with no positive gain are left unspent.
    """
    units = np.asarray(lo, dtype=np.int64).copy()
    hi = np.asarray(hi, dtype=np.int64)
    heap = [(-(cost(r, units[r]) - cost(r, units[r] + 1)), r) for r in range(units.size) if units[r] < hi[r]]
    heapq.heapify(heap)
    spare = budget - int(units.sum())
    while spare > 0 and heap:
        neg_gain, r = heapq.heappop(heap)
        if -neg_gain <= 1e-12:
            break
        units[r] += 1
        spare -= 1
        if units[r] < hi[r]:
            heapq.heappush(heap, (-(cost(r, units[r]) - cost(r, units[r] + 1)), r))
    return units


def summarise(problem: HeadwayProblem, buses: np.ndarray) -> HeadwayPlan:
    """Build a :class:`HeadwayPlan` (headways, waiting, excess) from buses per route."""
    buses = np.asarray(buses, dtype=np.int64)
    c = np.asarray(problem.cycle_time_min, dtype=float)
    headway = c / buses
    waiting = float(np.sum(np.asarray(problem.boardings_per_h, dtype=float) * headway / 2.0))
    excess = 0.0
    if problem.peak_load_per_h is not None:
        supply = problem.capacity_per_bus * 60.0 / headway
        excess = float(np.sum(np.maximum(0.0, np.asarray(problem.peak_load_per_h, dtype=float) - supply)))
    cost = sum(route_cost(problem, r, int(buses[r])) for r in range(buses.size))
    return HeadwayPlan(list(problem.route_ids), buses, headway, waiting, excess, float(cost))


def continuous_buses(problem: HeadwayProblem) -> np.ndarray:
    """Continuous optimum without bounds or crowding: ``n_r = F sqrt(B_r c_r) / sum``.

    Equivalently frequency ``n_r / c_r`` is proportional to ``sqrt(B_r / c_r)``.
    Routes with no boardings get 0.
    """
    weight = np.sqrt(np.asarray(problem.boardings_per_h, dtype=float) * np.asarray(problem.cycle_time_min, dtype=float))
    total = weight.sum()
    if total <= 0:
        return np.zeros_like(weight)
    return problem.fleet * weight / total


# --- CP-SAT formulation, for cross-checking ------------------------------------------


@dataclass
class HeadwayModel:
    """A CP-SAT model and its bus variables."""

    model: object
    buses: list
    problem: HeadwayProblem
    status: str = "UNSOLVED"  #: CP-SAT status name after :func:`solve`


def build_model(problem: HeadwayProblem) -> HeadwayModel:
    """CP-SAT model: one integer bus count per route, cost by table lookup.

    Costs are tabulated for every admissible bus count and scaled to integers
    (``COST_SCALE`` per passenger-minute) and modelled as the maximum of their
    secants (exact for convex tables; rounding can add at most a unit).
    """
    from ortools.sat.python import cp_model

    lo, hi = validate(problem)
    model = cp_model.CpModel()
    buses, costs = [], []
    for r in range(lo.size):
        n = model.new_int_var(int(lo[r]), int(hi[r]), f"n_{r}")
        table = [int(round(COST_SCALE * route_cost(problem, r, k))) for k in range(int(lo[r]), int(hi[r]) + 1)]
        cost = model.new_int_var(min(table), max(table) + len(table), f"cost_{r}")  # slack: rounding
        # the cost is convex in n, so it is the maximum of its secants: minimising
        # ``cost`` above all of them gives the table value at every integer n and a
        # tight LP relaxation (an element constraint alone leaves it loose)
        for k in range(len(table) - 1):
            model.add(cost >= table[k] + (table[k + 1] - table[k]) * (n - int(lo[r]) - k))
        buses.append(n)
        costs.append(cost)
    model.add(sum(buses) <= problem.fleet)
    model.minimize(sum(costs))
    return HeadwayModel(model, buses, problem)


def solve(model: HeadwayModel, time_limit_s: float = 10.0):
    """Solve with CP-SAT; returns the solver (call :func:`extract`)."""
    from ortools.sat.python import cp_model

    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = float(time_limit_s)
    solver.parameters.num_workers = 2
    status = solver.solve(model.model)
    if status == cp_model.UNKNOWN:
        raise TimeoutError(f"CP-SAT found no allocation within {time_limit_s:g} s")
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        raise InfeasibleFleet(f"CP-SAT found no allocation (status {solver.status_name(status)})")
    model.status = solver.status_name(status)
    return solver


def extract(model: HeadwayModel, solver) -> HeadwayPlan:
    """Read the bus counts from a solved model into a :class:`HeadwayPlan`."""
    buses = np.array([solver.value(n) for n in model.buses], dtype=np.int64)
    return summarise(model.problem, buses)


def frequency_per_h(headway_min: np.ndarray) -> np.ndarray:
    """Buses per hour for headways in minutes."""
    return 60.0 / np.asarray(headway_min, dtype=float)


def buses_for_headway(cycle_time_min: float, headway_min: float) -> int:
    """Whole buses needed to run ``headway_min`` on a cycle: ``ceil(c / h)``."""
    return int(math.ceil(cycle_time_min / headway_min - 1e-9))

"""Squirrel plan: short-turn rush-hour routes over the overloaded sections of busy routes.

Seoul's "Squirrel" (다람쥐) buses run a few kilometres of a crowded trunk route
at rush hour, turning back at the ends of the crowded section. This planner:

1. takes each route's rush-hour load profile (:func:`peak_profile`): link loads
   per hour from the month's hourly boardings and alightings
   (:mod:`optimizer.loads`), converted to an average weekday - monthly totals /
   days in the month x ``weekday_factor`` (May 2022 has 21 weekdays and 10
   weekend days/holidays; with weekend ridership ~70 % of a weekday the average
   day is ~0.9 weekday, hence 1.1) - and, per link, the highest of the window's
   hours;
2. finds sections where that load exceeds the route's hourly capacity (buses per
   hour x capacity per bus) (:func:`overloaded_sections`);
3. proposes one short-turn route per section, turning at the section's end
   stops (on Seoul data the stops are the turnaround points; on a road graph,
   its nodes), with a cycle of twice the section's road length (straight line x
   detour factor) at rush-hour speed plus layover;
4. sizes their buses from the spare fleet by exact marginal gains on
   passenger-km over capacity (convex in buses, so greedy is exact - see
   :func:`optimizer.headways.allocate_convex`);
5. reports crowding before and after: max load / capacity and passenger-km over
   capacity per hour.

All functions are pure over arrays and dataclasses.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field, replace

import numpy as np

from optimizer import loads
from optimizer.headways import allocate_convex

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SquirrelSettings:
    """Planner settings (units in names)."""

    peak_hours: tuple[int, ...] = (7, 8, 17, 18)  #: hours 07-09 and 17-19
    capacity_per_bus: float = 60.0  #: seats + standing
    headway_min: float = 8.0  #: current rush-hour headway of each parent route (not in the card data)
    days_in_month: int = 31
    weekday_factor: float = 1.1  #: average weekday / average day
    spare_fleet: int = 20  #: buses available for short-turn routes
    min_section_links: int = 2
    merge_gap_links: int = 1  #: overloaded runs this close are one section
    detour_factor: float = 1.3  #: road length / straight line
    speed_kph: float = 15.0  #: rush-hour running speed
    layover_min: float = 6.0  #: per cycle, at the two turnarounds together
    min_headway_min: float = 3.0  #: short-turn headway floor
    max_unlocated_share: float = 0.2  #: skip routes with more of their boardings at unlocated stops


@dataclass(frozen=True)
class PeakProfile:
    """A route's rush-hour link loads.

    ``load_per_h[i]`` rides from stop ``i`` to stop ``i + 1`` (cyclic).
    """

    route_no: str
    stop_ids: np.ndarray
    xy_m: np.ndarray
    link_m: np.ndarray
    load_per_h: np.ndarray
    buses_per_h: float
    capacity_per_bus: float

    @property
    def capacity_per_h(self) -> float:
        return self.buses_per_h * self.capacity_per_bus


@dataclass(frozen=True)
class ShortTurn:
    """A proposed short-turn route over links ``first_link..last_link`` of its parent."""

    parent: str
    first_link: int
    last_link: int
    stop_ids: list[str]
    xy_m: np.ndarray
    section_m: float  #: road length of the section (one way)
    cycle_min: float
    buses: int = 0
    excess_before_pax_km_per_h: float = 0.0
    excess_after_pax_km_per_h: float = 0.0

    @property
    def headway_min(self) -> float:
        return self.cycle_min / self.buses if self.buses else math.inf

    @property
    def name(self) -> str:
        return f"{self.parent}-S{self.first_link}"


@dataclass
class RouteCrowding:
    """Before/after crowding of one parent route."""

    route_no: str
    max_load_ratio_before: float
    max_load_ratio_after: float
    excess_pax_km_per_h_before: float
    excess_pax_km_per_h_after: float


@dataclass
class SquirrelPlan:
    short_turns: list[ShortTurn]
    crowding: list[RouteCrowding]
    settings: SquirrelSettings
    unused_fleet: int = 0
    skipped_routes: list[str] = field(default_factory=list)

    def totals(self) -> dict[str, float]:
        """Network-wide figures for a report."""
        before = sum(c.excess_pax_km_per_h_before for c in self.crowding)
        after = sum(c.excess_pax_km_per_h_after for c in self.crowding)
        return {
            "routes_overloaded": sum(c.max_load_ratio_before > 1 for c in self.crowding),
            "short_turns": sum(s.buses > 0 for s in self.short_turns),
            "buses_used": sum(s.buses for s in self.short_turns),
            "excess_pax_km_per_h_before": before,
            "excess_pax_km_per_h_after": after,
        }


def peak_profile(route_no: str, stop_ids: np.ndarray, xy_m: np.ndarray, board: np.ndarray, alight: np.ndarray,
                 settings: SquirrelSettings = SquirrelSettings()) -> PeakProfile:
    """Rush-hour profile from monthly per-hour counts along a cyclic running order.

    Parameters
    ----------
    route_no : str
    stop_ids : ndarray (n,)
    xy_m : ndarray (n, 2), metres
    board, alight : ndarray (n, 24), month totals per hour, rows in running order
    settings : SquirrelSettings

    Returns
    -------
    PeakProfile with ``load_per_h`` = per link, the highest average-weekday
    hourly load among ``settings.peak_hours``.
    """
    hours = list(settings.peak_hours)
    per_hour = loads.cyclic_link_loads(np.asarray(board)[:, hours], np.asarray(alight)[:, hours])
    per_day = settings.weekday_factor / settings.days_in_month
    xy_m = np.asarray(xy_m, dtype=float)
    link_m = np.sqrt(((np.roll(xy_m, -1, axis=0) - xy_m) ** 2).sum(axis=1))
    return PeakProfile(route_no, np.asarray(stop_ids), xy_m, link_m, per_hour.max(axis=1) * per_day,
                       60.0 / settings.headway_min, settings.capacity_per_bus)


def overloaded_sections(load_per_h: np.ndarray, capacity_per_h: float, min_links: int = 2,
                        merge_gap: int = 1) -> list[tuple[int, int]]:
    """Runs of consecutive links (cyclic) whose load exceeds capacity.

    Parameters
    ----------
    load_per_h : ndarray (n,)
    capacity_per_h : float
    min_links : int, shorter runs are dropped
    merge_gap : int, runs separated by at most this many links are merged

    Returns
    -------
    list of (first_link, last_link), inclusive; ``last_link < first_link`` when a
    section wraps past the cycle's start.

    Examples
    --------
    >>> overloaded_sections(np.array([0, 5, 6, 0, 7, 8, 0, 0, 0]), 4, min_links=2, merge_gap=1)
    [(1, 5)]
    """
    over = np.asarray(load_per_h) > capacity_per_h
    n = over.size
    if not over.any():
        return []
    if over.all():
        return [(0, n - 1)]
    start = int(np.flatnonzero(~over)[-1] + 1) % n  # begin just after a non-overloaded link
    runs: list[list[int]] = []
    k = 0
    while k < n:
        i = (start + k) % n
        if over[i]:
            if runs and k - runs[-1][1] - 1 <= merge_gap:
                runs[-1][1] = k
            else:
                runs.append([k, k])
        k += 1
    return [((start + a) % n, (start + b) % n) for a, b in runs if b - a + 1 >= min_links]


def section_links(first: int, last: int, n: int) -> np.ndarray:
    """Link indices of a (possibly wrapping) section."""
    return np.arange(first, first + (last - first) % n + 1) % n


def design_short_turns(profile: PeakProfile, settings: SquirrelSettings) -> list[ShortTurn]:
    """One short-turn candidate per overloaded section of ``profile`` (0 buses yet)."""
    n = profile.load_per_h.size
    out = []
    for first, last in overloaded_sections(profile.load_per_h, profile.capacity_per_h,
                                           settings.min_section_links, settings.merge_gap_links):
        links = section_links(first, last, n)
        stops = np.append(links, (links[-1] + 1) % n)
        section_m = float(profile.link_m[links].sum() * settings.detour_factor)
        cycle_min = 2 * section_m / 1000 / settings.speed_kph * 60 + settings.layover_min
        out.append(ShortTurn(profile.route_no, first, last, [str(s) for s in profile.stop_ids[stops]],
                             profile.xy_m[stops], section_m, cycle_min))
    return out


def _excess_pax_km(profile: PeakProfile, links: np.ndarray, extra_per_h: float) -> float:
    return loads.pax_km_over_capacity(profile.load_per_h[links], profile.capacity_per_h + extra_per_h,
                                      profile.link_m[links] * 1.0)


def plan(profiles: list[PeakProfile], settings: SquirrelSettings = SquirrelSettings()) -> SquirrelPlan:
    """Design short-turn routes for all overloaded sections and share the spare fleet.

    Parameters
    ----------
    profiles : list of PeakProfile
    settings : SquirrelSettings

    Returns
    -------
    SquirrelPlan: short turns (those with 0 buses are candidates the fleet did not
    reach), before/after crowding per route that has an overloaded section.
    """
    by_route = {p.route_no: p for p in profiles}
    candidates = [st for p in profiles for st in design_short_turns(p, settings)]
    links = [section_links(c.first_link, c.last_link, by_route[c.parent].load_per_h.size) for c in candidates]

    def cost(k: int, buses: int) -> float:
        c = candidates[k]
        extra = 60.0 * buses / c.cycle_min * settings.capacity_per_bus
        return _excess_pax_km(by_route[c.parent], links[k], extra)

    hi = np.array([max(1, int(c.cycle_min // settings.min_headway_min)) for c in candidates], dtype=np.int64)
    buses = allocate_convex(cost, np.zeros(len(candidates), dtype=np.int64), hi, settings.spare_fleet)
    sized = [replace(c, buses=int(b), excess_before_pax_km_per_h=cost(k, 0), excess_after_pax_km_per_h=cost(k, int(b)))
             for k, (c, b) in enumerate(zip(candidates, buses))]
    crowding = [route_crowding(by_route[r], [s for s in sized if s.parent == r], settings)
                for r in dict.fromkeys(c.parent for c in candidates)]
    return SquirrelPlan(sized, crowding, settings, unused_fleet=settings.spare_fleet - int(buses.sum()))


def route_crowding(profile: PeakProfile, short_turns: list[ShortTurn], settings: SquirrelSettings) -> RouteCrowding:
    """Max load/capacity and passenger-km over capacity, before and after the short turns."""
    n = profile.load_per_h.size
    capacity = np.full(n, profile.capacity_per_h)
    after = capacity.copy()
    for st in short_turns:
        if st.buses:
            after[section_links(st.first_link, st.last_link, n)] += 60.0 * st.buses / st.cycle_min * settings.capacity_per_bus
    load = profile.load_per_h
    return RouteCrowding(
        profile.route_no,
        float(np.max(load / capacity)),
        float(np.max(load / after)),
        loads.pax_km_over_capacity(load, capacity, profile.link_m),
        loads.pax_km_over_capacity(load, after, profile.link_m),
    )


def parent_routes(stop_ids: set[str], routes: dict[str, set[str]], exclude_prefix: str = "8",
                  top: int = 3) -> list[tuple[str, int]]:
    """Routes sharing the most stops with ``stop_ids`` (Seoul Squirrel routes are numbered 8xxx)."""
    shared = [(r, len(stop_ids & s)) for r, s in routes.items() if not r.startswith(exclude_prefix)]
    return sorted((x for x in shared if x[1] > 0), key=lambda x: (-x[1], x[0]))[:top]


def covered_links(profile: PeakProfile, stop_ids: set[str]) -> np.ndarray:
    """Links of ``profile`` whose both end stops are in ``stop_ids`` (a real short route's coverage)."""
    inside = np.array([s in stop_ids for s in profile.stop_ids.tolist()])
    return np.flatnonzero(inside & np.roll(inside, -1))

"""Live re-planning: the optimizer's plans as ``plans.proposed`` proposals (current vs proposed).

The planning agent (:mod:`streams.planning.agents`) turns the live demand
aggregates and the timetable into the inputs below and calls one function per
plan kind; each returns the exact ``plans.proposed`` JSON dict the dashboard's
plans page reads (see :mod:`dashboard.pages.plans`)::

    {"plan_id", "kind", "created_ts", "title",
     "current": {"rows": [...], "geojson": ...}, "proposed": {"rows": [...], "geojson": ...},
     "kpis": {name: {"current", "proposed", "unit", "better"}}}

* :func:`headway_proposal` - re-share the fleet the routes run now
  (:func:`optimizer.headways.allocate`) by the boardings and peak loads seen;
* :func:`squirrel_proposal` - short-turn routes over overloaded sections
  (:func:`optimizer.squirrel.plan`), parents and existing short routes unchanged;
* :func:`owl_proposal` - a night network for the night fleet of today
  (:func:`optimizer.owl.design`), against today's night routes.

"Current" is always what the city runs now: :class:`RouteService`, one per
route, from the timetable of the same hour (whole buses, headway, cycle time
``buses x headway``, i.e. including the timetable's layovers). Plan ids are
deterministic from the kind and the input window (:func:`plan_id`), so a
recomputation of the same window replaces its card. Nothing here touches Kafka.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from optimizer import exports, headways, owl, squirrel

log = logging.getLogger(__name__)

ToLonLat = Callable[[np.ndarray], np.ndarray]
KINDS = ("headways", "squirrel", "owl")


class NoPlan(ValueError):
    """The inputs cannot give a proposal yet (no demand, no route in the window); the message says why."""


@dataclass(frozen=True)
class RouteService:
    """What one route runs now, from the timetable (and live speeds where known).

    Attributes
    ----------
    route_id : str
    kind : str, ``"regular"``, ``"squirrel"`` (8xxx) or ``"owl"`` (N-numbered); see :func:`route_kind`.
    buses : int, whole buses running the timetable's headway (``ceil(cycle / headway)``).
    headway_min : float, timetable headway per direction.
    cycle_time_min : float, round trip incl. layovers (``buses x headway_min`` from the timetable).
    run_min : float, scheduled running time of one round trip (both directions, door to door).
    length_m : float, one round trip's distance.
    stop_ids : tuple of str, stops of a round trip in running order (direction 0 then 1).
    lonlat : ndarray (n, 2), the route's line (direction 0 shape) for maps.
    """

    route_id: str
    kind: str
    buses: int
    headway_min: float
    cycle_time_min: float
    run_min: float
    length_m: float
    stop_ids: tuple[str, ...]
    lonlat: np.ndarray


def route_kind(route_id: str) -> str:
    """Seoul numbering: ``N..`` night (Owl) routes, 4-digit ``8...`` Squirrel routes, else regular."""
    if route_id.startswith("N"):
        return "owl"
    if len(route_id) == 4 and route_id.startswith("8") and route_id.isdigit():
        return "squirrel"
    return "regular"


def plan_id(kind: str, window: str) -> str:
    """``"<kind>-<window>"``, e.g. ``"headways-2026-11-24T08"``: one card per kind and input window."""
    if kind not in KINDS:
        raise ValueError(f"plan kind must be one of {', '.join(KINDS)}, got {kind!r}")
    return f"{kind}-{window}"


def live_cycle_min(service: RouteService, speed_kph: float | None, moving_share: float = 1.0,
                   clamp: tuple[float, float] = (0.5, 2.0)) -> float:
    """Cycle time with the moving part of the running time re-timed at a live speed.

    The timetable's round trip is ``run_min`` door to door; ``moving_share`` of
    it is re-timed at a live space-mean speed ``v`` (probe speeds per link,
    :mod:`streams.traffic.linkspeeds`), as ``length_m / v``::

        cycle = cycle_time_min - moving_share * run_min + length_m / v

    clamped to ``clamp`` x the timetable cycle (a few probes must not halve or
    triple a route). Without a speed (``None``, 0 or NaN) the timetable cycle.

    Probe speeds leave out only the door-open time at stops; signals, queues
    and the slowing into and out of stops stay in. On the demo city they came
    out at 0.75-0.95 of the timetable's door-to-door speed (0.6-0.7 of its
    speed between stops), so the default re-times the whole running time
    (``moving_share = 1``); a smaller share suits probes that exclude more.

    Examples
    --------
    A 60 min cycle with 40 min running over 12 km, 70 % moving, live 24 km/h:
    ``60 - 28 + 30 = 62`` min.
    """
    if speed_kph is None or not math.isfinite(speed_kph) or speed_kph <= 0:
        return service.cycle_time_min
    cycle = service.cycle_time_min - moving_share * service.run_min + service.length_m / 1000.0 / speed_kph * 60.0
    lo, hi = clamp
    return float(min(max(cycle, lo * service.cycle_time_min), hi * service.cycle_time_min))


def _kpi(current: float, proposed: float, unit: str, better: str = "lower") -> dict:
    return {"current": _round(current), "proposed": _round(proposed), "unit": unit, "better": better}


def _round(x: float) -> float | None:
    return None if x is None or not math.isfinite(x) else round(float(x), 3)


def _service_line(service: RouteService, props: dict) -> dict:
    return {"type": "Feature", "properties": {"route": service.route_id, **props},
            "geometry": {"type": "LineString",
                         "coordinates": [[round(float(x), 6), round(float(y), 6)] for x, y in service.lonlat]}}


def _service_row(service: RouteService, **extra) -> dict:
    return {"route": service.route_id, "buses": int(service.buses), "headway_min": round(service.headway_min, 3),
            **extra}


def _proposal(kind: str, window: str, created_ts: float, title: str, current: dict, proposed: dict,
              kpis: dict) -> dict:
    for side in (current, proposed):  # no map for a plan without lines
        if "geojson" in side and not side["geojson"]["features"]:
            del side["geojson"]
    return {"plan_id": plan_id(kind, window), "kind": kind, "created_ts": float(created_ts), "title": title,
            "window": window, "current": current, "proposed": proposed, "kpis": kpis}


# --- headways ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class HeadwaySettings:
    """Policy of the live headway plan (units in names)."""

    min_headway_min: float = 3.0
    max_headway_min: float = 30.0
    capacity_per_bus: float = 60.0
    crowding_weight_min: float = 10.0


def headway_problem(services: Sequence[RouteService], boardings_per_h: dict[str, float],
                    peak_load_per_h: dict[str, float], cycle_time_min: dict[str, float] | None = None,
                    settings: HeadwaySettings = HeadwaySettings()) -> tuple[headways.HeadwayProblem, list[RouteService]]:
    """The headway problem of the routes with demand seen: their fleet now, re-shared.

    Parameters
    ----------
    services : what runs now; only ``regular`` routes found in ``boardings_per_h`` take part.
    boardings_per_h, peak_load_per_h : route_id -> passengers per hour (live estimates).
    cycle_time_min : route_id -> live cycle (:func:`live_cycle_min`); default the timetable's.
    settings : HeadwaySettings

    Returns
    -------
    (HeadwayProblem, the services in its route order). The fleet is the
    routes' current buses, so the proposal moves buses, it does not add any.

    Raises
    ------
    NoPlan
        If no regular route running now has demand.
    """
    chosen = sorted((s for s in services if s.kind == "regular" and s.route_id in boardings_per_h),
                    key=lambda s: s.route_id)
    if not chosen:
        raise NoPlan("no regular route running in the window has demand yet")
    cycles = cycle_time_min or {}
    problem = headways.HeadwayProblem(
        [s.route_id for s in chosen],
        np.array([max(0.0, float(boardings_per_h[s.route_id])) for s in chosen]),
        np.array([float(cycles.get(s.route_id, s.cycle_time_min)) for s in chosen]),
        int(sum(s.buses for s in chosen)),
        settings.min_headway_min, settings.max_headway_min,
        np.array([max(0.0, float(peak_load_per_h.get(s.route_id, 0.0))) for s in chosen]),
        settings.capacity_per_bus, settings.crowding_weight_min,
    )
    return problem, chosen


def headway_proposal(problem: headways.HeadwayProblem, current_buses: np.ndarray, window: str, created_ts: float,
                     label: str = "") -> dict:
    """Current buses vs the exact allocation of the same fleet, as a ``plans.proposed`` dict.

    Both plans are scored by one model (:func:`optimizer.headways.summarise`:
    headway = cycle / buses), so the KPIs compare like with like.

    Parameters
    ----------
    problem : from :func:`headway_problem`
    current_buses : ndarray of int, buses per route now (problem order)
    window : input window label (plan id and title)
    created_ts : epoch seconds
    label : human description of the window, e.g. ``"08:00-09:00"``

    Raises
    ------
    optimizer.headways.InfeasibleFleet
        If today's fleet cannot run every route at the maximum headway.
    """
    proposed = headways.allocate(problem)
    current = headways.summarise(problem, np.asarray(current_buses, dtype=np.int64))
    b, c = problem.boardings_per_h, problem.cycle_time_min

    def mean_headway(plan: headways.HeadwayPlan) -> float:
        return float(np.sum(b * plan.headway_min) / b.sum()) if b.sum() > 0 else float("nan")

    kpis = {
        "waiting_pax_min_per_h": _kpi(current.waiting_pax_min_per_h, proposed.waiting_pax_min_per_h, "pax·min/h"),
        "over_capacity_pax_per_h": _kpi(current.excess_pax_per_h, proposed.excess_pax_per_h, "pax/h"),
        "cost_pax_min_per_h": _kpi(current.cost, proposed.cost, "pax·min/h"),
        "mean_wait_min": _kpi(current.waiting_pax_min_per_h / b.sum() if b.sum() else float("nan"),
                              proposed.waiting_pax_min_per_h / b.sum() if b.sum() else float("nan"), "min"),
        "boarding_weighted_headway_min": _kpi(mean_headway(current), mean_headway(proposed), "min"),
        "buses": _kpi(float(current.buses.sum()), float(proposed.buses.sum()), "buses"),
    }
    return _proposal("headways", window, created_ts, f"headways for {label or window} ({len(b)} routes)",
                     {"rows": exports.headway_rows(current, b, c)}, {"rows": exports.headway_rows(proposed, b, c)},
                     kpis)


# --- squirrel ----------------------------------------------------------------------------------


def squirrel_proposal(profiles: Sequence[squirrel.PeakProfile], services: Sequence[RouteService],
                      settings: squirrel.SquirrelSettings, to_lonlat: ToLonLat, window: str, created_ts: float,
                      label: str = "") -> dict:
    """Short-turn routes over the overloaded sections of ``profiles``, as a ``plans.proposed`` dict.

    Current rows: the profiled parent routes and today's short routes (kind
    ``squirrel``), as they run now; proposed rows: the same plus the new short
    turns with buses (one row per stop, :func:`optimizer.exports.squirrel_rows`).
    The current map shows the parents whose sections are overloaded; the
    proposed one the short turns. KPIs: passenger-km over capacity per hour,
    the highest load / capacity of any parent link, and the spare buses used.

    Raises
    ------
    NoPlan
        If there is no profile.
    """
    if not profiles:
        raise NoPlan("no rush-hour load profile yet")
    plan = squirrel.plan(list(profiles), settings)
    totals = plan.totals()
    by_route = {s.route_id: s for s in services}
    overloaded = {c.route_no for c in plan.crowding if c.max_load_ratio_before > 1}
    shown = list(dict.fromkeys([p.route_no for p in profiles if p.route_no in by_route]
                               + [s.route_id for s in services if s.kind == "squirrel"]))
    current_rows = [_service_row(by_route[r]) for r in shown]
    max_before = max((c.max_load_ratio_before for c in plan.crowding), default=_max_ratio(profiles))
    max_after = max((c.max_load_ratio_after for c in plan.crowding), default=_max_ratio(profiles))
    kpis = {
        "over_capacity_pax_km_per_h": _kpi(totals["excess_pax_km_per_h_before"], totals["excess_pax_km_per_h_after"],
                                           "pax·km/h"),
        "max_load_per_capacity": _kpi(max_before, max_after, "ratio"),
        "routes_over_capacity": _kpi(float(len(overloaded)),
                                     float(sum(c.max_load_ratio_after > 1 for c in plan.crowding)), "routes"),
        "short_turn_buses": _kpi(0.0, float(totals["buses_used"]), "buses"),
    }
    current = {"rows": current_rows,
               "geojson": {"type": "FeatureCollection",
                           "features": [_service_line(by_route[r], {"kind": "regular", "buses": by_route[r].buses})
                                        for r in sorted(overloaded) if r in by_route]}}
    proposed = {"rows": current_rows + exports.squirrel_rows(plan), "geojson": exports.squirrel_geojson(plan, to_lonlat)}
    title = (f"rush-hour short turns {label or window}: {totals['short_turns']} short turns, "
             f"{len(overloaded)} of {len(profiles)} routes over capacity")
    return _proposal("squirrel", window, created_ts, title, current, proposed, kpis)


def _max_ratio(profiles: Sequence[squirrel.PeakProfile]) -> float:
    return max((float(np.max(p.load_per_h)) / p.capacity_per_h for p in profiles if p.capacity_per_h > 0),
               default=0.0)


# --- owl ---------------------------------------------------------------------------------------


def owl_demand_with_routes(stop_ids: Sequence[str], xy_m: np.ndarray, od: np.ndarray,
                           services: Sequence[RouteService], stop_xy_m: dict[str, np.ndarray]) -> owl.NightDemand:
    """Night demand over the OD's stops plus the stops of today's night routes (with no trips of their own).

    ``stop_xy_m`` gives metres for the night routes' stops; stops unknown
    there are left out of those routes.
    """
    ids = list(stop_ids)
    extra = [s for svc in services if svc.kind == "owl" for s in svc.stop_ids if s in stop_xy_m]
    extra = [s for s in dict.fromkeys(extra) if s not in set(ids)]
    n = len(ids) + len(extra)
    full = np.zeros((n, n))
    full[: len(ids), : len(ids)] = np.asarray(od, dtype=float)
    xy = np.vstack([np.asarray(xy_m, dtype=float).reshape(-1, 2)] + [stop_xy_m[s].reshape(1, 2) for s in extra])
    return owl.NightDemand.from_od(np.array(ids + extra), xy, full)


def current_owl_routes(demand: owl.NightDemand, services: Sequence[RouteService],
                       settings: owl.OwlSettings) -> list[owl.OwlRoute]:
    """Today's night routes as :class:`optimizer.owl.OwlRoute` over ``demand``'s stops.

    One way = half the timetable cycle; buses and headway as run now; demand
    served attributed first-covered in route order (as for Seoul's N routes).
    """
    pos = {a: i for i, a in enumerate(demand.stop_ids.tolist())}
    out, covered = [], np.zeros(len(demand.stop_ids), dtype=bool)
    for s in sorted((s for s in services if s.kind == "owl"), key=lambda s: s.route_id):
        stops = list(dict.fromkeys(pos[a] for a in s.stop_ids if a in pos))
        mask = owl.covered_mask(demand, stops, settings.walk_m)
        out.append(owl.OwlRoute(s.route_id, stops, (s.cycle_time_min - settings.layover_min) / 2, s.buses,
                                s.headway_min, float(demand.weight[mask & ~covered].sum())))
        covered |= mask
    return out


def owl_proposal(demand: owl.NightDemand, services: Sequence[RouteService], settings: owl.OwlSettings,
                 to_lonlat: ToLonLat, window: str, created_ts: float, label: str = "") -> dict:
    """A night network for today's night fleet vs today's night routes, as a ``plans.proposed`` dict.

    ``settings.fleet`` should be the night fleet now (the sum of the ``owl``
    services' buses; the caller decides). KPIs: share of night demand within
    walking distance, ATT (Mumford rules over the network's zones), routes,
    route-km and the demand-weighted mean headway.

    Raises
    ------
    NoPlan
        If there is no night demand.
    optimizer.headways.InfeasibleFleet
        If the fleet cannot run one night route.
    """
    if float(demand.weight.sum()) <= 0:
        raise NoPlan("no night demand yet (journeys starting 00-05 h)")
    plan = owl.design(demand, settings)
    now_routes = current_owl_routes(demand, services, settings)
    now = owl.network_kpis(demand, now_routes, settings) if any(len(r.stops) for r in now_routes) else None
    new = plan.kpis

    def cur(attr: str) -> float:
        return float(getattr(now, attr)) if now is not None else float("nan")

    kpis = {
        "night_demand_covered_pct": _kpi(100 * cur("demand_covered_share"), 100 * new.demand_covered_share, "%",
                                         "higher"),
        "att_min": _kpi(cur("att_min"), new.att_min, "min"),
        "unserved_pct": _kpi(cur("dun_pct"), new.dun_pct, "%"),
        "routes": _kpi(float(len(now_routes)), float(new.routes), "routes"),
        "route_km": _kpi(cur("route_km"), new.route_km, "km"),
        "mean_headway_min": _kpi(cur("mean_headway_min"), new.mean_headway_min, "min"),
        "buses": _kpi(float(sum(r.buses for r in now_routes)), float(new.fleet), "buses"),
    }
    owl_now = sorted((s for s in services if s.kind == "owl"), key=lambda s: s.route_id)
    current = {"rows": [_service_row(s) for s in owl_now],
               "geojson": {"type": "FeatureCollection",
                           "features": [_service_line(s, {"kind": "owl", "buses": s.buses}) for s in owl_now]}}
    proposed = {"rows": exports.owl_rows(plan, demand), "geojson": exports.owl_geojson(plan, demand, to_lonlat)}
    title = (f"night network {label or window}: {new.routes} routes, "
             f"{100 * new.demand_covered_share:.0f}% of night demand within {settings.walk_m:g} m")
    return _proposal("owl", window, created_ts, title, current, proposed, kpis)

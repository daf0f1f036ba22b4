"""Owl plan: a night bus network for a given fleet, from night demand per stop.

Seoul's Owl (심야, N-numbered) buses run roughly 23:30-06:00. Given night
boardings and alightings per stop (00-05 h by default) and a fleet, the planner:

1. aggregates stops into candidate route nodes: per ``cell_m`` grid cell, the
   stop with the most night demand (:func:`candidate_nodes`);
2. grows routes one at a time (:func:`design`): the first from the node with
   the most uncovered demand within walking distance, each later one from a node
   of the network so far (so the network stays connected for transfers), adding
   at either end the node within ``max_hop_m`` with the best ratio of newly
   covered demand (stops within ``walk_m``) to added running time, moving away
   from the route's other end (no meandering, which costs riders in-vehicle
   time), until the route reaches ``max_route_min`` one way or nothing within
   reach gains. Several seeds are tried per route - the busiest network nodes
   ("hubs": routes through a common hub need one transfer between them) and the
   nodes with most uncovered demand nearby - and a hub-seeded route is kept
   while it covers ``hub_preference`` of the best route's new demand;
   routes are added while the fleet can still run every route at the maximum
   headway and a new route covers at least ``min_route_share`` of the demand;
3. shares the fleet by :func:`optimizer.headways.allocate` (waiting time of the
   demand each route serves, cycle = 2 x one-way + layover);
4. scores a network (:func:`network_kpis`): demand within walking distance,
   route km, fleet, headways, and ATT (Mumford rules, via
   :func:`optimizer.evaluate.evaluate`) over a gravity OD among the zones the
   network serves. The same scoring applies to Seoul's real N routes.

Running times use a road-distance proxy (Manhattan distance x detour factor at
night speed) unless a stop-to-stop travel-time matrix is given (e.g. from the
demo city's road graph). All functions are pure over arrays and dataclasses.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from optimizer import headways
from optimizer.evaluate import evaluate
from optimizer.instance import make_instance

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OwlSettings:
    """Planner settings (units in names)."""

    fleet: int = 70
    max_routes: int = 30
    walk_m: float = 400.0
    cell_m: float = 600.0
    max_hop_m: float = 1500.0
    max_route_min: float = 90.0  #: one way
    min_route_share: float = 0.01  #: a new route must cover this share of all night demand
    detour_factor: float = 1.15  #: road length / Manhattan distance
    speed_kph: float = 30.0  #: night running speed
    layover_min: float = 10.0  #: per cycle
    min_headway_min: float = 10.0
    max_headway_min: float = 60.0
    night_hours: tuple[int, ...] = (0, 1, 2, 3, 4)
    days_in_month: int = 31
    gravity_beta_min: float = 20.0  #: OD deterrence exp(-t / beta)
    zone_m: float = 1000.0  #: zone size for ATT evaluation
    seed_tries: int = 4  #: seeds tried per route, of each kind (hub, frontier)
    straight: bool = True  #: routes only grow away from their other end (no meandering)
    hub_preference: float = 0.8  #: take the best hub-seeded route if it covers this share of the best route's demand


@dataclass(frozen=True)
class NightDemand:
    """Night demand per stop (per night) and optional stop-to-stop running times."""

    stop_ids: np.ndarray
    xy_m: np.ndarray
    board: np.ndarray
    alight: np.ndarray
    travel_min: np.ndarray | None = None  #: (n, n) road running times, if known
    od: np.ndarray | None = None  #: (n, n) night trips stop -> stop, if known (else a gravity model)

    @classmethod
    def from_od(cls, stop_ids: np.ndarray, xy_m: np.ndarray, od: np.ndarray,
                travel_min: np.ndarray | None = None) -> "NightDemand":
        """Demand from an OD matrix: boardings = row sums, alightings = column sums."""
        od = np.asarray(od, dtype=float)
        if od.shape != (len(stop_ids), len(stop_ids)) or np.any(od < 0) or not np.all(np.isfinite(od)):
            raise ValueError("od must be a finite, non-negative (n, n) matrix over the stops")
        return cls(np.asarray(stop_ids), np.asarray(xy_m, dtype=float), od.sum(axis=1), od.sum(axis=0), travel_min, od)

    @property
    def weight(self) -> np.ndarray:
        """Boardings + alightings: the demand a stop generates."""
        return np.asarray(self.board, dtype=float) + np.asarray(self.alight, dtype=float)


@dataclass
class OwlRoute:
    """A night route: stops (indices into the demand's stops), times and service."""

    name: str
    stops: list[int]
    one_way_min: float
    buses: int = 0
    headway_min: float = float("inf")
    served_per_night: float = 0.0  #: demand first covered by this route


@dataclass
class NetworkKpis:
    """Scores of a night network."""

    routes: int
    demand_covered_share: float
    covered_per_night: float
    route_km: float  #: sum of one-way lengths (road proxy)
    fleet: int
    mean_headway_min: float  #: demand-weighted
    att_min: float
    d0_pct: float
    d1_pct: float
    d2_pct: float
    dun_pct: float


@dataclass
class OwlPlan:
    routes: list[OwlRoute]
    kpis: NetworkKpis
    settings: OwlSettings = field(default_factory=OwlSettings)


def road_time_min(a_xy_m: np.ndarray, b_xy_m: np.ndarray, settings: OwlSettings) -> np.ndarray:
    """Running time by the road proxy: Manhattan metres x detour / speed (broadcasts)."""
    manhattan = np.abs(np.asarray(a_xy_m)[..., 0] - np.asarray(b_xy_m)[..., 0]) + \
        np.abs(np.asarray(a_xy_m)[..., 1] - np.asarray(b_xy_m)[..., 1])
    return manhattan * settings.detour_factor / (settings.speed_kph * 1000.0 / 60.0)


def hop_min(demand: NightDemand, a: int, b: int, settings: OwlSettings) -> float:
    """Running time from stop ``a`` to stop ``b``."""
    if demand.travel_min is not None:
        return float(demand.travel_min[a, b])
    return float(road_time_min(demand.xy_m[a], demand.xy_m[b], settings))


def path_min(demand: NightDemand, stops: list[int], settings: OwlSettings) -> float:
    """One-way running time along a sequence of stops."""
    return float(sum(hop_min(demand, a, b, settings) for a, b in zip(stops[:-1], stops[1:])))


def _buckets(xy_m: np.ndarray, size_m: float) -> dict[tuple[int, int], list[int]]:
    out: dict[tuple[int, int], list[int]] = {}
    for i, (x, y) in enumerate(np.floor(np.asarray(xy_m) / size_m).astype(np.int64).tolist()):
        out.setdefault((x, y), []).append(i)
    return out


def within(points_xy_m: np.ndarray, targets_xy_m: np.ndarray, radius_m: float) -> list[np.ndarray]:
    """For each point, indices of targets within ``radius_m`` (straight line)."""
    buckets = _buckets(targets_xy_m, radius_m)
    cells = np.floor(np.asarray(points_xy_m) / radius_m).astype(np.int64)
    out = []
    for p, (cx, cy) in zip(np.asarray(points_xy_m), cells.tolist()):
        near = [i for dx in (-1, 0, 1) for dy in (-1, 0, 1) for i in buckets.get((cx + dx, cy + dy), [])]
        near = np.array(near, dtype=np.int64)
        if near.size:
            d = np.hypot(*(targets_xy_m[near] - p).T)
            near = near[d <= radius_m]
        out.append(near)
    return out


def candidate_nodes(demand: NightDemand, cell_m: float) -> np.ndarray:
    """Per grid cell with demand, the stop with the most demand (stop indices)."""
    w = demand.weight
    best: dict[tuple[int, int], int] = {}
    for cell, members in _buckets(demand.xy_m, cell_m).items():
        m = max(members, key=lambda i: (w[i], -i))
        if w[m] > 0:
            best[cell] = m
    return np.array(sorted(best.values()), dtype=np.int64)


def covered_mask(demand: NightDemand, route_stops: list[int], walk_m: float) -> np.ndarray:
    """Stops within ``walk_m`` of any of ``route_stops``."""
    mask = np.zeros(len(demand.stop_ids), dtype=bool)
    if route_stops:
        for near in within(demand.xy_m[np.asarray(route_stops)], demand.xy_m, walk_m):
            mask[near] = True
    return mask


class _Grower:
    """State of the greedy network construction (covered stops, node neighbourhoods)."""

    def __init__(self, demand: NightDemand, settings: OwlSettings):
        self.d, self.s = demand, settings
        self.w = demand.weight
        self.nodes = candidate_nodes(demand, settings.cell_m)
        self.cover = within(demand.xy_m[self.nodes], demand.xy_m, settings.walk_m)
        hop = within(demand.xy_m[self.nodes], demand.xy_m[self.nodes], settings.max_hop_m)
        self.hop = [h[h != k] for k, h in enumerate(hop)]
        self.covered = np.zeros(len(demand.stop_ids), dtype=bool)
        self.seeds: list[int] = []

    def gain(self, k: int) -> float:
        c = self.cover[k]
        return float(self.w[c[~self.covered[c]]].sum())

    def grow(self, seed: int) -> list[int]:
        path = [seed]
        self.covered[self.cover[seed]] = True
        time_min = 0.0
        while True:
            best, best_ratio = None, 0.0
            for end_pos in (0, -1):
                end = path[end_pos]
                other = self.d.xy_m[self.nodes[path[-1 - end_pos]]]
                reach = np.hypot(*(self.d.xy_m[self.nodes[end]] - other))
                for k in self.hop[end].tolist():
                    if k in path:
                        continue
                    if self.s.straight and len(path) > 1 and np.hypot(*(self.d.xy_m[self.nodes[k]] - other)) <= reach:
                        continue  # no doubling back: each step moves away from the other end
                    added = hop_min(self.d, self.nodes[end], self.nodes[k], self.s)
                    if time_min + added > self.s.max_route_min:
                        continue
                    ratio = self.gain(k) / max(added, 1e-6)
                    if ratio > best_ratio:
                        best, best_ratio = (end_pos, k, added), ratio
            if best is None:
                return path
            end_pos, k, added = best
            path.insert(0, k) if end_pos == 0 else path.append(k)
            self.covered[self.cover[k]] = True
            time_min += added

    def hub_seeds(self, network: list[int]) -> list[int]:
        """The ``seed_tries`` busiest network nodes not yet seeds (journeys between routes
        seeded at hubs need one transfer)."""
        free = sorted(set(network) - set(self.seeds))
        return sorted(free, key=lambda k: (-self.w[self.nodes[k]], k))[: self.s.seed_tries]

    def seeds_to_try(self, network: list[int]) -> list[int]:
        """The first route starts at the best-covering node; later ones at hub seeds
        and at the ``seed_tries`` network nodes with most uncovered demand one hop away."""
        if not network:
            return [int(np.argmax([self.gain(k) for k in range(self.nodes.size)]))]
        free = sorted(set(network) - set(self.seeds))
        frontier = sorted(free, key=lambda k: (-sum(self.gain(j) for j in self.hop[k].tolist()), k))
        return list(dict.fromkeys(self.hub_seeds(network) + frontier[: self.s.seed_tries]))

    def best_route(self, network: list[int]) -> tuple[int, list[int]]:
        """Grow from each seed to try; keep the path covering most new demand, preferring
        a hub seed while it covers at least ``hub_preference`` x the best."""
        start = self.covered.copy()
        tried = []
        hubs = set(self.hub_seeds(network))
        for seed in self.seeds_to_try(network):
            self.covered = start.copy()
            path = self.grow(seed)
            tried.append((float(self.w[self.covered & ~start].sum()), seed, path, self.covered))
        top = max(t[0] for t in tried)
        hub_tries = [t for t in tried if t[1] in hubs and t[0] >= self.s.hub_preference * top]
        served, seed, path, covered = max(hub_tries or tried, key=lambda t: t[0])
        self.covered = covered
        return seed, path


def design(demand: NightDemand, settings: OwlSettings = OwlSettings(), progress: bool = False) -> OwlPlan:
    """Design a night network for ``settings.fleet`` buses (see module docstring).

    Returns
    -------
    OwlPlan with routes (stops in running order, buses, headways) and KPIs.

    Raises
    ------
    optimizer.headways.InfeasibleFleet
        If the fleet cannot run even one route at the maximum headway, or no
        route can be grown (demand stops farther apart than ``max_hop_m``).
    """
    from tqdm import tqdm

    g = _Grower(demand, settings)
    total = float(demand.weight.sum())
    routes: list[OwlRoute] = []
    network: list[int] = []
    bar = tqdm(total=settings.max_routes, desc="owl routes", unit="route", disable=not progress)
    stop_reason = ""
    while len(routes) < settings.max_routes:
        before = g.covered.copy()
        seed, path = g.best_route(network)
        g.seeds.append(seed)
        stops = [int(g.nodes[k]) for k in path]
        served = float(demand.weight[g.covered & ~before].sum())
        one_way = path_min(demand, stops, settings)
        need = sum(headways.buses_for_headway(2 * r.one_way_min + settings.layover_min, settings.max_headway_min)
                   for r in routes) + headways.buses_for_headway(2 * one_way + settings.layover_min,
                                                                 settings.max_headway_min)
        if need > settings.fleet:
            stop_reason = (f"fleet {settings.fleet} cannot run a single night route at a "
                           f"{settings.max_headway_min:g} min headway (needs {need} buses)")
        elif len(path) < 2 or served < settings.min_route_share * total:
            stop_reason = (f"no route of 2+ stops covers {100 * settings.min_route_share:g}% of the demand: demand "
                           f"stops more than max_hop_m={settings.max_hop_m:g} m apart?")
        else:
            routes.append(OwlRoute(f"O{len(routes) + 1}", stops, one_way, served_per_night=served))
            network.extend(path)
            bar.update(1)
            continue
        g.covered = before
        break
    bar.close()
    if not routes:
        raise headways.InfeasibleFleet(stop_reason)
    allocate_fleet(routes, settings)
    return OwlPlan(routes, network_kpis(demand, routes, settings), settings)


def allocate_fleet(routes: list[OwlRoute], settings: OwlSettings) -> None:
    """Set buses and headways of ``routes`` in place by :func:`optimizer.headways.allocate`.

    Each route's "boardings" are the demand it serves; the night is treated as one period.
    """
    problem = headways.HeadwayProblem(
        [r.name for r in routes],
        np.array([max(r.served_per_night, 1e-9) for r in routes]),
        np.array([2 * r.one_way_min + settings.layover_min for r in routes]),
        settings.fleet, settings.min_headway_min, settings.max_headway_min,
    )
    result = headways.allocate(problem)
    for r, n, h in zip(routes, result.buses.tolist(), result.headway_min.tolist()):
        r.buses, r.headway_min = int(n), float(h)


def network_kpis(demand: NightDemand, routes: list[OwlRoute], settings: OwlSettings) -> NetworkKpis:
    """Coverage, size, headways and ATT of a night network (any routes, e.g. Seoul's)."""
    all_stops = sorted({s for r in routes for s in r.stops})
    covered = covered_mask(demand, all_stops, settings.walk_m)
    w = demand.weight
    total = float(w.sum())
    km = sum(r.one_way_min * settings.speed_kph / 60.0 for r in routes)
    served = np.array([r.served_per_night for r in routes])
    hw = np.array([r.headway_min for r in routes])
    mean_hw = float(np.sum(served * hw) / served.sum()) if served.sum() > 0 and np.all(np.isfinite(hw)) else float("nan")
    att = zone_att(demand, routes, covered, settings)
    return NetworkKpis(len(routes), float(w[covered].sum() / total) if total else 0.0, float(w[covered].sum()),
                       float(km), int(sum(r.buses for r in routes)), mean_hw, *att)


def zone_att(demand: NightDemand, routes: list[OwlRoute], covered: np.ndarray,
             settings: OwlSettings) -> tuple[float, float, float, float, float]:
    """ATT and d-values (Mumford rules) on a zone graph of the network.

    Zones are ``zone_m`` grid cells holding route stops; a route becomes its
    sequence of zones (repeats dropped, so it is a simple path); each covered
    stop's demand goes to the zone of its nearest route stop; the OD is a
    singly constrained gravity model ``T_zw ~ O_z D_w exp(-t_zw / beta)``, or
    the given stop OD matrix summed over zones (trips within a zone dropped).
    """
    route_stops = sorted({s for r in routes for s in r.stops})
    rs_xy = demand.xy_m[route_stops]
    cell = np.floor(rs_xy / settings.zone_m).astype(np.int64)
    keys, zone_of = np.unique(cell, axis=0, return_inverse=True)
    zone_of = zone_of.ravel()
    nz = len(keys)
    if nz < 2:
        return (0.0, 100.0, 0.0, 0.0, 0.0)
    zone_xy = np.zeros((nz, 2))
    np.add.at(zone_xy, zone_of, rs_xy)
    zone_xy /= np.bincount(zone_of, minlength=nz)[:, None]
    stop_zone = dict(zip(route_stops, zone_of.tolist()))
    travel = road_time_min(zone_xy[:, None, :], zone_xy[None, :, :], settings)
    travel = np.maximum(travel, 0.01)  # zone centres may coincide on a Manhattan metric
    np.fill_diagonal(travel, 0.0)
    # each covered stop's demand goes to the zone of its nearest route stop
    idx = np.flatnonzero(covered)
    zone_at = np.full(len(demand.stop_ids), -1, dtype=np.int64)
    for i in idx.tolist():
        zone_at[i] = zone_of[int(np.argmin(np.hypot(*(rs_xy - demand.xy_m[i]).T)))]
    if demand.od is not None:
        od = np.zeros((nz, nz))
        both = np.ix_(idx, idx)
        np.add.at(od, (zone_at[idx][:, None].repeat(idx.size, 1), zone_at[idx][None, :].repeat(idx.size, 0)),
                  np.asarray(demand.od, dtype=float)[both])
    else:
        origin = np.bincount(zone_at[idx], np.asarray(demand.board, dtype=float)[idx], minlength=nz)
        dest = np.bincount(zone_at[idx], np.asarray(demand.alight, dtype=float)[idx], minlength=nz)
        attract = dest[None, :] * np.exp(-travel / settings.gravity_beta_min)
        np.fill_diagonal(attract, 0.0)
        rows = attract.sum(axis=1, keepdims=True)
        od = np.divide(origin[:, None] * attract, rows, out=np.zeros_like(attract), where=rows > 0)
    np.fill_diagonal(od, 0.0)
    od = (od + od.T) / 2  # the evaluator's rules assume symmetric demand
    zone_routes = []
    for r in routes:
        seq: list[int] = []
        for s in r.stops:
            z = stop_zone[s]
            if z not in seq:
                seq.append(z)
        if len(seq) >= 2:
            zone_routes.append(seq)
    inst = make_instance("owl-zones", travel, od, zone_xy)
    ev = evaluate(inst, zone_routes)
    return (ev.att_min, ev.d0_pct, ev.d1_pct, ev.d2_pct, ev.dun_pct)


def seoul_night_demand(ridership, stops, settings: OwlSettings = OwlSettings()) -> NightDemand:
    """Night demand per located stop from a :class:`optimizer.seoul.Ridership` month.

    Sums boardings and alightings of all routes (day routes' last trips too) in
    ``settings.night_hours`` per ARS id and divides by the days in the month.
    """
    hours = list(settings.night_hours)
    index = stops.index()
    ars = ridership.ars_id
    located = np.array([a in index for a in ars.tolist()], dtype=bool)
    keys, inverse = np.unique(ars[located], return_inverse=True)
    board = np.bincount(inverse, ridership.board[located][:, hours].sum(axis=1), minlength=keys.size)
    alight = np.bincount(inverse, ridership.alight[located][:, hours].sum(axis=1), minlength=keys.size)
    xy = stops.xy_m()[[index[a] for a in keys.tolist()]]
    per_night = 1.0 / settings.days_in_month
    return NightDemand(keys, xy, board * per_night, alight * per_night)


def routes_from_sequences(demand: NightDemand, sequences: dict, settings: OwlSettings) -> list[OwlRoute]:
    """Existing routes (e.g. Seoul's N routes, as :class:`optimizer.stop_order.RouteSequence`)
    as :class:`OwlRoute` over ``demand``'s stops; one way = half the cycle."""
    pos = {a: i for i, a in enumerate(demand.stop_ids.tolist())}
    out = []
    for name, seq in sequences.items():
        stops_ = [pos[a] for a in seq.ars_id.tolist() if a in pos]
        cycle = path_min(demand, stops_ + stops_[:1], settings)
        out.append(OwlRoute(name, stops_, cycle / 2))
    # demand served: first-covered attribution in the given order
    covered = np.zeros(len(demand.stop_ids), dtype=bool)
    for r in out:
        mask = covered_mask(demand, r.stops, settings.walk_m)
        r.served_per_night = float(demand.weight[mask & ~covered].sum())
        covered |= mask
    return out

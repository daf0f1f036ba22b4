"""Taxis: GPS probes driving the demo city's road graph, vectorised over the whole fleet.

Every taxi is somewhere along one directed road link and drives at the link's
true speed times its own driver factor (log-normal, mean 1); at a link's end
it turns onto a random other link leaving that node (a U-turn only at a dead
end). One :meth:`TaxiFleet.tick` moves every taxi with a few numpy operations
on arrays as long as the fleet, so 70,000 taxis cost milliseconds per
simulated second.

True link speed (:func:`link_speed_kph`) is the road's free-flow speed (85 %
of its limit, times a fixed per-link factor for signals and parking) divided
by the time-of-day congestion the buses use
(:func:`topis.city.profiles.congestion_factor`, interpolated between hours):
rush hours slow every link, bridges take 1.6× and the green zone 1.3× the
peak excess of other links; at night links run faster than free flow.

Status: a vacant taxi finds a fare at a rate set so that the occupied share
follows :data:`OCCUPIED_SHARE_BY_HOUR` (late evening busiest); a fare lasts
``taxi_trip_mean_s`` on average; pick-up and drop-off stop the taxi for
``taxi_stop_s``. Vacant taxis cruise slower (``taxi_vacant_speed_factor``) and
now and then wait at a stand (speed 0): probe data has both, and a link-speed
estimate has to cope with them.

A taxi reports a fix every ``taxi_fix_interval_s`` (phases spread at random),
with Gaussian position noise of ``taxi_gps_noise_m`` per axis, speed noise of
1.5 km/h and heading noise of 3°. Fixes are lost singly (``taxi_drop_rate``)
and in gaps (``taxi_gap_fraction`` of fixes, mean ``taxi_gap_mean_s``). The
ground truth of every due fix, lost or not, is kept when asked
(:class:`topis.sim.truth.TaxiFixTruth`): true link, offset, position, the
taxi's speed and the link's speed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import shapely

from topis.city.model import City
from topis.city.profiles import congestion_factor
from topis.geo import M_PER_DEG_LAT, Projection, bearing_deg
from topis.schemas.probes import TaxiFixes, taxi_pseudonyms
from topis.sim.truth import TaxiFixTruth

if TYPE_CHECKING:
    from topis.sim.simulator import SimConfig

#: share of the taxis in service that carry a fare, by local hour (Seoul-like: late evening busiest)
OCCUPIED_SHARE_BY_HOUR = np.array([
    0.70, 0.62, 0.50, 0.40, 0.35, 0.38, 0.45, 0.60, 0.65, 0.55, 0.50, 0.50,
    0.52, 0.50, 0.50, 0.52, 0.55, 0.62, 0.65, 0.60, 0.58, 0.65, 0.72, 0.75,
])
FREE_FLOW_SHARE = 0.85  #: free-flow speed over the limit
BRIDGE_EXCESS, GREEN_ZONE_EXCESS = 1.6, 1.3  #: multipliers of the peak excess (congestion - 1)
LINK_FACTOR_SIGMA = 0.10  #: log-normal sigma of the fixed per-link speed factor
DRIVER_FACTOR_SIGMA = 0.08  #: log-normal sigma of each taxi's own speed factor
SPEED_NOISE_KPH, HEADING_NOISE_DEG = 1.5, 3.0


@dataclass(frozen=True)
class RoadArrays:
    """The directed links of the road graph as arrays; link ``k`` runs from node ``tail[k]`` to ``head[k]``."""

    link_ids: tuple[str, ...]
    head: np.ndarray  #: index of the end node
    length_m: np.ndarray
    limit_kph: np.ndarray
    excess: np.ndarray  #: multiplier of the peak excess: bridges, green zone, else 1
    lat0: np.ndarray  #: start node latitude
    lon0: np.ndarray
    dlat: np.ndarray  #: end minus start latitude
    dlon: np.ndarray
    heading_deg: np.ndarray
    out_off: np.ndarray  #: per node: first of its outgoing links in ``out_links``
    out_n: np.ndarray  #: per node: number of outgoing links
    out_links: np.ndarray  #: outgoing links, grouped by tail node
    rev_pos: np.ndarray  #: per link: position of its reverse link among the head node's outgoing links, -1 if none


def road_arrays(city: City) -> RoadArrays:
    """Flatten ``city.graph`` (links in ``link_id`` order) into :class:`RoadArrays`."""
    g = city.graph
    nodes = {n: i for i, n in enumerate(sorted(g.nodes))}
    edges = sorted(g.edges(data=True), key=lambda e: e[2]["link_id"])
    tail = np.array([nodes[u] for u, _, _ in edges], dtype=np.int64)
    head = np.array([nodes[v] for _, v, _ in edges], dtype=np.int64)
    lat = np.array([g.nodes[n]["lat"] for n in sorted(g.nodes)])
    lon = np.array([g.nodes[n]["lon"] for n in sorted(g.nodes)])
    proj = Projection(city.center_lat, city.center_lon)
    x, y = proj.to_xy(lat, lon)
    mid_lon, mid_lat = (lon[tail] + lon[head]) / 2, (lat[tail] + lat[head]) / 2
    green = shapely.contains_xy(city.green_zone, mid_lon, mid_lat)
    bridge = np.array([d["road_class"] == "bridge" for _, _, d in edges])
    order = np.argsort(tail, kind="stable")
    out_n = np.bincount(tail, minlength=len(nodes))
    out_off = np.concatenate(([0], np.cumsum(out_n)[:-1]))
    position = np.empty(len(edges), dtype=np.int64)  # position of each link among its tail's outgoing links
    position[order] = np.arange(len(edges)) - out_off[tail[order]]
    index = {(int(tail[k]), int(head[k])): k for k in range(len(edges))}
    rev_pos = np.array([position[index[(int(head[k]), int(tail[k]))]] if (int(head[k]), int(tail[k])) in index
                        else -1 for k in range(len(edges))], dtype=np.int64)
    return RoadArrays(
        link_ids=tuple(d["link_id"] for _, _, d in edges), head=head,
        length_m=np.array([d["length_m"] for _, _, d in edges]),
        limit_kph=np.array([d["speed_limit_kph"] for _, _, d in edges]),
        excess=np.where(bridge, BRIDGE_EXCESS, np.where(green, GREEN_ZONE_EXCESS, 1.0)),
        lat0=lat[tail], lon0=lon[tail], dlat=lat[head] - lat[tail], dlon=lon[head] - lon[tail],
        heading_deg=bearing_deg(x[head] - x[tail], y[head] - y[tail]),
        out_off=out_off, out_n=out_n, out_links=order, rev_pos=rev_pos,
    )


def hourly_congestion(hour_f: float, weekend: bool) -> float:
    """:func:`~topis.city.profiles.congestion_factor` interpolated linearly between hour midpoints."""
    h0 = int(np.floor(hour_f - 0.5))
    w = hour_f - 0.5 - h0
    return (1 - w) * congestion_factor(h0 % 24, weekend) + w * congestion_factor((h0 + 1) % 24, weekend)


def link_speed_kph(roads: RoadArrays, link_factor: np.ndarray, hour_f: float, weekend: bool) -> np.ndarray:
    """True mean speed of every link at fractional local hour ``hour_f`` (see module docs).

    Parameters
    ----------
    roads : RoadArrays
        The links.
    link_factor : numpy.ndarray
        Fixed per-link factor on the free-flow speed (signals, parking; mean 1).
    hour_f : float
        Local hour of day with its fraction, 0 <= hour_f < 24.
    weekend : bool
        Weekend or public holiday (half the peak excess).

    Returns
    -------
    numpy.ndarray
        km/h per link.
    """
    c = hourly_congestion(hour_f, weekend)
    slowdown = np.maximum(1.0 + (c - 1.0) * roads.excess, 1.0) if c > 1.0 else np.full(len(roads.excess), c)
    return roads.limit_kph * FREE_FLOW_SHARE * link_factor / slowdown


class TaxiFleet:
    """The taxis of a city: state arrays and one vectorised :meth:`tick` (see module docs)."""

    def __init__(self, city: City, n: int, now_ts: float, cfg: SimConfig, rng: np.random.Generator, key: bytes,
                 hour_f: float, weekend: bool):
        """``n`` taxis spread over the links (by length) at ``now_ts``; ids pseudonymised with ``key``.

        ``cfg`` gives the ``taxi_*`` settings; ``hour_f`` (local hour with its
        fraction) and ``weekend`` set the first link speeds and occupied share.
        """
        self.cfg, self.rng = cfg, rng
        self.roads = road_arrays(city)
        roads = self.roads
        self.link_factor = rng.lognormal(-LINK_FACTOR_SIGMA**2 / 2, LINK_FACTOR_SIGMA, len(roads.link_ids))
        self.ids = taxi_pseudonyms(key, [f"taxi-{k:06d}" for k in range(n)])
        self.driver = rng.lognormal(-DRIVER_FACTOR_SIGMA**2 / 2, DRIVER_FACTOR_SIGMA, n)
        self.link = rng.choice(len(roads.link_ids), size=n, p=roads.length_m / roads.length_m.sum())
        self.pos_m = rng.uniform(0.0, roads.length_m[self.link])
        self.occupied = rng.random(n) < OCCUPIED_SHARE_BY_HOUR[int(hour_f) % 24]
        self.parked_until = np.full(n, -np.inf)
        self.next_fix = now_ts + rng.uniform(0.0, cfg.taxi_fix_interval_s, n)
        self.gap_until = np.full(n, -np.inf)
        self.link_kph = link_speed_kph(roads, self.link_factor, hour_f, weekend)

    def __len__(self) -> int:
        return len(self.ids)

    def tick(self, t0: float, t1: float, hour_f: float, weekend: bool,
             truth: list[TaxiFixTruth] | None = None) -> TaxiFixes:
        """Advance every taxi from ``t0`` to ``t1``; return the fixes delivered at ``t1``.

        The truth of every fix due in the tick (delivered or lost) is appended
        to ``truth`` when one is given.
        """
        dt_s = t1 - t0
        self.link_kph = link_speed_kph(self.roads, self.link_factor, hour_f, weekend)
        self._status(t1, dt_s, int(hour_f) % 24)
        self._drive(t1, dt_s)
        return self._fixes(t1, truth)

    def speed_mps(self, t: float, idx=slice(None)) -> np.ndarray:
        """True speed at ``t`` of taxis ``idx``: link speed × driver factor, slower when vacant, 0 when stopped."""
        v = self.link_kph[self.link[idx]] / 3.6 * self.driver[idx]
        v = np.where(self.occupied[idx], v, v * self.cfg.taxi_vacant_speed_factor)
        return np.where(self.parked_until[idx] > t, 0.0, v)

    def _status(self, t1: float, dt_s: float, hour: int) -> None:
        cfg, rng = self.cfg, self.rng
        share = OCCUPIED_SHARE_BY_HOUR[hour]
        vacant_mean_s = cfg.taxi_trip_mean_s * (1.0 - share) / share
        u = rng.random((3, len(self.ids)))
        pick_up = ~self.occupied & (u[0] < -np.expm1(-dt_s / vacant_mean_s))
        drop_off = self.occupied & (u[1] < -np.expm1(-dt_s / cfg.taxi_trip_mean_s))
        changed = pick_up | drop_off
        self.occupied ^= changed
        self.parked_until[changed] = t1 + cfg.taxi_stop_s
        to_stand = ~self.occupied & ~changed & (self.parked_until <= t1) & (u[2] < -np.expm1(-dt_s / cfg.taxi_stand_every_s))
        self.parked_until[to_stand] = t1 + rng.exponential(cfg.taxi_stand_mean_s, int(to_stand.sum()))

    def _drive(self, t1: float, dt_s: float) -> None:
        roads, rng = self.roads, self.rng
        speed = self.speed_mps(t1)
        self.pos_m = self.pos_m + speed * dt_s
        over = np.flatnonzero(self.pos_m >= roads.length_m[self.link])
        while len(over):
            # time left after the link's end, spent on the next link at that link's speed
            left_s = (self.pos_m[over] - roads.length_m[self.link[over]]) / np.maximum(speed[over], 1e-9)
            node = roads.head[self.link[over]]
            n_out = roads.out_n[node]
            k = np.floor(rng.random(len(over)) * np.maximum(n_out - 1, 1)).astype(np.int64)
            rev = roads.rev_pos[self.link[over]]
            k = np.where((n_out > 1) & (rev >= 0) & (k >= rev), k + 1, k)  # skip the U-turn
            self.link[over] = roads.out_links[roads.out_off[node] + np.minimum(k, n_out - 1)]
            speed[over] = self.speed_mps(t1, over)
            self.pos_m[over] = speed[over] * left_s
            over = over[self.pos_m[over] >= roads.length_m[self.link[over]]]

    def _fixes(self, t1: float, truth: list[TaxiFixTruth] | None) -> TaxiFixes:
        cfg, rng, roads = self.cfg, self.rng, self.roads
        due = np.flatnonzero(self.next_fix <= t1)
        if not len(due):
            return TaxiFixes.empty()
        self.next_fix[due] = np.maximum(self.next_fix[due] + cfg.taxi_fix_interval_s, t1)
        n, link = len(due), self.link[due]
        frac = self.pos_m[due] / roads.length_m[link]
        true_lat = roads.lat0[link] + frac * roads.dlat[link]
        true_lon = roads.lon0[link] + frac * roads.dlon[link]
        true_kph = self.speed_mps(t1, due) * 3.6
        u = rng.random((2, n))
        gap_start = u[0] < cfg.taxi_gap_fraction / max(cfg.taxi_gap_mean_s / cfg.taxi_fix_interval_s, 1.0)
        self.gap_until[due[gap_start]] = t1 + rng.exponential(cfg.taxi_gap_mean_s, int(gap_start.sum()))
        delivered = (self.gap_until[due] < t1) & (u[1] >= cfg.taxi_drop_rate)
        noise = rng.normal(0.0, 1.0, (4, n))
        lat = true_lat + noise[0] * cfg.taxi_gps_noise_m / M_PER_DEG_LAT
        lon = true_lon + noise[1] * cfg.taxi_gps_noise_m / (M_PER_DEG_LAT * np.cos(np.radians(true_lat)))
        moving = true_kph > 0
        speed = np.where(moving, np.maximum(true_kph + noise[2] * SPEED_NOISE_KPH, 0.0), 0.0)
        heading = np.mod(roads.heading_deg[link] + np.where(moving, noise[3] * HEADING_NOISE_DEG, 0.0), 360.0)
        if truth is not None:
            truth.append(TaxiFixTruth(self.ids[due], np.full(n, t1), link.astype(np.int32), self.pos_m[due],
                                      true_lat, true_lon, true_kph, self.link_kph[link], self.occupied[due],
                                      delivered))
        keep = np.flatnonzero(delivered)
        return TaxiFixes(self.ids[due[keep]], np.full(len(keep), round(t1, 3)), np.round(lat[keep], 7),
                         np.round(lon[keep], 7), np.round(speed[keep], 1).astype(np.float32),
                         np.round(heading[keep], 1).astype(np.float32), self.occupied[due[keep]])

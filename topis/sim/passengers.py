"""Passengers: hourly OD demand between the stops of each pattern, queues, cards, transfers.

Demand model (expected passengers per hour from stop ``o`` to a later stop
``d`` of one pattern)::

    rate[o, d] = B * share(hour) * w[o] / sum(w) * q(d | o)

with ``B`` the daily boardings of the city, ``share`` the hourly profile (AM/PM
peaks, night trough), ``w`` stop weight times route frequency, and ``q`` a
geometric ride length (mean ``mean_ride_stops``) folded onto the stops left.
"""

from __future__ import annotations

import hashlib

import numpy as np

from topis.city.model import City
from topis.city.profiles import BOARDING_SHARE_WEEKDAY, BOARDING_SHARE_WEEKEND
from topis.sim.network import PatternArrays

FARE_CLASSES = ("adult", "youth", "child", "senior", "free")
FARE_SHARE = (0.75, 0.08, 0.03, 0.12, 0.02)

#: a waiting passenger: (card number, destination stop index, fare class index, arrival ts, transfers made)
Passenger = tuple


def ride_length_probs(n_left: int, mean_ride_stops: float) -> np.ndarray:
    """q(d | o) over the ``n_left`` later stops: geometric ride length folded modulo ``n_left``.

    Parameters
    ----------
    n_left : int
        Stops after the origin (>= 1).
    mean_ride_stops : float
        Mean of the unfolded geometric ride length, stops.

    Returns
    -------
    numpy.ndarray
        Probabilities of alighting 1, 2, ..., n_left stops later; sums to 1.
    """
    p = 1.0 / mean_ride_stops
    k = np.arange(1, 20 * n_left + 200)
    geo = p * (1 - p) ** (k - 1)
    folded = np.bincount((k - 1) % n_left, weights=geo, minlength=n_left)
    return folded / folded.sum()


def card_hash(key: bytes, card_number: int) -> str:
    """Keyed hash of a card number (BLAKE2b, 16 hex chars): stable per card, not reversible without the key."""
    return hashlib.blake2b(str(card_number).encode(), key=key, digest_size=8).hexdigest()


class Demand:
    """Waiting passengers per pattern stop, fed by Poisson arrivals from the OD model."""

    def __init__(self, city: City, pa: PatternArrays, daily_boardings: float, mean_ride_stops: float,
                 rng: np.random.Generator):
        self.pa, self.rng, self.mean_ride_stops = pa, rng, mean_ride_stops
        self.daily_boardings = daily_boardings
        n = len(pa.stop_ids)
        w = np.zeros(n)
        weight_of = {s.stop_id: s.demand_weight for s in city.stops}
        self._pattern_of = np.zeros(n, dtype=np.int64)
        self._k_of = np.zeros(n, dtype=np.int64)
        self._active_wd = np.zeros((len(pa.route_ids), 24), dtype=bool)
        self._active_we = np.zeros((len(pa.route_ids), 24), dtype=bool)
        for p, rid in enumerate(pa.route_ids):
            route = city.route(rid)
            freq = 1.0 / max(min(h for h in route.headway_weekday_s + route.headway_weekend_s if h > 0), 60)
            a, m = pa.stop_off[p], pa.stop_n[p]
            self._pattern_of[a:a + m] = p
            self._k_of[a:a + m] = np.arange(m)
            for k in range(m - 1):
                w[a + k] = weight_of[pa.stop_ids[a + k]] * freq
            for arr, heads in ((self._active_wd, route.headway_weekday_s), (self._active_we, route.headway_weekend_s)):
                on = np.array(heads) > 0
                arr[p] = on | np.roll(on, 1)
        self.weight = w / w.sum()
        self.queues: list[list[Passenger]] = [[] for _ in range(n)]
        self.boarding_points: dict[str, list[int]] = {}
        for g, stop_id in enumerate(pa.stop_ids):
            if self._k_of[g] < pa.stop_n[self._pattern_of[g]] - 1:
                self.boarding_points.setdefault(stop_id, []).append(g)
        self._next_card = 1
        self._rate_key: tuple | None = None
        self._rate = np.zeros(n)

    def hourly_rate(self, hour: int, weekend: bool) -> np.ndarray:
        """Expected boardings per hour at every pattern stop (0 where the route does not run)."""
        share = (BOARDING_SHARE_WEEKEND if weekend else BOARDING_SHARE_WEEKDAY)[hour]
        active = (self._active_we if weekend else self._active_wd)[self._pattern_of, hour]
        return self.daily_boardings * share * self.weight * active

    def od_matrix(self, pattern: int, hour: int, weekend: bool) -> np.ndarray:
        """Expected trips per hour between the stops of one pattern (upper triangular)."""
        a, m = self.pa.stop_off[pattern], self.pa.stop_n[pattern]
        origin = self.hourly_rate(hour, weekend)[a:a + m]
        od = np.zeros((m, m))
        for o in range(m - 1):
            od[o, o + 1:] = origin[o] * ride_length_probs(m - 1 - o, self.mean_ride_stops)
        return od

    def new_card(self) -> int:
        """A fresh card number."""
        card, self._next_card = self._next_card, self._next_card + 1
        return card

    def destination(self, g: int) -> int:
        """Random alighting stop index for a passenger boarding at pattern stop ``g``."""
        p, k = self._pattern_of[g], self._k_of[g]
        n_left = int(self.pa.stop_n[p] - 1 - k)
        ride = int(self.rng.geometric(1.0 / self.mean_ride_stops))
        return int(k + 1 + (ride - 1) % n_left)

    def arrive(self, t0: float, t1: float, hour: int, weekend: bool) -> int:
        """Add Poisson arrivals for (t0, t1] to the queues; returns how many."""
        key = (hour, weekend)
        if key != self._rate_key:
            self._rate_key, self._rate = key, self.hourly_rate(hour, weekend) / 3600.0
        counts = self.rng.poisson(self._rate * (t1 - t0))
        nonzero = np.flatnonzero(counts)
        gs = np.repeat(nonzero, counts[nonzero])
        n = len(gs)
        if not n:
            return 0
        ts = t0 + self.rng.uniform(0.0, t1 - t0, n)
        fares = self.rng.choice(len(FARE_CLASSES), size=n, p=FARE_SHARE)
        rides = self.rng.geometric(1.0 / self.mean_ride_stops, size=n)
        k = self._k_of[gs]
        n_left = self.pa.stop_n[self._pattern_of[gs]] - 1 - k
        dest = k + 1 + (rides - 1) % n_left
        card0 = self._next_card
        self._next_card += n
        for j, (g, d, f, t) in enumerate(zip(gs.tolist(), dest.tolist(), fares.tolist(), ts.tolist())):
            self.queues[g].append((card0 + j, d, f, t, 0))
        return n

    def add_transfer(self, stop_id: str, not_pattern: int, card: int, fare: int, ts: float) -> bool:
        """Queue a transferring passenger at another route's pattern stop ``stop_id``; False if none."""
        points = [g for g in self.boarding_points.get(stop_id, ()) if self._pattern_of[g] != not_pattern]
        if not points:
            return False
        g = points[int(self.rng.integers(len(points)))]
        self.queues[g].append((card, self.destination(g), fare, ts, 1))
        return True

    def board(self, g: int, room: int, now: float, max_wait_s: float) -> list[Passenger]:
        """Passengers who board at pattern stop ``g`` (first come first served, up to ``room``).

        Passengers who arrived after ``now`` stay; those who waited longer than
        ``max_wait_s`` have given up and are dropped.
        """
        queue = self.queues[g]
        if not queue:
            return []
        ready = [x for x in queue if now - max_wait_s <= x[3] <= now]
        later = [x for x in queue if x[3] > now]
        self.queues[g] = ready[room:] + later
        return ready[:room]

    def pattern_stop(self, pattern: int, k: int) -> int:
        """Global index of stop ``k`` of ``pattern``."""
        return int(self.pa.stop_off[pattern] + k)

"""Card-tap vocabulary: the route model and the records the demand stages pass on.

The demand path is three pure stages, each keyed so that Kafka partitioning
holds the state it needs (see :mod:`streams.demand.boardings`, :mod:`streams.demand.od`,
:mod:`streams.demand.loads`)::

    card.taps (key route_id) --boardings.advance--> located taps
        located taps (key card_hash) --od.advance--> rides + linked journeys
            rides (key route_id) --loads.advance--> segment loads

This module holds what they share: :class:`RoutePatterns` (each route's stop
patterns and stop coordinates) and :class:`Journey` (rides linked by
transfers), plus the local hour-of-day rule and the re-keying between stages.
The records that travel between them - :class:`~topis.schemas.demand.LocatedTap`
(a tap placed on a pattern and a vehicle run) and
:class:`~topis.schemas.demand.Ride` (one boarding with its observed or inferred
alighting), in their batches - are in :mod:`topis.schemas.demand`.

Wiring sketch (Faust; the states are msgspec Structs, stored as bytes)::

    @app.agent(card_taps)                       # TapBatch, key = route_id
    async def count_boardings(stream):
        async for key, batch in stream.items():
            st = tap_state_by_route.get(key) or boardings.RouteTapState(key)
            st, located = boardings.advance(st, batch.events, patterns)
            tap_state_by_route[key] = st
            for bucket, out in by_card_bucket(located).items():   # re-key for the card stage
                await located_taps.send(key=bucket, value=out)

    # located_taps (key card bucket) -> od.advance / od.expire on a timer
    #   -> by_route(rides) (key route_id) -> loads.advance; journeys -> od.accumulate
    # publish loads.squirrel_input(...) and od.owl_input(...) on a timer.

Times are epoch seconds UTC (``ts``); hour-of-day buckets are local Seoul
time. Korea has kept UTC+9 with no daylight saving since 1988, so the local
hour is computed with a fixed offset (checked against ``zoneinfo`` in tests).
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field

import msgspec

from topis.geo import haversine_m
from topis.schemas.demand import LocatedTap, LocatedTapBatch, Ride, RideBatch

#: Offset of Asia/Seoul from UTC in seconds (no DST since 1988).
SEOUL_UTC_OFFSET_S = 9 * 3600



def local_hour(ts: float) -> int:
    """Hour of day (0..23) in Asia/Seoul of epoch-seconds ``ts``."""
    return int((ts + SEOUL_UTC_OFFSET_S) // 3600) % 24


class Pattern(msgspec.Struct, frozen=True):
    """One stop sequence that the buses of a route run (one per direction)."""

    route_id: str  #: route the pattern belongs to
    direction_id: int  #: 0 or 1 as in GTFS; a loop route has one pattern
    stop_ids: tuple[str, ...]  #: stops in running order


@dataclass(frozen=True)
class RoutePatterns:
    """Stop patterns of every route and the coordinates of every stop.

    Build once at an entry point (from GTFS with :meth:`from_feed`, or from
    hand-made patterns) and pass to the stages; it is configuration, not state.
    """

    patterns: tuple[Pattern, ...]
    stop_lat_lon: dict[str, tuple[float, float]]
    _where: dict[tuple[str, str], list[tuple[int, int]]] = field(init=False, repr=False)
    _cum_dist_m: list[list[float]] = field(init=False, repr=False)
    _by_route_dir: dict[tuple[str, int], int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        where: dict[tuple[str, str], list[tuple[int, int]]] = {}
        cum: list[list[float]] = []
        by_rd: dict[tuple[str, int], int] = {}
        for p_idx, pat in enumerate(self.patterns):
            by_rd.setdefault((pat.route_id, pat.direction_id), p_idx)
            dists = [0.0]
            for i, stop_id in enumerate(pat.stop_ids):
                where.setdefault((pat.route_id, stop_id), []).append((p_idx, i))
                if i:
                    dists.append(dists[-1] + self.stop_distance_m(pat.stop_ids[i - 1], stop_id))
            cum.append(dists)
        object.__setattr__(self, "_where", where)
        object.__setattr__(self, "_cum_dist_m", cum)
        object.__setattr__(self, "_by_route_dir", by_rd)

    @classmethod
    def from_feed(cls, feed) -> RoutePatterns:
        """Build from a GTFS :class:`streams.bus.gtfs.Feed`.

        Per route and direction (a missing ``direction_id`` counts as 0) the
        pattern is the stop sequence of the trip with the most stops; ties go
        to the smallest trip id, so the result is deterministic.
        """
        best: dict[tuple[str, int], tuple[int, str]] = {}
        for trip_id in sorted(feed.trips):
            trip = feed.trips[trip_id]
            key = (trip.route_id, trip.direction_id or 0)
            if key not in best or len(trip.stop_ids) > best[key][0]:
                best[key] = (len(trip.stop_ids), trip_id)
        patterns = tuple(
            Pattern(route_id, direction_id, tuple(feed.trips[trip_id].stop_ids))
            for (route_id, direction_id), (_, trip_id) in sorted(best.items())
        )
        lat_lon = {sid: (st.lat, st.lon) for sid, st in feed.stops.items()}
        return cls(patterns=patterns, stop_lat_lon=lat_lon)

    @classmethod
    def from_city(cls, city) -> RoutePatterns:
        """Build from the demo city (:class:`topis.city.model.City`): its routes' patterns and stops."""
        patterns = tuple(
            Pattern(route.route_id, pat.direction_id, tuple(pat.stop_ids))
            for route in city.routes for pat in route.patterns
        )
        return cls(patterns=patterns, stop_lat_lon={s.stop_id: (s.lat, s.lon) for s in city.stops})

    def stop_distance_m(self, stop_a: str, stop_b: str) -> float:
        """Straight-line distance between two stops; NaN if either is unknown."""
        a, b = self.stop_lat_lon.get(stop_a), self.stop_lat_lon.get(stop_b)
        if a is None or b is None:
            return math.nan
        return haversine_m(a[0], a[1], b[0], b[1])

    def locate(self, route_id: str, stop_id: str) -> list[tuple[int, int]]:
        """``(pattern_index, stop_index)`` of every place ``stop_id`` has on the route."""
        return self._where.get((route_id, stop_id), [])

    def pattern_index(self, route_id: str, direction_id: int) -> int | None:
        """Index of the pattern of ``route_id`` in ``direction_id``, if any."""
        return self._by_route_dir.get((route_id, direction_id))

    def along_m(self, pattern_index: int, stop_index: int) -> float:
        """Distance along the pattern from its first stop, metres (NaN if coordinates are missing)."""
        return self._cum_dist_m[pattern_index][stop_index]

    def route_patterns(self, route_id: str) -> list[int]:
        """Indices of the patterns of ``route_id``."""
        return [i for i, p in enumerate(self.patterns) if p.route_id == route_id]

    @staticmethod
    def segment_id(from_stop_id: str, to_stop_id: str) -> str:
        """Id of the segment between two consecutive stops: ``"FROM>TO"``."""
        return f"{from_stop_id}>{to_stop_id}"


class Journey(msgspec.Struct, frozen=True):
    """Rides of one card linked by transfers: one origin-destination trip."""

    card_hash: str
    rides: tuple[Ride, ...]

    @property
    def origin_stop_id(self) -> str:
        return self.rides[0].board_stop_id

    @property
    def start_ts(self) -> float:
        return self.rides[0].board_ts

    @property
    def n_transfers(self) -> int:
        return len(self.rides) - 1


# --- batches between the stages ------------------------------------------------------------


#: card buckets of the card stage. Few, so that a batch of taps makes few messages (with 256, nearly one
#: message per tap: 12,600 a Seoul minute); not too few, so that a bucket's checkpoint (its cards' open rides)
#: stays well under one Kafka message at Seoul's peak (with 16: over 1 MB after 10 min).
CARD_BUCKETS = 64


def card_bucket(card_hash: str, n_buckets: int = CARD_BUCKETS) -> str:
    """Stable bucket of a card (``"c000"``..): the Kafka key of the card stage.

    Keying by bucket rather than by card lets one message carry many cards'
    taps (Faust's cost is per message) while every tap of a card still lands
    in the same partition. CRC-32, so every process and restart agrees.
    """
    return f"c{zlib.crc32(card_hash.encode()) % n_buckets:03d}"


def by_card_bucket(located: Iterable[LocatedTap], n_buckets: int = CARD_BUCKETS) -> dict[str, LocatedTapBatch]:
    """Located taps grouped into one batch per card bucket, in time order within each."""
    groups: dict[str, list[LocatedTap]] = {}
    for lt in located:
        groups.setdefault(card_bucket(lt.tap.card_hash, n_buckets), []).append(lt)
    return {k: LocatedTapBatch(sorted(v, key=lambda lt: lt.tap.ts)) for k, v in sorted(groups.items())}


def by_route(rides: Iterable[Ride]) -> dict[str, RideBatch]:
    """Rides grouped into one batch per route."""
    groups: dict[str, list[Ride]] = {}
    for r in rides:
        groups.setdefault(r.route_id, []).append(r)
    return {k: RideBatch(v) for k, v in sorted(groups.items())}

"""Published demand aggregates: the schemas the optimizer reads.

These are the messages the demand stages publish (e.g. on ``demand.squirrel``
and ``demand.owl``) and the planners consume. Each is a msgspec Struct, so it
travels as JSON like the wire batches, and each has a ``to_numpy``-style
method returning the arrays a planner works on.

* :class:`SquirrelInput` — per route, per direction, per local hour: the load
  on every segment between consecutive stops (peak vehicle load and total
  passengers), with segment ids. Input of the Squirrel (short-turn) planner.
* :class:`OwlInput` — the night (00–05 h local) origin-destination matrix
  between stops and between zones. Input of the Owl (night network) planner.
* :class:`ODMatrix` — a sparse OD matrix of any hours, at stop or zone level.

Units are in the names: ``_pax`` = passengers (fractional where an alighting
was inferred from a distribution), ``hour_local`` = hour of day in Asia/Seoul.
"""

from __future__ import annotations

import logging
from typing import Literal

import msgspec
import numpy as np

#: Demand aggregate schema version; bump on a breaking change.
VERSION = 1


class SegmentLoads(msgspec.Struct, frozen=True):
    """Loads on the segments of one route pattern in one local hour."""

    route_id: str
    direction_id: int  #: 0/1 as in GTFS
    hour_local: int  #: 0..23, Asia/Seoul; a segment is counted in the hour a bus is estimated to cross it
    segment_ids: list[str]  #: ``"FROM>TO"`` for each segment, in running order
    from_stop_ids: list[str]
    to_stop_ids: list[str]
    peak_load_pax: list[float]  #: highest load of any one bus crossing the segment this hour
    passengers_pax: list[float]  #: passengers crossing the segment this hour, all buses
    bus_passes: list[int]  #: bus runs seen crossing the segment with at least one rider

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(peak_load_pax, passengers_pax, bus_passes)`` as numpy arrays (float64, float64, int64)."""
        return (
            np.asarray(self.peak_load_pax, dtype=np.float64),
            np.asarray(self.passengers_pax, dtype=np.float64),
            np.asarray(self.bus_passes, dtype=np.int64),
        )


class SquirrelInput(msgspec.Struct, frozen=True, tag="demand.squirrel/1", tag_field="schema"):
    """Segment load profiles of one route, per direction and hour (key = route_id)."""

    route_id: str
    generated_at_ts: float  #: epoch seconds UTC
    profiles: list[SegmentLoads]  #: one per (direction, hour) that had riders
    rides: int  #: rides behind these loads
    inferred_alighting_share: float  #: share of rides whose alighting was inferred (chain or distribution)

    def load_matrix(self, direction_id: int, what: Literal["peak", "passengers"] = "peak") -> tuple[np.ndarray, list[str]]:
        """Hours × segments matrix of one direction.

        Returns
        -------
        (ndarray of shape (24, n_segments), list of segment ids)
            ``peak_load_pax`` (or ``passengers_pax``) per local hour and
            segment; zero where nothing was seen. Empty if the direction has
            no profile.
        """
        rows = [p for p in self.profiles if p.direction_id == direction_id]
        if not rows:
            return np.zeros((24, 0)), []
        seg_ids = rows[0].segment_ids
        out = np.zeros((24, len(seg_ids)))
        for p in rows:
            out[p.hour_local] = p.peak_load_pax if what == "peak" else p.passengers_pax
        return out, list(seg_ids)


class ODMatrix(msgspec.Struct, frozen=True, tag="demand.od/1", tag_field="schema"):
    """Sparse origin-destination trips between stops or zones over some local hours."""

    level: Literal["stop", "zone"]
    hours_local: list[int]  #: local hours summed in this matrix (by journey start)
    ids: list[str]  #: stop or zone ids; matrix rows and columns follow this order
    origin_index: list[int]  #: row of each non-zero entry
    destination_index: list[int]  #: column of each non-zero entry
    trips_pax: list[float]  #: linked journeys (fractional where inferred)

    def to_dense(self) -> np.ndarray:
        """The ``len(ids) × len(ids)`` matrix of trips (float64)."""
        out = np.zeros((len(self.ids), len(self.ids)))
        np.add.at(out, (np.asarray(self.origin_index, dtype=np.int64),
                        np.asarray(self.destination_index, dtype=np.int64)),
                  np.asarray(self.trips_pax, dtype=np.float64))
        return out

    def total_pax(self) -> float:
        return float(sum(self.trips_pax))


class OwlInput(msgspec.Struct, frozen=True, tag="demand.owl/1", tag_field="schema"):
    """Night demand (journeys starting 00:00–04:59 local) for the Owl planner."""

    generated_at_ts: float  #: epoch seconds UTC
    stop_od: ODMatrix
    zone_od: ODMatrix | None  #: None when no stop→zone mapping was given
    journeys: int  #: night journeys behind the matrices (with a known destination)
    inferred_alighting_share: float  #: share of the night journeys' rides whose alighting was inferred


_ENCODER = msgspec.json.Encoder()


def encode(aggregate: SquirrelInput | OwlInput | ODMatrix) -> bytes:
    """JSON bytes of an aggregate, for a topic or a file."""
    return _ENCODER.encode(aggregate)


def decode(data: bytes) -> SquirrelInput | OwlInput | ODMatrix:
    """Parse bytes written by :func:`encode` (the ``schema`` tag says which)."""
    return msgspec.json.decode(data, type=SquirrelInput | OwlInput | ODMatrix)


# --- hand-over to the optimizer's planners -----------------------------------------------------


def squirrel_peak_profile(
    sq: SquirrelInput,
    stop_lat_lon: dict[str, tuple[float, float]],
    *,
    peak_hours: tuple[int, ...] = (7, 8, 17, 18),
    days: float = 1.0,
    buses_per_h: float = 7.5,
    capacity_per_bus: float = 60.0,
):
    """The route as an :class:`optimizer.squirrel.PeakProfile` (one cycle of links).

    A Seoul route is one cyclic service, so the directions are chained in
    ``direction_id`` order into one cycle of stops; the links joining them at
    the turnarounds carry no load. ``load_per_h`` of each link is the highest,
    over ``peak_hours``, of the passengers crossing it per hour, divided by
    ``days`` (the days the aggregate covers). Positions use the optimizer's
    Seoul projection (:func:`optimizer.seoul.to_metres`).

    Raises
    ------
    ValueError
        If the aggregate has no profile or a stop has no coordinates.
    """
    from optimizer.seoul import to_metres
    from optimizer.squirrel import PeakProfile

    by_dir: dict[int, list[SegmentLoads]] = {}
    for p in sq.profiles:
        by_dir.setdefault(p.direction_id, []).append(p)
    if not by_dir:
        raise ValueError(f"route {sq.route_id}: no load profile")
    stop_ids: list[str] = []
    load: list[float] = []
    for direction in sorted(by_dir):
        rows = by_dir[direction]
        stops = rows[0].from_stop_ids + rows[0].to_stop_ids[-1:]
        peak = np.zeros(len(stops) - 1)
        for p in rows:
            if p.hour_local in peak_hours:
                peak = np.maximum(peak, np.asarray(p.passengers_pax, dtype=float))
        stop_ids += stops
        load += [*(peak / days).tolist(), 0.0]  # the last link runs to the next direction's start
    missing = [s for s in stop_ids if s not in stop_lat_lon]
    if missing:
        raise ValueError(f"route {sq.route_id}: no coordinates for stops {missing[:5]}")
    lat = np.array([stop_lat_lon[s][0] for s in stop_ids])
    lon = np.array([stop_lat_lon[s][1] for s in stop_ids])
    xy_m = to_metres(lon, lat)
    link_m = np.sqrt(((np.roll(xy_m, -1, axis=0) - xy_m) ** 2).sum(axis=1))
    return PeakProfile(sq.route_id, np.array(stop_ids), xy_m, link_m, np.array(load), buses_per_h, capacity_per_bus)


def owl_night_demand(
    owl: OwlInput,
    stop_lat_lon: dict[str, tuple[float, float]],
    *,
    days: float = 1.0,
    travel_min: np.ndarray | None = None,
):
    """The night stop OD as an :class:`optimizer.owl.NightDemand` (trips per night).

    Stops without coordinates are dropped with their trips (counted in the
    log). ``travel_min`` (stop × stop, in ``owl.stop_od.ids`` order after the
    drop) is passed through.
    """
    from optimizer.owl import NightDemand
    from optimizer.seoul import to_metres

    ids = owl.stop_od.ids
    keep = np.array([s in stop_lat_lon for s in ids], dtype=bool)
    od = owl.stop_od.to_dense()
    dropped = od.sum() - od[np.ix_(keep, keep)].sum()
    if dropped:
        logging.getLogger(__name__).info("owl_night_demand: %.1f trips at stops without coordinates dropped", dropped)
    kept = [s for s, k in zip(ids, keep) if k]
    lat = np.array([stop_lat_lon[s][0] for s in kept], dtype=float)
    lon = np.array([stop_lat_lon[s][1] for s in kept], dtype=float)
    return NightDemand.from_od(np.array(kept), to_metres(lon, lat).reshape(-1, 2), od[np.ix_(keep, keep)] / days, travel_min)

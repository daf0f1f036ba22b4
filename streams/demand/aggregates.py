"""Published demand aggregates: reading and writing them, and handing them to the optimizer's planners.

The aggregates are the messages the demand stages publish on ``demand.squirrel``
and ``demand.owl`` and the planners consume; their schemas
(:class:`~topis.schemas.demand.SquirrelInput`, :class:`~topis.schemas.demand.OwlInput`,
:class:`~topis.schemas.demand.ODMatrix`) are in :mod:`topis.schemas.demand`.
:func:`encode` / :func:`decode` read and write them (topics and files);
:func:`squirrel_peak_profile` and :func:`owl_night_demand` turn them into the
planners' problem types.
"""

from __future__ import annotations

import logging

import numpy as np

from topis import wire
from topis.schemas.demand import Aggregate, OwlInput, SegmentLoads, SquirrelInput


def encode(aggregate: Aggregate) -> bytes:
    """JSON bytes of an aggregate, for a topic or a file."""
    return wire.encode(aggregate)


def decode(data: bytes) -> Aggregate:
    """Parse bytes written by :func:`encode` (the ``schema`` tag says which); raises :class:`topis.wire.WireError`."""
    return wire.decode(data, Aggregate)


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

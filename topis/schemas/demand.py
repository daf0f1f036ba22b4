"""Demand messages: located taps and rides between the demand stages, and the planners' inputs.

* ``card.located`` — :class:`LocatedTapBatch`: taps placed on a route pattern
  and a bus run, keyed by card bucket (see :func:`streams.demand.taps.card_bucket`);
* ``card.rides`` — :class:`RideBatch`: boardings with their observed or
  inferred alightings, keyed by route;
* ``demand.squirrel`` — :class:`SquirrelInput`: per route, direction and local
  hour, the load on every segment between consecutive stops (Squirrel planner);
* ``demand.owl`` — :class:`OwlInput`: the night (00–05 h local) OD between
  stops and zones (Owl planner); :class:`ODMatrix` is a sparse OD of any hours.

Units are in the names: ``_pax`` = passengers (fractional where an alighting
was inferred from a distribution), ``hour_local`` = hour of day in Asia/Seoul.
"""

from __future__ import annotations

from typing import Literal

import msgspec
import numpy as np

from topis.schemas.inputs import CardTap

AlightMethod = Literal["tap", "chain", "distribution", "none"]


class LocatedTap(msgspec.Struct, frozen=True, omit_defaults=True):
    """A card tap placed on a route pattern and a vehicle run by the route stage."""

    tap: CardTap  #: the tap as it came off the wire
    pattern_index: int | None = None  #: pattern of the route model; None if the stop is not on the route
    stop_index: int | None = None  #: position of the stop in that pattern
    run_no: int = 0  #: count of the vehicle's runs (start to end of a pattern) seen so far


class Alighting(msgspec.Struct, frozen=True):
    """Where a ride ended: one stop with its share of the ride (shares sum to 1)."""

    stop_id: str
    stop_index: int | None  #: position in the ride's pattern; None when off the pattern
    share: float  #: fraction of the passenger, 1.0 unless spread over a distribution


class Ride(msgspec.Struct, frozen=True, omit_defaults=True):
    """One boarding with its alighting, observed or inferred; key = route_id downstream."""

    card_hash: str
    route_id: str
    vehicle_id: str
    board_stop_id: str
    board_ts: float  #: epoch seconds UTC
    alight_ts: float  #: epoch seconds UTC; estimated unless ``alight_method == "tap"``
    alight_method: AlightMethod  #: how the alighting was found
    alightings: tuple[Alighting, ...] = ()  #: empty when ``alight_method == "none"``
    pattern_index: int | None = None
    board_stop_index: int | None = None
    run_no: int = 0
    fare_class: str = "adult"


class LocatedTapBatch(msgspec.Struct, frozen=True, tag="card.located_tap/1", tag_field="schema"):
    """Located taps of one card bucket in one message; key = the bucket of their cards."""

    events: list[LocatedTap]


class RideBatch(msgspec.Struct, frozen=True, tag="card.ride/1", tag_field="schema"):
    """Closed rides of one route in one message; key = route_id."""

    events: list[Ride]


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


#: a published demand aggregate (on a topic or in a file); its ``schema`` tag says which.
Aggregate = SquirrelInput | OwlInput | ODMatrix

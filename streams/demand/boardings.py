"""Stage 1 of the demand path, keyed by route_id: taps → boardings, alightings, located taps.

One :class:`RouteTapState` per route (a Faust table entry keyed by the
``TapBatch`` key). :func:`advance` folds a batch of the route's taps into it:

* counts of tapped boardings and alightings per stop and local hour;
* each tap placed on a pattern of the route and on a *vehicle run*: a bus
  starts a new run when its taps jump back along the pattern (it turned at a
  terminal), move to another pattern, or pause longer than ``run_gap_s``;
* the observed load of each vehicle (tap-ons minus tap-offs this run). It is
  an upper bound: riders who do not tap off are only known once the card
  stage has seen their next boarding (see :mod:`streams.demand.od` and
  :mod:`streams.demand.loads` for the inferred loads).

The located taps are the output: the caller re-keys them by ``card_hash`` for
the card stage, because linking a card's rides needs its whole day across
routes, which no route partition holds.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

import msgspec

from streams.demand.taps import RoutePatterns, local_hour
from topis.schemas.demand import LocatedTap
from topis.schemas.inputs import CardTap

log = logging.getLogger(__name__)


class VehicleRun(msgspec.Struct):
    """What the route stage remembers of one bus."""

    pattern_index: int | None = None  #: pattern of the current run
    last_stop_index: int = -1  #: furthest stop reached on it
    last_ts: float = 0.0  #: time of the vehicle's last tap, epoch seconds
    run_no: int = 0  #: runs started so far
    onboard_observed_pax: int = 0  #: tap-ons minus tap-offs this run, never below 0


class RouteTapState(msgspec.Struct):
    """State of one route in the route stage (serialisable with msgspec)."""

    route_id: str
    #: stop_id -> local hour -> [tapped boardings, tapped alightings]
    counts: dict[str, dict[int, list[int]]] = msgspec.field(default_factory=dict)
    vehicles: dict[str, VehicleRun] = msgspec.field(default_factory=dict)
    n_taps: int = 0  #: taps seen
    n_off_route: int = 0  #: taps at a stop that is not on any pattern of the route
    n_wrong_route: int = 0  #: taps whose route_id is not this state's route (dropped)


class StopHourCount(msgspec.Struct, frozen=True):
    """Tapped boardings and alightings at one stop of one route in one local hour."""

    route_id: str
    stop_id: str
    hour_local: int  #: 0..23, Asia/Seoul
    boardings_pax: int
    alightings_tapped_pax: int


def advance(
    state: RouteTapState,
    taps: Iterable[CardTap],
    model: RoutePatterns,
    *,
    run_gap_s: float = 1800.0,
    back_tolerance_stops: int = 2,
) -> tuple[RouteTapState, list[LocatedTap]]:
    """Fold one batch of a route's taps into its state.

    Parameters
    ----------
    state : RouteTapState
        State of the route; updated in place and returned.
    taps : iterable of CardTap
        Taps of this route, in any order (sorted by ``ts`` here).
    model : RoutePatterns
        Stop patterns of the routes.
    run_gap_s : float
        A vehicle silent longer than this starts a new run, seconds.
    back_tolerance_stops : int
        A tap this many stops behind the vehicle's furthest stop still belongs
        to the same run (readers report stops late); further back is a new run.

    Returns
    -------
    (RouteTapState, list of LocatedTap)
        The state and the taps placed on patterns and runs, in time order.
    """
    located: list[LocatedTap] = []
    for tap in sorted(taps, key=lambda t: t.ts):
        if tap.route_id != state.route_id:
            state.n_wrong_route += 1
            log.debug("tap for route %s in state of %s dropped", tap.route_id, state.route_id)
            continue
        state.n_taps += 1
        by_hour = state.counts.get(tap.stop_id)
        if by_hour is None:
            by_hour = state.counts[tap.stop_id] = {}
        hour = local_hour(tap.ts)
        pair = by_hour.get(hour)
        if pair is None:
            pair = by_hour[hour] = [0, 0]
        pair[0 if tap.direction == "on" else 1] += 1
        located.append(_place(state, tap, model, run_gap_s, back_tolerance_stops))
    return state, located


def _place(
    state: RouteTapState, tap: CardTap, model: RoutePatterns, run_gap_s: float, back_tol: int
) -> LocatedTap:
    """Place one tap on a pattern and a run of its vehicle, updating the vehicle."""
    veh = state.vehicles.get(tap.vehicle_id)
    if veh is None:
        veh = state.vehicles[tap.vehicle_id] = VehicleRun(last_ts=tap.ts)
    places = model.locate(tap.route_id, tap.stop_id)
    if not places:
        state.n_off_route += 1
        veh.last_ts = max(veh.last_ts, tap.ts)
        return LocatedTap(tap=tap, run_no=veh.run_no)
    # nobody boards at a pattern's last stop or alights at its first: on a loop
    # route the terminal is both, and this tells a new run from the end of the last
    usable = [
        (p, i) for p, i in places
        if (i < len(model.patterns[p].stop_ids) - 1 if tap.direction == "on" else i > 0)
    ] or places
    ahead = [i for p, i in usable if p == veh.pattern_index and i >= veh.last_stop_index - back_tol]
    stale = tap.ts - veh.last_ts > run_gap_s
    if ahead and not stale:
        p_idx, s_idx = veh.pattern_index, min(ahead)
    else:
        p_idx, s_idx = _start_place(usable, tap.direction)
        veh.run_no += 1
        veh.pattern_index, veh.last_stop_index = p_idx, -1
        veh.onboard_observed_pax = 0
    veh.last_stop_index = max(veh.last_stop_index, s_idx)
    veh.last_ts = max(veh.last_ts, tap.ts)
    if tap.direction == "on":
        veh.onboard_observed_pax += 1
    else:
        veh.onboard_observed_pax = max(0, veh.onboard_observed_pax - 1)
    return LocatedTap(tap=tap, pattern_index=p_idx, stop_index=s_idx, run_no=veh.run_no)


def _start_place(places: list[tuple[int, int]], direction: str) -> tuple[int, int]:
    """Where a new run most plausibly is: early on a pattern for a boarding, late for an alighting."""
    if direction == "on":
        return min(places, key=lambda pi: pi[1])
    return max(places, key=lambda pi: pi[1])


def stop_hour_counts(state: RouteTapState) -> list[StopHourCount]:
    """The route's tapped boardings and alightings per stop and hour, sorted."""
    return [
        StopHourCount(state.route_id, stop_id, hour, on, off)
        for stop_id, by_hour in sorted(state.counts.items())
        for hour, (on, off) in sorted(by_hour.items())
    ]


def vehicle_loads_observed(state: RouteTapState) -> dict[str, int]:
    """Observed passengers on board per vehicle (tap-ons minus tap-offs, current run)."""
    return {vid: v.onboard_observed_pax for vid, v in sorted(state.vehicles.items())}

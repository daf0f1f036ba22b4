"""Stage 2 of the demand path, keyed by card_hash: rides, inferred alightings, journeys, OD.

Why a second stage: a transfer or an inferred alighting depends on the same
card's *next* boarding, which is usually on another route and so in another
route partition. The route stage (:mod:`streams.demand.boardings`) therefore emits
located taps that the caller re-keys by ``card_hash``; every tap of a card then
reaches the same partition, whose :class:`CardLinkState` holds each card's
open ride and current journey. The stage is a pure fold
(:func:`advance`) plus a clock (:func:`expire`) that closes what can no
longer change. Taps of one card are assumed to arrive roughly in time order
(re-keying lag is seconds, a card's taps are minutes apart).

Alighting of a ride, in order of preference:

``tap``
    the card tapped off on the same route.
``chain``
    standard trip-chaining: no tap-off, so the alighting is the stop
    downstream on the ride's pattern nearest to the card's next boarding,
    if within ``max_walk_m``.
``distribution``
    no usable next boarding (none within ``max_open_ride_s``, or too far):
    the ride is spread over the downstream stops in proportion to the
    route's tapped alightings there (:class:`AlightingModel`), uniform if
    the route has none.
``none``
    nothing can be said (boarded off the route model, or at a last stop).

The time of an inferred alighting is estimated from the distance along the
pattern at ``inferred_speed_kph``, never later than the next boarding.

Repeats are ignored and counted (``repeated_taps``): a tap redelivered by
Kafka (at-least-once) after it was folded in, and a second tap-on on the same
bus within ``double_tap_s``.

Journeys: the next boarding joins the current journey when it is on another
route and within ``transfer_window_s`` (30 min, inclusive) of the previous
alighting, which must be tapped or chained. OD is counted per journey: from
its first boarding stop to its last alighting (shares), in the local hour of
the first boarding.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping

import msgspec

from streams.demand.taps import Journey, RoutePatterns, by_route, local_hour
from topis.geo import Projection
from topis.schemas.demand import Alighting, LocatedTap, ODMatrix, OwlInput, Ride, RideBatch

log = logging.getLogger(__name__)

#: seconds per stop assumed when stop coordinates are missing
_FALLBACK_S_PER_STOP = 90.0


class ODConfig(msgspec.Struct, frozen=True):
    """Rules of the card stage."""

    transfer_window_s: float = 1800.0  #: next boarding within this of an alighting is a transfer
    max_walk_m: float = 1000.0  #: trip-chaining accepts a downstream stop at most this far from the next boarding
    max_open_ride_s: float = 3 * 3600.0  #: a ride with no tap-off waits this long for a next boarding
    inferred_speed_kph: float = 15.0  #: bus speed used to time inferred alightings
    double_tap_s: float = 60.0  #: a second tap-on on the same bus within this is a repeat, ignored
    reorder_s: float = 0.0  #: taps wait this long behind the newest tap seen, so late partitions fall into order


class AlightingModel(msgspec.Struct, frozen=True):
    """Tapped alightings per stop of each pattern: the fallback alighting distribution."""

    weights_by_pattern: dict[int, list[float]]  #: pattern index -> weight of each stop index


class CardTrail(msgspec.Struct):
    """What the card stage remembers of one card."""

    open_ride: LocatedTap | None = None  #: boarding not yet closed
    journey: list[Ride] = msgspec.field(default_factory=list)  #: closed rides of the current journey
    last_ts: float = 0.0


class CardLinkState(msgspec.Struct):
    """State of one card partition (serialisable with msgspec)."""

    cards: dict[str, CardTrail] = msgspec.field(default_factory=dict)
    rides_by_method: dict[str, int] = msgspec.field(default_factory=dict)  #: rides closed, per alight method
    orphan_tap_offs: int = 0  #: tap-offs with no open boarding on that route
    repeated_taps: int = 0  #: redelivered or repeated taps ignored
    pending: list[LocatedTap] = msgspec.field(default_factory=list)  #: taps held for reordering, by time
    newest_ts: float = 0.0  #: newest tap time seen in this partition


class CardStageOutput(msgspec.Struct):
    rides: list[Ride] = msgspec.field(default_factory=list)
    journeys: list[Journey] = msgspec.field(default_factory=list)


def alighting_model_from_counts(model: RoutePatterns, alightings_by_route_stop: Mapping[tuple[str, str], float]) -> AlightingModel:
    """Build the alighting distribution from tapped alightings per (route_id, stop_id).

    ``alightings_by_route_stop`` is typically summed from
    :func:`streams.demand.boardings.stop_hour_counts` of the previous days.
    """
    weights: dict[int, list[float]] = {}
    for p_idx, pat in enumerate(model.patterns):
        weights[p_idx] = [float(alightings_by_route_stop.get((pat.route_id, s), 0.0)) for s in pat.stop_ids]
    return AlightingModel(weights)


def advance(
    state: CardLinkState,
    taps: Iterable[LocatedTap],
    model: RoutePatterns,
    alighting_model: AlightingModel | None = None,
    config: ODConfig = ODConfig(),
) -> tuple[CardLinkState, CardStageOutput]:
    """Fold located taps (any cards of this partition) into the card state.

    Taps are held until ``config.reorder_s`` behind the newest tap seen
    (default 0: folded at once). Returns the state and the rides and journeys
    closed.
    """
    batch = list(taps)
    if batch:
        state.newest_ts = max(state.newest_ts, max(lt.tap.ts for lt in batch))
        state.pending.extend(batch)
        state.pending.sort(key=lambda t: t.tap.ts)
    return state, _release(state, state.newest_ts - config.reorder_s, model, alighting_model, config)


def _release(state: CardLinkState, until_ts: float, model, alighting_model, config) -> CardStageOutput:
    """Fold the held taps up to ``until_ts`` in time order."""
    n = 0
    while n < len(state.pending) and state.pending[n].tap.ts <= until_ts:
        n += 1
    ready, state.pending = state.pending[:n], state.pending[n:]
    out = CardStageOutput()
    for lt in ready:
        trail = state.cards.get(lt.tap.card_hash)
        if trail is None:
            trail = state.cards[lt.tap.card_hash] = CardTrail()
        trail.last_ts = max(trail.last_ts, lt.tap.ts)
        if _is_repeat(trail, lt, config):
            state.repeated_taps += 1
        elif lt.tap.direction == "on":
            _board(state, trail, lt, model, alighting_model, config, out)
        else:
            _tap_off(state, trail, lt, out)
    return out


def expire(
    state: CardLinkState,
    now_ts: float,
    model: RoutePatterns,
    alighting_model: AlightingModel | None = None,
    config: ODConfig = ODConfig(),
) -> tuple[CardLinkState, CardStageOutput]:
    """Close what can no longer change at ``now_ts``: stale open rides, then finished journeys.

    Held taps up to ``now_ts - config.reorder_s`` are folded first. Call it on
    a timer (and with ``now_ts=math.inf`` at the end of a replay).
    """
    out = _release(state, now_ts - config.reorder_s, model, alighting_model, config)
    for card in list(state.cards):  # insertion order: deterministic, no sort per tick
        trail = state.cards[card]
        if trail.open_ride is not None and now_ts - trail.open_ride.tap.ts > config.max_open_ride_s:
            ride = _close_by_distribution(trail.open_ride, model, alighting_model, config)
            _finish_ride(state, trail, ride, out)
        if trail.open_ride is None and trail.journey and now_ts - trail.journey[-1].alight_ts > config.transfer_window_s:
            out.journeys.append(Journey(card, tuple(trail.journey)))
            trail.journey = []
        if trail.open_ride is None and not trail.journey:
            del state.cards[card]
    return state, out


def _is_repeat(trail: CardTrail, lt: LocatedTap, config: ODConfig) -> bool:
    """A Kafka redelivery of a tap already folded in, or a second tap-on on the same bus."""
    t = lt.tap
    last = trail.journey[-1] if trail.journey else None
    if t.direction == "on":
        if trail.open_ride is not None:
            o = trail.open_ride.tap
            return o.vehicle_id == t.vehicle_id and 0.0 <= t.ts - o.ts <= config.double_tap_s
        return last is not None and last.board_ts == t.ts and last.vehicle_id == t.vehicle_id
    return (
        trail.open_ride is None and last is not None and last.alight_method == "tap"
        and last.alight_ts == t.ts and last.vehicle_id == t.vehicle_id
    )


def _board(state, trail, lt, model, alighting_model, config, out) -> None:
    if trail.open_ride is not None:
        ride = _close_by_chain(trail.open_ride, lt, model, alighting_model, config)
        _finish_ride(state, trail, ride, out)
    if trail.journey and not _is_transfer(trail.journey[-1], lt, config):
        out.journeys.append(Journey(lt.tap.card_hash, tuple(trail.journey)))
        trail.journey = []
    trail.open_ride = lt


def _tap_off(state, trail, lt, out) -> None:
    board = trail.open_ride
    if board is None or board.tap.route_id != lt.tap.route_id or lt.tap.ts < board.tap.ts:
        state.orphan_tap_offs += 1
        return
    on_pattern = (
        lt.pattern_index is not None
        and lt.pattern_index == board.pattern_index
        and board.stop_index is not None
        and lt.stop_index is not None
        and lt.stop_index > board.stop_index
    )
    alighting = Alighting(lt.tap.stop_id, lt.stop_index if on_pattern else None, 1.0)
    _finish_ride(state, trail, _ride(board, lt.tap.ts, "tap", (alighting,)), out)


def _finish_ride(state: CardLinkState, trail: CardTrail, ride: Ride, out: CardStageOutput) -> None:
    state.rides_by_method[ride.alight_method] = state.rides_by_method.get(ride.alight_method, 0) + 1
    out.rides.append(ride)
    trail.open_ride = None
    trail.journey.append(ride)


def _is_transfer(prev: Ride, nxt: LocatedTap, config: ODConfig) -> bool:
    if prev.alight_method not in ("tap", "chain") or prev.route_id == nxt.tap.route_id:
        return False
    return 0.0 <= nxt.tap.ts - prev.alight_ts <= config.transfer_window_s


def _ride(board: LocatedTap, alight_ts: float, method: str, alightings: tuple[Alighting, ...]) -> Ride:
    t = board.tap
    return Ride(
        card_hash=t.card_hash, route_id=t.route_id, vehicle_id=t.vehicle_id,
        board_stop_id=t.stop_id, board_ts=t.ts, alight_ts=alight_ts, alight_method=method,
        alightings=alightings, pattern_index=board.pattern_index,
        board_stop_index=board.stop_index, run_no=board.run_no, fare_class=t.fare_class,
    )


def _travel_s(model: RoutePatterns, p_idx: int, b_idx: int, a_idx: int, config: ODConfig) -> float:
    dist_m = model.along_m(p_idx, a_idx) - model.along_m(p_idx, b_idx)
    if math.isnan(dist_m):
        return (a_idx - b_idx) * _FALLBACK_S_PER_STOP
    return dist_m / (config.inferred_speed_kph / 3.6)


def _close_by_chain(board, nxt, model, alighting_model, config) -> Ride:
    """Trip-chaining: alight at the downstream stop nearest to the next boarding stop."""
    p_idx, b_idx = board.pattern_index, board.stop_index
    nxt_ll = model.stop_lat_lon.get(nxt.tap.stop_id)
    if p_idx is None or b_idx is None or nxt_ll is None:
        return _close_by_distribution(board, model, alighting_model, config, cap_ts=nxt.tap.ts)
    stops = model.patterns[p_idx].stop_ids
    best_m, best_i = math.inf, -1
    for i in range(b_idx + 1, len(stops)):
        d = model.stop_distance_m(stops[i], nxt.tap.stop_id)
        if d < best_m:
            best_m, best_i = d, i
    if best_i < 0 or best_m > config.max_walk_m:
        return _close_by_distribution(board, model, alighting_model, config, cap_ts=nxt.tap.ts)
    alight_ts = min(board.tap.ts + _travel_s(model, p_idx, b_idx, best_i, config), nxt.tap.ts)
    return _ride(board, alight_ts, "chain", (Alighting(stops[best_i], best_i, 1.0),))


def _close_by_distribution(board, model, alighting_model, config, cap_ts: float = math.inf) -> Ride:
    """Spread the ride over downstream stops in proportion to the route's tapped alightings."""
    p_idx, b_idx = board.pattern_index, board.stop_index
    if p_idx is None or b_idx is None or b_idx + 1 >= len(model.patterns[p_idx].stop_ids):
        return _ride(board, board.tap.ts, "none", ())
    stops = model.patterns[p_idx].stop_ids
    weights = alighting_model.weights_by_pattern.get(p_idx) if alighting_model else None
    down = list(range(b_idx + 1, len(stops)))
    w = [weights[i] if weights is not None else 0.0 for i in down]
    total = sum(w)
    if total <= 0:
        w, total = [1.0] * len(down), float(len(down))
    alightings = tuple(Alighting(stops[i], i, wi / total) for i, wi in zip(down, w) if wi > 0)
    mean_s = sum(a.share * _travel_s(model, p_idx, b_idx, a.stop_index, config) for a in alightings)
    return _ride(board, min(board.tap.ts + mean_s, cap_ts), "distribution", alightings)


# --- OD counting -----------------------------------------------------------------------------


class ODCounts(msgspec.Struct):
    """Journeys per local hour, origin and destination (stop ids), summable across partitions."""

    trips_pax: dict[int, dict[str, dict[str, float]]] = msgspec.field(default_factory=dict)
    journeys: int = 0  #: journeys counted (known destination)
    unknown_destination: int = 0  #: journeys whose last alighting could not be placed
    rides: int = 0  #: rides in the counted journeys
    inferred_rides: int = 0  #: of which with a chained or distributed alighting
    #: local hour of the journey start -> [rides, inferred rides] of the counted journeys
    rides_by_hour: dict[int, list[int]] = msgspec.field(default_factory=dict)


def accumulate(od: ODCounts, journeys: Iterable[Journey]) -> ODCounts:
    """Add journeys to the OD counts (in place; also returned)."""
    for j in journeys:
        last = j.rides[-1]
        if not last.alightings:
            od.unknown_destination += 1
            continue
        hour = local_hour(j.start_ts)
        inferred = sum(r.alight_method in ("chain", "distribution") for r in j.rides)
        od.journeys += 1
        od.rides += len(j.rides)
        od.inferred_rides += inferred
        per_hour = od.rides_by_hour.setdefault(hour, [0, 0])
        per_hour[0] += len(j.rides)
        per_hour[1] += inferred
        by_o = od.trips_pax.setdefault(hour, {}).setdefault(j.origin_stop_id, {})
        for a in last.alightings:
            by_o[a.stop_id] = by_o.get(a.stop_id, 0.0) + a.share
    return od


def merge(a: ODCounts, b: ODCounts) -> ODCounts:
    """Sum of two OD counts (e.g. from two card partitions), as a new object."""
    out = msgspec.json.decode(msgspec.json.encode(a), type=ODCounts)
    _add_into(out, b)
    return out


def _add_into(out: ODCounts, b: ODCounts) -> None:
    """Add ``b``'s counts to ``out`` (in place; ``b`` is not changed or shared)."""
    for hour, by_o in b.trips_pax.items():
        for o, by_d in by_o.items():
            tgt = out.trips_pax.setdefault(hour, {}).setdefault(o, {})
            for d, v in by_d.items():
                tgt[d] = tgt.get(d, 0.0) + v
    out.journeys += b.journeys
    out.unknown_destination += b.unknown_destination
    out.rides += b.rides
    out.inferred_rides += b.inferred_rides
    for hour, (n, k) in b.rides_by_hour.items():
        per_hour = out.rides_by_hour.setdefault(hour, [0, 0])
        per_hour[0] += n
        per_hour[1] += k


def od_matrix(
    od: ODCounts,
    hours_local: Iterable[int],
    stop_zone: Mapping[str, str] | None = None,
    unknown_zone: str | None = None,
) -> ODMatrix:
    """Sparse OD matrix summed over ``hours_local``, between stops or (with ``stop_zone``) zones.

    Stops missing from ``stop_zone`` go to ``unknown_zone``, or are dropped
    (and logged) when it is None.
    """
    hours = sorted(set(hours_local))
    acc: dict[tuple[str, str], float] = {}
    dropped = 0.0
    for h in hours:
        for o, by_d in od.trips_pax.get(h, {}).items():
            for d, v in by_d.items():
                if stop_zone is not None:
                    o_z, d_z = stop_zone.get(o, unknown_zone), stop_zone.get(d, unknown_zone)
                    if o_z is None or d_z is None:
                        dropped += v
                        continue
                    key = (o_z, d_z)
                else:
                    key = (o, d)
                acc[key] = acc.get(key, 0.0) + v
    if dropped:
        log.info("od_matrix: %.1f trips at stops with no zone dropped", dropped)
    ids = sorted({k for pair in acc for k in pair})
    pos = {s: i for i, s in enumerate(ids)}
    keys = sorted(acc)
    return ODMatrix(
        level="zone" if stop_zone is not None else "stop",
        hours_local=hours,
        ids=ids,
        origin_index=[pos[o] for o, _ in keys],
        destination_index=[pos[d] for _, d in keys],
        trips_pax=[acc[k] for k in keys],
    )


def owl_input(
    od: ODCounts,
    now_ts: float,
    stop_zone: Mapping[str, str] | None = None,
    night_hours_local: Iterable[int] = range(0, 5),
) -> OwlInput:
    """Night OD (journeys starting 00:00–04:59 local by default) for the Owl planner."""
    hours = list(night_hours_local)
    stop_od = od_matrix(od, hours)
    n_rides = sum(od.rides_by_hour.get(h, (0, 0))[0] for h in hours)
    n_inferred = sum(od.rides_by_hour.get(h, (0, 0))[1] for h in hours)
    share = n_inferred / n_rides if n_rides else 0.0
    return OwlInput(
        generated_at_ts=now_ts,
        stop_od=stop_od,
        zone_od=od_matrix(od, hours, stop_zone) if stop_zone is not None else None,
        journeys=round(stop_od.total_pax()),
        inferred_alighting_share=share,
    )


# --- what a worker publishes on a timer -------------------------------------------------------


def close_rides(cards: Iterable[tuple[CardLinkState, ODCounts]], model: RoutePatterns) -> list[tuple[str, RideBatch]]:
    """Close, per card bucket, the rides and journeys that can no longer change; count the journeys.

    ``cards`` pairs each bucket's card state with its OD counts; both are
    updated in place (:func:`expire` at the bucket's newest tap, then
    :func:`accumulate`). Returns ``(route_id, batch)`` of the closed rides, one
    batch per route per bucket, in bucket order: what a timer publishes on
    ``card.rides``.
    """
    out: list[tuple[str, RideBatch]] = []
    for state, counts in cards:
        _, closed = expire(state, state.newest_ts, model)
        accumulate(counts, closed.journeys)
        out += by_route(closed.rides).items()
    return out


def night_input(counts: Iterable[ODCounts], now_ts: float) -> OwlInput:
    """The Owl planner's input of all these OD counts (e.g. a worker's card buckets), summed with :func:`merge`."""
    merged = ODCounts()
    for c in counts:  # into one new object: copying the sum for every bucket made this quadratic
        _add_into(merged, c)
    return owl_input(merged, now_ts)


# --- zones -----------------------------------------------------------------------------------


def grid_zones(
    stop_lat_lon: Mapping[str, tuple[float, float]],
    cell_m: float = 1000.0,
    origin_lat_lon: tuple[float, float] = (37.5665, 126.978),
) -> dict[str, str]:
    """Stop → square grid cell ``"E<i>N<j>"`` (cells of ``cell_m`` from ``origin_lat_lon``).

    Equirectangular around the origin (Seoul city hall by default), so a cell
    id means the same area in every run.
    """
    if not cell_m > 0:
        raise ValueError("cell_m must be positive")
    proj = Projection(*origin_lat_lon)
    out = {}
    for stop_id, (lat, lon) in stop_lat_lon.items():
        x_m, y_m = proj.to_xy(lat, lon)
        out[stop_id] = f"E{math.floor(x_m / cell_m)}N{math.floor(y_m / cell_m)}"
    return out


def district_zones(bus_stops_csv) -> dict[str, str]:
    """Seoul stop (ARS id) → district (gu) name, from ``seoul/bus_stops.csv``."""
    from optimizer.seoul import load_stops

    stops = load_stops(bus_stops_csv)
    return dict(zip(stops.ars_id.tolist(), stops.district.tolist()))

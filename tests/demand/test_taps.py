"""Card taps → boardings, loads, transfers and OD on a hand-made two-route city.

Route A runs west→east along latitude 37.50 (stops A1..A5, 0.01° of
longitude ≈ 882 m apart); route B runs north from B1, which is ~111 m north
of A3. Every expected figure below is worked out by hand in the comments.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import msgspec
import numpy as np
import pytest

from streams.demand import boardings, loads, od
from streams.demand.aggregates import decode, encode
from streams.demand.taps import Pattern, RoutePatterns, local_hour
from topis.geo import haversine_m
from topis.schemas.demand import OwlInput, SquirrelInput
from topis.schemas.inputs import CardTap

KST = ZoneInfo("Asia/Seoul")
#: 2026-11-23 08:00 local
T0 = datetime(2026, 11, 23, 8, 0, tzinfo=KST).timestamp()
MIN = 60.0


def city() -> RoutePatterns:
    stops = {f"A{i + 1}": (37.50, 127.00 + 0.01 * i) for i in range(5)}
    stops |= {"B1": (37.501, 127.02), "B2": (37.51, 127.02), "B3": (37.52, 127.02), "B4": (37.53, 127.02)}
    return RoutePatterns(
        patterns=(
            Pattern("A", 0, ("A1", "A2", "A3", "A4", "A5")),
            Pattern("B", 0, ("B1", "B2", "B3", "B4")),
        ),
        stop_lat_lon=stops,
    )


def tap(card, direction, route, vehicle, stop, ts) -> CardTap:
    return CardTap(card_hash=card, direction=direction, route_id=route, vehicle_id=vehicle, stop_id=stop, ts=ts)


def run_pipeline(taps, model, alighting_model=None, config=od.ODConfig()):
    """Route stage per route → card stage → load stage per route, then expire everything."""
    route_states, located = {}, []
    for t in taps:
        route_states.setdefault(t.route_id, boardings.RouteTapState(t.route_id))
    for route_id, st in route_states.items():
        _, lt = boardings.advance(st, [t for t in taps if t.route_id == route_id], model)
        located += lt
    card_state = od.CardLinkState()
    _, out1 = od.advance(card_state, located, model, alighting_model, config)
    _, out2 = od.expire(card_state, math.inf, model, alighting_model, config)
    rides = out1.rides + out2.rides
    journeys = out1.journeys + out2.journeys
    load_states = {}
    for r in rides:
        load_states.setdefault(r.route_id, loads.RouteLoadState(r.route_id))
    for route_id, st in load_states.items():
        loads.advance(st, [r for r in rides if r.route_id == route_id], model)
    return route_states, card_state, rides, journeys, load_states


def day_taps():
    """The hand-worked day (times from 08:00 local)."""
    return [
        # bus1 on A, one run: c1, c2, c4 board at A1; c3 at A2
        tap("c1", "on", "A", "bus1", "A1", T0),
        tap("c4", "on", "A", "bus1", "A1", T0 + 2),
        tap("c2", "on", "A", "bus1", "A1", T0 + 5),
        tap("c3", "on", "A", "bus1", "A2", T0 + 300),
        tap("c1", "off", "A", "bus1", "A3", T0 + 600),
        tap("c2", "off", "A", "bus1", "A3", T0 + 600),
        # c1 transfers to B 29 min after tapping off; c2 boards 31 min after
        tap("c1", "on", "B", "bus9", "B1", T0 + 600 + 29 * MIN),
        tap("c1", "off", "B", "bus9", "B3", T0 + 600 + 40 * MIN),
        tap("c2", "on", "B", "bus8", "B1", T0 + 600 + 31 * MIN),
        tap("c2", "off", "B", "bus8", "B3", T0 + 600 + 42 * MIN),
        # c3 never taps off A; boards B at B1 (nearest A stop: A3) and taps off at B4
        tap("c3", "on", "B", "bus7", "B1", T0 + 1200),
        tap("c3", "off", "B", "bus7", "B4", T0 + 1800),
        # bus2 on A: c5 rides A1 -> A2
        tap("c5", "on", "A", "bus2", "A1", T0 + 900),
        tap("c5", "off", "A", "bus2", "A2", T0 + 1100),
    ]


#: hand-set alighting distribution for route A: A3 weight 1, A5 weight 3
ALIGHT_MODEL = od.AlightingModel({0: [0.0, 0.0, 1.0, 0.0, 3.0], 1: [0.0, 0.0, 0.0, 0.0]})


def test_local_hour_matches_zoneinfo():
    for ts in np.linspace(6e8, 2e9, 97):  # Korea last used DST in 1988
        assert local_hour(ts) == datetime.fromtimestamp(ts, KST).hour


def test_boardings_and_alightings_per_stop_hour():
    route_states, *_ = run_pipeline(day_taps(), city(), ALIGHT_MODEL)
    got = {(c.stop_id, c.hour_local): (c.boardings_pax, c.alightings_tapped_pax)
           for c in boardings.stop_hour_counts(route_states["A"])}
    # A1: c1, c4, c2 (bus1) + c5 (bus2) board; A3: c1, c2 tap off; A2: c3 boards, c5 taps off
    assert got == {("A1", 8): (4, 0), ("A2", 8): (1, 1), ("A3", 8): (0, 2)}
    got_b = {(c.stop_id, c.hour_local): (c.boardings_pax, c.alightings_tapped_pax)
             for c in boardings.stop_hour_counts(route_states["B"])}
    assert got_b == {("B1", 8): (3, 0), ("B3", 8): (0, 2), ("B4", 8): (0, 1)}


def test_observed_vehicle_load_and_runs():
    st = boardings.RouteTapState("A")
    model = city()
    _, lt = boardings.advance(st, [t for t in day_taps() if t.route_id == "A"], model)
    # bus1: 4 on, 2 off -> 2 observed on board; bus2: 1 on 1 off -> 0
    assert boardings.vehicle_loads_observed(st) == {"bus1": 2, "bus2": 0}
    assert {x.run_no for x in lt if x.tap.vehicle_id == "bus1"} == {1}
    # bus1 back at A1 ten minutes later: the run restarts (it turned at the terminal)
    _, lt2 = boardings.advance(st, [tap("c9", "on", "A", "bus1", "A1", T0 + 3000)], model)
    assert lt2[0].run_no == 2 and lt2[0].stop_index == 0
    assert boardings.vehicle_loads_observed(st)["bus1"] == 1


def test_missing_tap_off_inferred_by_chain_and_distribution():
    _, _, rides, _, _ = run_pipeline(day_taps(), city(), ALIGHT_MODEL)
    by = {(r.card_hash, r.route_id): r for r in rides}
    c3 = by[("c3", "A")]
    assert c3.alight_method == "chain"
    # nearest downstream A stop to B1 is A3 (111 m), alighting there
    assert [(a.stop_id, a.share) for a in c3.alightings] == [("A3", 1.0)]
    # timed at 15 km/h over A2->A3 (~882 m): ~212 s after boarding
    d_m = haversine_m(37.50, 127.01, 37.50, 127.02)
    assert c3.alight_ts == pytest.approx(T0 + 300 + d_m / (15 / 3.6))
    c4 = by[("c4", "A")]
    assert c4.alight_method == "distribution"
    assert [(a.stop_id, a.share) for a in c4.alightings] == [("A3", 0.25), ("A5", 0.75)]
    assert by[("c1", "A")].alight_method == "tap"


def test_chain_falls_back_when_next_boarding_is_too_far():
    model = city()
    taps = [tap("x", "on", "A", "bus1", "A1", T0), tap("x", "on", "B", "bus9", "B4", T0 + 1200)]
    # B4 is ~3.3 km from the nearest A stop: beyond max_walk_m=1000 -> distribution
    _, _, rides, journeys, _ = run_pipeline(taps, model, ALIGHT_MODEL)
    ride_a = next(r for r in rides if r.route_id == "A")
    assert ride_a.alight_method == "distribution"
    assert len(journeys) == 2  # a distributed alighting never links to a transfer


def test_transfer_at_29_min_links_31_min_does_not():
    _, _, _, journeys, _ = run_pipeline(day_taps(), city(), ALIGHT_MODEL)
    by_card = {}
    for j in journeys:
        by_card.setdefault(j.card_hash, []).append(j)
    assert [len(j.rides) for j in by_card["c1"]] == [2]
    assert sorted(len(j.rides) for j in by_card["c2"]) == [1, 1]
    assert [len(j.rides) for j in by_card["c3"]] == [2]  # chained A ride then B: 688 s gap
    assert by_card["c1"][0].n_transfers == 1


def test_transfer_window_is_configurable():
    taps = [t for t in day_taps() if t.card_hash == "c2"]
    cfg = od.ODConfig(transfer_window_s=32 * MIN)
    _, _, _, journeys, _ = run_pipeline(taps, city(), ALIGHT_MODEL, cfg)
    assert [len(j.rides) for j in journeys] == [2]


def test_segment_loads_per_vehicle_and_route():
    model = city()
    _, _, _, _, load_states = run_pipeline(day_taps(), model, ALIGHT_MODEL)
    st = load_states["A"]
    bus1 = loads.vehicle_segment_loads(st, "bus1")["bus1|1|0"]
    # seg A1>A2: c1 c2 c4; A2>A3: c1 c2 c3 c4; A3>A4 and A4>A5: c4's 0.75 share
    assert bus1.load_pax == pytest.approx([3.0, 4.0, 0.75, 0.75])
    sq = loads.squirrel_input(st, model, now_ts=T0 + 7200)
    (prof,) = [p for p in sq.profiles if p.hour_local == 8]
    assert prof.segment_ids == ["A1>A2", "A2>A3", "A3>A4", "A4>A5"]
    # bus2 adds c5 on A1>A2: 4 passengers crossing, but the peak bus carried 3
    assert prof.passengers_pax == pytest.approx([4.0, 4.0, 0.75, 0.75])
    assert prof.peak_load_pax == pytest.approx([3.0, 4.0, 0.75, 0.75])
    assert prof.bus_passes == [2, 1, 1, 1]
    # rides on A: c1 c2 c5 tapped, c3 chained, c4 distributed -> 2/5 inferred
    assert sq.inferred_alighting_share == pytest.approx(0.4)
    peak, seg_ids = sq.load_matrix(0)
    assert peak.shape == (24, 4) and peak[8, 1] == pytest.approx(4.0) and peak[9].sum() == 0
    assert seg_ids == prof.segment_ids


def test_settle_keeps_peaks():
    model = city()
    _, _, _, _, load_states = run_pipeline(day_taps(), model, ALIGHT_MODEL)
    st = load_states["A"]
    before = loads.squirrel_input(st, model, 0.0)
    loads.settle(st, before_ts=math.inf)
    assert st.runs == {}
    assert loads.squirrel_input(st, model, 0.0) == before


def test_od_per_hour_between_stops_and_zones():
    _, _, _, journeys, _ = run_pipeline(day_taps(), city(), ALIGHT_MODEL)
    counts = od.accumulate(od.ODCounts(), journeys)
    m = od.od_matrix(counts, [8])
    got = {(m.ids[o], m.ids[d]): v for o, d, v in zip(m.origin_index, m.destination_index, m.trips_pax)}
    assert got == pytest.approx({
        ("A1", "B3"): 1.0,  # c1 with its transfer
        ("A1", "A3"): 1.25,  # c2's first journey + c4's 0.25
        ("B1", "B3"): 1.0,  # c2's second journey
        ("A2", "B4"): 1.0,  # c3, chained
        ("A1", "A5"): 0.75,  # c4
        ("A1", "A2"): 1.0,  # c5
    })
    zones = {"A1": "west", "A2": "west", "A3": "west", "A4": "mid", "A5": "mid",
             "B1": "north", "B2": "north", "B3": "north", "B4": "north"}
    z = od.od_matrix(counts, [8], zones)
    dense = z.to_dense()
    idx = {k: i for i, k in enumerate(z.ids)}
    assert z.ids == ["mid", "north", "west"]
    assert dense[idx["west"], idx["north"]] == pytest.approx(2.0)
    assert dense[idx["west"], idx["west"]] == pytest.approx(2.25)
    assert dense[idx["west"], idx["mid"]] == pytest.approx(0.75)
    assert dense[idx["north"], idx["north"]] == pytest.approx(1.0)
    assert dense.sum() == pytest.approx(6.0)
    assert od.od_matrix(counts, [7]).trips_pax == []


def test_owl_night_od_and_roundtrip():
    night = datetime(2026, 11, 24, 1, 30, tzinfo=KST).timestamp()
    taps = day_taps() + [
        tap("n1", "on", "A", "bus3", "A4", night),
        tap("n1", "off", "A", "bus3", "A5", night + 300),
    ]
    _, _, _, journeys, _ = run_pipeline(taps, city(), ALIGHT_MODEL)
    counts = od.accumulate(od.ODCounts(), journeys)
    owl = od.owl_input(counts, now_ts=night + 3600, stop_zone={"A4": "mid", "A5": "mid"})
    assert owl.stop_od.ids == ["A4", "A5"] and owl.stop_od.trips_pax == [1.0]
    assert owl.zone_od.ids == ["mid"] and owl.zone_od.to_dense().tolist() == [[1.0]]
    assert owl.journeys == 1
    assert owl.inferred_alighting_share == 0.0  # the night ride was tapped off; the day's c3/c4 do not count
    assert od.owl_input(counts, night, night_hours_local=[8]).inferred_alighting_share == pytest.approx(2 / 8)
    assert decode(encode(owl)) == owl
    assert isinstance(decode(encode(owl)), OwlInput)


def test_states_serialise():
    model = city()
    route_states, card_state, _, _, load_states = run_pipeline(day_taps()[:4], model, ALIGHT_MODEL)
    for st in [*route_states.values(), card_state, *load_states.values()]:
        again = msgspec.json.decode(msgspec.json.encode(st), type=type(st))
        assert again == st
    sq = loads.squirrel_input(load_states["A"], model, 0.0)
    assert isinstance(decode(encode(sq)), SquirrelInput)


def test_orphan_tap_off_and_open_ride_waits():
    model = city()
    card_state = od.CardLinkState()
    st = boardings.RouteTapState("A")
    _, lt = boardings.advance(st, [tap("z", "off", "A", "bus1", "A3", T0), tap("y", "on", "A", "bus1", "A1", T0)], model)
    _, out = od.advance(card_state, lt, model, ALIGHT_MODEL)
    assert card_state.orphan_tap_offs == 1 and out.rides == []
    # the open ride waits max_open_ride_s (3 h) for a next boarding
    _, out = od.expire(card_state, T0 + 2 * 3600, model, ALIGHT_MODEL)
    assert out.rides == []
    _, out = od.expire(card_state, T0 + 3 * 3600 + 1, model, ALIGHT_MODEL)
    # a distributed alighting cannot link to a transfer, so its journey closes with it
    assert [r.alight_method for r in out.rides] == ["distribution"]
    assert len(out.journeys) == 1 and card_state.cards == {}


def test_merge_sums_partitions():
    _, _, _, journeys, _ = run_pipeline(day_taps(), city(), ALIGHT_MODEL)
    a = od.accumulate(od.ODCounts(), journeys[:3])
    b = od.accumulate(od.ODCounts(), journeys[3:])
    whole = od.accumulate(od.ODCounts(), journeys)
    merged = od.merge(a, b)
    assert od.od_matrix(merged, range(24)) == od.od_matrix(whole, range(24))
    assert merged.journeys == whole.journeys == len(journeys)


def test_alighting_model_from_counts():
    m = od.alighting_model_from_counts(city(), {("A", "A3"): 2, ("A", "A5"): 6, ("B", "B4"): 1})
    assert m.weights_by_pattern == {0: [0, 0, 2, 0, 6], 1: [0, 0, 0, 1]}


def test_kst_day_boundary():
    assert local_hour((datetime(2026, 11, 23, 15, 0, tzinfo=timezone.utc) + timedelta(minutes=59)).timestamp()) == 0


def test_grid_zones():
    # 0.01° of latitude = 1111.95 m: one cell north of the origin row; 0.5 km west -> column -1
    lon_500m_west = 126.978 - 500 / (math.pi / 180 * 6_371_008.8 * math.cos(math.radians(37.5665)))
    z = od.grid_zones({"a": (37.5665, 126.978), "b": (37.5765, 126.978), "c": (37.5665, lon_500m_west)}, 1000.0)
    assert z == {"a": "E0N0", "b": "E0N1", "c": "E-1N0"}
    with pytest.raises(ValueError):
        od.grid_zones({}, 0.0)


SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"


def test_district_zones_from_seoul_stops():
    path = SHARED / "seoul" / "bus_stops.csv"
    if not path.is_file():
        pytest.skip(f"reference data absent: {path}")
    zones = od.district_zones(path)
    assert zones["01001"] == "종로구"  # first row of the file
    assert len(set(zones.values())) == 25


def test_route_patterns_from_real_gtfs():
    folder = SHARED / "avl" / "wmata_transitclock_2016" / "gtfs" / "S2"
    if not folder.is_dir():
        pytest.skip(f"reference data absent: {folder}")
    from streams.bus.gtfs import load_feed

    model = RoutePatterns.from_feed(load_feed(folder))
    # independently: the longest trip per (route, direction) read with csv
    import csv

    with open(folder / "trips.txt", newline="") as fh:
        trips = {r["trip_id"]: (r["route_id"], int(r.get("direction_id") or 0)) for r in csv.DictReader(fh)}
    n_stops: dict[str, int] = {}
    with open(folder / "stop_times.txt", newline="") as fh:
        for r in csv.DictReader(fh):
            n_stops[r["trip_id"]] = n_stops.get(r["trip_id"], 0) + 1
    longest: dict[tuple[str, int], int] = {}
    for tid, key in trips.items():
        longest[key] = max(longest.get(key, 0), n_stops.get(tid, 0))
    assert {(p.route_id, p.direction_id): len(p.stop_ids) for p in model.patterns} == longest


def test_redelivered_and_repeated_taps_are_ignored():
    model = city()
    taps = [t for t in day_taps() if t.card_hash == "c1"]
    once = run_pipeline(taps, model, ALIGHT_MODEL)
    # every tap delivered twice, plus a second tap-on 20 s after the first on the same bus
    twice = run_pipeline(taps + taps + [tap("c1", "on", "A", "bus1", "A1", T0 + 20)], model, ALIGHT_MODEL)
    assert twice[2] == once[2] and twice[3] == once[3]  # same rides, same journeys
    assert twice[1].repeated_taps == 5 and twice[1].orphan_tap_offs == 0


def test_reorder_buffer_restores_late_tap_off():
    model = city()
    c1 = [t for t in day_taps() if t.card_hash == "c1"]
    late_off, rest = c1[1], [c1[0], c1[2], c1[3]]  # A tap-off arrives after the B boarding

    def feed(cfg):
        st = od.CardLinkState()
        located = []
        for route_id in ("A", "B"):
            rs = boardings.RouteTapState(route_id)
            located += boardings.advance(rs, [t for t in c1 if t.route_id == route_id], model)[1]
        by_tap = {lt.tap: lt for lt in located}
        rides = []
        for batch in ([by_tap[rest[0]]], [by_tap[rest[1]]], [by_tap[late_off]], [by_tap[rest[2]]]):
            rides += od.advance(st, batch, model, ALIGHT_MODEL, cfg)[1].rides
        rides += od.expire(st, math.inf, model, ALIGHT_MODEL, cfg)[1].rides
        return st, rides

    st, rides = feed(od.ODConfig())
    assert st.orphan_tap_offs == 1 and rides[0].alight_method == "chain"
    st, rides = feed(od.ODConfig(reorder_s=3600))
    assert st.orphan_tap_offs == 0 and [r.alight_method for r in rides] == ["tap", "tap"]
    assert rides[0].alight_ts == T0 + 600 and st.pending == []


def test_run_batch_matches_stagewise_and_reads_csv(tmp_path):
    from streams.demand import batch as demand

    model = city()
    res = demand.run_batch(day_taps(), model, now_ts=T0 + 7200, alighting_model=ALIGHT_MODEL)
    _, _, rides, journeys, load_states = run_pipeline(day_taps(), model, ALIGHT_MODEL)
    assert sorted(res.rides, key=lambda r: (r.card_hash, r.board_ts)) == sorted(rides, key=lambda r: (r.card_hash, r.board_ts))
    assert res.squirrel["A"] == loads.squirrel_input(load_states["A"], model, T0 + 7200)
    assert res.owl.stop_od.trips_pax == []  # nothing at night
    path = tmp_path / "taps.csv"
    lines = ["card_hash,direction,route_id,vehicle_id,stop_id,ts"]
    for i, t in enumerate(day_taps()):
        when = datetime.fromtimestamp(t.ts, KST).isoformat() if i % 2 else repr(t.ts)
        lines.append(f"{t.card_hash},{t.direction},{t.route_id},{t.vehicle_id},{t.stop_id},{when}")
    path.write_text("\n".join(lines) + "\n")
    assert demand.read_taps_csv(path) == day_taps()
    path.write_text("card_hash,direction,route_id,vehicle_id,stop_id,ts\nc,up,A,b,A1,0\n")
    with pytest.raises(demand.TapFileError, match=r"taps.csv:2: direction"):
        demand.read_taps_csv(path)
    path.write_text("card_hash,direction,route_id,vehicle_id,stop_id,ts\nc,on,A,b,A1,2026-11-23T08:00:00\n")
    with pytest.raises(demand.TapFileError, match="no UTC offset"):
        demand.read_taps_csv(path)


def test_hand_over_to_optimizer_planners():
    from optimizer.squirrel import overloaded_sections
    from streams.demand.aggregates import owl_night_demand, squirrel_peak_profile

    model = city()
    _, _, _, _, load_states = run_pipeline(day_taps(), model, ALIGHT_MODEL)
    sq = loads.squirrel_input(load_states["A"], model, T0)
    prof = squirrel_peak_profile(sq, model.stop_lat_lon, peak_hours=(8,), days=2.0, buses_per_h=1.0, capacity_per_bus=1.8)
    assert prof.stop_ids.tolist() == ["A1", "A2", "A3", "A4", "A5"]
    # passengers per hour crossing each segment, per day over 2 days; the closing link carries none
    assert prof.load_per_h.tolist() == pytest.approx([2.0, 2.0, 0.375, 0.375, 0.0])
    assert prof.link_m[0] == pytest.approx(haversine_m(37.5, 127.0, 37.5, 127.01), rel=0.01)
    assert overloaded_sections(prof.load_per_h, prof.capacity_per_h) == [(0, 1)]
    night = datetime(2026, 11, 24, 1, 30, tzinfo=KST).timestamp()
    taps = [tap("n1", "on", "A", "bus3", "A4", night), tap("n1", "off", "A", "bus3", "A5", night + 300)]
    _, _, _, journeys, _ = run_pipeline(taps, model, ALIGHT_MODEL)
    owl = od.owl_input(od.accumulate(od.ODCounts(), journeys), night)
    demand = owl_night_demand(owl, model.stop_lat_lon)
    assert demand.stop_ids.tolist() == ["A4", "A5"]
    assert demand.od.tolist() == [[0.0, 1.0], [0.0, 0.0]]
    assert demand.board.tolist() == [1.0, 0.0] and demand.alight.tolist() == [0.0, 1.0]


def test_stage_batches_keep_cards_together_and_roundtrip():
    from streams.demand.taps import by_card_bucket, by_route, card_bucket
    from topis.schemas.demand import LocatedTapBatch, RideBatch

    model = city()
    st = boardings.RouteTapState("A")
    _, located = boardings.advance(st, [t for t in day_taps() if t.route_id == "A"], model)
    batches = by_card_bucket(located, n_buckets=4)
    assert sum(len(b.events) for b in batches.values()) == len(located)
    for key, b in batches.items():
        assert {card_bucket(lt.tap.card_hash, 4) for lt in b.events} == {key}
        assert msgspec.json.decode(msgspec.json.encode(b), type=LocatedTapBatch) == b
    assert card_bucket("c1") == card_bucket("c1") and card_bucket("c1", 256).startswith("c")
    _, _, rides, _, _ = run_pipeline(day_taps(), model, ALIGHT_MODEL)
    rb = by_route(rides)
    assert set(rb) == {"A", "B"} and len(rb["A"].events) == 5
    assert msgspec.json.decode(msgspec.json.encode(rb["A"]), type=RideBatch) == rb["A"]


def test_loop_route_terminal_is_end_of_one_run_and_start_of_the_next():
    stops = {"T": (37.5, 127.0), "X": (37.5, 127.01), "Y": (37.51, 127.01), "Z": (37.51, 127.0)}
    model = RoutePatterns((Pattern("L", 0, ("T", "X", "Y", "Z", "T")),), stops)
    taps = [
        tap("a", "on", "L", "b1", "T", T0), tap("b", "on", "L", "b1", "X", T0 + 100),
        tap("a", "off", "L", "b1", "Y", T0 + 200), tap("b", "off", "L", "b1", "T", T0 + 400),
        tap("c", "on", "L", "b1", "T", T0 + 500), tap("c", "off", "L", "b1", "X", T0 + 600),
    ]
    _, located = boardings.advance(boardings.RouteTapState("L"), taps, model)
    assert [(lt.stop_index, lt.run_no) for lt in located] == [(0, 1), (1, 1), (2, 1), (4, 1), (0, 2), (1, 2)]
    _, _, rides, _, load_states = run_pipeline(taps, model)
    assert {r.card_hash: r.alightings[0].stop_index for r in rides} == {"a": 2, "b": 4, "c": 1}
    runs = loads.vehicle_segment_loads(load_states["L"], "b1")
    assert runs["b1|1|0"].load_pax == [1.0, 2.0, 1.0, 1.0] and runs["b1|2|0"].load_pax == [1.0, 0.0, 0.0, 0.0]


def test_close_rides_expires_each_bucket_at_its_newest_tap_and_counts_journeys():
    model = city()
    located = boardings.advance(boardings.RouteTapState("A"), [
        tap("y", "on", "A", "bus1", "A1", T0), tap("w", "on", "A", "bus2", "A1", T0 + 3 * 3600 + 1)], model)[1]
    stale = od.CardLinkState()  # y's ride has waited more than max_open_ride_s at w's tap
    od.advance(stale, located, model)
    fresh = od.CardLinkState()  # x's journey may still continue with a transfer
    od.advance(fresh, boardings.advance(boardings.RouteTapState("B"), [
        tap("x", "on", "B", "bus9", "B1", T0), tap("x", "off", "B", "bus9", "B3", T0 + 600)], model)[1], model)
    counts = [od.ODCounts(), od.ODCounts()]
    closed = od.close_rides(zip([stale, fresh], counts), model)
    assert [(route, [(r.card_hash, r.alight_method) for r in batch.events]) for route, batch in closed] == [
        ("A", [("y", "distribution")])]
    assert counts[0].journeys + counts[0].unknown_destination == 1 and counts[1] == od.ODCounts()
    assert set(stale.cards) == {"w"} and set(fresh.cards) == {"x"}


def test_night_input_sums_the_buckets_counts():
    night = [msgspec.structs.replace(t, ts=t.ts - 7 * 3600) for t in day_taps()]  # 01:00 local instead of 08:00
    _, _, _, journeys, _ = run_pipeline(night, city(), ALIGHT_MODEL)
    halves = [od.accumulate(od.ODCounts(), journeys[:2]), od.accumulate(od.ODCounts(), journeys[2:])]
    got = od.night_input(halves, now_ts=5.0)
    assert got == od.owl_input(od.accumulate(od.ODCounts(), journeys), 5.0)
    assert got.journeys > 0 and got.generated_at_ts == 5.0
    assert od.night_input([], now_ts=5.0).journeys == 0
    before = [msgspec.json.encode(h) for h in halves]
    od.night_input(halves, now_ts=5.0)
    assert [msgspec.json.encode(h) for h in halves] == before  # the buckets' own counts are not changed

"""Seeded random days on route A of the toy city, checked against loads computed independently.

Buses leave A1 every 20 min and reach stop i after i × 120 s; riders tap on
at stop b and off at a > b, or never tap off (and never board again), in
which case, with no alighting model, their ride is spread uniformly over the
stops after b: segment k ≥ b then carries (n-1-k)/(n-1-b) of them.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from streams.demand import boardings, loads, od
from streams.demand.taps import Pattern, RoutePatterns, local_hour
from topis.schemas.inputs import CardTap

T0 = 1_795_388_400.0  # 2026-11-23 08:00 +09:00

N = 5  # stops on route A


def city() -> RoutePatterns:
    stops = {f"A{i + 1}": (37.50, 127.00 + 0.01 * i) for i in range(N)}
    return RoutePatterns((Pattern("A", 0, tuple(stops)),), stops)


def tap(card, direction, route, vehicle, stop, ts) -> CardTap:
    return CardTap(card_hash=card, direction=direction, route_id=route, vehicle_id=vehicle, stop_id=stop, ts=ts)


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_random_day_loads_and_od(seed):
    rng = np.random.default_rng(seed)
    model = city()
    taps, expect_run, expect_od = [], {}, {}
    for r in range(int(rng.integers(5, 60))):
        bus = int(rng.integers(0, 4))
        b = int(rng.integers(0, N - 1))
        a = int(rng.integers(b + 1, N))
        t_b = T0 + bus * 1200 + b * 120
        card = f"r{r}"
        taps.append(tap(card, "on", "A", f"bus{bus}", f"A{b + 1}", t_b))
        load = expect_run.setdefault(bus, np.zeros(N - 1))
        if rng.random() < 0.7:
            taps.append(tap(card, "off", "A", f"bus{bus}", f"A{a + 1}", T0 + bus * 1200 + a * 120))
            load[b:a] += 1
            expect_od[(f"A{b + 1}", f"A{a + 1}")] = expect_od.get((f"A{b + 1}", f"A{a + 1}"), 0) + 1
        else:
            for k in range(b, N - 1):
                load[k] += (N - 1 - k) / (N - 1 - b)
            for s in range(b + 1, N):
                key = (f"A{b + 1}", f"A{s + 1}")
                expect_od[key] = expect_od.get(key, 0) + 1 / (N - 1 - b)
    rng.shuffle(taps)
    rs = boardings.RouteTapState("A")
    _, located = boardings.advance(rs, taps, model)
    cs = od.CardLinkState()
    out1 = od.advance(cs, located, model)[1]
    out2 = od.expire(cs, math.inf, model)[1]
    ls = loads.advance(loads.RouteLoadState("A"), out1.rides + out2.rides, model)[0]
    for bus, want in expect_run.items():
        (run,) = loads.vehicle_segment_loads(ls, f"bus{bus}").values()
        assert run.load_pax == pytest.approx(want.tolist())
    total_pass = sum(np.array(row) for row in ls.passengers[0].values())
    assert total_pass == pytest.approx(sum(expect_run.values()))
    sq = loads.squirrel_input(ls, model, 0.0)
    peak = np.max([p.peak_load_pax for p in sq.profiles], axis=0)
    assert peak == pytest.approx(np.max(list(expect_run.values()), axis=0))
    counts = od.accumulate(od.ODCounts(), out1.journeys + out2.journeys)
    m = od.od_matrix(counts, range(24))
    got = {(m.ids[o], m.ids[d]): v for o, d, v in zip(m.origin_index, m.destination_index, m.trips_pax)}
    assert got == pytest.approx(expect_od)
    # every boarding is counted in its hour
    n_on = sum(t.direction == "on" for t in taps)
    assert sum(c.boardings_pax for c in boardings.stop_hour_counts(rs)) == n_on
    assert {c.hour_local for c in boardings.stop_hour_counts(rs)} <= {local_hour(T0), local_hour(T0) + 1}


@pytest.mark.parametrize("seed", [5, 6])
def test_random_day_invariants(seed):
    """Shares sum to one, loads are never negative, every boarding is one ride, OD sums to journeys."""
    rng = np.random.default_rng(seed)
    model = city()
    taps = []
    for r in range(80):
        bus, b = int(rng.integers(0, 3)), int(rng.integers(0, N - 1))
        a = int(rng.integers(b + 1, N))
        t_b = T0 + bus * 1200 + b * 120 + float(rng.uniform(0, 3600 * 4)) // 3600 * 3600
        taps.append(tap(f"k{r % 30}", "on", "A", f"bus{bus}", f"A{b + 1}", t_b))
        if rng.random() < 0.6:
            taps.append(tap(f"k{r % 30}", "off", "A", f"bus{bus}", f"A{a + 1}", t_b + (a - b) * 120))
    rs = boardings.RouteTapState("A")
    _, located = boardings.advance(rs, taps, model)
    cs = od.CardLinkState()
    out = od.advance(cs, located, model)[1]
    tail = od.expire(cs, math.inf, model)[1]
    rides, journeys = out.rides + tail.rides, out.journeys + tail.journeys
    assert len(rides) + cs.repeated_taps >= sum(t.direction == "on" for t in taps) >= len(rides)
    for r in rides:
        total = sum(a.share for a in r.alightings)
        assert total == pytest.approx(1.0) if r.alightings else r.alight_method == "none"
        assert r.alight_ts >= r.board_ts
    assert sum(len(j.rides) for j in journeys) == len(rides)
    ls = loads.advance(loads.RouteLoadState("A"), rides, model)[0]
    for run in ls.runs.values():
        assert min(run.load_pax) >= 0
    counts = od.accumulate(od.ODCounts(), journeys)
    m = od.od_matrix(counts, range(24))
    assert m.total_pax() == pytest.approx(counts.journeys)
    assert counts.journeys + counts.unknown_destination == len(journeys)

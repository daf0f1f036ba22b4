"""Taxi probes of the simulator: fleet size, fix interval, speeds by hour, noise and loss at their rates, pseudonyms."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace as with_changes

import numpy as np
import pytest

from topis import wire
from topis.city.generate import generate_city
from topis.city.model import local_midnight_ts
from topis.geo import M_PER_DEG_LAT, cell_key, grid_cell
from topis.schemas.probes import TaxiFixes, TaxiPositionBatch, taxi_pseudonym
from topis.settings import SimSettings
from topis.sim.simulator import SimConfig, Simulator
from topis.sim.taxis import OCCUPIED_SHARE_BY_HOUR, TaxiFleet, link_speed_kph, road_arrays
from topis.sim.truth import TaxiFixTruth

TUESDAY = local_midnight_ts(dt.date(2026, 11, 24))
START = TUESDAY + 7.5 * 3600
NO_LOSS = SimConfig(taxi_drop_rate=0.0, taxi_gap_fraction=0.0)


@pytest.fixture(scope="module")
def city():
    return generate_city(seed=5, scale=0.3)


@pytest.fixture(scope="module")
def roads(city):
    return road_arrays(city)


@pytest.fixture(scope="module")
def taxi_run(city):
    """Ten simulated minutes of the whole simulator with its default taxis: (simulator, step outputs)."""
    sim = Simulator(city, seed=11, start_ts=START)
    return sim, [sim.step(10.0) for _ in range(60)]


def fleet_run(city, hour: float, seconds: float, cfg: SimConfig = NO_LOSS, n: int = 600, seed: int = 1):
    """A fleet on its own from ``hour`` of a Tuesday: (fixes, truth) over ``seconds`` in 1 s ticks."""
    t = TUESDAY + hour * 3600
    fleet = TaxiFleet(city, n, t, cfg, np.random.default_rng(seed), b"key", hour, False)
    fixes, truth = [], []
    for k in range(int(seconds)):
        fixes.append(fleet.tick(t + k, t + k + 1, hour + (k + 1) / 3600, False, truth))
    return TaxiFixes.concat(fixes), TaxiFixTruth(*(np.concatenate(c) for c in zip(*truth)))


def delivered(out_list) -> TaxiFixes:
    return TaxiFixes.concat([b.arrays() for o in out_list for b in o.taxis.values()])


def test_fleet_size_is_taxis_per_scale_times_scale(city):
    assert len(Simulator(city, seed=1, start_ts=START).taxis) == round(SimSettings().taxis_per_scale * 0.3)
    assert round(SimSettings().taxis_per_scale * 18.5) == 70_000
    assert len(Simulator(city, seed=1, start_ts=START, config=SimConfig(taxis_per_scale=100)).taxis) == 30
    none = Simulator(city, seed=1, start_ts=START, config=SimConfig(taxis_per_scale=0))
    assert none.taxis is None and none.step(10.0).taxis == {}


def test_every_taxi_reports_once_per_fix_interval(city):
    for interval in (10.0, 4.0):
        fixes, _ = fleet_run(city, 10.0, 120, with_changes(NO_LOSS, taxi_fix_interval_s=interval), n=200)
        order = np.lexsort((fixes.ts, fixes.taxi_id))
        same = np.diff(fixes.taxi_id[order]) == 0
        gaps = np.diff(fixes.ts[order])[same]
        assert len(np.unique(fixes.taxi_id)) == 200 and np.all(gaps == interval)


def test_link_speeds_slower_at_rush_hour_than_at_night_and_bridges_slowest(roads):
    factor = np.ones(len(roads.link_ids))
    rush, night = link_speed_kph(roads, factor, 8.5, False), link_speed_kph(roads, factor, 3.5, False)
    weekend_rush = link_speed_kph(roads, factor, 8.5, True)
    assert np.all(rush < weekend_rush) and np.all(weekend_rush < night)
    bridge = roads.excess == 1.6
    plain_60 = (roads.excess == 1.0) & (roads.limit_kph == 60.0)
    assert bridge.any() and rush[bridge].max() < rush[plain_60].min()
    # by hand: a 60 km/h arterial at 08:30 (congestion 1.6): 60 * 0.85 / 1.6; a bridge: / (1 + 0.6 * 1.6)
    assert rush[plain_60][0] == pytest.approx(60 * 0.85 / 1.6)
    assert rush[bridge][0] == pytest.approx(60 * 0.85 / 1.96)


def test_reported_speeds_slower_at_rush_hour_than_at_night(city):
    rush, _ = fleet_run(city, 8.0, 300)
    night, _ = fleet_run(city, 3.0, 300)
    rush_kph, night_kph = (np.median(f.speed_kph[f.speed_kph > 0]) for f in (rush, night))
    assert rush_kph < 0.75 * night_kph
    assert 15 < rush_kph < 40 and 35 < night_kph < 70


def test_gps_noise_is_as_set(city):
    fixes, truth = fleet_run(city, 10.0, 200, with_changes(NO_LOSS, taxi_gps_noise_m=8.0))
    assert np.array_equal(fixes.taxi_id, truth.taxi_id) and np.array_equal(fixes.ts, truth.ts)
    north_m = (fixes.lat - truth.lat) * M_PER_DEG_LAT
    east_m = (fixes.lon - truth.lon) * M_PER_DEG_LAT * np.cos(np.radians(truth.lat))
    assert np.std(north_m) == pytest.approx(8.0, rel=0.08) and np.std(east_m) == pytest.approx(8.0, rel=0.08)
    assert abs(np.mean(north_m)) < 0.5


def test_lost_fixes_as_set(city):
    for drop, gap in ((0.10, 0.0), (0.0, 0.10), (0.03, 0.02)):
        cfg = with_changes(NO_LOSS, taxi_drop_rate=drop, taxi_gap_fraction=gap, taxi_gap_mean_s=40.0)
        fixes, truth = fleet_run(city, 10.0, 1200, cfg, n=400)
        lost = 1 - truth.delivered.mean()
        assert lost == pytest.approx(drop + gap, abs=0.25 * (drop + gap)), (drop, gap)
        assert len(fixes.ts) == truth.delivered.sum()


def test_gaps_lose_runs_of_fixes_not_single_ones(city):
    cfg = with_changes(NO_LOSS, taxi_gap_fraction=0.10, taxi_gap_mean_s=60.0)
    _, truth = fleet_run(city, 10.0, 1200, cfg, n=300)
    order = np.lexsort((truth.ts, truth.taxi_id))
    lost = ~truth.delivered[order]
    run_ends = np.flatnonzero(lost[:-1] & ~lost[1:])
    assert lost.sum() / max(len(run_ends), 1) > 3  # mean run of lost fixes ~ 60 s / 10 s


def test_taxis_stay_on_their_links(city, roads):
    _, truth = fleet_run(city, 10.0, 300)
    link = truth.link
    assert np.all((truth.offset_m >= 0) & (truth.offset_m <= roads.length_m[link] + 1e-6))
    frac = truth.offset_m / roads.length_m[link]
    assert np.allclose(truth.lat, roads.lat0[link] + frac * roads.dlat[link])
    # consecutive links of one taxi connect: the link after a change starts where the last one ended
    order = np.lexsort((truth.ts, truth.taxi_id))
    a, b = link[order][:-1], link[order][1:]
    same_taxi = np.diff(truth.taxi_id[order]) == 0
    changed = same_taxi & (a != b)
    assert changed.sum() > 100
    # within 10 s a taxi may cross a whole short link, so nearly all, not all, changes join directly
    end_lat, end_lon = roads.lat0[a] + roads.dlat[a], roads.lon0[a] + roads.dlon[a]
    direct = np.isclose(roads.lat0[b], end_lat) & np.isclose(roads.lon0[b], end_lon)
    assert direct[changed].mean() > 0.9
    u_turn = np.isclose(roads.lat0[b] + roads.dlat[b], roads.lat0[a]) & np.isclose(roads.lon0[b] + roads.dlon[b],
                                                                                    roads.lon0[a])
    u_turns = changed & direct & u_turn
    assert np.all(roads.out_n[roads.head[a[u_turns]]] == 1)  # U-turns only at dead ends


def test_occupied_share_follows_the_hour_and_vacant_taxis_are_slower(city):
    _, truth = fleet_run(city, 23.0, 600, n=1500)
    assert truth.occupied.mean() == pytest.approx(OCCUPIED_SHARE_BY_HOUR[23], abs=0.05)
    moving = truth.speed_kph > 0
    ratio = truth.speed_kph / truth.link_speed_kph
    assert np.median(ratio[moving & ~truth.occupied]) < 0.9 * np.median(ratio[moving & truth.occupied])
    assert (truth.speed_kph == 0).mean() > 0.01  # pick-ups, drop-offs and stands


def test_ids_are_keyed_pseudonyms_stable_per_taxi(city, taxi_run):
    sim, outs = taxi_run
    fixes = delivered(outs)
    assert set(np.unique(fixes.taxi_id).tolist()) <= set(sim.taxis.ids.tolist())
    assert sim.taxis.ids[0] == taxi_pseudonym(sim._key, "taxi-000000")
    other = Simulator(city, seed=12, start_ts=START, config=SimConfig(taxis_per_scale=100))
    assert not set(other.taxis.ids.tolist()) & set(sim.taxis.ids.tolist())


def test_step_groups_fixes_by_the_cell_of_their_reported_position(taxi_run):
    sim, outs = taxi_run
    for out in outs[:5]:
        assert len(out.taxis) >= 2
        for key, batch in out.taxis.items():
            f = wire.decode(wire.encode(batch), TaxiPositionBatch).arrays()
            rows, cols = grid_cell(f.lat, f.lon)
            assert {cell_key(r, c) for r, c in zip(rows, cols)} == {key}
            assert np.all((out.t0 < f.ts) & (f.ts <= out.t1))
    per_s = sum(o.counts()["taxis"] for o in outs) / 600.0  # a fix per taxi per 10 s, less ~5 % lost
    assert per_s == pytest.approx(len(sim.taxis) / 10.0 * 0.95, rel=0.03)


def test_taxi_truth_csv(taxi_run, tmp_path):
    sim, outs = taxi_run
    counts = sim.write_truth(tmp_path)
    lines = (tmp_path / "taxi_fixes.csv").read_text().splitlines()
    assert lines[0] == "taxi_id,ts,link_id,offset_m,lat,lon,speed_kph,link_speed_kph,occupied,delivered"
    assert len(lines) - 1 == counts["taxi_fixes.csv"] == len(sim.truth.taxi_fix_columns().ts)
    first = lines[1].split(",")
    assert first[2] in set(sim.taxis.roads.link_ids) and int(first[0], 16) in set(sim.taxis.ids.tolist())
    delivered_rows = sum(line.endswith(",1") for line in lines[1:])
    assert delivered_rows == sum(o.counts()["taxis"] for o in outs)


def test_same_seed_same_taxis(city):
    a, b = (Simulator(city, seed=3, start_ts=START, config=SimConfig(taxis_per_scale=200)) for _ in range(2))
    fa, fb = (delivered([s.step(10.0) for _ in range(3)]) for s in (a, b))
    assert all(np.array_equal(x, y) for x, y in zip(fa, fb)) and len(fa.ts) > 0


def test_config_rejects_bad_taxi_settings():
    with pytest.raises(ValueError, match="taxi_drop_rate"):
        SimConfig(taxi_drop_rate=2.0)
    with pytest.raises(ValueError, match="taxi_fix_interval_s"):
        SimConfig(taxi_fix_interval_s=0.0)
    with pytest.raises(ValueError, match="taxis_per_scale"):
        SimConfig(taxis_per_scale=-1.0)

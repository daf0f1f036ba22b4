"""Simulator invariants: determinism, buses on their shapes, faults at their rates, taps, truth, recordings."""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from dataclasses import replace as with_changes

import numpy as np
import pytest
import shapely
from shapely.geometry import LineString

from topis.city.generate import generate_city
from topis.city.model import local_midnight_ts
from topis.geo import Projection
from topis.schemas.inputs import PositionBatch, ReadBatch, TapBatch
from topis.sim import recording
from topis.sim.passengers import card_hash, ride_length_probs
from topis.sim.simulator import SimConfig, Simulator
from topis.sim.traffic import bus_lane_enforced, green_zone_banned, local_datetime
from topis.wire import decode, encode

#: Tuesday 24 Nov 2026, 07:30 KST
START = local_midnight_ts(dt.date(2026, 11, 24)) + 7.5 * 3600
CLEAN = SimConfig(gap_fraction=0.0, duplicate_rate=0.0, out_of_order_rate=0.0, missing_trip_rate=0.0, frozen_units=0)


@pytest.fixture(scope="module")
def city():
    return generate_city(seed=5, scale=0.3)


def run(sim: Simulator, seconds: int, dt_s: float = 10.0):
    outs = [sim.step(dt_s) for _ in range(int(seconds / dt_s))]
    return outs


def flat(outs, kind):
    return [e for o in outs for events in getattr(o, kind).values() for e in events]


@pytest.fixture(scope="module")
def faulty_run(city):
    cfg = SimConfig(gap_fraction=0.05, duplicate_rate=0.05, out_of_order_rate=0.05, missing_trip_rate=0.05,
                    frozen_units=1, car_volume_scale=3.0)
    sim = Simulator(city, seed=11, start_ts=START, config=cfg)
    return sim, run(sim, 1800)


@pytest.fixture(scope="module")
def clean_run(city):
    sim = Simulator(city, seed=11, start_ts=START, config=CLEAN)
    return sim, run(sim, 1800)


def test_same_seed_same_events_different_seed_different(city):
    def first_events(seed):
        sim = Simulator(city, seed=seed, start_ts=START)
        outs = run(sim, 120)
        return [encode(PositionBatch(events=flat(outs, "positions"))), encode(TapBatch(events=flat(outs, "taps"))),
                encode(ReadBatch(events=flat(outs, "reads")))]

    a, b, c = first_events(1), first_events(1), first_events(2)
    assert a == b
    assert a[0] != c[0] and a[2] != c[2]


def test_buses_stay_on_their_shapes(city, clean_run):
    sim, outs = clean_run
    proj = Projection(city.center_lat, city.center_lon)
    shapes = {}
    for r in city.routes:
        for p in r.patterns:
            x, y = proj.to_xy(np.array(p.shape_lat), np.array(p.shape_lon))
            shapes[(r.route_id, p.direction_id)] = LineString(np.column_stack([x, y]))
    trips = {t.trip_id: t for t in city.trips}
    fixes = flat(outs, "positions")
    assert len(fixes) > 1000
    by_shape = defaultdict(list)
    for f in fixes:
        t = trips[f.trip_id]
        by_shape[(t.route_id, t.direction_id)].append((f.lat, f.lon))
    far = 0
    for key, pts in by_shape.items():
        lat, lon = np.array(pts).T
        x, y = proj.to_xy(lat, lon)
        far += int((shapely.distance(shapes[key], shapely.points(x, y)) > 5 * sim.cfg.gps_noise_m).sum())
    assert far / len(fixes) < 0.001


def test_timestamps_monotone_per_vehicle_without_faults(clean_run):
    _, outs = clean_run
    last: dict[str, float] = {}
    for o in outs:
        for fix in (e for events in o.positions.values() for e in events):
            assert o.t0 < fix.ts <= o.t1
            assert fix.ts > last.get(fix.vehicle_id, -1.0)
            last[fix.vehicle_id] = fix.ts
            assert fix.trip_id is not None and fix.speed_kph >= 0 and 0 <= fix.heading_deg < 360


def test_fault_rates_close_to_settings(faulty_run, clean_run):
    _, outs = faulty_run
    fixes = flat(outs, "positions")
    keys = Counter((f.vehicle_id, f.ts) for f in fixes)
    unique = len(keys)
    dup_share = (len(fixes) - unique) / unique
    assert 0.03 < dup_share < 0.07
    missing = sum(f.trip_id is None for f in fixes) / len(fixes)
    assert 0.03 < missing < 0.07
    late, last = 0, {}
    for f in fixes:
        if f.ts < last.get(f.vehicle_id, -1.0):
            late += 1
        last[f.vehicle_id] = max(f.ts, last.get(f.vehicle_id, -1.0))
    assert 0.02 < late / unique < 0.07
    clean_unique = len({(f.vehicle_id, f.ts) for f in flat(clean_run[1], "positions")})
    lost = 1 - unique / clean_unique
    assert 0.02 < lost < 0.09
    frozen = [v for v, n in Counter((f.vehicle_id, f.lat, f.lon) for f in fixes).items() if n >= 20]
    assert len({v[0] for v in frozen}) == 1


def test_every_tap_off_follows_a_tap_on_on_the_same_bus(clean_run):
    sim, outs = clean_run
    taps = sorted(flat(outs, "taps"), key=lambda t: t.ts)
    assert sum(t.direction == "on" for t in taps) > 200
    on_bus: dict[str, str] = {}
    offs = 0
    rides_by_card = defaultdict(list)
    for t in taps:
        if t.direction == "on":
            on_bus[t.card_hash] = t.vehicle_id
            rides_by_card[t.card_hash].append(t)
        else:
            assert on_bus.get(t.card_hash) == t.vehicle_id
            offs += 1
    ons = sum(t.direction == "on" for t in taps)
    assert offs < ons  # some riders are still aboard, some never tap off
    transfers = [r for r in rides_by_card.values() if len(r) > 1]
    assert transfers and all(b.ts - a.ts < 3 * 3600 and a.route_id != b.route_id for a, b, *_ in transfers)
    assert all(len(t.card_hash) == 16 for t in taps)


def test_stop_visits_match_taps_and_loads(clean_run):
    sim, outs = clean_run
    visits = sim.truth.stop_visits
    assert len(visits) > 300
    by_trip = defaultdict(list)
    for v in visits:
        assert v.arrival_ts <= v.departure_ts and v.load <= 75
        by_trip[(v.vehicle_id, v.trip_id)].append(v)
    for rows in by_trip.values():
        seqs = [r.stop_sequence for r in rows]
        assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
        times = [r.arrival_ts for r in rows]
        assert times == sorted(times)
        for a, b in zip(rows[:-1], rows[1:]):
            if b.stop_sequence == a.stop_sequence + 1:
                assert b.load == a.load + b.boardings - b.alightings
    end = outs[-1].t1
    taps_on = Counter((t.vehicle_id, t.stop_id) for t in flat(outs, "taps") if t.direction == "on")
    boarded = Counter()
    for v in visits:
        if v.departure_ts < end - 60:
            boarded[(v.vehicle_id, v.stop_id)] += v.boardings
    assert sum(boarded.values()) > 0
    assert all(taps_on[k] >= n for k, n in boarded.items())


def test_truth_violations_follow_the_rules_on_the_reads(city, faulty_run):
    sim, outs = faulty_run
    reads = {r.read_id: r for r in flat(outs, "reads")}
    assert len(reads) > 200
    registry = {v.plate: v for v in city.registry}
    by_rule = Counter(v.rule for v in sim.truth.violations)
    assert by_rule["bus_lane"] > 0 and by_rule["green_zone"] > 0
    for v in sim.truth.violations:
        listed = [reads[r] for r in v.read_ids]
        assert v.misread == any(r.plate != v.plate for r in listed)
        assert v.ts == pytest.approx(listed[0].ts, abs=1e-3)
        veh = registry[v.plate]
        local = local_datetime(listed[0].ts)
        camera = city.camera(listed[0].camera_id)
        if v.rule == "bus_lane":
            assert veh.vehicle_class not in ("bus", "emergency") and not veh.exempt
            assert bus_lane_enforced(camera.lane_type, local, city.is_holiday(local.date()))
        elif v.rule == "green_zone":
            assert veh.emission_grade == 5 and not veh.exempt and green_zone_banned(local) and camera.green_zone_entry
        elif v.rule == "section_speed":
            exit_cam = city.camera(listed[1].camera_id)
            speed = camera.section_length_m / (listed[1].ts - listed[0].ts) * 3.6
            assert speed > camera.section_limit_kph + 10 and exit_cam.section_role == "exit"
        elif v.rule == "no_stopping":
            assert listed[-1].ts - listed[0].ts > 300 and camera.no_stopping
        else:
            assert v.rule == "watch" and veh.watch
    low = [r for r in reads.values() if r.confidence < 0.75]
    assert 0.01 < len(low) / len(reads) < 0.06
    assert all(r.confidence < 0.75 for r in reads.values() if r.plate not in registry)
    assert any(r.vehicle_class == "bus" and city.camera(r.camera_id).lane_type != "none" for r in reads.values())


def test_step_output_events_are_not_older_than_the_step(clean_run):
    _, outs = clean_run
    for o in outs:
        for kind in ("taps", "reads"):
            for e in (e for events in getattr(o, kind).values() for e in events):
                assert o.t0 < e.ts <= o.t1 + 1e-6
        for cam_id, events in o.reads.items():
            assert all(e.camera_id == cam_id for e in events)


def test_recording_round_trip(tmp_path, city):
    sim = Simulator(city, seed=3, start_ts=START)
    path = tmp_path / "run.jsonl"
    sent = []
    with recording.Recorder(path) as rec:
        for _ in range(6):
            out = sim.step(10.0)
            for topic, by_key in (("bus.positions", out.positions), ("card.taps", out.taps), ("plate.reads", out.reads)):
                msgs = recording.batch_messages(topic, by_key)
                rec.write_messages(msgs)
                sent += msgs
    back = list(recording.read(path))
    assert back == sent and len(back) > 10
    kinds = {"bus.positions": PositionBatch, "card.taps": TapBatch, "plate.reads": ReadBatch}
    for m in back:
        batch = decode(m.value, kinds[m.topic])
        assert m.ts == max(e.ts for e in batch.events)
    path.write_text('{"topic": "x"}\n', encoding="utf-8")
    with pytest.raises(recording.RecordingError, match=":1:"):
        list(recording.read(path))


def test_write_truth_csv(clean_run, tmp_path):
    sim, _ = clean_run
    counts = sim.write_truth(tmp_path)
    lines = (tmp_path / "stop_visits.csv").read_text().splitlines()
    assert lines[0].startswith("vehicle_id,trip_id,route_id,stop_id,stop_sequence,arrival_ts,departure_ts")
    assert len(lines) == counts["stop_visits.csv"] + 1
    assert (tmp_path / "violations.csv").read_text().startswith("rule,plate,ts,camera_ids,read_ids")


def test_ride_length_probabilities_by_hand():
    assert ride_length_probs(1, 7.0).tolist() == [1.0]
    assert ride_length_probs(2, 2.0) == pytest.approx([2 / 3, 1 / 3])
    assert ride_length_probs(30, 7.0).sum() == pytest.approx(1.0)


def test_od_matrix_rows_sum_to_origin_rates(city):
    sim = Simulator(city, seed=1, start_ts=START)
    od = sim.demand.od_matrix(0, 8, weekend=False)
    rate = sim.demand.hourly_rate(8, weekend=False)
    a, m = sim.pa.stop_off[0], sim.pa.stop_n[0]
    assert np.allclose(od.sum(axis=1), rate[a:a + m]) and np.all(np.tril(od) == 0)
    assert sim.demand.hourly_rate(3, weekend=False).sum() < 0.05 * rate.sum()


def test_card_hash_is_keyed():
    assert card_hash(b"k1", 42) == card_hash(b"k1", 42) != card_hash(b"k2", 42)


def test_step_rejects_bad_dt(city):
    with pytest.raises(ValueError, match="positive"):
        Simulator(city, seed=1, start_ts=START).step(0)


def test_reads_csv_for_enforcement_batch_mode(tmp_path):
    from topis.schemas.inputs import PlateRead

    reads = [PlateRead("C0001-00000001", "C0001", 1795478400.5, "12가3456", 0.91)]
    assert recording.write_reads_csv(reads, tmp_path / "READS.csv") == 1
    lines = (tmp_path / "READS.csv").read_text(encoding="utf-8").splitlines()
    assert lines == ["read_id,camera_id,ts,plate,confidence",
                     "C0001-00000001,C0001,2026-11-24T09:00:00.500+09:00,12가3456,0.910"]


def test_owl_routes_run_across_midnight(city):
    fast = with_changes(CLEAN, tick_s=3.0)
    sim = Simulator(city, seed=2, start_ts=local_midnight_ts(dt.date(2026, 11, 24)) + 23.75 * 3600, config=fast)
    outs = run(sim, 1800, dt_s=30.0)  # 23:45 -> 00:15
    midnight = local_midnight_ts(dt.date(2026, 11, 25))
    after = [f for o in outs if o.t0 >= midnight for f in (e for ev in o.positions.values() for e in ev)]
    owl = {f.route_id for f in after if f.route_id.startswith("N")}
    assert len(owl) >= 5
    trips = {t.trip_id: t for t in city.trips}
    assert all(trips[f.trip_id].service_id == "ALL" for f in after if f.route_id.startswith("N"))


def test_holiday_runs_the_weekend_service(city):
    chuseok_8am = local_midnight_ts(dt.date(2026, 9, 25)) + 8 * 3600  # a Friday and a holiday
    sim = Simulator(city, seed=2, start_ts=chuseok_8am, config=with_changes(CLEAN, tick_s=3.0))
    fixes = flat(run(sim, 600, dt_s=30.0), "positions")
    trips = {t.trip_id: t for t in city.trips}
    assert fixes and {trips[f.trip_id].service_id for f in fixes} == {"WE"}
    assert not any(f.route_id.startswith("8") for f in fixes)  # no Squirrel buses on holidays


def test_config_rejects_bad_rates():
    with pytest.raises(ValueError, match="duplicate_rate"):
        SimConfig(duplicate_rate=1.5)
    with pytest.raises(ValueError, match="tick_s"):
        SimConfig(tick_s=0)


def test_garbled_reads_are_not_plates(city):
    cfg = SimConfig(garbled_rate=0.5, misread_rate=0.0, car_volume_scale=3.0)
    reads = flat(run(Simulator(city, seed=4, start_ts=START, config=cfg), 300), "reads")
    garbled = [r for r in reads if "?" in r.plate]
    assert 0.35 < len(garbled) / len(reads) < 0.65
    assert all(r.confidence <= 0.30 and r.plate.count("?") == 1 for r in garbled)

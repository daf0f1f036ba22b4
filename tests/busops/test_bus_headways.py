import math

import msgspec
import pytest
from busops_fixtures import DAY, at, fix

from streams.bus.headways import (
    HeadwayParams,
    HeadwayState,
    ScheduleIndex,
    even_spacing_hold_s,
    headway_cv,
    headway_summary,
    marey_points,
    observe_arrival,
)
from streams.bus.pipeline import RouteState, run
from topis.schemas.bus import BunchingAlert, GappingAlert, HeadwayObservation, StopArrival


def test_even_spacing_hold_hand_cases():
    # ahead left 100 s ago, follower due in 500 s: even split of 600 s is 300 s -> hold 200 s
    assert even_spacing_hold_s(1000.0, 900.0, [1500.0], 600.0) == 200.0
    # two followers: gap 900 s split in three -> leave at 900 + 300 = 1200 -> hold 200 s
    assert even_spacing_hold_s(1000.0, 900.0, [1300.0, 1800.0], 600.0) == 200.0
    assert even_spacing_hold_s(1000.0, 900.0, [1500.0], 100.0) == 100.0  # capped
    assert even_spacing_hold_s(1000.0, 400.0, [1100.0], 600.0) == 0.0  # already late: go
    assert even_spacing_hold_s(1000.0, 900.0, [], 600.0) == 0.0


def test_headway_cv_is_std_over_mean():
    # headways 100, 200, 300: mean 200, population std sqrt(20000/3) = 81.65
    assert headway_cv(3, 600.0, 140_000.0) == pytest.approx(math.sqrt(20_000 / 3) / 200)
    assert math.isnan(headway_cv(1, 100.0, 10_000.0))


def _arrival(trip, vehicle, ts, day_ts, stop="B", index=1):
    return StopArrival(vehicle, "R1", trip, 0, stop, 20, index, ts, day_ts + 8 * 3600 + 100, 600.0)


def test_bunching_and_gapping_against_timetable(tiny_feed):
    day_ts = tiny_feed.service_day_start_ts(DAY)
    sched = ScheduleIndex([tiny_feed.trips[t] for t in ("E1", "E2", "E3", "W1")], day_ts)
    state = HeadwayState()
    p = HeadwayParams()
    t0 = at(8, 1, 40)
    assert observe_arrival(state, _arrival("E1", "a", t0, day_ts), sched, p) == []  # first bus: nothing
    out = observe_arrival(state, _arrival("E2", "b", t0 + 200, day_ts), sched, p)
    obs = out[0]
    assert isinstance(obs, HeadwayObservation) and obs.headway_s == 200 and obs.scheduled_headway_s == 600
    assert isinstance(out[1], BunchingAlert) and obs.ratio == pytest.approx(1 / 3)
    out = observe_arrival(state, _arrival("E3", "c", t0 + 1200, day_ts), sched, p)
    assert isinstance(out[1], GappingAlert) and out[0].headway_s == 1000
    out = observe_arrival(state, _arrival("E3", "c", t0 + 1500, day_ts), sched, p)
    assert out == []  # the same bus again is not a headway
    s = headway_summary(state)["0|B"]
    assert s.n == 2 and s.mean_headway_s == 600 and s.headway_cv == pytest.approx(400 / 600)


def _bus(vehicle, start, until):
    """A bus waiting at A from 07:58, leaving at ``start`` at 5 m/s, fixes every 30 s until ``until``."""
    out, ts = [], at(7, 58)
    while ts <= until:
        out.append(fix(min(max(0.0, 5.0 * (ts - start)), 2000.0), ts, vehicle=vehicle))
        ts += 30
    return out


def test_pipeline_bunching_with_holding_advice(tiny_feed):
    # bus a runs E1 six minutes late (leaves A 08:06), bus b runs E2 on time (08:10): 240 s apart
    fixes = _bus("a", at(8, 6), at(8, 13)) + [f for f in _bus("b", at(8, 10), at(8, 17)) if f.ts >= at(8, 8)]
    res = run(tiny_feed, fixes)
    alerts = res.of(BunchingAlert)
    # at A, the first stop, headways are between departures (08:06:12 and 08:10:12)
    assert {a.observation.stop_id for a in alerts} == {"A", "B", "C", "D", "E"}
    assert all(a.observation.headway_s == pytest.approx(240, abs=0.01) for a in alerts)
    at_c = next(a for a in alerts if a.observation.stop_id == "C")
    # control stop C (mid-route): a left C at 08:09:25 (25 m past it), E3 is next due at C at 08:23:20
    # even split: 08:09:25 + (08:23:20 - 08:09:25) / 2 = 08:16:22.5 -> hold b 182.5 s after 08:13:20
    assert at_c.control_stop and at_c.hold_s == pytest.approx(182.5, abs=0.01)
    assert not next(a for a in alerts if a.observation.stop_id == "B").control_stop
    # control stop A: 08:06:12 + (08:20:00 - 08:06:12) / 2 = 08:13:06 -> 174 s after b's 08:10:12
    assert next(a for a in alerts if a.observation.stop_id == "A").hold_s == pytest.approx(174.0, abs=0.01)
    marey = marey_points(res.events)
    assert set(marey) == {"E1", "E2"} and all(b[0] >= a[0] for a, b in zip(marey["E1"], marey["E1"][1:]))
    # the route state is plain data: it survives a msgspec round trip
    state = res.states["R1"]
    back = msgspec.json.decode(msgspec.json.encode(state), type=RouteState)
    assert msgspec.json.encode(back) == msgspec.json.encode(state)


def test_events_and_fresh_state_survive_json(tiny_feed):
    from streams.bus.matching import VehicleState
    from streams.bus.pipeline import Event
    from topis.schemas.bus import StopDeparture

    dep = StopDeparture("v", "R1", "E1", 0, "B", 20, 1, 100.0, 90.0, None)
    assert msgspec.json.decode(msgspec.json.encode([dep]), type=list[Event]) == [dep]
    fresh = VehicleState("v")
    assert msgspec.json.decode(msgspec.json.encode(fresh), type=VehicleState) == fresh


def test_silent_vehicles_are_forgotten(tiny_feed):
    from streams.bus.pipeline import forget_vehicles

    res = run(tiny_feed, _bus("a", at(8, 6), at(8, 13)) + _bus("b", at(8, 10), at(8, 17)))
    state = res.states["R1"]
    assert forget_vehicles(state, at(8, 15)) == ["a"]  # a's last fix was 08:13
    assert set(state.vehicles) == {"b"} and "a" not in state.last_arrival


def test_without_predictions_the_arrivals_and_headways_are_the_same(tiny_feed):
    """A worker far behind matches without predicting; everything else it folds is unchanged."""
    from streams.bus.pipeline import RouteState, advance, route_model
    from topis.schemas.bus import Prediction

    fixes = _bus("a", at(8, 6), at(8, 13)) + [f for f in _bus("b", at(8, 10), at(8, 17)) if f.ts >= at(8, 8)]
    model = route_model(tiny_feed, "R1")
    _, with_predictions = advance(RouteState("R1"), fixes, model)
    _, without = advance(RouteState("R1"), fixes, model, predict=False)
    assert any(isinstance(e, Prediction) for e in with_predictions)
    assert not any(isinstance(e, Prediction) for e in without)
    assert [e for e in with_predictions if not isinstance(e, Prediction)] == without


def _same_pattern(a, b) -> None:
    assert a.offsets_s.keys() == b.offsets_s.keys()
    for key in a.offsets_s:
        assert a.offsets_s[key].tolist() == b.offsets_s[key].tolist(), key
        assert a.position[key] == b.position[key], key


def test_schedule_pattern_is_its_twin_with_ties_and_loops(tiny_feed):
    import dataclasses

    import numpy as np
    from headway_twins import pattern as twin

    base = [tiny_feed.trips[t] for t in ("E1", "E2", "E3", "W1")]
    rng = np.random.default_rng(3)
    trips = []
    for i in range(40):  # copies at random (often equal) times, some ids sorting before the original's
        t = base[i % len(base)]
        shift = float(rng.choice([0.0, 600.0, 1200.0]))
        trips.append(dataclasses.replace(t, trip_id=f"{'A' if i % 2 else 'Z'}{i}", arrival_s=t.arrival_s + shift))
    e1 = base[0]  # a loop: the trip calls at its first stop again at the end
    loop = dataclasses.replace(e1, trip_id="L1", stop_ids=(*e1.stop_ids, e1.stop_ids[0]),
                               arrival_s=np.append(e1.arrival_s, e1.arrival_s[-1] + 300.0))
    trips.append(loop)
    _same_pattern(ScheduleIndex.pattern(trips), twin(trips))


def test_schedule_pattern_is_its_twin_on_the_demo_city(tmp_path):
    from headway_twins import pattern as twin

    from streams.bus.network import network_feed
    from topis.settings import CitySettings, StreamSettings

    feed = network_feed(StreamSettings(data_dir=tmp_path), CitySettings(seed=7, scale=1.0))
    for route_id in list(feed.routes)[:40]:
        trips = [feed.trips[t] for t in feed.trips_by_route[route_id]]
        _same_pattern(ScheduleIndex.pattern(trips), twin(trips))

"""The fast arrival predictor against its slow twin on a simulated city: the same bytes out, the same state left.

The demo city (scale 1) is simulated for 25 minutes from 08:00; every step's batch of
each route goes through ``pipeline.advance`` twice, from two copies of the route's state:
once as it is and once with ``_predict`` swapped for the twin (``predict_twins.py``, the
code before it was made faster). After every call the events, the travel-time store and
the predicted arrival times before rounding to whole seconds must be equal byte for byte
(msgpack), and the whole route states at the end.
"""

from __future__ import annotations

import builtins
import math

import msgspec
import numpy as np
import predict_twins
import pytest

from streams.bus import pipeline, predictions
from streams.bus.pipeline import RouteState, observe_taps, route_model
from streams.bus.predictions import PredictParams

SIM_MINUTES = 20.0


def _numpy_scalar(obj):
    if isinstance(obj, np.generic):  # some events carry numpy bools
        return obj.item()
    raise NotImplementedError(type(obj))


ENCODE = msgspec.msgpack.Encoder(enc_hook=_numpy_scalar).encode


@pytest.fixture(scope="module")
def city_run(tmp_path_factory):
    """(feed, [(positions by route, taps by route) per 5 s step]) of the demo city, scale 1."""
    from streams.bus.network import network_feed
    from topis.city.generate import generate_city
    from topis.settings import CitySettings, SimSettings, StreamSettings
    from topis.sim.feeder import start_ts
    from topis.sim.simulator import Simulator

    city = generate_city(seed=7, scale=1.0)
    feed = network_feed(StreamSettings(data_dir=tmp_path_factory.mktemp("data")), CitySettings(seed=7, scale=1.0))
    sim = Simulator(city, seed=1, start_ts=start_ts(SimSettings(start_date="2026-11-24", start_time="08:00")))
    steps = []
    for _ in range(int(SIM_MINUTES * 60 / 5.0)):
        out = sim.step(5.0)
        steps.append((out.positions, out.taps))
    return feed, steps


def _run_both(feed, steps, predict: PredictParams, routes: list[str] | None = None):
    """Both predictors over the run, checked call by call; returns the fast run's states and a tally."""
    models = {r: route_model(feed, r, predict=predict) for r in routes or feed.routes}
    fast: dict[str, RouteState] = {}
    twin: dict[str, RouteState] = {}
    shifted = []
    bus_ahead_dwell = predictions._bus_ahead_dwell

    def spy(trip, eta, *args):
        out = bus_ahead_dwell(trip, eta, *args)
        shifted.append(bool(np.any(out != eta)))
        return out

    unrounded: list[float] = []

    def recording_round(x):  # the twin rounds each arrival time once
        unrounded.append(x)
        return builtins.round(x)

    make_predictions = predictions._predictions

    def recording_predictions(trip, vehicle_id, next_index, eta, now_ts, max_horizon_s):
        out = make_predictions(trip, vehicle_id, next_index, eta, now_ts, max_horizon_s)
        unrounded.extend(max(t, now_ts) for t in eta[:len(out)].tolist())  # what the twin rounds
        return out

    tally = {"predictions": 0, "bus ahead shifts": 0}
    mp = pytest.MonkeyPatch()
    try:
        for positions, taps in steps:
            for route, fixes in positions.items():
                if route not in models:
                    continue
                mp.setattr(pipeline, "_predict", predict_twins._predict)
                mp.setattr(predict_twins, "round", recording_round, raising=False)
                _, twin_events = pipeline.advance(twin.setdefault(route, RouteState(route)), fixes, models[route])
                mp.undo()
                twin_unrounded = ENCODE(unrounded)
                unrounded.clear()
                mp.setattr(predictions, "_bus_ahead_dwell", spy)
                mp.setattr(predictions, "_predictions", recording_predictions)
                _, fast_events = pipeline.advance(fast.setdefault(route, RouteState(route)), fixes, models[route])
                mp.undo()
                assert ENCODE(unrounded) == twin_unrounded
                unrounded.clear()
                assert ENCODE(fast_events) == ENCODE(twin_events)
                assert ENCODE(fast[route].travel) == ENCODE(twin[route].travel)
                tally["predictions"] += sum(isinstance(e, pipeline.Prediction) for e in fast_events)
            for route, route_taps in taps.items():
                if route in models:
                    observe_taps(twin.setdefault(route, RouteState(route)), route_taps, models[route])
                    observe_taps(fast.setdefault(route, RouteState(route)), route_taps, models[route])
    finally:
        mp.undo()
    assert ENCODE(fast) == ENCODE(twin)
    tally["bus ahead shifts"] = sum(shifted)
    return fast, tally


def test_default_predictor_matches_twin(city_run):
    feed, steps = city_run
    states, tally = _run_both(feed, steps, PredictParams())
    # the run reaches the paths that matter: learned segments and dwells, the bus ahead
    assert tally["predictions"] > 100_000 and tally["bus ahead shifts"] > 1000
    assert sum(len(s.travel.by_hour) for s in states.values()) > 500
    assert any(s.travel.boardings_per_s for s in states.values())


@pytest.mark.parametrize("predict", [
    PredictParams(method="transitclock"),
    PredictParams(own_pace=True, use_route_pace=True),
    PredictParams(initial_error=math.nan, repredict_every_s=30.0),
], ids=["transitclock", "own and route pace", "nan error, repredict"])
def test_other_settings_match_twin(city_run, predict):
    feed, steps = city_run
    routes = sorted(feed.routes)[:8]
    states, tally = _run_both(feed, steps, predict, routes)
    assert tally["predictions"] > 10_000
    if predict.method == "transitclock":
        assert sum(len(s.travel.errors) for s in states.values()) > 50  # the Kalman steps ran

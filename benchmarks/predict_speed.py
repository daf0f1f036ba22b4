"""Arrival prediction in the bus pipeline against its slow twin (the code before it was made faster).

Simulates the city (default: Seoul, 18.5) for ``--warm-up-s`` + ``--sim-seconds``, runs the
warm-up's batches through ``streams.bus.pipeline.advance`` untimed, then runs the timed
batches from copies of the warmed route states twice per round, once with the pipeline's
``_predict`` and once with the twin's (``tests/busops/predict_twins.py``), and reports the
seconds spent in prediction (``_predict``: the other buses at the stops ahead, ``predict_trip``
and the predicted-arrival table) per fix, their ratio, and whether the two gave the same
events and travel-time stores, byte for byte.

    .venv/bin/python -m benchmarks.predict_speed [--scale 18.5] [--sim-seconds 60] [--warm-up-s 60] [--rounds 2]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import msgspec
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "busops"))  # the slow twin lives with the tests

import predict_twins  # noqa: E402

from benchmarks.stream_throughput import CITY_SEED, simulate  # noqa: E402
from streams.bus import pipeline  # noqa: E402
from streams.bus.network import network_feed  # noqa: E402
from streams.bus.pipeline import RouteState, route_model  # noqa: E402
from topis.settings import CitySettings, StreamSettings  # noqa: E402


def run_timed(batches, states: dict, models: dict, predict_fn) -> tuple[float, float, bytes, bytes]:
    """(seconds in prediction, seconds in advance, events as msgpack, travel stores as msgpack)."""
    spent = [0.0]

    def timed_predict(*args):
        t0 = time.perf_counter()
        out = predict_fn(*args)
        spent[0] += time.perf_counter() - t0
        return out

    events = []
    pipeline._predict = timed_predict
    try:
        t0 = time.perf_counter()
        for route, fixes in batches:
            events.extend(pipeline.advance(states.setdefault(route, RouteState(route)), fixes, models[route])[1])
        total_s = time.perf_counter() - t0
    finally:
        pipeline._predict = FAST_PREDICT
    enc = msgspec.msgpack.Encoder(enc_hook=_numpy_scalar)
    travel = enc.encode({r: s.travel for r, s in sorted(states.items())})
    return spent[0], total_s, enc.encode(events), travel


FAST_PREDICT = pipeline._predict


def _numpy_scalar(obj):
    if isinstance(obj, np.generic):  # some events carry numpy bools
        return obj.item()
    raise NotImplementedError(type(obj))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=18.5)
    parser.add_argument("--sim-seconds", type=float, default=60.0, help="simulated seconds timed")
    parser.add_argument("--warm-up-s", type=float, default=60.0, help="simulated seconds run first, not timed")
    parser.add_argument("--rounds", type=int, default=2, help="twin, fast, twin, fast, ...; best of each kept")
    args = parser.parse_args()

    _, _, outputs, _ = simulate(args.scale, args.warm_up_s + args.sim_seconds)
    feed = network_feed(StreamSettings(), CitySettings(seed=CITY_SEED, scale=args.scale))
    models = {r: route_model(feed, r) for r in feed.routes}
    warm_up_steps = int(args.warm_up_s / 5.0)  # simulate() steps 5 s
    batches = [[(r, f) for r, f in out.positions.items() if r in models] for out in outputs]
    warm = [b for step in batches[:warm_up_steps] for b in step]
    timed = [b for step in batches[warm_up_steps:] for b in step]
    fixes = sum(len(f) for _, f in timed)

    states: dict[str, RouteState] = {}
    for route, f in warm:
        pipeline.advance(states.setdefault(route, RouteState(route)), f, models[route])
    frozen = msgspec.msgpack.encode(states)

    def fresh() -> dict[str, RouteState]:
        return msgspec.msgpack.decode(frozen, type=dict[str, RouteState])

    best = {"twin": (float("inf"), 0.0), "fast": (float("inf"), 0.0)}
    outs = {}
    for _ in range(args.rounds):
        for name, fn in (("twin", predict_twins._predict), ("fast", FAST_PREDICT)):
            pred_s, total_s, events, travel = run_timed(timed, fresh(), models, fn)
            best[name] = min(best[name], (pred_s, total_s))
            outs[name] = (events, travel)

    same_events = outs["twin"][0] == outs["fast"][0]
    same_travel = outs["twin"][1] == outs["fast"][1]
    print(f"\nprediction, scale {args.scale:g}, {args.sim_seconds:.0f} simulated s timed after {args.warm_up_s:.0f} s "
          f"warm-up: {fixes} fixes, {len(timed)} batches, best of {args.rounds}")
    for name, (pred_s, total_s) in best.items():
        print(f"  {name}: prediction {pred_s:6.2f} s = {pred_s / fixes * 1e6:6.1f} µs/fix; "
              f"advance {total_s:6.2f} s = {total_s / fixes * 1e6:6.1f} µs/fix")
    print(f"  twin / fast: prediction {best['twin'][0] / best['fast'][0]:.2f}×, advance "
          f"{best['twin'][1] / best['fast'][1]:.2f}×")
    print(f"  same events: {same_events}; same travel-time stores: {same_travel}")


if __name__ == "__main__":
    main()

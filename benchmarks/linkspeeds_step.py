"""The bus link-speed step (``streams.traffic.linkspeeds.advance``) against its pre-optimisation twin, per message.

Simulates the city (default: Seoul, 18.5) for ``--warm-up-s`` + ``--sim-seconds`` and runs every
route's batches through both, one state per route as the agent keeps them; the warm-up is run
but not timed (with a warm-up past 420 s the timed part also emits bins). Prints ms per message,
fixes/s, the ratio, and whether outputs and states were identical.

    .venv/bin/python -m benchmarks.linkspeeds_step [--scale 18.5] [--sim-seconds 60] [--warm-up-s 0]

With ``--window-s`` it compares instead what the agent does now against what it did before:
every route's fixes of a window (the agent's ``probe_batch_s``, 2 s) in one call
(``advance_routes``) against one call per message (``advance``), at ``--step-s`` simulated
seconds per published message (0.5: a real-time run's message sizes). Prints CPU seconds,
calls, the ratio, and the fix pairs each used (a window sorts a vehicle's fixes, so
out-of-order ones are no longer dropped).

    .venv/bin/python -m benchmarks.linkspeeds_step --scale 1 --step-s 0.5 --window-s 2 --warm-up-s 240 --sim-seconds 120
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import msgspec

from benchmarks.stream_throughput import simulate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=18.5)
    parser.add_argument("--sim-seconds", type=float, default=60.0)
    parser.add_argument("--warm-up-s", type=float, default=0.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--step-s", type=float, default=5.0, help="simulated seconds per published message")
    parser.add_argument("--window-s", type=float, default=None,
                        help="compare per message against batched windows of this many seconds")
    args = parser.parse_args()
    if args.window_s is not None:
        compare_windows(args)
        return
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "traffic"))
    import linkspeeds_twin as twin

    from streams.traffic import linkspeeds as fast

    city, _, outputs, _ = simulate(args.scale, args.warm_up_s + args.sim_seconds, args.step_s)
    warm_steps = int(args.warm_up_s / args.step_s)
    net = fast.road_network(None, lambda: city)

    def run(mod):
        states, outs, spent, msgs, fixes = {}, [], 0.0, 0, 0
        for step, out in enumerate(outputs):
            for key, batch in out.positions.items():
                state = states.get(key) or states.setdefault(key, fast.LinkSpeedState())
                t0 = time.perf_counter()
                _, emitted = mod.advance(state, batch, net)
                if step >= warm_steps:
                    spent += time.perf_counter() - t0
                    msgs, fixes = msgs + 1, fixes + len(batch)
                    outs.append(emitted)
        return spent, msgs, fixes, msgspec.json.encode(states), msgspec.json.encode(outs)

    best = {}
    for _ in range(args.repeats):  # interleaved, so both see the same machine load
        for name, mod in (("before (twin)", twin), ("after", fast)):
            r = run(mod)
            if name not in best or r[0] < best[name][0]:
                best[name] = r
    for name, (s, msgs, fixes, _, _) in best.items():
        print(f"{name:14s} {s * 1e3 / msgs:.4f} ms/msg  {fixes / s:,.0f} fixes/s  ({msgs} messages, {fixes} fixes)")
    b, a = best["before (twin)"], best["after"]
    print(f"ratio {b[0] / a[0]:.2f}x; identical outputs and states: {b[3:] == a[3:]}")


def compare_windows(args) -> None:
    """One call per message against one call per window of ``args.window_s`` for all routes."""
    from streams.traffic import linkspeeds

    city, _, outputs, _ = simulate(args.scale, args.warm_up_s + args.sim_seconds, args.step_s)
    net = linkspeeds.road_network(None, lambda: city)
    warm_steps, per_window = int(args.warm_up_s / args.step_s), max(1, round(args.window_s / args.step_s))

    def run(group: int):
        states, spent, calls = {}, 0.0, 0
        for i in range(0, len(outputs), group):
            by_route: dict = {}
            for out in outputs[i:i + group]:
                for key, fixes in out.positions.items():
                    by_route.setdefault(key, []).extend(fixes)
            for key in by_route:
                states.setdefault(key, linkspeeds.LinkSpeedState())
            t0 = time.process_time()
            if group == 1:
                for key, fixes in by_route.items():
                    linkspeeds.advance(states[key], fixes, net)
            else:
                linkspeeds.advance_routes(states, by_route, net)
            if i >= warm_steps:
                spent, calls = spent + time.process_time() - t0, calls + (len(by_route) if group == 1 else 1)
        return spent, calls, sum(s.pairs_used for s in states.values())

    per_msg, windowed = run(1), run(per_window)
    print(f"per message      {per_msg[0]:.2f} s CPU in {per_msg[1]:,} calls; {per_msg[2]:,} fix pairs used")
    print(f"windows of {args.window_s:g} s  {windowed[0]:.2f} s CPU in {windowed[1]:,} calls; {windowed[2]:,} fix pairs used")
    print(f"ratio {per_msg[0] / windowed[0]:.2f}x")


if __name__ == "__main__":
    main()

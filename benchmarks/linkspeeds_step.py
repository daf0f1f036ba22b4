"""The bus link-speed step (``streams.traffic.linkspeeds.advance``) against its pre-optimisation twin, per message.

Simulates the city (default: Seoul, 18.5) for ``--warm-up-s`` + ``--sim-seconds`` and runs every
route's batches through both, one state per route as the agent keeps them; the warm-up is run
but not timed (with a warm-up past 420 s the timed part also emits bins). Prints ms per message,
fixes/s, the ratio, and whether outputs and states were identical.

    .venv/bin/python -m benchmarks.linkspeeds_step [--scale 18.5] [--sim-seconds 60] [--warm-up-s 0]
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
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "traffic"))
    import linkspeeds_twin as twin

    from streams.traffic import linkspeeds as fast

    city, _, outputs, _ = simulate(args.scale, args.warm_up_s + args.sim_seconds)
    warm_steps = int(args.warm_up_s / 5.0)
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


if __name__ == "__main__":
    main()

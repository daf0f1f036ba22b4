"""Demo-city generation time and simulator event throughput, at scale 1 and Seoul scale.

For each scale: generate the city (timed), build the simulator at a weekday
08:00 KST (AM peak), run ``--sim-seconds`` simulated seconds in steps of
``--step`` seconds, and report events produced per simulated second and per
wall-clock second, and the real-time factor (wall seconds per simulated
second; below 1 means real time is sustainable).

Run::

    .venv/bin/python -m benchmarks.simulator                    # scales 1 and 18.5, 120 s each
    .venv/bin/python -m benchmarks.simulator --scales 1 --sim-seconds 600
"""

from __future__ import annotations

import argparse
import datetime as dt
import time

from topis.city.generate import generate_city
from topis.city.model import local_midnight_ts
from topis.sim.simulator import Simulator


def measure(scale: float, sim_seconds: float, step_s: float, seed: int) -> dict:
    t0 = time.perf_counter()
    city = generate_city(seed=seed, scale=scale)
    gen_s = time.perf_counter() - t0
    start = local_midnight_ts(dt.date(2026, 11, 24)) + 8 * 3600
    t0 = time.perf_counter()
    sim = Simulator(city, seed=seed, start_ts=start)
    init_s = time.perf_counter() - t0
    totals = {"positions": 0, "taps": 0, "reads": 0}
    t0 = time.perf_counter()
    steps = int(sim_seconds / step_s)
    for _ in range(steps):
        for kind, n in sim.step(step_s).counts().items():
            totals[kind] += n
    run_s = time.perf_counter() - t0
    simulated = steps * step_s
    return dict(scale=scale, routes=len(city.routes), stops=len(city.stops), buses=len(city.buses),
                cameras=len(city.cameras), gen_s=gen_s, init_s=init_s, simulated_s=simulated, run_s=run_s,
                **{f"{k}_per_sim_s": v / simulated for k, v in totals.items()},
                events_per_wall_s=sum(totals.values()) / run_s, realtime_factor=run_s / simulated)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scales", default="1,18.5", help="comma-separated city scales")
    ap.add_argument("--sim-seconds", type=float, default=120.0)
    ap.add_argument("--step", type=float, default=1.0, help="seconds per Simulator.step call")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    rows = [measure(float(s), args.sim_seconds, args.step, args.seed) for s in args.scales.split(",")]
    head = ("scale", "routes", "stops", "buses", "cameras", "gen s", "init s", "sim s", "wall s",
            "pos/sim s", "taps/sim s", "reads/sim s", "events/wall s", "wall/sim")
    print(" | ".join(head))
    print(" | ".join("---" for _ in head))
    for r in rows:
        print(" | ".join([f"{r['scale']:g}", str(r["routes"]), str(r["stops"]), str(r["buses"]), str(r["cameras"]),
                          f"{r['gen_s']:.1f}", f"{r['init_s']:.1f}", f"{r['simulated_s']:.0f}", f"{r['run_s']:.1f}",
                          f"{r['positions_per_sim_s']:.0f}", f"{r['taps_per_sim_s']:.1f}",
                          f"{r['reads_per_sim_s']:.1f}", f"{r['events_per_wall_s']:.0f}",
                          f"{r['realtime_factor']:.3f}"]))


if __name__ == "__main__":
    main()

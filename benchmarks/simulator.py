"""Demo-city generation time and simulator event throughput, at scale 1 and Seoul scale.

For each scale: generate the city (timed), build the simulator at a weekday
08:00 KST (AM peak), run ``--sim-seconds`` simulated seconds in steps of
``--step`` seconds, and report events produced per simulated second and per
wall-clock second, and the real-time factor (wall seconds per simulated
second; below 1 means real time is sustainable). CPU seconds of this
process are shown in brackets: on a shared machine they are the steadier figure.

Taxis (70,000 at scale 18.5) are on by default; each scale is run a second
time without them (the baseline, same process), so the taxis' own cost is the
difference. The taxi runs include encoding every taxi batch for the wire
(``topis.wire.encode``), as the feeder does before publishing. Ground truth
is not recorded (as in ``topis simulate`` without ``--truth-out``).

Run::

    .venv/bin/python -m benchmarks.simulator                    # scales 1 and 18.5, 120 s each
    .venv/bin/python -m benchmarks.simulator --scales 1 --sim-seconds 600
    .venv/bin/python -m benchmarks.simulator --scales 1 --bunching-hours 2.5   # + headway CV along routes
    .venv/bin/python -m benchmarks.simulator --scales 18.5 --no-baseline         # taxis on only

With ``--bunching-hours`` it also runs a weekday morning from 06:30 and prints
the coefficient of variation of true headways by stop position (from the
ground-truth stop arrivals of the last 1.5 h): bunching that grows along the
route with no injection, from dwell that grows with boardings.
"""

from __future__ import annotations

import argparse
import datetime as dt
import time

from topis import wire
from topis.city.generate import generate_city
from topis.city.model import local_midnight_ts
from topis.sim.simulator import SimConfig, Simulator


def generate(scale: float, seed: int):
    """The city of ``scale`` and its generation wall and CPU seconds."""
    t0, c0 = time.perf_counter(), time.process_time()
    city = generate_city(seed=seed, scale=scale)
    return city, time.perf_counter() - t0, time.process_time() - c0


def measure(city, sim_seconds: float, step_s: float, seed: int, taxis: bool = True) -> dict:
    start = local_midnight_ts(dt.date(2026, 11, 24)) + 8 * 3600
    t0 = time.perf_counter()
    sim = Simulator(city, seed=seed, start_ts=start, config=SimConfig(record_truth=False, **({} if taxis else
                                                                                           {"taxis_per_scale": 0})))
    init_s = time.perf_counter() - t0
    totals = {"positions": 0, "taps": 0, "reads": 0, "taxis": 0}
    taxi_messages = 0
    t0, c0 = time.perf_counter(), time.process_time()
    steps = int(sim_seconds / step_s)
    for _ in range(steps):
        out = sim.step(step_s)
        taxi_messages += len(out.taxis)
        for batch in out.taxis.values():
            wire.encode(batch)
        for kind, n in out.counts().items():
            totals[kind] += n
    run_s, run_cpu_s = time.perf_counter() - t0, time.process_time() - c0
    simulated = steps * step_s
    return dict(scale=city.scale, taxis=len(sim.taxis) if sim.taxis is not None else 0, routes=len(city.routes),
                stops=len(city.stops), buses=len(city.buses), cameras=len(city.cameras),
                cpu_per_sim_s=run_cpu_s / simulated, init_s=init_s, simulated_s=simulated, run_s=run_s,
                **{f"{k}_per_sim_s": v / simulated for k, v in totals.items()},
                events_per_wall_s=sum(totals.values()) / run_s, realtime_factor=run_s / simulated,
                taxi_msgs_per_step=taxi_messages / steps)


def headway_cv_by_stop(scale: float, hours: float, seed: int) -> dict[int, tuple[float, int]]:
    """Mean headway CV of true arrivals per stop-sequence bucket of 5 (first ... last stops)."""
    import numpy as np

    city = generate_city(seed=seed, scale=scale)
    sim = Simulator(city, seed=seed, start_ts=local_midnight_ts(dt.date(2026, 11, 24)) + 6.5 * 3600)
    for _ in range(int(hours * 3600 / 10)):
        sim.step(10.0)
    arrivals: dict[tuple, list[float]] = {}
    for v in sim.truth.stop_visits:
        if v.arrival_ts > sim.now_ts - 1.5 * 3600:
            arrivals.setdefault((v.route_id, v.trip_id.split("-")[2], v.stop_sequence), []).append(v.arrival_ts)
    cvs: dict[int, list[float]] = {}
    for (_, _, seq), ts in arrivals.items():
        if len(ts) >= 5:
            h = np.diff(sorted(ts))
            cvs.setdefault(min(seq - 1, 24) // 5, []).append(float(h.std() / h.mean()))
    return {k: (float(np.mean(v)), len(v)) for k, v in sorted(cvs.items())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scales", default="1,18.5", help="comma-separated city scales")
    ap.add_argument("--sim-seconds", type=float, default=120.0)
    ap.add_argument("--step", type=float, default=1.0, help="seconds per Simulator.step call")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--bunching-hours", type=float, default=0.0, help="also measure headway CV along routes")
    ap.add_argument("--no-baseline", action="store_true", help="skip the run without taxis")
    args = ap.parse_args()
    rows = []
    for s in args.scales.split(","):
        city, gen_s, gen_cpu_s = generate(float(s), args.seed)
        for taxis in (True,) if args.no_baseline else (True, False):
            rows.append(dict(measure(city, args.sim_seconds, args.step, args.seed, taxis), gen_s=gen_s,
                             gen_cpu_s=gen_cpu_s))
    head = ("scale", "routes", "stops", "buses", "cameras", "taxis", "gen s (cpu)", "init s", "sim s", "wall s",
            "pos/sim s", "taps/sim s", "reads/sim s", "taxi fixes/sim s", "taxi msgs/step", "events/wall s",
            "wall/sim (cpu/sim)")
    print(" | ".join(head))
    print(" | ".join("---" for _ in head))
    for r in rows:
        print(" | ".join([f"{r['scale']:g}", str(r["routes"]), str(r["stops"]), str(r["buses"]), str(r["cameras"]),
                          f"{r['taxis']:,}", f"{r['gen_s']:.1f} ({r['gen_cpu_s']:.1f})", f"{r['init_s']:.1f}",
                          f"{r['simulated_s']:.0f}", f"{r['run_s']:.1f}",
                          f"{r['positions_per_sim_s']:.0f}", f"{r['taps_per_sim_s']:.1f}",
                          f"{r['reads_per_sim_s']:.1f}", f"{r['taxis_per_sim_s']:,.0f}", f"{r['taxi_msgs_per_step']:.0f}", f"{r['events_per_wall_s']:,.0f}",
                          f"{r['realtime_factor']:.3f} ({r['cpu_per_sim_s']:.3f})"]))
    if args.bunching_hours > 0:
        scale = float(args.scales.split(",")[0])
        print(f"\nheadway CV of true arrivals, scale {scale:g}, weekday 06:30 + {args.bunching_hours:g} h")
        print("stop sequence | mean headway CV | stop-direction pairs")
        print("--- | --- | ---")
        for k, (cv, n) in headway_cv_by_stop(scale, args.bunching_hours, args.seed).items():
            print(f"{5 * k + 1}-{5 * k + 5}{'+' if k == 4 else ''} | {cv:.3f} | {n}")


if __name__ == "__main__":
    main()

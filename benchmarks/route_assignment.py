"""Route assignment of fixes sent with no route: speed and how often it finds the bus's real route.

The demo city is simulated for ``--minutes``; every fix is stripped of its route and trip and
given to :func:`streams.bus.route_assignment.assign_route` in time order (what the live agent does
for fixes keyed ""). The simulator's own route is the truth. Routes of the demo city share
streets, so a bus is often ambiguous until it turns off a shared corridor: the share of right
answers is reported by minutes since the bus's first fix.

    .venv/bin/python -m benchmarks.route_assignment [--scale 0.5] [--minutes 10]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections import Counter
from pathlib import Path

import msgspec


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=0.5, help="demo city size (1 ≈ 50 routes)")
    parser.add_argument("--minutes", type=float, default=10.0, help="simulated minutes of fixes")
    parser.add_argument("--warm-up-minutes", type=float, default=5.0, help="simulated before fixes are taken")
    args = parser.parse_args()

    from streams.bus.network import network_feed
    from streams.bus.route_assignment import AssignmentState, assign_route, route_index
    from topis.city.generate import generate_city
    from topis.settings import CitySettings, SimSettings, StreamSettings
    from topis.sim.feeder import start_ts
    from topis.sim.simulator import Simulator

    with tempfile.TemporaryDirectory(prefix="topis-bench-") as tmp:
        feed = network_feed(StreamSettings(data_dir=Path(tmp)), CitySettings(scale=args.scale))
    sim = Simulator(generate_city(seed=7, scale=args.scale), seed=1,
                    start_ts=start_ts(SimSettings(start_date="2026-11-24", start_time="08:00")))
    for _ in range(int(args.warm_up_minutes * 6)):
        sim.step(10.0)
    fixes = [f for _ in range(int(args.minutes * 6)) for fs in sim.step(10.0).positions.values() for f in fs]
    t0 = time.perf_counter()
    index = route_index(feed)
    index_s = time.perf_counter() - t0

    state = AssignmentState()
    first_ts: dict[str, float] = {}
    right, total = Counter(), Counter()
    t0 = time.perf_counter()
    for f in fixes:
        got = assign_route(feed, index, state, msgspec.structs.replace(f, route_id="", trip_id=None))
        minute = int((f.ts - first_ts.setdefault(f.vehicle_id, f.ts)) // 60)
        right[minute] += got == f.route_id
        total[minute] += 1
    wall_s = time.perf_counter() - t0

    print(f"\nroute assignment, demo city scale {args.scale}: {len(feed.routes)} routes, {len(fixes):,} fixes "
          f"of {len(first_ts)} buses\n")
    print(f"  route index built in {index_s * 1000:.0f} ms")
    print(f"  {len(fixes) / wall_s:,.0f} fixes/s ({wall_s:.1f} s); unmatched {state.unmatched}")
    print("  minutes since the bus's first fix   right route")
    for m in sorted(total):
        print(f"  {m:>34}   {right[m] / total[m]:6.1%}  ({total[m]} fixes)")


if __name__ == "__main__":
    main()

"""Headway allocation at Seoul scale: marginal-gain greedy vs CP-SAT on the same input.

Run: .venv/bin/python -m benchmarks.headways_speed [--routes 400] [--seed 1] [--seoul]
Prints a table of wall time and objective for each method (measures only).
``--seoul`` builds the input from the real May 2022 card data instead: the
busiest ``--routes`` day routes, rush-hour boardings and peak link load per
average weekday hour, cycle = rebuilt stop-cycle length x 1.3 at 15 km/h + 10 min,
fleet 7,000 (Seoul runs ~7,400 city buses).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from optimizer import headways as hw


def seoul_like(routes: int, seed: int) -> hw.HeadwayProblem:
    """Random routes shaped like Seoul's: ~7,400 buses over ~400 trunk routes."""
    rng = np.random.default_rng(seed)
    boardings = rng.lognormal(mean=6.3, sigma=0.7, size=routes)  # per peak hour
    cycle = rng.uniform(90, 240, size=routes)  # minutes
    peak = boardings * rng.uniform(0.3, 0.8, size=routes)
    return hw.HeadwayProblem([f"r{i}" for i in range(routes)], boardings, cycle, fleet=18 * routes,
                             min_headway_min=3, max_headway_min=20, peak_load_per_h=peak, capacity_per_bus=60)


def seoul_real(routes: int) -> hw.HeadwayProblem:
    """The busiest day routes of the real May 2022 month (see module docstring)."""
    from optimizer import seoul, squirrel, stop_order

    data = seoul.shared_data_dir() / "seoul"
    month = seoul.load_month(data / "2022_05.txt.zip")
    stops = seoul.load_stops(data / "bus_stops.csv")
    day_routes = [r for r in month.routes() if not r.startswith("N")]
    total = {r: month.board[month.rows_of(r)].sum() for r in day_routes}
    busiest = sorted(day_routes, key=lambda r: -total[r])[:routes]
    seqs = stop_order.all_route_sequences(month, stops, busiest)
    settings = squirrel.SquirrelSettings()
    ids, boardings, cycle, peak = [], [], [], []
    for r, q in seqs.items():
        prof = squirrel.peak_profile(r, q.ars_id, q.xy_m, q.board, q.alight, settings)
        per_h = month.board[month.rows_of(r)][:, list(settings.peak_hours)].sum(axis=0).max()
        ids.append(r)
        boardings.append(per_h * settings.weekday_factor / settings.days_in_month)
        cycle.append(q.length_m * 1.3 / 1000 / 15 * 60 + 10)
        peak.append(prof.load_per_h.max())
    return hw.HeadwayProblem(ids, np.array(boardings), np.array(cycle), fleet=7000, min_headway_min=3,
                             max_headway_min=20, peak_load_per_h=np.array(peak), capacity_per_bus=60)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--routes", type=int, default=400)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--cp-sat-seconds", type=float, default=30.0)
    ap.add_argument("--seoul", action="store_true", help="real May 2022 routes instead of random ones")
    args = ap.parse_args()
    p = seoul_real(args.routes) if args.seoul else seoul_like(args.routes, args.seed)
    rows = []
    t = time.perf_counter()
    greedy = hw.allocate(p)
    rows.append(("greedy (exact)", time.perf_counter() - t, greedy))
    t = time.perf_counter()
    model = hw.build_model(p)
    solver = hw.solve(model, args.cp_sat_seconds)
    exact = hw.extract(model, solver)
    rows.append((f"CP-SAT ({model.status})", time.perf_counter() - t, exact))
    source = "real Seoul May 2022" if args.seoul else f"random Seoul-like, seed={args.seed}"
    print(f"routes={len(p.route_ids)} fleet={p.fleet} input={source}")
    print(f"{'method':<22}{'time_s':>10}{'cost pax-min/h':>18}{'buses':>8}{'excess pax/h':>14}")
    for name, sec, plan in rows:
        print(f"{name:<22}{sec:>10.3f}{plan.cost:>18.1f}{int(plan.buses.sum()):>8}{plan.excess_pax_per_h:>14.1f}")
    print(f"speed ratio CP-SAT/greedy: {rows[1][1] / rows[0][1]:.0f}x; "
          f"max |buses difference| per route: {int(np.abs(greedy.buses - exact.buses).max())}")


if __name__ == "__main__":
    main()

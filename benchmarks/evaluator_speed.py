"""Numba route-set evaluator against its plain-Python twin (transit-graph Dijkstra).

For each instance, evaluates the same route set with the designer's inner-loop kernel
(``att_objective``), the full KPI evaluation (``evaluate``) and the plain twin used by
the tests, and prints evaluations per second and the speed-up ratio.

    .venv/bin/python -m benchmarks.evaluator_speed
"""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "optimizer_network"))  # the plain twin lives with the tests

from network_twins import twin_journeys, twin_kpis  # noqa: E402

from optimizer import _kernels  # noqa: E402
from optimizer.evaluate import evaluate, flatten_routes  # noqa: E402
from optimizer.instance import load_instance  # noqa: E402
from optimizer.synthetic import synthetic_city  # noqa: E402

TRNDP = ROOT.parent / "shared" / "data" / "trndp"


def published_sets() -> dict[str, list[list[int]]]:
    """First passenger-best published set per instance."""
    text = (TRNDP / "mumford2013_best_route_sets.txt").read_text()
    sets: dict[str, list[list[int]]] = {}
    for block in re.split(r"^## ", text, flags=re.M)[1:]:
        title, *lines = block.strip().splitlines()
        name = next((n for n in ("Mumford0", "Mumford1") if n in title), "Mandl")
        if "passenger" not in title or (name == "Mandl" and "Mandl 6" not in title):
            continue
        sets.setdefault(name, [[int(v) - 1 for v in ln.split()] for ln in lines if ln.strip()])
    return sets


def random_route_set(inst, n_routes, max_nodes, seed):
    rng = np.random.default_rng(seed)
    routes = []
    for _ in range(n_routes):
        route = [int(rng.integers(inst.n))]
        while len(route) < max_nodes:
            options = [v for v in inst.neighbours(route[-1]) if v not in route]
            if not options:
                break
            route.append(int(rng.choice(options)))
        routes.append(route)
    return routes


def rate(fn, min_time_s=0.5, min_reps=2) -> float:
    fn()
    reps, t0 = 0, time.perf_counter()
    while reps < min_reps or time.perf_counter() - t0 < min_time_s:
        fn()
        reps += 1
    return reps / (time.perf_counter() - t0)


def main() -> None:
    cases = []
    if TRNDP.is_dir():
        for name, routes in published_sets().items():
            cases.append((name, load_instance(TRNDP / "mumford_format" / name), routes))
    for n, links, n_routes, hi in ((110, 385, 56, 22), (127, 425, 60, 25)):
        inst = synthetic_city(n, links, seed=1)
        cases.append((f"synthetic{n}", inst, random_route_set(inst, n_routes, hi, seed=0)))
    print(f"{'instance':13} {'n':>4} {'routes':>6} {'stops':>6} {'kernel ev/s':>12} {'evaluate ev/s':>13} "
          f"{'twin ev/s':>10} {'kernel/twin':>11} {'check':>6}")
    for name, inst, routes in cases:
        stops, offsets = flatten_routes(routes)
        tt, demand = inst.travel_time_min, inst.demand
        kernel = rate(lambda: _kernels.att_objective(tt, stops, offsets, demand, 5.0))
        full = rate(lambda: evaluate(inst, routes))
        twin = rate(lambda: twin_kpis(*twin_journeys(tt, routes, 5.0), demand), min_time_s=1.0, min_reps=1)
        att_twin, _ = twin_kpis(*twin_journeys(tt, routes, 5.0), demand)
        same = abs(att_twin - evaluate(inst, routes).att_min) < 1e-9
        print(f"{name:13} {inst.n:4d} {len(routes):6d} {len(stops):6d} {kernel:12.0f} {full:13.0f} "
              f"{twin:10.2f} {kernel / twin:11.0f} {'same' if same else 'DIFF':>6}", flush=True)


if __name__ == "__main__":
    main()

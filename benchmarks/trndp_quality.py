"""Route network design quality on the standard TRNDP benchmarks.

Runs the designer on Mandl (4/6/7/8 routes), Mumford0 and Mumford1 with the published
time limits, and on synthetic cities the size of Mumford2/3 (whose instance files are
not in ../shared/data), then prints a table with the best published ATT and the gap.

    .venv/bin/python -m benchmarks.trndp_quality            # full limits (~27 min)
    .venv/bin/python -m benchmarks.trndp_quality --quick    # smoke run (~1 min)
    .venv/bin/python -m benchmarks.trndp_quality --only Mumford1 --seeds 1 2
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from optimizer.design import design_network  # noqa: E402
from optimizer.evaluate import RouteLimits, att_lower_bound, format_routes  # noqa: E402
from optimizer.instance import load_instance  # noqa: E402
from optimizer.synthetic import synthetic_city  # noqa: E402

TRNDP = ROOT.parent / "shared" / "data" / "trndp"

#: (label, instance, routes, min nodes, max nodes, time limit s, quick time limit s)
CASES = [
    ("Mandl", "Mandl", 4, 2, 8, 60, 5),
    ("Mandl", "Mandl", 6, 2, 8, 60, 10),
    ("Mandl", "Mandl", 7, 2, 8, 60, 5),
    ("Mandl", "Mandl", 8, 2, 8, 60, 5),
    ("Mumford0", "Mumford0", 12, 2, 15, 300, 20),
    ("Mumford1", "Mumford1", 15, 10, 30, 600, 20),
    ("synthetic110", "synthetic:110:385", 56, 10, 22, 900, 0),
    ("synthetic127", "synthetic:127:425", 60, 12, 25, 900, 0),
]


def best_published() -> dict[tuple[str, int], tuple[float, str]]:
    """Lowest passenger-best ATT per (instance, routes) in published_results.csv."""
    best: dict[tuple[str, int], tuple[float, str]] = {}
    with (TRNDP / "published_results.csv").open() as fh:
        for row in csv.DictReader(fh):
            if row["perspective"] != "best passenger" or not row["n_routes"].isdigit():
                continue
            key = (row["instance"], int(row["n_routes"]))
            att = float(row["ATT_min"])
            if key not in best or att < best[key][0]:
                best[key] = (att, row["source"])
    return best


def load(spec: str):
    if spec.startswith("synthetic:"):
        _, n, links = spec.split(":")
        return synthetic_city(int(n), int(links), seed=1)
    return load_instance(TRNDP / "mumford_format" / spec)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short limits, Mandl and Mumford0/1 only")
    parser.add_argument("--only", nargs="*", help="labels or label:routes to run, e.g. Mandl:6 Mumford0")
    parser.add_argument("--seeds", nargs="*", type=int, default=[1])
    parser.add_argument("--time-scale", type=float, default=1.0, help="multiply every time limit")
    parser.add_argument("--out", type=Path, help="also write the route sets to this folder")
    args = parser.parse_args(argv)
    published = best_published() if TRNDP.is_dir() else {}
    header = (f"{'instance':13} {'routes':>6} {'limit_s':>7} {'seed':>4} {'ATT':>8} {'TRT':>6} {'d0':>6} "
              f"{'d1':>6} {'d2':>5} {'dun':>5} {'feas':>4} {'iters':>9} {'best_pub':>8} {'gap%':>6} {'LB':>8} {'LBgap%':>6}")
    print(header)
    print("-" * len(header))
    for label, spec, routes, lo, hi, limit_s, quick_s in CASES:
        if args.only and label not in args.only and f"{label}:{routes}" not in args.only:
            continue
        seconds = (quick_s if args.quick else limit_s) * args.time_scale
        if seconds <= 0 or (not TRNDP.is_dir() and not spec.startswith("synthetic")):
            continue
        inst = load(spec)
        bound = att_lower_bound(inst)
        for seed in args.seeds:
            result = design_network(inst, RouteLimits(routes, lo, hi), seconds=seconds, seed=seed)
            e = result.evaluation
            pub = published.get((label, routes))
            gap = f"{100 * (e.att_min - pub[0]) / pub[0]:+6.2f}" if pub else "   n/a"
            pub_txt = f"{pub[0]:8.2f}" if pub else "     n/a"
            print(f"{label:13} {routes:6d} {seconds:7.0f} {seed:4d} {e.att_min:8.4f} {e.trt_min:6.0f} "
                  f"{e.d0_pct:6.2f} {e.d1_pct:6.2f} {e.d2_pct:5.2f} {e.dun_pct:5.2f} "
                  f"{'yes' if e.feasible else 'NO':>4} {result.iterations:9d} {pub_txt} {gap} {bound:8.4f} "
                  f"{100 * (e.att_min - bound) / bound:6.2f}", flush=True)
            if args.out:
                args.out.mkdir(parents=True, exist_ok=True)
                (args.out / f"{label}_{routes}_seed{seed}.txt").write_text(format_routes(result.routes))


if __name__ == "__main__":
    main()

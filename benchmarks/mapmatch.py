"""Map matching of taxi probes: this project's Numba HMM kernel against fastmm, and link speeds from it.

Synthetic taxis drive shortest paths between random nodes of the demo city's road graph at
per-link speeds (speed limit × U(0.35, 1), times a per-taxi factor U(0.9, 1.1)), with one
fix per 10 s, GPS noise N(0, 8 m) on each axis and 5 % of fixes dropped
(``tests/streams/probe_traces.py``). Every matcher gets the same fixes, in the same run:

* the kernel on the whole trace as one batch, and as a stream (batches of ``--batch-s`` of
  all taxis, state carried, lag 5 fixes), with and without headings;
* ``fastmm`` 0.3.2 (C++ FMM with a UBODT; one trajectory per taxi, same radius, candidates,
  GPS error, route bound and reverse tolerance), when it imports;
* the plain-Python twin of the kernel on the first ``--twin-vehicles`` taxis (one run).

Wall times are the best of ``--repeat`` runs (the machine may be shared).

"On true link" is the share of all fixes (dropped-by-the-matcher ones count as wrong) whose
matched link is the one the taxi was on. Link speeds: harmonic mean of the kernel's
traversals per link per 5-minute bin, against the harmonic mean of the true traversals
of the same link and bin, over bins with >= 5 matched traversals. A benchmark measures;
it asserts nothing.

    .venv/bin/python -m benchmarks.mapmatch [--scale 1] [--vehicles 300] [--minutes 60]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "streams"))  # the trace generator and the twin live with the tests


@contextlib.contextmanager
def quiet_fds():
    """Silence C++ logging written straight to file descriptors 1 and 2."""
    sys.stdout.flush()
    saved = [os.dup(1), os.dup(2)]
    with open(os.devnull, "w") as null:
        os.dup2(null.fileno(), 1)
        os.dup2(null.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)


def run_fastmm(net, tr, rules):
    """Per-fix link of fastmm's match (-1 unmatched), build s, match s, s inside ``match()``; or the error text."""
    try:
        import fastmm
    except ImportError as exc:
        return f"fastmm does not import: {exc}"
    vert_ptr, vx, vy, _ = net.geo
    t0 = time.perf_counter()
    with quiet_fds(), tempfile.TemporaryDirectory() as cache:
        network = fastmm.Network()
        for l in range(len(net.link_ids)):
            lo, hi = vert_ptr[l], vert_ptr[l + 1]
            network.add_edge(l, source=int(net.start_node[l]), target=int(net.end_node[l]),
                             geom=[(float(a), float(b)) for a, b in zip(vx[lo:hi], vy[lo:hi])])
        network.finalize()
        matcher = fastmm.FastMapMatch(network, fastmm.TransitionMode.SHORTEST,
                                      max_distance_between_candidates=net.max_route_m, cache_dir=cache)
        build_s = time.perf_counter() - t0
        link = np.full(len(tr.ts_s), -1, dtype=np.int64)
        in_match_s = 0.0
        t0 = time.perf_counter()
        for rows in _rows_by_vehicle(tr.vehicle_id):
            traj = fastmm.Trajectory.from_xyt_tuples(list(zip(tr.x_m[rows].tolist(), tr.y_m[rows].tolist(),
                                                              tr.ts_s[rows].tolist())))
            t1 = time.perf_counter()
            result = matcher.match(traj, max_candidates=rules.max_candidates, candidate_search_radius=rules.radius_m,
                                   gps_error=rules.sigma_m, reverse_tolerance=rules.reverse_tolerance_m)
            in_match_s += time.perf_counter() - t1
            for sub in result.subtrajectories:
                if sub.error_code != fastmm.MatchErrorCode.SUCCESS:
                    continue
                for seg in sub.segments:
                    link[rows[seg.p0.trajectory_index]] = seg.edges[0].edge_id
                    link[rows[seg.p1.trajectory_index]] = seg.edges[-1].edge_id
        match_s = time.perf_counter() - t0
    return link, build_s, match_s, in_match_s


def _rows_by_vehicle(vehicle_id):
    order = np.argsort(vehicle_id.astype(str), kind="stable")
    cuts = np.flatnonzero(vehicle_id[order][1:] != vehicle_id[order][:-1]) + 1
    return np.split(order, cuts)


def run_twin(net, tr, rules, n_vehicles):
    from mapmatch_twins import Twin

    keep = np.isin(tr.vehicle_id, np.unique(tr.vehicle_id.astype(str))[:n_vehicles])
    twin = Twin(net, rules)
    t0 = time.perf_counter()
    fixes, _ = twin.advance(list(tr.vehicle_id[keep]), tr.ts_s[keep], tr.x_m[keep], tr.y_m[keep],
                            np.full(keep.sum(), np.nan))
    more, _ = twin.flush()
    wall = time.perf_counter() - t0
    got = np.array([r[3] for r in sorted(fixes + more)])
    return keep.sum(), wall, np.mean(got == tr.true_link[keep])


def stream(net, tr, rules, batch_s, heading):
    """The kernel fed in time batches of all taxis, as the agent will."""
    from streams.traffic import mapmatch as mm

    state = mm.new_state(rules)
    order = np.argsort(tr.ts_s, kind="stable")
    edges = np.searchsorted(tr.ts_s[order], np.arange(tr.ts_s.min(), tr.ts_s.max() + batch_s, batch_s))
    parts = []
    t0 = time.perf_counter()
    for lo, hi in zip(edges[:-1], edges[1:]):
        s = order[lo:hi]
        parts.append(mm.advance(state, net, tr.vehicle_id[s], tr.ts_s[s], tr.x_m[s], tr.y_m[s],
                                tr.heading_deg[s] if heading else None, rules))
    parts.append(mm.flush(state, net, rules))
    wall = time.perf_counter() - t0
    fixes = mm.concat_fixes([p[0] for p in parts])
    link = np.full(len(tr.ts_s), -1, dtype=np.int64)
    link[order[fixes.seq]] = fixes.link  # seq counts fixes in the order they were given
    return wall, link, mm.concat_traversals([p[1] for p in parts])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="demo city size")
    parser.add_argument("--vehicles", type=int, default=300, help="taxis")
    parser.add_argument("--minutes", type=float, default=60.0, help="minutes driven")
    parser.add_argument("--batch-s", type=float, default=30.0, help="stream batch length")
    parser.add_argument("--twin-vehicles", type=int, default=10, help="taxis given to the plain-Python twin")
    parser.add_argument("--period-s", type=float, default=10.0, help="seconds between fixes")
    parser.add_argument("--sigma-m", type=float, default=8.0, help="GPS noise per axis, metres")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3, help="timings are the best of this many runs")
    args = parser.parse_args()

    from probe_traces import drive

    from streams.traffic import mapmatch as mm
    from streams.traffic import traversal_speeds as tsp
    from topis.city.generate import generate_city

    city = generate_city(seed=args.seed, scale=args.scale)
    rules = mm.MatchRules(sigma_m=args.sigma_m)
    t0 = time.perf_counter()
    net = mm.network_from_city(city)
    build_s = time.perf_counter() - t0
    limit = np.array([city.graph.edges[city.link(lid)]["speed_limit_kph"] for lid in net.link_ids])
    truth_kph = limit * np.random.default_rng(args.seed).uniform(0.35, 1.0, len(limit))
    t0 = time.perf_counter()
    tr = drive(net, truth_kph, args.vehicles, args.minutes * 60.0, seed=args.seed, period_s=args.period_s,
               sigma_m=args.sigma_m)
    gen_s = time.perf_counter() - t0
    n = len(tr.ts_s)
    mm.match_trace(net, tr.vehicle_id[:50], tr.ts_s[:50], tr.x_m[:50], tr.y_m[:50])  # compile / load the kernels

    rows = []
    walls = []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        fixes, trav = mm.match_trace(net, tr.vehicle_id, tr.ts_s, tr.x_m, tr.y_m, rules=rules)
        walls.append(time.perf_counter() - t0)
    rows.append(("numba kernel, whole trace", n, min(walls), fixes.link))
    for heading in (False, True):
        runs = [stream(net, tr, rules, args.batch_s, heading) for _ in range(args.repeat)]
        wall, link, t = min(runs, key=lambda r: r[0])
        if not heading:
            stream_trav = t
        name = ", with heading" if heading else f" ({args.batch_s:g} s batches, lag {rules.lag_fixes})"
        rows.append((f"numba kernel, stream{name}", n, wall, link))
    runs = [run_fastmm(net, tr, rules) for _ in range(args.repeat)]
    if isinstance(runs[0], str):
        rows.append((f"fastmm 0.3.2: {runs[0]}", n, float("nan"), None))
        fast_build = float("nan")
    else:
        link = runs[0][0]
        fast_build = min(r[1] for r in runs)
        rows.append(("fastmm 0.3.2 (FMM, UBODT), with reading its results", n, min(r[2] for r in runs), link))
        rows.append(("fastmm 0.3.2, its match() calls alone", n, min(r[3] for r in runs), link))
    n_twin, twin_wall, twin_acc = run_twin(net, tr, rules, args.twin_vehicles)

    print(f"\nmap matching, demo city seed {args.seed} scale {args.scale:g}: {len(net.link_ids)} links; "
          f"{args.vehicles} taxis x {args.minutes:g} min, {n:,} fixes ({args.period_s:g} s, sigma {args.sigma_m:g} m, "
          "5 % dropped)")
    print(f"wall times: best of {args.repeat} runs, one thread each, on {os.cpu_count()} CPUs")
    print(f"network build: kernel tables {build_s:.2f} s (shortest paths <= {net.max_route_m:g} m), "
          f"fastmm UBODT {fast_build:.2f} s; trace generation {gen_s:.1f} s\n")
    print(f"{'matcher':58s} {'fixes':>8s} {'wall s':>8s} {'fixes/s':>10s} {'on true link':>13s} {'unmatched':>10s}")
    for name, count, wall, link in rows:
        if link is None:
            print(f"{name:58s} {count:8,d}")
            continue
        print(f"{name:58s} {count:8,d} {wall:8.2f} {count / wall:10,.0f} {np.mean(link == tr.true_link):13.2%} "
              f"{np.mean(link < 0):10.2%}")
    print(f"{f'plain-Python twin ({args.twin_vehicles} taxis)':58s} {n_twin:8,d} {twin_wall:8.2f} "
          f"{n_twin / twin_wall:10,.0f} {twin_acc:13.2%}")

    truth = tsp.bin_traversals(tr.trav_link, tr.trav_entry_ts, tr.trav_exit_ts, net.length_m)
    truth_by = {(int(a), float(b)): s for a, b, s in zip(truth.link, truth.bin_start_ts, truth.speed_kph)}
    print("\nlink speeds per 5-minute bin from the kernel's traversals (harmonic mean) vs the true traversals'")
    print(f"{'traversals':28s} {'min probes':>10s} {'bins':>7s} {'MAPE':>7s} {'median APE':>11s} {'within 10 %':>12s} "
          f"{'mean confidence':>16s}")
    for name, t in (("whole trace", trav), ("stream", stream_trav)):
        bins = tsp.bin_traversals(t.link, t.entry_ts_s, t.exit_ts_s, net.length_m)
        for min_n in (1, 5):
            sel = np.flatnonzero(bins.n >= min_n)
            want = np.array([truth_by.get((int(bins.link[i]), float(bins.bin_start_ts[i])), np.nan) for i in sel])
            ape = np.abs(bins.speed_kph[sel] / want - 1)
            print(f"{name:28s} {min_n:10d} {len(sel):7,d} {np.nanmean(ape):7.2%} {np.nanmedian(ape):11.2%} "
                  f"{np.nanmean(ape <= 0.10):12.2%} {np.mean(bins.confidence()[sel]):16.2f}")
    print(f"\n{len(trav.link):,} matched traversals (whole trace) vs {len(tr.trav_link):,} true ones")


if __name__ == "__main__":
    main()

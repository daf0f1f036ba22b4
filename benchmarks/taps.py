"""Throughput of the demand path (taps → boardings → rides/OD → loads) and of link speeds.

Stage times are CPU seconds of this process (``time.process_time``), so that
other work on a shared machine does not inflate them; the wall time of the
whole run is printed at the end.

A synthetic, seeded day: ``--routes`` routes with two patterns of 30 stops
each (400 m apart) on a 20 km city, buses every 10 minutes from 05:00 to
01:00, journeys drawn with morning and evening peaks, 30 % with a transfer to
a nearby route, 80 % of rides tapped off. Taps travel as route batches (as
``TapBatch`` messages would), the card stage sees them re-keyed by card.

Link speeds: a grid of 400 m links, buses driving along rows with 5 m GPS
noise, a fix every 15 s, fed in time-ordered batches.

Run::

    .venv/bin/python -m benchmarks.taps            # ~1M taps
    .venv/bin/python -m benchmarks.taps --journeys 50000 --vehicles 200   # quick
"""

from __future__ import annotations

import argparse
import math
import time
from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np

from streams.demand import boardings, loads, od
from streams.demand.taps import Pattern, RoutePatterns
from streams.traffic import linkspeeds
from topis.geo import M_PER_DEG_LAT
from topis.schemas.inputs import BusPosition, CardTap

DAY0 = datetime(2026, 11, 23, 0, 0, tzinfo=ZoneInfo("Asia/Seoul")).timestamp()
STOP_S = 90.0  # bus time between stops
N_STOPS = 30


def make_city(rng: np.random.Generator, n_routes: int) -> RoutePatterns:
    patterns, ll = [], {}
    for r in range(n_routes):
        start = rng.uniform(0, 20_000, 2)
        ang = rng.uniform(0, 2 * math.pi)
        step = 400.0 * np.array([math.cos(ang), math.sin(ang)])
        for d, side in ((0, 0.0), (1, 20.0)):
            ids = []
            for i in range(N_STOPS):
                k = i if d == 0 else N_STOPS - 1 - i
                x, y = start + k * step + side
                sid = f"{r}-{d}-{i}"
                ll[sid] = (37.45 + y / M_PER_DEG_LAT, 126.85 + x / (M_PER_DEG_LAT * math.cos(math.radians(37.5))))
                ids.append(sid)
            patterns.append(Pattern(f"R{r}", d, tuple(ids)))
    return RoutePatterns(tuple(patterns), ll)


def _near_index(model: RoutePatterns, radius_m: float = 400.0) -> dict[str, list[tuple[int, int]]]:
    """For each stop, (pattern, stop index) of stops on other routes within ``radius_m``."""
    cell = {}
    coords = {}
    for p_idx, pat in enumerate(model.patterns):
        for i, sid in enumerate(pat.stop_ids):
            lat, lon = model.stop_lat_lon[sid]
            xy = (lon * M_PER_DEG_LAT * math.cos(math.radians(37.5)), lat * M_PER_DEG_LAT)
            coords[sid] = (xy, p_idx, i)
            cell.setdefault((int(xy[0] // radius_m), int(xy[1] // radius_m)), []).append(sid)
    out = {}
    for sid, ((x, y), p_idx, _) in coords.items():
        cx, cy = int(x // radius_m), int(y // radius_m)
        near = []
        for dx in (-1, 0, 1):
            for dy in (-1, 0, 1):
                for other in cell.get((cx + dx, cy + dy), []):
                    (ox, oy), op, oi = coords[other]
                    if model.patterns[op].route_id != model.patterns[p_idx].route_id and math.hypot(ox - x, oy - y) <= radius_m and oi < N_STOPS - 1:
                        near.append((op, oi))
        out[sid] = near
    return out


def _bus_at(route_pattern: int, stop_index: int, t: float) -> tuple[str, float]:
    """First bus of a pattern at a stop at or after ``t`` (buses every 600 s from 05:00)."""
    first = DAY0 + 5 * 3600
    k = max(0, math.ceil((t - first - stop_index * STOP_S) / 600.0))
    return f"v{route_pattern}-{k % 8}", first + k * 600.0 + stop_index * STOP_S


def make_taps(rng: np.random.Generator, model: RoutePatterns, n_journeys: int) -> list[CardTap]:
    near = _near_index(model)
    hour_w = np.array([2, 1, 0.5, 0.5, 1, 3, 8, 14, 12, 7, 6, 6, 6, 6, 6, 7, 8, 12, 13, 9, 7, 6, 5, 4], float)
    starts = DAY0 + (rng.choice(24, n_journeys, p=hour_w / hour_w.sum()) + rng.random(n_journeys)) * 3600
    taps = []
    n_pat = len(model.patterns)
    for j in range(n_journeys):
        card = f"c{j:07d}"
        p_idx, b = int(rng.integers(n_pat)), int(rng.integers(N_STOPS - 1))
        t = float(starts[j])
        legs = 2 if rng.random() < 0.3 else 1
        for leg in range(legs):
            pat = model.patterns[p_idx]
            a = int(rng.integers(b + 1, N_STOPS))
            vid, t_board = _bus_at(p_idx, b, t)
            t_alight = t_board + (a - b) * STOP_S
            taps.append(CardTap(card, "on", pat.route_id, vid, pat.stop_ids[b], t_board))
            if rng.random() < 0.8:
                taps.append(CardTap(card, "off", pat.route_id, vid, pat.stop_ids[a], t_alight))
            options = near[pat.stop_ids[a]]
            if leg + 1 == legs or not options:
                break
            p_idx, b = options[int(rng.integers(len(options)))]
            t = t_alight + float(rng.uniform(60, 600))
    taps.sort(key=lambda x: x.ts)
    return taps


def run_demand(taps: list[CardTap], model: RoutePatterns, batch_s: float = 60.0) -> dict[str, float]:
    """Time each stage; returns seconds per stage and counts."""
    out: dict[str, float] = {}
    # stage 1: route batches of one minute each
    t0 = time.process_time()
    route_states: dict[str, boardings.RouteTapState] = {}
    batches: dict[tuple[str, int], list[CardTap]] = {}
    for tp in taps:
        batches.setdefault((tp.route_id, int(tp.ts // batch_s)), []).append(tp)
    located = []
    for (route_id, _), batch in sorted(batches.items(), key=lambda kv: kv[0][1]):
        st = route_states.get(route_id) or route_states.setdefault(route_id, boardings.RouteTapState(route_id))
        located += boardings.advance(st, batch, model)[1]
    out["boardings_s"] = time.process_time() - t0
    # stage 2: card partition, one-minute batches, expiry every 10 minutes
    t0 = time.process_time()
    card_state = od.CardLinkState()
    alight_model = od.alighting_model_from_counts(model, {
        (rid, c.stop_id): c.alightings_tapped_pax
        for rid, st in route_states.items() for c in boardings.stop_hour_counts(st)})
    rides, journeys = [], []
    for i in range(0, len(located), 2000):
        _, o = od.advance(card_state, located[i:i + 2000], model, alight_model)
        rides += o.rides
        journeys += o.journeys
        if i % 20000 == 0:
            _, o = od.expire(card_state, located[i].tap.ts, model, alight_model)
            rides += o.rides
            journeys += o.journeys
    _, o = od.expire(card_state, math.inf, model, alight_model)
    rides += o.rides
    journeys += o.journeys
    counts = od.accumulate(od.ODCounts(), journeys)
    out["od_s"] = time.process_time() - t0
    # stage 3: loads per route
    t0 = time.process_time()
    load_states: dict[str, loads.RouteLoadState] = {}
    by_route: dict[str, list] = {}
    for r in rides:
        by_route.setdefault(r.route_id, []).append(r)
    for route_id, rs in by_route.items():
        st = load_states.setdefault(route_id, loads.RouteLoadState(route_id))
        for i in range(0, len(rs), 500):
            loads.advance(st, rs[i:i + 500], model)
    out["loads_s"] = time.process_time() - t0
    t0 = time.process_time()
    sq = [loads.squirrel_input(st, model, DAY0) for st in load_states.values()]
    od.owl_input(counts, DAY0, od.grid_zones(model.stop_lat_lon, 2000.0))
    od.od_matrix(counts, range(24))
    out["aggregates_s"] = time.process_time() - t0
    n_rides = sum(card_state.rides_by_method.values())
    out.update(
        taps=len(taps), rides=n_rides, journeys=len(journeys),
        inferred_share=(card_state.rides_by_method.get("chain", 0) + card_state.rides_by_method.get("distribution", 0)) / n_rides,
        chain_share=card_state.rides_by_method.get("chain", 0) / n_rides,
        transfers=sum(j.n_transfers for j in journeys),
        peak_load_max=max((max(p.peak_load_pax) for s in sq for p in s.profiles), default=0.0),
    )
    return out


def make_fixes(rng: np.random.Generator, n_vehicles: int, grid_n: int = 30, spacing_m: float = 400.0):
    m_lon = M_PER_DEG_LAT * math.cos(math.radians(37.5))
    links = []
    for row in range(grid_n):
        for col in range(grid_n - 1):
            a = (37.45 + row * spacing_m / M_PER_DEG_LAT, 126.85 + col * spacing_m / m_lon)
            b = (a[0], 126.85 + (col + 1) * spacing_m / m_lon)
            links.append(linkspeeds.Link(f"h{row}-{col}", [a, b], spacing_m))
            c = (37.45 + col * spacing_m / M_PER_DEG_LAT, 126.85 + row * spacing_m / m_lon)
            d = (37.45 + (col + 1) * spacing_m / M_PER_DEG_LAT, c[1])
            links.append(linkspeeds.Link(f"v{row}-{col}", [c, d], spacing_m))
    fixes = []
    span_m = (grid_n - 1) * spacing_m
    for v in range(n_vehicles):
        row = int(rng.integers(grid_n))
        speed = float(rng.uniform(3, 9))  # m/s
        t0 = DAY0 + 7 * 3600 + float(rng.uniform(0, 3600))
        n = int(span_m / speed / 15)
        x = speed * 15 * np.arange(n) + rng.normal(0, 5, n)
        y = row * spacing_m + rng.normal(0, 5, n)
        for k in range(n):
            fixes.append(BusPosition(f"b{v}", "R", t0 + 15 * k, 37.45 + y[k] / M_PER_DEG_LAT, 126.85 + x[k] / m_lon))
    fixes.sort(key=lambda f: f.ts)
    return links, fixes


def run_linkspeeds(links, fixes, batch: int = 2000) -> dict[str, float]:
    t0 = time.process_time()
    net = linkspeeds.build_network(links)
    build_s = time.process_time() - t0
    t0 = time.process_time()
    state = linkspeeds.LinkSpeedState()
    out = []
    for i in range(0, len(fixes), batch):
        out += linkspeeds.advance(state, fixes[i:i + batch], net)[1]
    out += linkspeeds.flush(state, net)
    run_s = time.process_time() - t0
    speeds = np.array([s.speed_kph for s in out])
    return {"links": len(links), "fixes": len(fixes), "build_s": build_s, "run_s": run_s, "bins": len(out),
            "median_kph": float(np.median(speeds)) if len(speeds) else math.nan}


def run_sim_truth(minutes: int, scale: float, seed: int) -> dict[str, float]:
    """Demo-city simulator taps through the demand path, loads against its true loads."""
    from streams.demand import batch as demand
    from topis.city.generate import generate_city
    from topis.sim.simulator import Simulator

    city = generate_city(seed=seed, scale=scale)
    start = datetime(2026, 11, 24, 6, 30, tzinfo=ZoneInfo("Asia/Seoul")).timestamp()
    sim = Simulator(city, seed=seed, start_ts=start)
    taps, visits, fixes = [], [], []
    for _ in range(minutes // 5):
        out = sim.step(300.0)
        for batch in out.taps.values():
            taps += batch
        for batch in out.positions.values():
            fixes += batch
        visits += out.stop_visits
    model = RoutePatterns.from_city(city)
    t0 = time.perf_counter()
    res = demand.run_batch(taps, model, now_ts=sim.now_ts)
    run_s = time.perf_counter() - t0
    err, n_trips = demand.load_errors(res, visits, model)
    by = res.card_state.rides_by_method
    n = sum(by.values())
    net = linkspeeds.build_network(linkspeeds.links_from_city(city), [(st.lat, st.lon) for st in city.stops])
    state, speeds = linkspeeds.LinkSpeedState(), []
    for i in range(0, len(fixes), 500):
        speeds += linkspeeds.advance(state, fixes[i:i + 500], net)[1]
    speeds += linkspeeds.flush(state, net)
    x, y = net.to_xy([f.lat for f in fixes], [f.lon for f in fixes])
    link, _ = linkspeeds.map_fixes(net, x, y, 30.0, np.array([np.nan if f.heading_deg is None else f.heading_deg for f in fixes]))
    truth: dict = {}
    for f, k in zip(fixes, link):
        if k >= 0 and f.speed_kph:
            truth.setdefault((net.link_ids[k], f.ts // 300 * 300), []).append(f.speed_kph)
    ratio = np.array([sp.speed_kph / np.mean(truth[(sp.link_id, sp.bin_start_ts)]) for sp in speeds
                      if len(truth.get((sp.link_id, sp.bin_start_ts), ())) >= 5 and sp.time_s >= 60])
    return {"fixes": len(fixes), "link_bins": len(ratio), "ratio_p10": float(np.percentile(ratio, 10)),
            "ratio_p50": float(np.median(ratio)), "ratio_p90": float(np.percentile(ratio, 90)),
            "taps": len(taps), "run_s": run_s, "trips": n_trips, "segment_visits": len(err),
            "mae": float(np.abs(err).mean()), "bias": float(err.mean()), "within2": float(np.mean(np.abs(err) <= 2)),
            "p95_abs": float(np.percentile(np.abs(err), 95)), "inferred": (by.get("chain", 0) + by.get("distribution", 0)) / n}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--routes", type=int, default=200)
    ap.add_argument("--journeys", type=int, default=430_000, help="~1M taps at the default")
    ap.add_argument("--vehicles", type=int, default=2000, help="buses for the link-speed run")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--sim-minutes", type=int, default=120, help="demo-city simulation for the accuracy table (0: skip)")
    ap.add_argument("--sim-scale", type=float, default=0.3)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    wall0 = time.perf_counter()
    t0 = time.perf_counter()
    model = make_city(rng, args.routes)
    taps = make_taps(rng, model, args.journeys)
    gen_s = time.perf_counter() - t0
    r = run_demand(taps, model)
    total = r["boardings_s"] + r["od_s"] + r["loads_s"] + r["aggregates_s"]
    print(f"demand path: {r['taps']:,} taps, {r['rides']:,} rides, {r['journeys']:,} journeys, "
          f"{r['transfers']:,} transfers; generated in {gen_s:.1f} s (seed {args.seed})")
    print(f"  inferred alightings {r['inferred_share']:.1%} (chain {r['chain_share']:.1%}); "
          f"highest segment peak load {r['peak_load_max']:.1f} pax")
    print(f"| {'stage':<28} | {'CPU s':>8} | {'taps/s':>10} |")
    print(f"|{'-' * 30}|{'-' * 10}|{'-' * 12}|")
    for name, key in (("boardings (route-keyed)", "boardings_s"), ("rides+journeys+OD (card-keyed)", "od_s"),
                      ("segment loads (route-keyed)", "loads_s"), ("Squirrel/Owl/OD aggregates", "aggregates_s")):
        print(f"| {name:<28} | {r[key]:8.2f} | {r['taps'] / r[key]:10,.0f} |")
    print(f"| {'whole demand path':<28} | {total:8.2f} | {r['taps'] / total:10,.0f} |")
    links, fixes = make_fixes(rng, args.vehicles)
    s = run_linkspeeds(links, fixes)
    print(f"\nlink speeds: {s['fixes']:,} fixes on {s['links']:,} links -> {s['bins']:,} link-bins, "
          f"median {s['median_kph']:.1f} km/h; network built in {s['build_s']:.2f} s")
    print(f"| {'stage':<28} | {'CPU s':>8} | {'fixes/s':>10} |")
    print(f"|{'-' * 30}|{'-' * 10}|{'-' * 12}|")
    print(f"| {'map + pair + bin (2k batches)':<28} | {s['run_s']:8.2f} | {s['fixes'] / s['run_s']:10,.0f} |")
    if args.sim_minutes > 0:
        a = run_sim_truth(args.sim_minutes, args.sim_scale, args.seed)
        print(f"\ninferred loads vs simulator truth (demo city scale {args.sim_scale}, seed {args.seed}, "
              f"{args.sim_minutes} min from 06:30, {a['taps']:,} taps, {a['inferred']:.1%} alightings inferred):")
        print("| trips | segment visits | MAE pax | bias pax | p95 abs err | within ±2 pax |")
        print("|------:|---------------:|--------:|---------:|------------:|--------------:|")
        print(f"| {a['trips']} | {a['segment_visits']} | {a['mae']:.3f} | {a['bias']:+.3f} | {a['p95_abs']:.2f} | {a['within2']:.2%} |")
        print(f"\nlink speeds vs the simulated buses' running speeds ({a['fixes']:,} fixes; truth = mean reported "
              "speed of running fixes on the link in the bin; bins with >= 5 such fixes and >= 60 s of probe time):")
        print("| link-bins | ratio p10 | ratio median | ratio p90 |")
        print("|----------:|----------:|-------------:|----------:|")
        print(f"| {a['link_bins']} | {a['ratio_p10']:.3f} | {a['ratio_p50']:.3f} | {a['ratio_p90']:.3f} |")
    print(f"\nwall time of the whole benchmark: {time.perf_counter() - wall0:.0f} s")


if __name__ == "__main__":
    main()

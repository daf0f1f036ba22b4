"""What topis's Squirrel and Owl planners propose on real Seoul data, against Seoul's own routes.

Run: .venv/bin/python -m benchmarks.seoul_plans [--fleet 70] [--spare-fleet 20] [--headway-min 8]

Prints three tables (measures only, asserts nothing):
1. timings of loading the May 2022 month and rebuilding every route's stop order;
2. Squirrel: overloaded parent routes and the short turns proposed, and for each of
   Seoul's 7 Squirrel routes the parent it shares most stops with, how crowded that
   parent's shared section is at rush hour and whether topis proposed a short turn there;
3. Owl: Seoul's 14 N routes vs topis's night networks at the same fleet (both get
   their buses from the same headway allocator): night demand within walking
   distance, route km, headways, ATT (Mumford rules on a gravity OD).

Current rush-hour headways and N-route fleets are not in the card data: the
``--headway-min`` and ``--fleet`` assumptions are printed with the results.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from optimizer import owl, seoul, squirrel, stop_order

SQUIRREL_ROUTES = ["8221", "8331", "8441", "8551", "8552", "8761", "8771"]


def timed(fn, *args, **kw):
    t = time.perf_counter()
    out = fn(*args, **kw)
    return out, time.perf_counter() - t


def squirrel_report(month, seqs, args) -> None:
    settings = squirrel.SquirrelSettings(spare_fleet=args.spare_fleet, headway_min=args.headway_min,
                                         capacity_per_bus=args.capacity)
    profiles = {q.route_no: squirrel.peak_profile(q.route_no, q.ars_id, q.xy_m, q.board, q.alight, settings)
                for q in seqs.values()
                if q.unlocated_board_share <= settings.max_unlocated_share and not q.route_no.startswith(("N", "8"))}
    plan, sec = timed(squirrel.plan, list(profiles.values()), settings)
    t = plan.totals()
    print(f"\n## Squirrel (rush hours 07-09 & 17-19, capacity {args.capacity:g}/bus, assumed parent headway "
          f"{args.headway_min:g} min, spare fleet {args.spare_fleet})")
    print(f"{len(profiles)} parent routes profiled; planned in {sec * 1000:.0f} ms")
    print("| overloaded routes | short turns | buses | pax-km/h over capacity before | after | relieved |")
    print(f"| {t['routes_overloaded']} | {t['short_turns']} | {t['buses_used']} | "
          f"{t['excess_pax_km_per_h_before']:,.0f} | {t['excess_pax_km_per_h_after']:,.0f} | "
          f"{100 * (1 - t['excess_pax_km_per_h_after'] / max(t['excess_pax_km_per_h_before'], 1e-9)):.0f}% |")
    print("\n| route | max load/cap before | after | pax-km/h over cap before | after | short turns (buses) |")
    for c in sorted(plan.crowding, key=lambda c: -c.excess_pax_km_per_h_before):
        sts = [f"{s.stop_ids[0]}-{s.stop_ids[-1]} ({s.buses})" for s in plan.short_turns if s.parent == c.route_no and s.buses]
        print(f"| {c.route_no} | {c.max_load_ratio_before:.2f} | {c.max_load_ratio_after:.2f} | "
              f"{c.excess_pax_km_per_h_before:,.0f} | {c.excess_pax_km_per_h_after:,.0f} | {', '.join(sts) or '-'} |")
    stop_sets = {r: set(month.ars_id[month.rows_of(r)].tolist()) for r in month.routes()}
    print("\nSeoul's Squirrel routes against their parents (parent = most shared stops). Note: the May 2022 "
          "counts are after these routes began, so their riders are already off the parents:")
    print("| Squirrel | stops | boardings/day | parent (shared stops) | parent links covered | "
          "parent peak load/cap there | parent max load/cap | topis short turn on parent |")
    for r in SQUIRREL_ROUTES:
        own = stop_sets.get(r, set())
        parents = squirrel.parent_routes(own, stop_sets)
        boardings = month.board[month.rows_of(r)].sum() / settings.days_in_month
        if not parents:
            print(f"| {r} | {len(own)} | {boardings:,.0f} | - | - | - | - | - |")
            continue
        parent, shared = parents[0]
        prof = profiles.get(parent)
        if prof is None:
            print(f"| {r} | {len(own)} | {boardings:,.0f} | {parent} ({shared}) | not profiled | - | - | - |")
            continue
        links = squirrel.covered_links(prof, own)
        ratio = prof.load_per_h / prof.capacity_per_h
        seq = seqs[parent]
        span = (f"{seq.stop_name[links[0]]} → {seq.stop_name[(links[-1] + 1) % len(seq.ars_id)]}"
                if links.size else "-")
        there = f"{ratio[links].max():.2f}" if links.size else "-"
        ours = [s for s in plan.short_turns if s.parent == parent and s.buses]
        overlap = [len(set(squirrel.section_links(s.first_link, s.last_link, ratio.size).tolist()) & set(links.tolist()))
                   for s in ours]
        mark = f"yes, {sum(s.buses for s in ours)} buses, {max(overlap, default=0)} links shared" if ours else "no"
        print(f"| {r} | {len(own)} | {boardings:,.0f} | {parent} ({shared}) | {links.size}: {span} | {there} | "
              f"{ratio.max():.2f} | {mark} |")


def owl_report(month, stops, args) -> None:
    base = owl.OwlSettings(fleet=args.fleet)
    demand = owl.seoul_night_demand(month, stops, base)
    nroutes = [r for r in month.routes() if r.startswith("N")]
    seqs = stop_order.all_route_sequences(month, stops, nroutes)
    seoul_routes = owl.routes_from_sequences(demand, seqs, base)
    owl.allocate_fleet(seoul_routes, base)
    rows = [("Seoul N routes (2022)", owl.network_kpis(demand, seoul_routes, base), 0.0)]
    for label, settings in [("topis, 14 routes", owl.OwlSettings(fleet=args.fleet, max_routes=14)),
                            ("topis, routes set by fleet", base)]:
        plan, sec = timed(owl.design, demand, settings)
        rows.append((label, plan.kpis, sec))
    print(f"\n## Owl (night = 00-05 h, {demand.weight.sum():,.0f} boardings+alightings per night at "
          f"{len(demand.stop_ids):,} stops; same fleet {args.fleet} for every network; walk 400 m)")
    print("| network | routes | demand within 400 m | route km (one way) | fleet | mean headway min | "
          "ATT min | d0 % | d1 % | d2 % | dun % | plan s |")
    for label, k, sec in rows:
        print(f"| {label} | {k.routes} | {100 * k.demand_covered_share:.1f}% | {k.route_km:,.0f} | {k.fleet} | "
              f"{k.mean_headway_min:.1f} | {k.att_min:.1f} | {k.d0_pct:.1f} | {k.d1_pct:.1f} | {k.d2_pct:.1f} | "
              f"{k.dun_pct:.1f} | {sec:.1f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fleet", type=int, default=70, help="night fleet for every Owl network")
    ap.add_argument("--spare-fleet", type=int, default=20, help="buses for Squirrel short turns")
    ap.add_argument("--headway-min", type=float, default=8.0, help="assumed rush-hour headway of parent routes")
    ap.add_argument("--capacity", type=float, default=60.0, help="passengers per bus")
    args = ap.parse_args()
    data = seoul.shared_data_dir() / "seoul"
    month, t_month = timed(seoul.load_month, data / "2022_05.txt.zip")
    stops, t_stops = timed(seoul.load_stops, data / "bus_stops.csv")
    seqs, t_order = timed(stop_order.all_route_sequences, month, stops)
    print("## Data")
    print("| step | seconds | result |")
    print(f"| load 2022_05.txt.zip | {t_month:.2f} | {len(month):,} rows, {len(month.routes())} routes, "
          f"{month.board.sum():,} boardings |")
    print(f"| load bus_stops.csv | {t_stops:.2f} | {len(stops.ars_id):,} stops |")
    share = month.board[np.isin(month.ars_id, stops.ars_id)].sum() / month.board.sum()
    print(f"| stop order, all routes | {t_order:.2f} | {len(seqs)} routes; {100 * share:.1f}% of boardings at "
          f"located stops |")
    squirrel_report(month, seqs, args)
    owl_report(month, stops, args)


if __name__ == "__main__":
    main()

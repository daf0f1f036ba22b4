"""``topis plan headways|squirrel|owl``: service plans from files or the Seoul data."""

from __future__ import annotations

import csv
import logging
import sys
import time
from pathlib import Path

import click
import numpy as np

log = logging.getLogger(__name__)


def _progress() -> bool:
    return sys.stderr.isatty()


def _read_csv(path: Path, required: list[str]) -> list[dict]:
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            missing = [c for c in required if c not in (reader.fieldnames or [])]
            if missing:
                raise click.BadParameter(f"{path}: missing column(s) {', '.join(missing)}; "
                                         f"found {', '.join(reader.fieldnames or []) or 'no header'}")
            rows = list(reader)
    except OSError as exc:
        raise click.BadParameter(f"{path}: {exc.strerror}") from None
    if not rows:
        raise click.BadParameter(f"{path}: no data rows")
    return rows


def _floats(rows: list[dict], column: str, path: Path) -> np.ndarray:
    out = []
    for k, row in enumerate(rows):
        try:
            out.append(float(row[column]))
        except (TypeError, ValueError):
            raise click.BadParameter(f"{path} row {k + 2}: {column}={row[column]!r} is not a number") from None
    return np.array(out)


def _seoul_paths(month: Path, stops: Path | None) -> tuple[Path, Path]:
    from optimizer import seoul

    stops = stops or month.parent / "bus_stops.csv"
    if not stops.is_file():
        stops = seoul.shared_data_dir() / "seoul" / "bus_stops.csv"
    if not stops.is_file():
        raise click.BadParameter(f"no bus_stops.csv beside {month}; pass --stops", param_hint="--stops")
    return month, stops


# --- headways ----------------------------------------------------------------------


@click.command()
@click.option("--loads", "loads_csv", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="CSV: route,boardings_per_h,cycle_time_min[,peak_load_per_h].")
@click.option("--fleet", required=True, type=click.IntRange(min=1), help="Buses available.")
@click.option("--min-headway-min", default=3.0, show_default=True, type=click.FloatRange(min=0, min_open=True))
@click.option("--max-headway-min", default=30.0, show_default=True, type=click.FloatRange(min=0, min_open=True))
@click.option("--capacity", default=60.0, show_default=True, type=click.FloatRange(min=1),
              help="Passengers per bus (seats + standing), for the crowding penalty.")
@click.option("--crowding-weight-min", default=10.0, show_default=True, type=click.FloatRange(min=0),
              help="Cost in minutes per passenger over capacity per hour.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="CSV: route,buses,headway_min,...")
@click.option("--cp-sat-seconds", type=click.FloatRange(min=0, min_open=True),
              help="Also solve with CP-SAT for this long and report both.")
def headways(loads_csv, fleet, min_headway_min, max_headway_min, capacity, crowding_weight_min, out, cp_sat_seconds):
    """Share a fleet across routes to minimise waiting plus crowding.

    Each route gets whole buses; headway = cycle_time_min / buses, kept within
    [--min-headway-min, --max-headway-min]. Waiting = boardings x headway / 2;
    crowding = riders per hour above buses/h x capacity (needs peak_load_per_h).
    Solved exactly by marginal gains (optionally cross-checked by CP-SAT).

    \b
    Input CSV (--loads), one row per route:
        route,boardings_per_h,cycle_time_min,peak_load_per_h
        470,2100,190,980
        N37,180,150,
    Example:
        topis plan headways --loads loads.csv --fleet 120 --max-headway-min 20 --out headways.csv
    """
    from optimizer import exports
    from optimizer import headways as hw

    rows = _read_csv(loads_csv, ["route", "boardings_per_h", "cycle_time_min"])
    peak = None
    if "peak_load_per_h" in rows[0]:
        peak = np.array([float(r["peak_load_per_h"]) if r["peak_load_per_h"].strip() else 0.0 for r in rows])
    problem = hw.HeadwayProblem([r["route"] for r in rows], _floats(rows, "boardings_per_h", loads_csv),
                                _floats(rows, "cycle_time_min", loads_csv), fleet, min_headway_min,
                                max_headway_min, peak, capacity, crowding_weight_min)
    try:
        t = time.perf_counter()
        plan = hw.allocate(problem)
        elapsed = time.perf_counter() - t
    except ValueError as exc:  # InfeasibleFleet is a ValueError
        raise click.ClickException(str(exc)) from None
    click.echo(f"{len(rows)} routes, {int(plan.buses.sum())}/{fleet} buses used in {elapsed * 1000:.1f} ms; "
               f"waiting {plan.waiting_pax_min_per_h:,.0f} pax-min/h, over capacity {plan.excess_pax_per_h:,.0f} pax/h")
    if cp_sat_seconds:
        model = hw.build_model(problem)
        try:
            exact = hw.extract(model, hw.solve(model, cp_sat_seconds))
        except TimeoutError as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(f"CP-SAT ({model.status}): cost {exact.cost:,.1f} vs greedy {plan.cost:,.1f} pax-min/h")
    if out:
        exports.write_csv(out, exports.headway_rows(plan, problem.boardings_per_h, problem.cycle_time_min),
                          ["route", "buses", "headway_min", "boardings_per_h", "cycle_time_min"])
        click.echo(f"wrote {out}")


# --- squirrel ----------------------------------------------------------------------


def _profiles_from_csv(path: Path, settings):
    from optimizer.squirrel import PeakProfile
    from topis.geo import Projection

    rows = _read_csv(path, ["route", "sequence", "stop_id", "lon", "lat", "load_per_h"])
    lon, lat = _floats(rows, "lon", path), _floats(rows, "lat", path)
    proj = Projection.around(lat, lon)
    xy = proj.to_metres(lon, lat)
    load = _floats(rows, "load_per_h", path)
    seq = _floats(rows, "sequence", path)
    route = np.array([r["route"] for r in rows])
    hw_col = "headway_min" in rows[0]
    profiles = []
    for r in dict.fromkeys(route.tolist()):
        idx = np.flatnonzero(route == r)
        idx = idx[np.argsort(seq[idx], kind="stable")]
        if idx.size < 2:
            raise click.BadParameter(f"{path}: route {r} has fewer than 2 stops")
        headway = float(rows[idx[0]]["headway_min"]) if hw_col and rows[idx[0]]["headway_min"] else settings.headway_min
        link_m = np.sqrt(((np.roll(xy[idx], -1, axis=0) - xy[idx]) ** 2).sum(axis=1))
        profiles.append(PeakProfile(r, np.array([rows[i]["stop_id"] for i in idx]), xy[idx], link_m, load[idx],
                                    60.0 / headway, settings.capacity_per_bus))
    return profiles, proj.to_lonlat


def _profiles_from_seoul(month: Path, stops_csv: Path | None, settings, routes: tuple[str, ...]):
    from optimizer import seoul, squirrel, stop_order

    month, stops_csv = _seoul_paths(month, stops_csv)
    try:
        ridership = seoul.load_month(month)
        stops = seoul.load_stops(stops_csv)
    except seoul.SeoulDataError as exc:
        raise click.ClickException(str(exc)) from None
    wanted = list(routes) or [r for r in ridership.routes() if not r.startswith("N")]
    unknown = sorted(set(wanted) - set(ridership.routes()))
    if unknown:
        raise click.BadParameter(f"not in {month.name}: {', '.join(unknown[:10])}", param_hint="--route")
    seqs = stop_order.all_route_sequences(ridership, stops, wanted, progress=_progress())
    profiles = [squirrel.peak_profile(q.route_no, q.ars_id, q.xy_m, q.board, q.alight, settings)
                for q in seqs.values() if q.unlocated_board_share <= settings.max_unlocated_share]
    skipped = sorted(set(wanted) - {p.route_no for p in profiles})
    return profiles, seoul.to_lonlat, skipped


@click.command()
@click.option("--seoul", "month", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Seoul monthly ridership zip (e.g. ../shared/data/seoul/2022_05.txt.zip).")
@click.option("--stops", "stops_csv", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="bus_stops.csv for --seoul (default: beside the zip).")
@click.option("--profiles", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="CSV: route,sequence,stop_id,lon,lat,load_per_h[,headway_min] (load on the link after the stop).")
@click.option("--route", "routes", multiple=True, help="Only these parent routes (repeatable; --seoul).")
@click.option("--peak-hours", default="7-9,17-19", show_default=True, help="Rush hours (end exclusive).")
@click.option("--capacity", default=60.0, show_default=True, type=click.FloatRange(min=1), help="Passengers per bus.")
@click.option("--headway-min", default=8.0, show_default=True, type=click.FloatRange(min=0, min_open=True),
              help="Current rush-hour headway of parent routes (not in the card data).")
@click.option("--spare-fleet", default=20, show_default=True, type=click.IntRange(min=0))
@click.option("--out-geojson", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--out-csv", type=click.Path(dir_okay=False, path_type=Path), help="route,sequence,stop,headway_min,...")
def squirrel(month, stops_csv, profiles, routes, peak_hours, capacity, headway_min, spare_fleet, out_geojson, out_csv):
    """Short-turn rush-hour routes over overloaded sections (Seoul's Squirrel buses).

    Finds sections of each route whose rush-hour load exceeds buses/h x
    capacity, proposes a short-turn route per section (turning at its end
    stops) and gives them buses from --spare-fleet where they cut the most
    passenger-km over capacity. Prints crowding before and after.

    \b
    With --seoul, stop order is rebuilt from coordinates and loads from the
    month's hourly boardings/alightings (average weekday = month / days x 1.1).
    Example:
        topis plan squirrel --seoul ../shared/data/seoul/2022_05.txt.zip \\
            --spare-fleet 20 --out-geojson squirrel.geojson --out-csv squirrel.csv
    """
    from optimizer import exports
    from optimizer import squirrel as sq
    from optimizer.seoul import parse_hours

    if (month is None) == (profiles is None):
        raise click.UsageError("give exactly one of --seoul or --profiles")
    try:
        hours = tuple(parse_hours(peak_hours))
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--peak-hours") from None
    settings = sq.SquirrelSettings(peak_hours=hours, capacity_per_bus=capacity, headway_min=headway_min,
                                   spare_fleet=spare_fleet)
    skipped: list[str] = []
    if month is not None:
        profs, to_lonlat, skipped = _profiles_from_seoul(month, stops_csv, settings, routes)
    else:
        profs, to_lonlat = _profiles_from_csv(profiles, settings)
    plan = sq.plan(profs, settings)
    t = plan.totals()
    click.echo(f"{len(profs)} routes profiled ({len(skipped)} skipped: too many unlocated stops); "
               f"{t['routes_overloaded']} overloaded; {t['short_turns']} short turns with {t['buses_used']} buses; "
               f"pax-km/h over capacity {t['excess_pax_km_per_h_before']:,.1f} -> {t['excess_pax_km_per_h_after']:,.1f}")
    click.echo(f"{'route':<14}{'max load/cap before':>20}{'after':>8}{'excess pax-km/h before':>24}{'after':>8}")
    for c in sorted(plan.crowding, key=lambda c: -c.excess_pax_km_per_h_before):
        click.echo(f"{c.route_no:<14}{c.max_load_ratio_before:>20.2f}{c.max_load_ratio_after:>8.2f}"
                   f"{c.excess_pax_km_per_h_before:>24.1f}{c.excess_pax_km_per_h_after:>8.1f}")
    if out_geojson:
        exports.write_geojson(out_geojson, exports.squirrel_geojson(plan, to_lonlat))
        click.echo(f"wrote {out_geojson}")
    if out_csv:
        exports.write_csv(out_csv, exports.squirrel_rows(plan), ["route", "sequence", "stop", "headway_min", "parent", "buses"])
        click.echo(f"wrote {out_csv}")


# --- owl ---------------------------------------------------------------------------


def _demand_from_csv(path: Path, od_path: Path | None = None):
    from optimizer.owl import NightDemand
    from topis.geo import Projection

    rows = _read_csv(path, ["stop_id", "lon", "lat"] + ([] if od_path else ["board", "alight"]))
    lon, lat = _floats(rows, "lon", path), _floats(rows, "lat", path)
    proj = Projection.around(lat, lon)
    ids = np.array([r["stop_id"] for r in rows])
    if od_path is not None:
        index = {a: i for i, a in enumerate(ids.tolist())}
        od_rows = _read_csv(od_path, ["origin", "destination", "trips"])
        od = np.zeros((ids.size, ids.size))
        trips = _floats(od_rows, "trips", od_path)
        for k, r in enumerate(od_rows):
            if r["origin"] not in index or r["destination"] not in index:
                raise click.BadParameter(f"{od_path} row {k + 2}: stop {r['origin']!r} or {r['destination']!r} "
                                         f"is not in {path.name}", param_hint="--od")
            od[index[r["origin"]], index[r["destination"]]] += trips[k]
        try:
            return NightDemand.from_od(ids, proj.to_metres(lon, lat), od), proj.to_lonlat
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--od") from None
    board, alight = _floats(rows, "board", path), _floats(rows, "alight", path)
    if np.any(board < 0) or np.any(alight < 0):
        raise click.BadParameter(f"{path}: board and alight must be >= 0")
    return NightDemand(ids, proj.to_metres(lon, lat), board, alight), proj.to_lonlat


@click.command()
@click.option("--seoul", "month", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Seoul monthly ridership zip; night demand = all routes' 00-05 h counts per stop.")
@click.option("--stops", "stops_csv", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="bus_stops.csv for --seoul (default: beside the zip).")
@click.option("--demand", "demand_csv", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="CSV: stop_id,lon,lat,board,alight (night trips per night).")
@click.option("--od", "od_csv", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="With --demand: CSV origin,destination,trips between its stop_ids (then board/alight "
                   "are not needed); ATT uses it instead of a gravity model.")
@click.option("--fleet", required=True, type=click.IntRange(min=1), help="Night buses available.")
@click.option("--walk-m", default=400.0, show_default=True, type=click.FloatRange(min=50))
@click.option("--cell-m", default=600.0, show_default=True, type=click.FloatRange(min=50),
              help="Grid cell for candidate route stops (one per cell, the busiest).")
@click.option("--max-routes", default=30, show_default=True, type=click.IntRange(min=1))
@click.option("--max-route-min", default=90.0, show_default=True, type=click.FloatRange(min=5), help="One way.")
@click.option("--max-headway-min", default=60.0, show_default=True, type=click.FloatRange(min=1))
@click.option("--night-hours", default="0-5", show_default=True, help="Hours counted as night (--seoul).")
@click.option("--out-geojson", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--out-csv", type=click.Path(dir_okay=False, path_type=Path), help="route,sequence,stop,headway_min,buses")
def owl(month, stops_csv, demand_csv, od_csv, fleet, walk_m, cell_m, max_routes, max_route_min, max_headway_min, night_hours,
        out_geojson, out_csv):
    """Design a night (Owl) bus network for a fleet.

    Grows routes through high-demand stops to cover the most night demand
    within --walk-m per minute of running time (road proxy: Manhattan x 1.15
    at 30 km/h), adds routes while the fleet can run each at
    --max-headway-min, then shares the fleet to minimise waiting. Prints
    coverage, route km, headways and ATT (Mumford rules, gravity OD).

    \b
    Demand CSV (--demand), one row per stop:
        stop_id,lon,lat,board,alight
        01001,126.9877,37.5698,310.5,250.0
    Optional OD CSV (--od), trips per night between those stops:
        origin,destination,trips
        01001,22009,12.5
    Example:
        topis plan owl --seoul ../shared/data/seoul/2022_05.txt.zip --fleet 70 \\
            --out-geojson owl.geojson --out-csv owl.csv
    """
    from optimizer import exports, seoul
    from optimizer import owl as ow
    from optimizer.headways import InfeasibleFleet

    if (month is None) == (demand_csv is None):
        raise click.UsageError("give exactly one of --seoul or --demand")
    if od_csv is not None and demand_csv is None:
        raise click.UsageError("--od needs --demand (for the stop coordinates)")
    try:
        hours = tuple(seoul.parse_hours(night_hours))
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--night-hours") from None
    if max_headway_min < 10.0:
        raise click.BadParameter("must be at least the 10 min minimum headway", param_hint="--max-headway-min")
    settings = ow.OwlSettings(fleet=fleet, walk_m=walk_m, cell_m=cell_m, max_hop_m=max(1500.0, 2.5 * cell_m), max_routes=max_routes, max_route_min=max_route_min,
                              max_headway_min=max_headway_min, night_hours=hours)
    if month is not None:
        month, stops_csv = _seoul_paths(month, stops_csv)
        try:
            demand = ow.seoul_night_demand(seoul.load_month(month), seoul.load_stops(stops_csv), settings)
        except seoul.SeoulDataError as exc:
            raise click.ClickException(str(exc)) from None
        to_lonlat = seoul.to_lonlat
    else:
        demand, to_lonlat = _demand_from_csv(demand_csv, od_csv)
    if demand.weight.sum() <= 0:
        raise click.ClickException("no night demand in the input")
    try:
        plan = ow.design(demand, settings, progress=_progress())
    except InfeasibleFleet as exc:
        raise click.ClickException(str(exc)) from None
    k = plan.kpis
    click.echo(f"{k.routes} routes, {k.fleet} buses, {k.route_km:,.0f} route-km one way; demand within {walk_m:g} m: "
               f"{100 * k.demand_covered_share:.1f}% ({k.covered_per_night:,.0f}/night); mean headway "
               f"{k.mean_headway_min:.1f} min; ATT {k.att_min:.1f} min (d0 {k.d0_pct:.1f}% d1 {k.d1_pct:.1f}% "
               f"d2 {k.d2_pct:.1f}% dun {k.dun_pct:.1f}%)")
    for r in plan.routes:
        click.echo(f"  {r.name:<5} {len(r.stops):>4} stops {r.one_way_min:>6.1f} min one way  {r.buses:>3} buses  "
                   f"every {r.headway_min:>5.1f} min  serves {r.served_per_night:>9,.0f}/night")
    if out_geojson:
        exports.write_geojson(out_geojson, exports.owl_geojson(plan, demand, to_lonlat))
        click.echo(f"wrote {out_geojson}")
    if out_csv:
        exports.write_csv(out_csv, exports.owl_rows(plan, demand), ["route", "sequence", "stop", "headway_min", "buses"])
        click.echo(f"wrote {out_csv}")

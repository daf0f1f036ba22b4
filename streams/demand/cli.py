"""``topis demand``: card taps from a file → boardings, loads, OD and the planners' inputs."""

from __future__ import annotations

import csv
import logging
import sys
from pathlib import Path

import click

from topis.options import bad_parameter, demo_city, network_source_options

log = logging.getLogger(__name__)

EXAMPLE = """\b
Examples:
    topis demand --taps taps.csv --gtfs ../shared/data/avl/wmata_transitclock_2016/gtfs/S2 --out demand/
    topis demand --taps morning.jsonl --city-seed 1 --city-scale 1 --zones city --out demand/
"""


def _patterns(gtfs: Path | None, city_seed: int | None, city_scale: float):
    from streams.demand.taps import RoutePatterns

    if (gtfs is None) == (city_seed is None):
        raise click.UsageError("give exactly one route source: --gtfs DIR or --city-seed N")
    if gtfs is not None:
        from streams.bus.gtfs import GtfsError, load_feed

        with bad_parameter("--gtfs", GtfsError):
            return RoutePatterns.from_feed(load_feed(gtfs)), None
    city = demo_city(city_seed, city_scale)
    return RoutePatterns.from_city(city), city


def _zones(spec: str | None, patterns, city) -> dict[str, str] | None:
    from streams.demand import od

    if spec is None:
        return None
    if spec.startswith("grid:"):
        try:
            cell_m = float(spec[5:])
            return od.grid_zones(patterns.stop_lat_lon, cell_m)
        except ValueError as exc:
            raise click.BadParameter(f"{spec!r}: expected grid:METRES with METRES > 0", param_hint="--zones") from exc
    if spec == "city":
        if city is None:
            raise click.BadParameter("'city' zones need --city-seed", param_hint="--zones")
        return {s.stop_id: s.district for s in city.stops}
    path = Path(spec)
    if not path.is_file():
        raise click.BadParameter(f"{spec!r} is not grid:METRES, 'city' or a CSV file", param_hint="--zones")
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        if not {"stop_id", "zone"} <= set(reader.fieldnames or []):
            raise click.BadParameter(f"{path}: needs columns stop_id,zone", param_hint="--zones")
        return {row["stop_id"]: row["zone"] for row in reader}


def _write_csv(path: Path, header: tuple[str, ...], rows) -> int:
    n = 0
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        for row in rows:
            w.writerow(row)
            n += 1
    return n


def _write_outputs(res, zones, out: Path) -> dict[str, int]:
    from streams.demand import boardings, loads, od
    from streams.demand.aggregates import encode

    written = {}
    written["boardings.csv"] = _write_csv(
        out / "boardings.csv", ("route_id", "stop_id", "hour_local", "boardings_tapped", "alightings_tapped"),
        ((c.route_id, c.stop_id, c.hour_local, c.boardings_pax, c.alightings_tapped_pax)
         for st in res.route_states.values() for c in boardings.stop_hour_counts(st)))
    written["stop_hour_inferred.csv"] = _write_csv(
        out / "stop_hour_inferred.csv", ("route_id", "stop_id", "hour_local", "boardings_pax", "alightings_pax"),
        ((rid, *row) for rid, st in res.load_states.items() for row in loads.stop_hour_table(st)))
    written["segment_loads.csv"] = _write_csv(
        out / "segment_loads.csv",
        ("route_id", "direction_id", "hour_local", "segment_id", "from_stop_id", "to_stop_id",
         "passengers_pax", "peak_load_pax", "bus_passes"),
        ((p.route_id, p.direction_id, p.hour_local, seg, a, b, round(pax, 3), round(peak, 3), n)
         for sq in res.squirrel.values() for p in sq.profiles
         for seg, a, b, pax, peak, n in zip(p.segment_ids, p.from_stop_ids, p.to_stop_ids,
                                             p.passengers_pax, p.peak_load_pax, p.bus_passes)))
    levels = [("od_stops.csv", None)] + ([("od_zones.csv", zones)] if zones is not None else [])
    for name, zmap in levels:
        rows = []
        for hour in range(24):
            m = od.od_matrix(res.od_counts, [hour], zmap)
            rows += [(hour, m.ids[o], m.ids[d], round(v, 3))
                     for o, d, v in zip(m.origin_index, m.destination_index, m.trips_pax)]
        written[name] = _write_csv(out / name, ("hour_local", "origin", "destination", "trips_pax"), rows)
    (out / "squirrel.json").write_bytes(b"[" + b",".join(encode(sq) for sq in res.squirrel.values()) + b"]")
    written["squirrel.json"] = len(res.squirrel)
    (out / "owl.json").write_bytes(encode(res.owl))
    written["owl.json"] = 1
    return written


@click.command(epilog=EXAMPLE)
@click.option("--taps", "taps_path", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Card taps CSV: card_hash,direction(on/off),route_id,vehicle_id,stop_id,ts "
                   "(epoch seconds or ISO 8601 with offset)[,fare_class]; or a `topis simulate --record` file.")
@network_source_options("GTFS feed folder giving the routes' stop patterns and stop positions.",
                        "Use the demo city of this seed as the route model instead of --gtfs.")
@click.option("--zones", "zones_spec", help="OD zones: grid:METRES, 'city' (demo-city districts) or a CSV stop_id,zone.")
@click.option("--transfer-min", type=click.FloatRange(min=0), default=30.0, show_default=True,
              help="A boarding within this many minutes of an alighting is a transfer.")
@click.option("--max-walk-m", type=click.FloatRange(min=0), default=1000.0, show_default=True,
              help="Trip-chaining: furthest walk from the inferred alighting stop to the next boarding.")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder for the CSV and JSON outputs (created).")
def demand(taps_path: Path, gtfs: Path | None, city_seed: int | None, city_scale: float, zones_spec: str | None,
           transfer_min: float, max_walk_m: float, out_dir: Path) -> None:
    """Boardings, alightings, bus loads, transfers and OD from a file of card taps.

    Missing tap-offs are inferred by trip-chaining (else from the route's
    alighting distribution); rides within --transfer-min are linked into
    journeys. Writes boardings.csv, stop_hour_inferred.csv, segment_loads.csv,
    od_stops.csv (and od_zones.csv with --zones), squirrel.json and owl.json
    (the Squirrel and Owl planners' inputs) to --out.
    """
    from tqdm import tqdm

    from streams.demand import batch as dm
    from streams.demand.od import ODConfig

    patterns, city = _patterns(gtfs, city_seed, city_scale)
    zones = _zones(zones_spec, patterns, city)
    with bad_parameter("--taps", dm.TapFileError):
        taps = dm.read_taps(taps_path)
    if not taps:
        raise click.BadParameter(f"{taps_path}: no taps", param_hint="--taps")
    config = ODConfig(transfer_window_s=transfer_min * 60.0, max_walk_m=max_walk_m)
    now_ts = max(t.ts for t in taps)
    with tqdm(total=2 * len(taps), desc="demand", unit="tap", disable=not sys.stderr.isatty()) as bar:
        res = dm.run_batch(taps, patterns, now_ts, config=config, stop_zone=zones, progress=bar.update)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = _write_outputs(res, zones, out_dir)
    by = res.card_state.rides_by_method
    n_rides = sum(by.values())
    inferred = by.get("chain", 0) + by.get("distribution", 0)
    click.echo(f"{len(taps):,} taps -> {n_rides:,} rides, {len(res.journeys):,} journeys, "
               f"{sum(j.n_transfers for j in res.journeys):,} transfers")
    click.echo(f"alightings: tapped {by.get('tap', 0):,}, chained {by.get('chain', 0):,}, "
               f"from distribution {by.get('distribution', 0):,}, unknown {by.get('none', 0):,} "
               f"({inferred / n_rides:.1%} inferred)" if n_rides else "no rides")
    off_route = sum(st.n_off_route for st in res.route_states.values())
    if off_route:
        click.echo(f"warning: {off_route:,} taps at stops not on their route's patterns", err=True)
    for name, n in written.items():
        click.echo(f"  {out_dir / name}: {n:,} rows")

"""The traffic domain's commands: ``topis linkspeeds`` (bus positions from a file → space-mean speed per
link per time bin) and ``topis traffic probes`` (a probe CSV → ``taxi.positions``)."""

from __future__ import annotations

import csv
import logging
import sys
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import click

from topis.options import (
    bad_parameter,
    broker_option,
    demo_city,
    external_broker,
    network_source_options,
    quiet_kafka_logs,
)

log = logging.getLogger(__name__)

EXAMPLE = """\b
Examples:
    topis linkspeeds --avl ../shared/data/avl/wmata_transitclock_2016/traces/5A_8062.csv \\
        --gtfs ../shared/data/avl/wmata_transitclock_2016/gtfs/5A --out 5A_speeds.csv
    topis linkspeeds --avl morning.jsonl --city-seed 1 --out city_speeds.csv
    topis linkspeeds --avl fixes.csv --links links.csv --bin-min 15 --out speeds.csv
"""


def read_links_csv(path: Path):
    """Link table CSV: ``link_id, length_m, wkt`` (WKT LINESTRING in lon lat order)."""
    import shapely

    from streams.traffic.linkspeeds import Link

    links = []
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        if not {"link_id", "length_m", "wkt"} <= set(reader.fieldnames or []):
            raise click.BadParameter(f"{path}: needs columns link_id,length_m,wkt", param_hint="--links")
        for line, row in enumerate(reader, start=2):
            try:
                geom = shapely.from_wkt(row["wkt"])
                length_m = float(row["length_m"])
            except (shapely.errors.GEOSException, ValueError) as exc:
                raise click.BadParameter(f"{path}:{line}: {exc}", param_hint="--links") from exc
            if geom.geom_type != "LineString":
                raise click.BadParameter(f"{path}:{line}: wkt must be a LINESTRING", param_hint="--links")
            links.append(Link(row["link_id"], [(lat, lon) for lon, lat in geom.coords], length_m))
    return links


def _network(gtfs: Path | None, city_seed: int | None, city_scale: float, links_csv: Path | None):
    """Link table, stop positions and the city's time zone (UTC for a links CSV) from exactly one source."""
    from streams.traffic import linkspeeds as ls

    if sum(x is not None for x in (gtfs, city_seed, links_csv)) != 1:
        raise click.UsageError("give exactly one link source: --gtfs DIR, --city-seed N or --links CSV")
    if gtfs is not None:
        from streams.bus.gtfs import GtfsError, load_feed

        with bad_parameter("--gtfs", GtfsError):
            feed = load_feed(gtfs)
        return ls.links_from_feed(feed), [(s.lat, s.lon) for s in feed.stops.values()], feed.tz
    if city_seed is not None:
        city = demo_city(city_seed, city_scale)
        return ls.links_from_city(city), [(s.lat, s.lon) for s in city.stops], "Asia/Seoul"
    return read_links_csv(links_csv), [], "UTC"


def _read_positions(path: Path, tz):
    """Fixes from an AVL file, or from the ``bus.positions`` topic of a simulator recording."""
    from streams.bus.avl_files import read_avl
    from streams.demand.batch import is_recording, read_recorded
    from topis.schemas.inputs import PositionBatch

    if is_recording(path):
        return read_recorded(path, "bus.positions", PositionBatch)
    return read_avl(path, tz)


@click.command(epilog=EXAMPLE)
@click.option("--avl", "avl", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Bus positions: canonical CSV, TheTransitClock CSV, GTFS-rt VehiclePositions file, "
                   "or a `topis simulate --record` file.")
@network_source_options("GTFS feed: its shapes cut at stops are the links.",
                        "Use the road links of the demo city of this seed.")
@click.option("--links", "links_csv", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Link table CSV: link_id,length_m,wkt (LINESTRING lon lat).")
@click.option("--bin-min", type=click.FloatRange(min=0, min_open=True), default=5.0, show_default=True,
              help="Time bin, minutes.")
@click.option("--snap-m", type=click.FloatRange(min=0, min_open=True), default=30.0, show_default=True,
              help="A fix further than this from every link is not used.")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="CSV to write: link_id, bin_start (ISO 8601, local time of the links' city), bin_start_ts, speed_kph, n_probes, dist_m, time_s.")
def linkspeeds(avl: Path, gtfs: Path | None, city_seed: int | None, city_scale: float, links_csv: Path | None,
               bin_min: float, snap_m: float, out: Path) -> None:
    """Space-mean bus speed per road link and time bin from AVL positions.

    Fixes are snapped to the nearest link; consecutive fixes of a bus on the
    same or adjacent links give distance over time. Dwell at stops, frozen
    receivers, GPS jumps and long gaps are left out (the summary says how many).
    """
    from tqdm import tqdm

    from streams.bus.avl_files import AvlFormatError
    from streams.demand.batch import TapFileError
    from streams.traffic import linkspeeds as ls

    links, stops, tz = _network(gtfs, city_seed, city_scale, links_csv)
    with bad_parameter("--links", ValueError):
        net = ls.build_network(links, stops)
    with bad_parameter("--avl", AvlFormatError, TapFileError):
        fixes = sorted(_read_positions(avl, tz), key=lambda f: f.ts)
    if not fixes:
        raise click.BadParameter(f"{avl}: no positions", param_hint="--avl")
    rules = ls.SpeedRules(bin_s=bin_min * 60.0, max_snap_m=snap_m)
    state, speeds = ls.LinkSpeedState(), []
    with tqdm(total=len(fixes), desc="link speeds", unit="fix", disable=not sys.stderr.isatty()) as bar:
        for i in range(0, len(fixes), 5000):
            speeds += ls.advance(state, fixes[i:i + 5000], net, rules)[1]
            bar.update(len(fixes[i:i + 5000]))
    speeds += ls.flush(state, net, rules)
    speeds.sort(key=lambda s: (s.bin_start_ts, s.link_id))
    zone = tz if isinstance(tz, ZoneInfo) else ZoneInfo(tz)
    with out.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(("link_id", "bin_start", "bin_start_ts", "speed_kph", "n_probes", "dist_m", "time_s"))
        for s in speeds:
            w.writerow((s.link_id, datetime.fromtimestamp(s.bin_start_ts, zone).isoformat(), int(s.bin_start_ts),
                        round(s.speed_kph, 2), s.n_probes, round(s.dist_m, 1), round(s.time_s, 1)))
    dropped = ", ".join(f"{k} {v:,}" for k, v in sorted(state.pairs_dropped.items())) or "none"
    click.echo(f"{len(fixes):,} fixes on {len(links):,} links -> {len(speeds):,} link-bins in {out}")
    click.echo(f"fix pairs used {state.pairs_used:,}; left out: {dropped}")


PROBES_EXAMPLE = """\b
Examples:
    topis traffic probes taxis_0800.csv --broker kafka://127.0.0.1:9092
    topis traffic probes taxis.csv --tz Asia/Seoul --strict --broker kafka://kafka-1:9092
    topis traffic probes taxis.csv --check          # validate only, publish nothing

\b
CSV columns (header line, any order, others ignored):
    vehicle_id,ts,lat,lon,speed_kph,heading_deg,occupied
ts: epoch seconds or ISO 8601 with an offset (--tz for ISO without one);
speed_kph and heading_deg may be empty; occupied: 1/0, true/false, yes/no.
"""


@click.group()
def traffic() -> None:
    """Road traffic: probe vehicles (taxis) in, link speeds out.

    \b
    Example:
        topis traffic probes taxis.csv --broker kafka://127.0.0.1:9092
    """


traffic.add_command(linkspeeds)


@traffic.command(epilog=PROBES_EXAMPLE)
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@broker_option("Kafka cluster to publish taxi.positions to (default: $TOPIS_BROKER).")
@click.option("--tz", "tz_name", metavar="ZONE", help="Time zone of ISO timestamps without an offset, e.g. Asia/Seoul.")
@click.option("--strict", is_flag=True, help="Stop at the first bad row (default: skip bad rows and count them).")
@click.option("--check", is_flag=True, help="Validate the file and print the summary; publish nothing.")
@click.option("--window-s", type=click.FloatRange(min=0, min_open=True), default=10.0, show_default=True,
              help="Event-time window of one batch: each probe cell gets one message per window.")
def probes(file: Path, broker_url: str | None, tz_name: str | None, strict: bool, check: bool, window_s: float) -> None:
    """Publish probe vehicle fixes from a CSV file to taxi.positions.

    Rows are checked (bad rows are skipped and counted, or stop the import
    with --strict; either way their line numbers are shown), vehicle ids are
    replaced by keyed pseudonyms (key: TOPIS_TRAFFIC_PROBE_ID_KEY), and the
    fixes are sent in time order, one batch per probe cell per --window-s.
    Exits with status 1 when no row is good.
    """
    import numpy as np
    from tqdm import tqdm

    from streams.traffic.probe_files import ProbeFileError, batches, read_probe_csv
    from topis import topics
    from topis.settings import Settings

    tz = _zone(tz_name)
    config = Settings.load(**({} if check else {"broker": external_broker(broker_url)}))
    if not check:
        quiet_kafka_logs()
    size = file.stat().st_size
    with tqdm(total=size, desc="checking", unit="B", unit_scale=True, disable=not sys.stderr.isatty()) as bar:
        with bad_parameter("FILE", ProbeFileError):
            read = read_probe_csv(file, config.traffic.probe_id_key_bytes(), tz=tz, strict=strict,
                                  progress=lambda done: bar.update(done - bar.n))
        bar.update(size - bar.n)
    _report_bad(file, read)
    fixes = read.fixes
    if not len(fixes.ts):
        raise click.ClickException(f"{file}: no good rows out of {read.rows:,}")
    span = f"{datetime.fromtimestamp(fixes.ts[0], ZoneInfo('UTC')):%Y-%m-%d %H:%M:%S} to " \
           f"{datetime.fromtimestamp(fixes.ts[-1], ZoneInfo('UTC')):%Y-%m-%d %H:%M:%S} UTC"
    n_taxis = len(np.unique(fixes.taxi_id))
    if check:
        click.echo(f"{len(fixes.ts):,} good fixes of {n_taxis:,} vehicles, {span}; {read.n_bad:,} bad rows")
        return
    from topis.publish import Publisher

    with Publisher(config.broker.bootstrap_servers) as publisher, \
            tqdm(total=len(fixes.ts), desc="publishing", unit="fix", disable=not sys.stderr.isatty()) as bar:
        for cell, group in batches(fixes, window_s=window_s):
            publisher.send_batches(topics.TAXI_POSITIONS.name, {cell: group.to_batch()})
            bar.update(len(group.ts))
        sent = publisher.messages_sent
    click.echo(f"published {len(fixes.ts):,} fixes of {n_taxis:,} vehicles ({span}) in {sent:,} messages "
               f"to {topics.TAXI_POSITIONS.name}; {read.n_bad:,} bad rows skipped")


def _zone(name: str | None):
    if name is None:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise click.BadParameter(f"unknown time zone {name!r}", param_hint="--tz") from None


def _report_bad(file: Path, read) -> None:
    """Bad rows on stderr: the count by reason, then the first few with their line numbers."""
    if not read.n_bad:
        return
    reasons = ", ".join(f"{reason} {n:,}" for reason, n in read.bad_by_reason.most_common())
    click.echo(f"{read.n_bad:,} of {read.rows:,} rows skipped ({reasons}):", err=True)
    for bad in read.bad:
        click.echo(f"  {file}:{bad.line}: {bad.reason}", err=True)
    if read.n_bad > len(read.bad):
        click.echo(f"  ... and {read.n_bad - len(read.bad):,} more", err=True)

"""``topis accuracy`` and ``topis replay``: AVL traces through the bus pipeline.

``accuracy`` scores arrival predictions against a trace's own arrivals (the
pipeline in this process); ``replay`` sends a trace through Kafka and a
worker, as if it were live.
"""

from __future__ import annotations

import logging
import math
import sys
import time
from pathlib import Path

import click

from topis.options import bad_parameter, broker_option, broker_settings, gtfs_option

log = logging.getLogger(__name__)


def _progress(total: int, desc: str):
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="fix", disable=not sys.stderr.isatty())


def _load(gtfs: Path, avl: Path):
    from streams.bus.avl_files import AvlFormatError, block_assignments, read_avl, sniff_format
    from streams.bus.gtfs import GtfsError, load_feed

    with bad_parameter("--gtfs", GtfsError):
        feed = load_feed(gtfs)
    with bad_parameter("--avl", AvlFormatError):
        fixes = read_avl(avl, feed.tz)
        blocks = block_assignments(avl) if sniff_format(avl) == "transitclock" else {}
    if not fixes:
        raise click.BadParameter(f"{avl}: no positions", param_hint="--avl")
    return feed, fixes, blocks


def _replay(feed, fixes, blocks, method: str):
    from streams.bus.pipeline import run
    from streams.bus.predictions import PredictParams

    with _progress(len(fixes), f"replay ({method})") as bar:
        return run(feed, fixes, blocks, predict=PredictParams(method=method), progress=bar.update)


@click.command()
@gtfs_option("GTFS feed folder of the trace's routes.", required=True)
@click.option("--avl", "avl", required=True, type=click.Path(exists=True, path_type=Path),
              help="AVL trace: canonical CSV, TheTransitClock CSV, or GTFS-rt VehiclePositions file "
                   "(or a folder of .pb snapshots).")
@click.option("--predictions", "predictions", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Predictions to score; default: topis's own, made by replaying the trace.")
@click.option("--format", "fmt", type=click.Choice(["topis", "transitclock"]), default="topis", show_default=True,
              help="Format of --predictions: topis CSV (vehicle_id,trip_id,stop_id,stop_sequence,made_at,"
                   "predicted_arrival) or TheTransitClock's export (creationTime,predictionTime,gtfsStopSeq,...).")
@click.option("--compare/--no-compare", default=False,
              help="Also replay the trace with topis and score both on the same (made-at fix, stop) pairs.")
@click.option("--max-gap", "max_gap_s", type=float, default=math.inf,
              help="Ignore ground-truth arrivals interpolated across an AVL gap longer than this (s).")
@click.option("--predictions-out", "out", type=click.Path(dir_okay=False, path_type=Path),
              help="Write topis's predictions from the replay as CSV.")
@click.option("--truth", "truth_csv", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Ground-truth arrivals to score against instead of the trace's own: a CSV with "
                   "trip_id, stop_sequence, arrival_ts (e.g. the simulator's stop_visits.csv).")
@click.option("--method", type=click.Choice(["topis", "transitclock"]), default="topis", show_default=True,
              help="Predictor of the replay: topis's, or TheTransitClock's Kalman filter alone.")
def accuracy(gtfs: Path, avl: Path, predictions: Path | None, fmt: str, compare: bool, max_gap_s: float,
             out: Path | None, truth_csv: Path | None, method: str) -> None:
    """Score arrival predictions with the ETA Accuracy Benchmark buckets.

    Ground truth is the time the bus reached each stop, interpolated between the
    trace's fixes. Buckets by time to actual arrival (0-3, 3-6, 6-10, 10-15 min);
    a prediction is accurate when actual - predicted lies in -30..+90 s,
    -60..+150 s, -60..+210 s, -90..+270 s; score = mean of the four shares.

    \b
    Examples:
        topis accuracy --gtfs ../shared/data/avl/wmata_transitclock_2016/gtfs/S2 \\
            --avl ../shared/data/avl/wmata_transitclock_2016/traces/S2_2113.csv
        topis accuracy --gtfs .../gtfs/S2 --avl .../traces/S2_2113.csv --compare \\
            --predictions .../transitclock_predictions/S2_2113.csv --format transitclock
    """
    from streams.bus.accuracy import (
        ground_truth,
        read_predictions_csv,
        read_transitclock_predictions,
        read_truth_csv,
        score,
        write_predictions_csv,
    )
    from streams.bus.avl_files import AvlFormatError
    from topis.schemas.bus import Prediction, StopArrival

    feed, fixes, blocks = _load(gtfs, avl)
    result = _replay(feed, fixes, blocks, method)
    if truth_csv is not None:
        with bad_parameter("--truth", AvlFormatError):
            truth = read_truth_csv(truth_csv, feed.tz)
        source = f"from {truth_csv.name}"
    else:
        truth = ground_truth(result.of(StopArrival), max_gap_s)
        source = "in the trace"
    ours = result.of(Prediction)
    click.echo(f"{len(fixes)} fixes, {len(truth)} stop arrivals {source}; replay {result.fixes_per_s:,.0f} fixes/s")
    if out is not None:
        n = write_predictions_csv(out, ours, feed.tz)
        click.echo(f"wrote {n} predictions to {out}")
    if predictions is None:
        click.echo(score(ours, truth).table(f"topis ({method})"))
        return
    with bad_parameter("--predictions", AvlFormatError):
        theirs = (read_transitclock_predictions(predictions, feed.tz) if fmt == "transitclock"
                  else read_predictions_csv(predictions, feed.tz))
    if not compare:
        click.echo(score(theirs, truth).table(predictions.name))
        return
    theirs, ours = common_pairs(theirs, ours, [f.ts for f in fixes])
    click.echo(f"compared on {len(theirs)} common (made-at fix, trip, stop) pairs")
    click.echo(score(theirs, truth).table(predictions.name))
    click.echo(score(ours, truth).table(f"topis ({method})"))


def common_pairs(theirs, ours, fix_ts: list[float], tolerance_s: float = 1.0):
    """Keep predictions of both sets made at the same trace fix for the same trip and stop.

    A prediction counts as made at a fix when its made-at time is within
    ``tolerance_s`` of the fix time.
    """
    import numpy as np

    ts = np.sort(np.asarray(fix_ts, dtype=float))

    def at_fix(t: float) -> float | None:
        i = int(np.searchsorted(ts, t))
        best = min((abs(ts[j] - t), ts[j]) for j in (i - 1, i) if 0 <= j < len(ts)) if len(ts) else None
        return best[1] if best is not None and best[0] <= tolerance_s else None

    def keyed(preds):
        out = {}
        for p in preds:
            f = at_fix(p.made_at_ts)
            if f is not None:
                out.setdefault((f, p.trip_id, p.stop_sequence), p)
        return out

    a, b = keyed(theirs), keyed(ours)
    common = sorted(set(a) & set(b))
    return [a[k] for k in common], [b[k] for k in common]


@click.command()
@gtfs_option("GTFS static feed of the routes in the trace.", required=True, name="gtfs_dir")
@click.option("--avl", "avl_path", required=True, type=click.Path(exists=True, path_type=Path),
              help="Trace: canonical CSV, TheTransitClock CSV, or GTFS-realtime .pb file/folder.")
@click.option("--speed", type=click.FloatRange(min=0.1), help="Replay at this multiple of real time (default: as fast as possible).")
@click.option("--predictions-out", type=click.Path(dir_okay=False, path_type=Path),
              help="Write every prediction the agents made: vehicle_id,trip_id,stop_id,stop_sequence,made_at,predicted_arrival.")
@broker_option("Use this Kafka cluster (default: start the embedded broker).")
def replay(gtfs_dir: Path, avl_path: Path, speed: float | None, predictions_out: Path | None,
           broker_url: str | None) -> None:
    """Replay an AVL trace through Kafka and a Faust worker, as if it were live.

    \b
    Example (a WMATA bus against TheTransitClock's own predictions):
        topis replay --gtfs ../shared/data/avl/wmata_transitclock_2016/gtfs/S2 \\
            --avl ../shared/data/avl/wmata_transitclock_2016/traces/S2_2113.csv --predictions-out s2.csv
        topis accuracy --gtfs ../shared/data/avl/wmata_transitclock_2016/gtfs/S2 \\
            --avl ../shared/data/avl/wmata_transitclock_2016/traces/S2_2113.csv --predictions s2.csv
    """
    from streams.bus import avl_files
    from streams.bus import replay as rp
    from streams.bus.accuracy import write_predictions_csv
    from streams.bus.gtfs import GtfsError, load_feed
    from topis.broker import BrokerError, running_broker

    try:
        feed = load_feed(gtfs_dir)
        fixes = avl_files.read_avl(avl_path, tz=feed.tz)
    except (GtfsError, avl_files.AvlFormatError) as exc:
        raise click.ClickException(str(exc)) from None
    blocks = avl_files.block_assignments(avl_path) if avl_files.sniff_format(avl_path) == "transitclock" else None
    routed = rp.assign_routes(feed, fixes, blocks)
    if not routed.fixes:
        raise click.ClickException(f"none of the {len(fixes)} fixes could be placed on a route of {gtfs_dir}")
    click.echo(f"{len(routed.fixes)} fixes on {len({f.route_id for f in routed.fixes})} route(s); "
               f"{routed.unrouted} not on any route of the feed")
    settings = broker_settings(broker_url, default_url="embedded")
    try:
        with running_broker(settings) as broker, rp.replay_worker(broker, gtfs_dir) as worker:
            predictions, wall_s = _replay_through(worker, routed.fixes, speed)
    except (BrokerError, TimeoutError, ChildProcessError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"replayed {len(routed.fixes)} fixes in {wall_s:.1f} s ({len(routed.fixes) / wall_s:,.0f} fixes/s "
               f"through Kafka and the worker, from first publish to last prediction); {len(predictions)} predictions")
    if predictions_out:
        write_predictions_csv(predictions_out, sorted(predictions, key=lambda p: p.made_at_ts), feed.tz)
        click.echo(f"predictions written to {predictions_out}")


def _replay_through(worker, fixes, speed: float | None):
    """Publish ``fixes`` to ``worker``; its predictions, and seconds from the first publish to the last of them."""
    from streams.bus import replay as rp

    t0 = time.monotonic()
    end, _ = worker.publish(fixes, speed)
    predictions, last_at = rp.collect_predictions(worker.predictions, lambda: worker.lag(end) == 0)
    return predictions, (last_at or time.monotonic()) - t0

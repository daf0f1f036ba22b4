"""``topis accuracy``: score arrival predictions against a trace's own arrivals."""

from __future__ import annotations

import logging
import math
import sys
from pathlib import Path

import click

log = logging.getLogger(__name__)


def _progress(total: int, desc: str):
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="fix", disable=not sys.stderr.isatty())


def _load(gtfs: Path, avl: Path):
    from streams.bus.avl_files import AvlFormatError, block_assignments, read_avl, sniff_format
    from streams.bus.gtfs import GtfsError, load_feed

    try:
        feed = load_feed(gtfs)
    except GtfsError as exc:
        raise click.BadParameter(str(exc), param_hint="--gtfs") from exc
    try:
        fixes = read_avl(avl, feed.tz)
        blocks = block_assignments(avl) if sniff_format(avl) == "transitclock" else {}
    except AvlFormatError as exc:
        raise click.BadParameter(str(exc), param_hint="--avl") from exc
    if not fixes:
        raise click.BadParameter(f"{avl}: no positions", param_hint="--avl")
    return feed, fixes, blocks


def _replay(feed, fixes, blocks, method: str):
    from streams.bus.pipeline import run
    from streams.bus.predictions import PredictParams

    with _progress(len(fixes), f"replay ({method})") as bar:
        return run(feed, fixes, blocks, predict=PredictParams(method=method), progress=bar.update)


@click.command()
@click.option("--gtfs", "gtfs", required=True, type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="GTFS feed folder of the trace's routes.")
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
        try:
            truth = read_truth_csv(truth_csv, feed.tz)
        except AvlFormatError as exc:
            raise click.BadParameter(str(exc), param_hint="--truth") from exc
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
    try:
        theirs = (read_transitclock_predictions(predictions, feed.tz) if fmt == "transitclock"
                  else read_predictions_csv(predictions, feed.tz))
    except AvlFormatError as exc:
        raise click.BadParameter(str(exc), param_hint="--predictions") from exc
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

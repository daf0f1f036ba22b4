"""Prediction accuracy: ground truth from the trace, ETA Accuracy Benchmark buckets, MAE.

Ground truth (:func:`ground_truth`) is the interpolated time each bus reached
each stop's distance along its trip, from the trace itself (the stop arrivals of
:mod:`streams.bus.matching`).

Scoring follows the ETA Accuracy Benchmark (TransitApp/ETA-Accuracy-Benchmark,
from IBI Group's method):

* bucket by *time to actual* = actual arrival − made at, ``start ≤ t < end``:
  0–3, 3–6, 6–10, 10–15 minutes;
* error = **actual − predicted** (positive: the bus came later than predicted);
  accurate when ``−early ≤ error ≤ +late`` (inclusive): 0–3 min −30…+90 s,
  3–6 −60…+150 s, 6–10 −60…+210 s, 10–15 −90…+270 s;
* score = unweighted mean of the four buckets' shares of accurate predictions
  (over the buckets that hold any prediction).

CSV of predictions: ``vehicle_id,trip_id,stop_id,stop_sequence,made_at,predicted_arrival``
with ISO 8601 times with offset.
"""

from __future__ import annotations

import csv
import datetime as dt
import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

from streams.bus.avl_files import AvlFormatError, parse_timestamp
from topis.schemas.bus import Prediction, StopArrival

#: (start_s, end_s, early_s, late_s): bucket by time to actual; accurate if -early <= actual - predicted <= late
BUCKETS: tuple[tuple[float, float, float, float], ...] = (
    (0.0, 180.0, 30.0, 90.0),
    (180.0, 360.0, 60.0, 150.0),
    (360.0, 600.0, 60.0, 210.0),
    (600.0, 900.0, 90.0, 270.0),
)
BUCKET_NAMES = ("0-3 min", "3-6 min", "6-10 min", "10-15 min")
CSV_COLUMNS = ("vehicle_id", "trip_id", "stop_id", "stop_sequence", "made_at", "predicted_arrival")

TruthKey = tuple[str, int]  # (trip_id, stop_sequence)


@dataclass(frozen=True)
class BucketScore:
    name: str
    n: int
    accurate: int
    mae_s: float  #: mean |actual - predicted|, seconds (NaN if empty)
    mean_error_s: float  #: mean (actual - predicted), seconds

    @property
    def share(self) -> float:
        return self.accurate / self.n if self.n else math.nan


@dataclass(frozen=True)
class AccuracyReport:
    buckets: tuple[BucketScore, ...]
    unmatched: int  #: predictions with no ground-truth arrival
    out_of_range: int  #: predictions made after the arrival or more than 15 min before it

    @property
    def score(self) -> float:
        shares = [b.share for b in self.buckets if b.n]
        return sum(shares) / len(shares) if shares else math.nan

    def table(self, title: str = "topis") -> str:
        lines = [f"{'bucket':<10} {'n':>6} {'accurate':>9} {'share':>7} {'MAE s':>7} {'bias s':>7}"]
        for b in self.buckets:
            lines.append(f"{b.name:<10} {b.n:>6} {b.accurate:>9} {_pct(b.share):>7} {_num(b.mae_s):>7} "
                         f"{_num(b.mean_error_s):>7}")
        lines.append(f"{title}: score {_pct(self.score)} (mean of bucket shares); "
                     f"{self.unmatched} without ground truth, {self.out_of_range} outside 0-15 min")
        return "\n".join(lines)


def _pct(x: float) -> str:
    return "-" if math.isnan(x) else f"{100 * x:.1f}%"


def _num(x: float) -> str:
    return "-" if math.isnan(x) else f"{x:.0f}"


def bucket_of(time_to_actual_s: float) -> int | None:
    """Index of the bucket a prediction falls in by time to actual arrival, or None (≥ 15 min or < 0)."""
    for i, (start, end, _, _) in enumerate(BUCKETS):
        if start <= time_to_actual_s < end:
            return i
    return None


def is_accurate(bucket: int, actual_ts: float, predicted_ts: float) -> bool:
    """Whether actual − predicted lies within the bucket's band (bounds inclusive)."""
    _, _, early, late = BUCKETS[bucket]
    err = actual_ts - predicted_ts
    return -early <= err <= late


def ground_truth(arrivals: Iterable[StopArrival], max_gap_s: float = math.inf) -> dict[TruthKey, float]:
    """(trip_id, stop_sequence) → arrival ts, from arrivals interpolated between fixes ≤ ``max_gap_s`` apart."""
    out: dict[TruthKey, float] = {}
    for a in arrivals:
        if a.gap_s <= max_gap_s:
            out.setdefault((a.trip_id, a.stop_sequence), a.ts)
    return out


def score(predictions: Iterable[Prediction], truth: dict[TruthKey, float]) -> AccuracyReport:
    """Score predictions against ground truth with the ETA Accuracy Benchmark buckets."""
    n = [0] * 4
    ok = [0] * 4
    abs_sum = [0.0] * 4
    err_sum = [0.0] * 4
    unmatched = out_of_range = 0
    for p in predictions:
        actual = truth.get((p.trip_id, p.stop_sequence))
        if actual is None:
            unmatched += 1
            continue
        b = bucket_of(actual - p.made_at_ts)
        if b is None:
            out_of_range += 1
            continue
        err = actual - p.predicted_arrival_ts
        n[b] += 1
        ok[b] += is_accurate(b, actual, p.predicted_arrival_ts)
        abs_sum[b] += abs(err)
        err_sum[b] += err
    buckets = tuple(
        BucketScore(BUCKET_NAMES[i], n[i], ok[i], abs_sum[i] / n[i] if n[i] else math.nan,
                    err_sum[i] / n[i] if n[i] else math.nan)
        for i in range(4))
    return AccuracyReport(buckets, unmatched, out_of_range)


# --------------------------------------------------------------------------- CSV


def _iso(ts: float, tz: ZoneInfo) -> str:
    return dt.datetime.fromtimestamp(ts, tz).isoformat(timespec="seconds")


def write_predictions_csv(path: str | Path, predictions: Iterable[Prediction], tz: ZoneInfo | str = "UTC") -> int:
    """Write predictions as CSV (ISO 8601 with offset in ``tz``); returns the number of rows."""
    zone = ZoneInfo(tz) if isinstance(tz, str) else tz
    n = 0
    with Path(path).open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(CSV_COLUMNS)
        for p in predictions:
            w.writerow([p.vehicle_id, p.trip_id, p.stop_id, p.stop_sequence, _iso(p.made_at_ts, zone),
                        _iso(p.predicted_arrival_ts, zone)])
            n += 1
    return n


def read_predictions_csv(path: str | Path, tz: ZoneInfo | None = None) -> list[Prediction]:
    """Read the topis prediction CSV. Naive times are taken in ``tz`` (error when None).

    Raises
    ------
    AvlFormatError
        Missing column or a bad row (file and line named).
    """
    path = Path(path)
    out = []
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in CSV_COLUMNS if c not in (reader.fieldnames or ())]
        if missing:
            raise AvlFormatError(f"{path}: missing column(s) {', '.join(missing)}")
        for row in reader:
            try:
                out.append(Prediction(row["vehicle_id"], "", row["trip_id"], row["stop_id"],
                                      int(row["stop_sequence"]), parse_timestamp(row["made_at"], tz),
                                      parse_timestamp(row["predicted_arrival"], tz)))
            except ValueError as exc:
                raise AvlFormatError(f"{path}:{reader.line_num}: {exc}") from exc
    return out


def read_transitclock_predictions(path: str | Path, tz: ZoneInfo | str = "America/New_York",
                                  ) -> list[Prediction]:
    """Read TheTransitClock's prediction export (creationTime, predictionTime, stopId, gtfsStopSeq,
    tripId, vehicleId; local times without offset, in ``tz``).

    ``made_at`` is the AVL time the prediction was computed from (``avlTime`` when present,
    else ``creationTime``), so both systems are compared at the same fix.
    """
    zone = ZoneInfo(tz) if isinstance(tz, str) else tz
    path = Path(path)
    out = []
    need = ("creationTime", "predictionTime", "stopId", "gtfsStopSeq", "tripId", "vehicleId")
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in need if c not in (reader.fieldnames or ())]
        if missing:
            raise AvlFormatError(f"{path}: missing column(s) {', '.join(missing)}")
        for row in reader:
            try:
                made = row.get("avlTime") or row["creationTime"]
                out.append(Prediction(row["vehicleId"], row.get("routeId", ""), row["tripId"], row["stopId"],
                                      int(row["gtfsStopSeq"]), parse_timestamp(made, zone),
                                      parse_timestamp(row["predictionTime"], zone)))
            except ValueError as exc:
                raise AvlFormatError(f"{path}:{reader.line_num}: {exc}") from exc
    return out


def read_truth_csv(path: str | Path, tz: ZoneInfo | None = None) -> dict[TruthKey, float]:
    """Ground-truth arrivals from a CSV with ``trip_id, stop_sequence, arrival_ts`` (epoch seconds or
    ISO 8601), such as the simulator's ``stop_visits.csv``.

    Raises
    ------
    AvlFormatError
        Missing column or a bad row (file and line named).
    """
    path = Path(path)
    out: dict[TruthKey, float] = {}
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in ("trip_id", "stop_sequence", "arrival_ts") if c not in (reader.fieldnames or ())]
        if missing:
            raise AvlFormatError(f"{path}: missing column(s) {', '.join(missing)}")
        for row in reader:
            try:
                out.setdefault((row["trip_id"], int(row["stop_sequence"])), parse_timestamp(row["arrival_ts"], tz))
            except ValueError as exc:
                raise AvlFormatError(f"{path}:{reader.line_num}: {exc}") from exc
    return out

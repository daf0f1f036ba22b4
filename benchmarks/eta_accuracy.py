"""ETA accuracy of topis vs TheTransitClock on the WMATA traces, and replay throughput.

Run: ``.venv/bin/python -m benchmarks.eta_accuracy`` (about 20 s).

1. S2 trace (bus 2113, 2016-04-29): TheTransitClock's own predictions
   (``transitclock_predictions/S2_2113.csv``) and topis's, scored by the same
   code (:mod:`streams.accuracy`) against the same ground truth (the trace's
   interpolated stop arrivals), on the same (made-at fix, trip, stop) pairs:
   a TheTransitClock prediction is kept when its ``avlTime`` is a fix of the
   trace and topis made a prediction for that stop at that fix. TheTransitClock
   also predicted from fixes before the trace starts (08:20-08:23); those are
   left out, since topis never saw those fixes.

   Fairness: neither side has history of previous days in this comparison's
   data for topis; topis starts from the GTFS schedule's running times (its
   no-history fallback, as TheTransitClock falls back to schedule-derived travel
   times), while TheTransitClock's database held whatever travel times it had
   when the predictions were made. "topis (TheTransitClock Kalman)" is topis
   run with TheTransitClock's exact filter and no topis additions.
2. 3T and 5A traces: topis only (no peer predictions published).
3. Throughput of the offline pipeline (matching, arrivals, headways,
   predictions): the three traces, and a synthetic S2 day of every scheduled
   trip 06:00-10:00 with 30 s AVL and random delays (many buses at once, so
   headways, holding advice and bus-ahead effects all run).
"""

from __future__ import annotations

import datetime as dt
import math
import time
from pathlib import Path

import numpy as np

from streams.accuracy import BUCKET_NAMES, ground_truth, read_transitclock_predictions, score
from streams.arrivals import StopArrival
from streams.avl_files import block_assignments, read_transitclock_csv
from streams.bus_pipeline import run
from streams.cli import common_pairs
from streams.gtfs import Feed, load_feed
from streams.headways import BunchingAlert, GappingAlert, HeadwayObservation
from streams.predictions import Prediction, PredictParams
from topis.wire import BusPosition

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "avl" / "wmata_transitclock_2016"
TRACES = {"S2": "S2_2113", "3T": "3T_3757", "5A": "5A_8062"}


def _row(name: str, rep) -> str:
    cells = [f"{100 * b.share:5.1f}% ({b.n:3d}) {b.mae_s:4.0f}s" if b.n else f"{'-':>18}" for b in rep.buckets]
    return f"{name:<32} " + " | ".join(cells) + f" | {100 * rep.score:5.1f}%"


def _header() -> str:
    return f"{'predictions':<32} " + " | ".join(f"{n + ' share (n) MAE':>18}" for n in BUCKET_NAMES) + " | score"


def compare_s2() -> None:
    feed = load_feed(DATA / "gtfs" / "S2")
    trace = DATA / "traces" / "S2_2113.csv"
    fixes = read_transitclock_csv(trace, feed.tz)
    blocks = block_assignments(trace)
    res = run(feed, fixes, blocks)
    res_tc = run(feed, fixes, blocks, predict=PredictParams(method="transitclock"))
    truth = ground_truth(res.of(StopArrival))
    theirs_all = read_transitclock_predictions(DATA / "transitclock_predictions" / "S2_2113.csv", feed.tz)
    fix_ts = [f.ts for f in fixes]
    theirs, ours = common_pairs(theirs_all, res.of(Prediction), fix_ts)
    _, ours_tc = common_pairs(theirs_all, res_tc.of(Prediction), fix_ts)
    print(f"S2 trace: {len(fixes)} fixes, {len(truth)} ground-truth stop arrivals; "
          f"{len(theirs_all)} TheTransitClock predictions, {len(theirs)} on common (fix, trip, stop) pairs")
    print("error = actual - predicted; accurate if -30..+90 s (0-3 min), -60..+150, -60..+210, -90..+270")
    print(_header())
    print(_row("TheTransitClock (published)", score(theirs, truth)))
    print(_row("topis", score(ours, truth)))
    print(_row("topis (TheTransitClock Kalman)", score(ours_tc, truth)))
    print()


def other_traces() -> None:
    print(_header())
    for route in ("3T", "5A"):
        feed = load_feed(DATA / "gtfs" / route)
        trace = DATA / "traces" / f"{TRACES[route]}.csv"
        fixes = read_transitclock_csv(trace, feed.tz)
        res = run(feed, fixes, block_assignments(trace))
        truth = ground_truth(res.of(StopArrival))
        print(_row(f"topis {route} ({len(fixes)} fixes, {len(truth)} arr.)", score(res.of(Prediction), truth)))
    print()


def synthetic_day(feed: Feed, route_id: str, day: dt.date, start_h: float, end_h: float,
                  period_s: float = 30.0, seed: int = 1) -> list[BusPosition]:
    """Fixes of every trip of a route running between two hours: schedule + random-walk delay + GPS noise."""
    rng = np.random.default_rng(seed)
    day_ts = feed.service_day_start_ts(day)
    active = feed.calendar.active(day)
    out: list[BusPosition] = []
    for i, tid in enumerate(feed.trips_by_route[route_id]):
        trip = feed.trips[tid]
        if trip.service_id not in active or not (start_h * 3600 <= trip.start_s <= end_h * 3600):
            continue
        shape = feed.shapes[trip.shape_id]
        delay = 0.0
        t = day_ts + trip.start_s - 120.0
        while True:
            sched = t - delay - day_ts
            if sched > trip.end_s + 60:
                break
            d = float(np.interp(sched, trip.departure_s, trip.dist_m))
            x = np.interp(d, shape.cum_m, shape.x_m) + rng.normal(0, 8)
            y = np.interp(d, shape.cum_m, shape.y_m) + rng.normal(0, 8)
            lat = feed.origin_lat + math.degrees(y / 6_371_008.8)
            lon = feed.origin_lon + math.degrees(x / (6_371_008.8 * math.cos(math.radians(feed.origin_lat))))
            out.append(BusPosition(f"bus{i}", route_id, float(t), float(lat), float(lon)))
            delay = max(-60.0, delay + rng.normal(3.0, 12.0))
            t += period_s
    out.sort(key=lambda p: p.ts)
    return out


def throughput() -> None:
    print(f"{'replay':<44} {'fixes':>7} {'events':>8} {'seconds':>8} {'fixes/s':>9}")
    for route, name in TRACES.items():
        feed = load_feed(DATA / "gtfs" / route)
        trace = DATA / "traces" / f"{name}.csv"
        fixes = read_transitclock_csv(trace, feed.tz)
        blocks = block_assignments(trace)
        reps, n, ev = 20, 0, 0
        t0 = time.perf_counter()
        for _ in range(reps):
            res = run(feed, fixes, blocks)
            n += res.fixes
            ev += len(res.events)
        secs = time.perf_counter() - t0
        print(f"{name + ' trace x' + str(reps):<44} {n:>7} {ev:>8} {secs:>8.2f} {n / secs:>9.0f}")
    feed = load_feed(DATA / "gtfs" / "S2")
    fixes = synthetic_day(feed, "S2", dt.date(2016, 4, 29), 6.0, 10.0)
    t0 = time.perf_counter()
    res = run(feed, fixes)
    secs = time.perf_counter() - t0
    print(f"{'synthetic S2 06-10h, ' + str(len({f.vehicle_id for f in fixes})) + ' buses':<44} {res.fixes:>7} "
          f"{len(res.events):>8} {secs:>8.2f} {res.fixes / secs:>9.0f}")
    truth = ground_truth(res.of(StopArrival))
    print(f"  synthetic day: {len(truth)} arrivals, {len(res.of(HeadwayObservation))} headways, "
          f"{len(res.of(BunchingAlert))} bunching / {len(res.of(GappingAlert))} gapping alerts, "
          f"ETA score {100 * score(res.of(Prediction), truth).score:.1f}%")


def main() -> None:
    if not DATA.exists():
        raise SystemExit(f"{DATA} is missing: the WMATA traces are needed for this benchmark")
    compare_s2()
    other_traces()
    throughput()


if __name__ == "__main__":
    main()

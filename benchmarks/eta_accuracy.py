"""ETA accuracy of topis vs TheTransitClock on the WMATA traces, and replay throughput.

Run: ``.venv/bin/python -m benchmarks.eta_accuracy`` (about 2-3 minutes).

1. S2 trace (bus 2113, 2016-04-29): TheTransitClock's own predictions
   (``transitclock_predictions/S2_2113.csv``) and topis's, scored by the same
   code (:mod:`streams.bus.accuracy`) against the same ground truth (the trace's
   interpolated stop arrivals), on the same (made-at fix, trip, stop) pairs:
   a TheTransitClock prediction is kept when its ``avlTime`` is a fix of the
   trace and topis made a prediction for that stop at that fix. TheTransitClock
   also predicted from fixes before the trace starts (08:20-08:23); those are
   left out, since topis never saw those fixes. The export's ``isArrival``
   column is a bit field dumped as text ("00000000"/"10000000"), and there is
   one row per stop per fix, so every row is scored as that stop's arrival.

   Fairness: topis sees nothing but the trace, so until it has observed a
   segment its segment times are the GTFS schedule's: its equivalent of
   TheTransitClock's schedule-based fallback. TheTransitClock's predictions were
   made with whatever its database held at the time (travel times from earlier
   days or derived from the schedule; ``schedBasedPred`` is 0 on every row).
   Both are scored by the same code, against the same ground truth, at the same
   fixes and stops. "topis (TheTransitClock Kalman)" is topis's own pipeline
   with TheTransitClock's exact filter and none of topis's additions.
2. 3T and 5A traces: topis only (no peer predictions published).
3. Demo city vs the simulator's ground truth (``topis.sim``): 8 routes for 45
   minutes of a weekday morning; ETA bucket score, stop arrival times vs true
   arrivals, bunching alerts vs bunching in the true arrivals.
4. Throughput of the offline pipeline (matching, arrivals, headways,
   predictions): the three traces, and a synthetic S2 day of every scheduled
   trip 06:00-10:00 with 30 s AVL and random delays (many buses at once, so
   headways, holding advice and bus-ahead effects all run).
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import numpy as np

from streams.bus.accuracy import BUCKET_NAMES, ground_truth, read_transitclock_predictions, score
from streams.bus.avl_files import block_assignments, read_transitclock_csv
from streams.bus.cli import common_pairs
from streams.bus.gtfs import Feed, load_feed
from streams.bus.pipeline import run
from streams.bus.predictions import PredictParams
from topis.schemas.bus import BunchingAlert, GappingAlert, HeadwayObservation, Prediction, StopArrival
from topis.schemas.inputs import BusPosition

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
            lat, lon = feed.projection.to_latlon(x, y)
            out.append(BusPosition(f"bus{i}", route_id, float(t), float(lat), float(lon)))
            delay = max(-60.0, delay + rng.normal(3.0, 12.0))
            t += period_s
    out.sort(key=lambda p: p.ts)
    return out


def throughput() -> None:
    """Fixes per second of the offline pipeline, by wall clock and per CPU second of this process
    (the CPU figure holds on a shared machine; the wall figure is what a lone worker would see)."""
    print(f"{'replay':<44} {'fixes':>7} {'events':>8} {'wall s':>7} {'CPU s':>7} {'fixes/s':>8} {'/CPU s':>8}")

    def timed(name: str, fn) -> None:
        w0, c0 = time.perf_counter(), time.process_time()
        n, ev = fn()
        wall, cpu = time.perf_counter() - w0, time.process_time() - c0
        print(f"{name:<44} {n:>7} {ev:>8} {wall:>7.2f} {cpu:>7.2f} {n / wall:>8.0f} {n / cpu:>8.0f}")

    for route, name in TRACES.items():
        feed = load_feed(DATA / "gtfs" / route)
        fixes = read_transitclock_csv(DATA / "traces" / f"{name}.csv", feed.tz)

        def replay_20(feed=feed, fixes=fixes):
            results = [run(feed, fixes) for _ in range(20)]
            return sum(r.fixes for r in results), sum(len(r.events) for r in results)

        timed(f"{name} trace x20", replay_20)
    feed = load_feed(DATA / "gtfs" / "S2")
    fixes = synthetic_day(feed, "S2", dt.date(2016, 4, 29), 6.0, 10.0)
    box = []

    def synthetic():
        box.append(run(feed, fixes))
        return box[0].fixes, len(box[0].events)

    timed(f"synthetic S2 06-10h, {len({f.vehicle_id for f in fixes})} buses", synthetic)
    res = box[0]
    truth = ground_truth(res.of(StopArrival))
    print(f"  synthetic day: {len(truth)} arrivals, {len(res.of(HeadwayObservation))} headways, "
          f"{len(res.of(BunchingAlert))} bunching / {len(res.of(GappingAlert))} gapping alerts, "
          f"ETA score {100 * score(res.of(Prediction), truth).score:.1f}%")


def simulate_demo_city(out_dir: Path, minutes: int, n_routes: int, seed: int = 1):
    """Demo city (seed 1, scale 1) exported as GTFS, simulated from 07:00 KST on Tuesday 2026-03-03.

    Returns the feed, the fixes, the simulator's true stop visits and the card taps of the first
    ``n_routes`` routes.
    """
    from topis.city.export import write_gtfs
    from topis.city.generate import generate_city
    from topis.sim.simulator import Simulator

    city = generate_city(seed=seed, scale=1.0)
    write_gtfs(city, out_dir)
    feed = load_feed(out_dir)
    start = dt.datetime(2026, 3, 3, 7, 0, tzinfo=dt.timezone(dt.timedelta(hours=9))).timestamp()
    sim = Simulator(city, seed, start)
    fixes, visits, taps = [], [], []
    for _ in range(minutes):
        out = sim.step(60.0)
        for batch in out.positions.values():
            fixes.extend(batch)
        for batch in out.taps.values():
            taps.extend(batch)
        visits.extend(out.stop_visits)
    routes = set(sorted({f.route_id for f in fixes})[:n_routes])
    return (feed, [f for f in fixes if f.route_id in routes], [v for v in visits if v.route_id in routes],
            [t for t in taps if t.route_id in routes])


def true_bunching(feed: Feed, visits, ratio: float = 0.5) -> set[tuple[str, str]]:
    """(trip, stop) pairs whose true headway is below ``ratio`` x the timetable's, from true arrivals.

    Headways are per route, direction and stop; at a trip's first stop they are between departures
    (buses wait there for their departure time, so arrivals say nothing).
    """
    from streams.bus.headways import ScheduleIndex, stop_key

    by_key: dict[str, list] = {}
    for v in visits:
        trip = feed.trips[v.trip_id]
        # per route (each route's headways are its own), at its first stop by departure
        first = v.stop_sequence == int(trip.stop_sequence[0])
        if first and v.departure_ts is None:
            continue
        when = v.departure_ts if first else v.arrival_ts
        by_key.setdefault((v.route_id, stop_key(trip.direction_id, v.stop_id)), []).append((when, v))
    day_ts = feed.service_day_start_ts(dt.date(2026, 3, 3))
    routes = {v.route_id for v in visits}
    sched = {r: ScheduleIndex([feed.trips[t] for t in feed.trips_by_route[r]
                               if feed.trips[t].service_id in feed.calendar.active(dt.date(2026, 3, 3))], day_ts)
             for r in routes}
    out = set()
    for (route, key), vs in by_key.items():
        vs.sort(key=lambda tv: tv[0])
        for (ta, a), (tb, b) in zip(vs, vs[1:]):
            h = sched[route].scheduled_headway_s(key, b.trip_id)
            if h and b.vehicle_id != a.vehicle_id and (tb - ta) / h < ratio:
                out.add((b.trip_id, b.stop_id))
    return out


def demo_city(minutes: int = 45, n_routes: int = 8) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        feed, fixes, visits, taps = simulate_demo_city(Path(tmp) / "gtfs", minutes, n_routes)
    truth = {(v.trip_id, v.stop_sequence): v.arrival_ts for v in visits}
    first_stop = {(v.trip_id, v.stop_sequence) for v in visits
                  if v.stop_sequence == int(feed.trips[v.trip_id].stop_sequence[0])}
    print(f"demo city (seed 1, scale 1), {n_routes} routes, {minutes} min from 07:00 KST: "
          f"{len(fixes)} fixes, {len(taps)} card taps, {len(truth)} true stop visits (simulator ground truth)")
    print(_header())
    res = None
    for name, method, with_taps in (("topis", "topis", False), ("topis + card taps (dwell)", "topis", True),
                                    ("topis (TheTransitClock Kalman)", "transitclock", False)):
        c0 = time.process_time()
        r = run(feed, fixes, predict=PredictParams(method=method), taps=taps if with_taps else ())
        cpu = time.process_time() - c0
        print(_row(name, score(r.of(Prediction), truth)) + f"   ({r.fixes / cpu:,.0f} fixes per CPU s)")
        res = res or r
    ours = {(a.trip_id, a.stop_sequence): a.ts for a in res.of(StopArrival)}
    for name, keys in (("mid-route stops", [k for k in truth if k not in first_stop]),
                       ("first stops (service start)", sorted(first_stop))):
        found = [k for k in keys if k in ours]
        err = np.abs(np.array([ours[k] - truth[k] for k in found]))
        print(f"stop arrivals, {name}: {len(found)}/{len(keys)} found, {100 * np.mean(err <= 30):.1f}% within 30 s, "
              f"median |error| {np.median(err):.1f} s, 95th percentile {np.percentile(err, 95):.1f} s")
    alerts = {(a.observation.trip_id, a.observation.stop_id) for a in res.of(BunchingAlert)}
    real = true_bunching(feed, visits)
    tp = len(alerts & real)
    print(f"bunching alerts: {len(alerts)} raised, {len(real)} true bunched arrivals (headway < 50% of timetable); "
          f"precision {100 * tp / max(len(alerts), 1):.1f}%, recall {100 * tp / max(len(real), 1):.1f}%")
    print()


def main() -> None:
    if not DATA.exists():
        raise SystemExit(f"{DATA} is missing: the WMATA traces are needed for this benchmark")
    compare_s2()
    other_traces()
    demo_city()
    throughput()


if __name__ == "__main__":
    main()

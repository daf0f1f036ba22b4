"""Live re-planning cost: what the worker's event loop pays, what the planning processes pay.

For the demo city at each ``--scale`` (1 ≈ 40 routes; 18.5 ≈ Seoul) this builds
the timetable arrays, synthetic but full-size demand aggregates (every
regular route, both directions, rush hours 07-09 h, 6 runs seen an hour) and
a night OD over a third of the stops, then measures

* **loop side** - :class:`streams.planning.agents.LivePlanner`: timetable build
  (once per worker), services of an hour (once per hour), building a job,
  pickling it (done by the pool's feeder thread, not the loop);
* **pool side** - :func:`streams.planning.live.run_job` per kind, in-process;
* **loop lag** - the worst lateness of a 10 ms asyncio ticker while the three
  jobs run in a spawn ``ProcessPoolExecutor`` (as many processes as the
  agents use: 2, less one core for the loop; ``--processes`` to override).

    .venv/bin/python -m benchmarks.live_planning [--scale 1,5] [--seed 7] [--processes N]
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import multiprocessing
import pickle
import tempfile
import time
from pathlib import Path

import numpy as np

from streams.demand.aggregates import encode
from streams.planning import live as planning
from topis.schemas.demand import ODMatrix, OwlInput, SegmentLoads, SquirrelInput


def city_feed(seed: int, scale: float, folder: Path):
    from streams.bus.gtfs import load_feed
    from topis.city.export import write_gtfs
    from topis.city.generate import generate_city

    write_gtfs(generate_city(seed=seed, scale=scale), folder)
    return load_feed(folder)


def synthetic_inputs(feed, rng: np.random.Generator) -> list[SquirrelInput]:
    """Rush-hour loads on every regular route: a hump along each direction."""
    out = []
    for route_id, trip_ids in sorted(feed.trips_by_route.items()):
        if planning.live.route_kind(route_id) != "regular":
            continue
        firsts = {}
        for t in trip_ids:
            firsts.setdefault(feed.trips[t].direction_id or 0, feed.trips[t])
        profiles = []
        for d, trip in sorted(firsts.items()):
            stops = list(trip.stop_ids)
            n = len(stops) - 1
            for hour in (7, 8):
                load = np.sin(np.linspace(0.1, np.pi - 0.1, n)) * rng.uniform(100, 900)
                profiles.append(SegmentLoads(route_id, d, hour, [f"{a}>{b}" for a, b in zip(stops, stops[1:])],
                                             stops[:-1], stops[1:], (load / 6).tolist(), load.tolist(), [6] * n))
        out.append(SquirrelInput(route_id, time.time(), profiles, int(rng.integers(500, 3000)), 0.1))
    return out


def night_od(feed, rng: np.random.Generator) -> OwlInput:
    ids = sorted(feed.stops)[:: 3]
    k = 4 * len(ids)
    o, d = rng.integers(0, len(ids), k), rng.integers(0, len(ids), k)
    keep = o != d
    return OwlInput(time.time(), ODMatrix("stop", [0, 1, 2, 3, 4], ids, o[keep].tolist(), d[keep].tolist(),
                                          rng.uniform(0.5, 5, int(keep.sum())).tolist()), None, int(keep.sum()), 0.0)


async def loop_lag_while(jobs: list, workers: int = 2) -> tuple[float, float]:
    """(worst ticker lateness ms, wall s) while ``jobs`` run in a spawn pool."""
    lag = [0.0]
    done = asyncio.Event()

    async def ticker():
        while not done.is_set():
            t = time.perf_counter()
            await asyncio.sleep(0.01)
            lag[0] = max(lag[0], (time.perf_counter() - t - 0.01) * 1000)

    with concurrent.futures.ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        await asyncio.get_running_loop().run_in_executor(pool, int, 0)  # start the processes first
        tick = asyncio.ensure_future(ticker())
        t0 = time.perf_counter()
        await asyncio.gather(*(asyncio.get_running_loop().run_in_executor(pool, planning.run_job, j) for j in jobs))
        wall = time.perf_counter() - t0
        done.set()
        await tick
    return lag[0], wall


def measure(scale: float, seed: int, processes: int) -> dict:
    from streams.planning.agents import LivePlanner
    from topis.settings import StreamSettings

    rng = np.random.default_rng(seed)
    with tempfile.TemporaryDirectory() as tmp:
        feed = city_feed(seed, scale, Path(tmp))
    row = {"scale": scale, "routes": len(feed.routes), "trips": len(feed.trips), "stops": len(feed.stops)}
    t = time.perf_counter()
    planner = LivePlanner(feed, StreamSettings())
    row["planner_build_s"] = time.perf_counter() - t
    t = time.perf_counter()
    planner.services(8)
    row["services_hour_ms"] = (time.perf_counter() - t) * 1000
    for sq in synthetic_inputs(feed, rng):
        planner.note_squirrel(sq.route_id, encode(sq), 0.0)
    planner.note_owl(encode(night_od(feed, rng)), 0.0)
    jobs = []
    for kind in ("headways", "squirrel", "owl"):
        planner.services(1 if kind == "owl" else 8)  # cached, as in a running worker
        t = time.perf_counter()
        job = planner.job(kind, time.time())
        row[f"{kind}_job_ms"] = (time.perf_counter() - t) * 1000
        row[f"{kind}_pickle_MB"] = len(pickle.dumps(job)) / 1e6
        t = time.perf_counter()
        proposal = planning.run_job(job)
        row[f"{kind}_run_s"] = time.perf_counter() - t
        row[f"{kind}_rows"] = len(proposal["proposed"]["rows"])
        jobs.append(job)
    row["processes"] = processes
    row["loop_lag_ms"], row["pool_wall_s"] = asyncio.run(loop_lag_while(jobs, processes))
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", default="1,5", help="comma-separated demo city scales")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--processes", type=int, default=0, help="planning pool size (default: as the agents)")
    args = parser.parse_args()
    from streams.planning.agents import planning_processes

    rows = [measure(float(s), args.seed, args.processes or planning_processes()) for s in args.scale.split(",")]
    keys = list(rows[0])
    print(f"{'':<20}" + "".join(f"{'scale ' + str(r['scale']):>14}" for r in rows))
    for k in keys[1:]:
        print(f"{k:<20}" + "".join(f"{r[k]:>14,.3f}" if isinstance(r[k], float) else f"{r[k]:>14,}" for r in rows))


if __name__ == "__main__":
    main()

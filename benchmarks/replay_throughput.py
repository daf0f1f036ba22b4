"""Replay throughput of the whole bus path (fixes/s), offline and through Kafka and a Faust worker.

On the largest WMATA trace (``AvlReports_4-22-16_8087``, route 5A, 184 fixes), measures:

1. the offline pipeline (:func:`streams.bus.pipeline.run`, same process): the baseline;
2. ``topis replay`` as a user runs it (subprocess): the whole command's wall time (broker and
   worker start-up included) and the rate it reports;
3. the same path with the start-up taken out, at several loads: ``--copies K`` buses replaying
   the trace side by side on route 5A (vehicle ids ``8087-0`` … ``8087-{K-1}``, same block, same
   times) through the embedded broker and one ``topis worker --gtfs`` process. The clock runs
   from the first publish to the arrival of the last prediction on ``bus.predictions`` (the
   worker has then matched, predicted and published everything); "committed" is when the
   worker's group has committed every message (Faust commits every 2.8 s, so this is later).
   The worker runs every agent ``topis replay`` starts (``--bus-only``: without the demand,
   enforcement and planning agents).

    .venv/bin/python -m benchmarks.replay_throughput [--copies 1,10,30] [--no-cli] [--bus-only]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import msgspec

REPO = Path(__file__).resolve().parents[1]
WMATA = REPO.parent / "shared" / "data" / "avl" / "wmata_transitclock_2016"
TRACE = WMATA / "traces" / "AvlReports_4-22-16_8087.csv"
GTFS = WMATA / "gtfs" / "5A"


def copies(fixes, blocks: dict[str, str], k: int) -> list:
    """``k`` buses running the trace side by side (distinct vehicle ids, the trace's block)."""
    out = [msgspec.structs.replace(f, vehicle_id=f"{f.vehicle_id}-{i}", block_id=blocks.get(f.vehicle_id, f.block_id))
           for i in range(k) for f in fixes]
    return sorted(out, key=lambda f: f.ts)


def offline(feed, fixes) -> float:
    from streams.bus.pipeline import run

    return run(feed, fixes).fixes_per_s


def cli_run(out_csv: Path) -> tuple[float, float | None]:
    """Wall seconds of the whole ``topis replay`` command, and the fixes/s it reports."""
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "topis", "replay", "--gtfs", str(GTFS), "--avl", str(TRACE),
                           "--predictions-out", str(out_csv)], capture_output=True, text=True, timeout=600,
                          cwd=out_csv.parent)
    wall_s = time.perf_counter() - t0
    if done.returncode != 0:
        raise RuntimeError(f"topis replay failed:\n{done.stdout}\n{done.stderr}")
    found = re.search(r"\(([\d,]+) fixes/s", done.stdout)
    return wall_s, float(found.group(1).replace(",", "")) if found else None


def through_kafka(broker, fixes, bus_only: bool = False, quiet_s: float = 3.0, timeout_s: float = 600.0) -> dict:
    """Publish ``fixes`` (already routed) to a fresh worker; time to the last prediction and to committed.

    The worker is ``topis replay``'s own (:func:`streams.bus.replay.replay_worker`); only the clock differs:
    this loop also notes when the group has committed everything.
    """
    from streams.bus import replay as rp

    env = {}
    if bus_only:  # the bus operations agent and the live-state agents only
        env.update(TOPIS_STREAMS_DEMAND="false", TOPIS_STREAMS_ENFORCEMENT="false", TOPIS_STREAMS_PLANNING="false")
    with rp.replay_worker(broker, GTFS, env=env, name="bench-replay", fetch_max_wait_ms=50,
                          output=subprocess.DEVNULL) as worker:
        t0 = time.perf_counter()
        end, messages = worker.publish(fixes, None)
        published_s = time.perf_counter() - t0
        last_pred = committed = None
        n_pred = 0
        while time.perf_counter() - t0 < timeout_s:
            polled = worker.predictions.poll(timeout_ms=50)
            now = time.perf_counter()
            got = sum(len(rs) for rs in polled.values())
            if got:
                n_pred += got
                last_pred = now
            if committed is None and worker.lag(end) == 0:
                committed = now
            if committed is not None and now - max(last_pred or 0.0, committed) > quiet_s:
                break
        else:
            raise TimeoutError("the worker did not finish")
    return {"messages": messages, "publish_s": published_s, "last_prediction_s": (last_pred or t0) - t0,
            "committed_s": committed - t0, "prediction_messages": n_pred}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", default="1,10,30", help="comma-separated bus counts to replay side by side")
    parser.add_argument("--no-cli", action="store_true", help="skip the `topis replay` command run")
    parser.add_argument("--bus-only", action="store_true",
                        help="worker without the demand, enforcement and planning agents (default: all, as topis replay)")
    args = parser.parse_args()
    if not TRACE.exists():
        sys.exit(f"reference data not found at {TRACE}")

    from streams.bus import avl_files
    from streams.bus import replay as rp
    from streams.bus.gtfs import load_feed
    from topis.broker import running_broker
    from topis.settings import BrokerSettings

    feed = load_feed(GTFS)
    raw = avl_files.read_avl(TRACE, tz=feed.tz)
    blocks = avl_files.block_assignments(TRACE)
    rows = []
    if not args.no_cli:
        with tempfile.TemporaryDirectory(prefix="topis-bench-replay-") as tmp:
            wall_s, reported = cli_run(Path(tmp) / "predictions.csv")
        rows.append(("topis replay (whole command)", len(raw), f"{len(raw) / wall_s:,.1f}",
                     f"{wall_s:.1f} s incl. broker + worker start; it reports {reported:,.0f} fixes/s"
                     if reported else f"{wall_s:.1f} s"))
    with running_broker(BrokerSettings(url="embedded")) as broker:
        for k in [int(x) for x in args.copies.split(",") if x.strip()]:
            fixes = rp.assign_routes(feed, copies(raw, blocks, k), None).fixes
            base = offline(feed, fixes)
            m = through_kafka(broker, fixes, args.bus_only)
            rate = len(fixes) / m["last_prediction_s"]
            rows.append((f"{k} bus(es), offline pipeline", len(fixes), f"{base:,.0f}", "same process, no Kafka"))
            rows.append((f"{k} bus(es), Kafka + worker{' (bus only)' if args.bus_only else ''}", len(fixes), f"{rate:,.0f}",
                         f"{rate / base:.2f}x offline; last prediction {m['last_prediction_s']:.2f} s, published in "
                         f"{m['publish_s']:.2f} s ({m['messages']} msgs), committed {m['committed_s']:.1f} s"))
    print(f"\nreplay throughput, {TRACE.name} on GTFS {GTFS.name}, {os.cpu_count()} CPUs\n")
    width = max(len(r[0]) for r in rows)
    print(f"  {'run':<{width}}  {'fixes':>6}  {'fixes/s':>9}  note")
    for name, n, rate, note in rows:
        print(f"  {name:<{width}}  {n:>6}  {rate:>9}  {note}")


if __name__ == "__main__":
    main()

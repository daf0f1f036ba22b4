"""Reads/s through the enforcement rules, alone and into the case store (SQLite file, PostgreSQL).

``--truth``: instead, accuracy against the demo-city simulator's ground
truth: precision and recall of cases per rule (batch mode, exactly as
``topis enforce`` runs on the exported CSVs), watch-list alerts, and the
case count after a stream run with a worker restart and redeliveries.

    .venv/bin/python -m benchmarks.enforcement --truth --scale 0.5 --hours 16

Synthetic, seeded: a mini city with every kind of camera, a registry with a
few % grade-5 and watch-list plates, reads in time order with roughly the
violation mix of a busy day. Reads go in batches the size of one Kafka
message (``--batch``), one store transaction per batch, as the agent does.

    .venv/bin/python -m benchmarks.enforcement --reads 100000
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import socket
import subprocess
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

if __name__ == "__main__" and not __package__:
    # run as a script: this file's folder would shadow the ``enforcement`` package
    import sys

    sys.path[0] = str(Path(__file__).resolve().parent.parent)

from enforcement.engine import RuleBook, new_state, process  # noqa: E402
from enforcement.rules import Camera, Vehicle  # noqa: E402
from enforcement.store import CaseStore  # noqa: E402
from topis.schemas.inputs import PlateRead  # noqa: E402
from topis.settings import EnforcementSettings  # noqa: E402

PG_BIN = Path("/usr/lib/postgresql/15/bin")
HANGUL = "가나다라마바사아자차카타파하"


def city(n_plates: int, seed: int) -> tuple[dict, dict]:
    rng = random.Random(seed)
    cams = []
    for i in range(10):
        cams.append(Camera(f"BM{i}", 37.5 + i / 100, 127.0, "median"))
        cams.append(Camera(f"BF{i}", 37.5 + i / 100, 127.01, "roadside_full"))
        cams.append(Camera(f"G{i}", 37.57, 126.98 + i / 1000, green_zone_entry=True))
        cams.append(Camera(f"SA{i}", 37.4, 127.0 + i / 100, section_id=f"S{i}", section_role="entry",
                           section_length_m=2000.0, section_limit_kph=60.0))  # fmt: skip
        cams.append(Camera(f"SB{i}", 37.41, 127.0 + i / 100, section_id=f"S{i}", section_role="exit",
                           section_length_m=2000.0, section_limit_kph=60.0))  # fmt: skip
        cams.append(Camera(f"N{i}", 37.55, 126.97 + i / 1000, no_stopping=True))
        cams.append(Camera(f"P{i}", 37.56, 126.96 + i / 1000))
    registry = {}
    for _ in range(n_plates):
        plate = f"{rng.randint(10, 999)}{rng.choice(HANGUL)}{rng.randint(1000, 9999)}"
        cls = rng.choices(["car", "taxi", "van", "truck", "bus", "emergency"], [70, 8, 8, 8, 5, 1])[0]
        registry[plate] = Vehicle(plate, cls, rng.choices([1, 2, 3, 4, 5], [20, 30, 30, 15, 5])[0],
                                  exempt=rng.random() < 0.02, watch=rng.random() < 0.001)  # fmt: skip
    return {c.camera_id: c for c in cams}, registry


def reads(cameras: dict, registry: dict, n: int, seed: int) -> list[PlateRead]:
    rng = random.Random(seed)
    plates = list(registry)
    cam_ids = [c for c in cameras if not c.startswith("SB")]
    t0 = 1_772_578_800.0  # 2026-03-04 08:00 KST, a Wednesday
    out = []
    i = 0
    while len(out) < n:
        ts = t0 + len(out) * (36_000 / n)  # ten hours of traffic
        cam = rng.choice(cam_ids)
        plate = rng.choice(plates) if rng.random() > 0.01 else "garbage"
        conf = rng.uniform(0.6, 1.0)
        out.append(PlateRead(f"r{i}", cam, ts, plate, conf))
        i += 1
        if cam.startswith("SA"):  # its exit read, 90-150 s later (48-80 km/h)
            out.append(PlateRead(f"r{i}", "SB" + cam[2:], ts + rng.uniform(90, 150), plate, conf))
            i += 1
    out.sort(key=lambda r: r.ts)
    return out[:n]


def run(rules: RuleBook, data: list[PlateRead], batch: int, store: CaseStore | None) -> tuple[float, int]:
    state = new_state(rules)
    n_cases = 0
    start = time.perf_counter()
    for i in range(0, len(data), batch):
        state, out = process(state, data[i : i + batch])
        n_cases += len(out.cases)
        if store is not None:
            store.commit(out)
    return time.perf_counter() - start, n_cases


@contextmanager
def postgres():
    """A throwaway PostgreSQL cluster (yields a URL), or None when the binaries are absent."""
    if not (PG_BIN / "initdb").exists():
        yield None
        return
    root = Path(tempfile.mkdtemp(prefix="topis-pg-bench-"))
    as_pg = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    data = root / "data"
    subprocess.run([*as_pg, str(PG_BIN / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
                    "--locale=C.UTF-8"], check=True, capture_output=True)  # fmt: skip
    subprocess.run([*as_pg, str(PG_BIN / "pg_ctl"), "-D", str(data), "-o", f"-p {port} -k {root} "
                    "-c listen_addresses=127.0.0.1", "-l", str(root / "log"), "-w", "start"],
                   check=True, capture_output=True)  # fmt: skip
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*as_pg, str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "fast", "stop"], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


TRUTH_RULES = ("bus_lane", "green_zone", "section_speed", "no_stopping", "watch")


def score(found: list[tuple[str, set[str], bool]], truth: list[tuple[str, set[str], bool]]) -> dict[str, dict[str, int]]:
    """Per rule: cases matching a true violation (share a read), false cases, true violations found and missed.

    ``found``: (rule, read ids, needs_plate_check) of each case or alert; ``truth``: (rule, read ids, misread)
    of each true violation.
    """
    out = {r: dict(tp=0, fp=0, fp_flagged=0, hit=0, miss=0, miss_misread=0, dup=0) for r in TRUTH_RULES}
    truth_reads: dict[str, set[str]] = {r: set() for r in TRUTH_RULES}
    case_of_read: dict[str, dict[str, int]] = {r: {} for r in TRUTH_RULES}
    for rule, reads, _ in truth:
        truth_reads[rule] |= reads
    for k, (rule, reads, flagged) in enumerate(found):
        for x in reads:
            case_of_read[rule][x] = k
        true_case = bool(reads & truth_reads[rule])
        out[rule]["tp" if true_case else "fp"] += 1
        out[rule]["fp_flagged"] += flagged and not true_case
    for rule, reads, misread in truth:
        cases = {case_of_read[rule][x] for x in reads if x in case_of_read[rule]}
        out[rule]["dup"] += max(len(cases) - 1, 0)  # one true violation split over several cases
        if cases:
            out[rule]["hit"] += 1
        else:
            out[rule]["miss"] += 1
            out[rule]["miss_misread"] += misread
    return out


def truth_run(scale: float, hours: float, misread_rate: float, seed: int, volume: float) -> None:
    """Simulate, export, run batch mode and a crashing stream worker, compare with the truth."""
    import datetime as dt

    from click.testing import CliRunner

    from enforcement.cli import enforce
    from topis.city import export as ex
    from topis.city.generate import generate_city
    from topis.sim.simulator import SimConfig, Simulator

    t0 = time.perf_counter()
    city_ = generate_city(seed=seed, scale=scale, year=2026)
    start = dt.datetime(2026, 3, 4, 6, 0, tzinfo=dt.timezone(dt.timedelta(hours=9))).timestamp()  # a Wednesday
    sim = Simulator(city_, seed, start, SimConfig(misread_rate=misread_rate, car_volume_scale=volume))
    steps, violations = [], []
    for _ in range(int(hours * 60)):
        out = sim.step(60.0)
        steps.append(sorted((r for rs in out.reads.values() for r in rs), key=lambda r: r.ts))
        violations += out.violations
    horizon = start + hours * 3600 - 1800  # judge only what started 30 min before the end (stops may be open)
    sim_s = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        ex.write_cameras_csv(city_, d / "CAMERAS.csv")
        ex.write_registry_csv(city_, d / "REGISTRY.csv")
        ex.write_holidays(city_, d / "HOLIDAYS.txt")
        with (d / "READS.csv").open("w", encoding="utf-8") as fh:
            fh.write("read_id,camera_id,ts,plate,confidence\n")
            for r in (r for step in steps for r in step):
                when = dt.datetime.fromtimestamp(r.ts, dt.timezone.utc).isoformat()
                fh.write(f"{r.read_id},{r.camera_id},{when},{r.plate},{r.confidence}\n")
        n_reads = sum(map(len, steps))
        t1 = time.perf_counter()
        result = CliRunner().invoke(enforce, ["--cameras", str(d / "CAMERAS.csv"), "--registry",
                                              str(d / "REGISTRY.csv"), "--reads", str(d / "READS.csv"),
                                              "--holidays", str(d / "HOLIDAYS.txt"), "--out", str(d / "CASES.csv"),
                                              "--alerts-out", str(d / "ALERTS.csv")])  # fmt: skip
        batch_s = time.perf_counter() - t1
        if result.exit_code != 0:
            raise SystemExit(f"enforce failed: {result.output}")
        import csv

        with (d / "CASES.csv").open(encoding="utf-8") as fh:
            cases = [row for row in csv.DictReader(fh)]
        with (d / "ALERTS.csv").open(encoding="utf-8") as fh:
            alerts = [row for row in csv.DictReader(fh)]
        first_ts = {r.read_id: r.ts for step in steps for r in step}
        found = [(c["rule"], set(c["read_ids"].split()), c["needs_plate_check"] == "1") for c in cases
                 if min(first_ts[x] for x in c["read_ids"].split()) < horizon]  # fmt: skip
        found += [("watch", {a["read_id"]}, False) for a in alerts if first_ts[a["read_id"]] < horizon]
        truth = [(v.rule, set(v.read_ids), v.misread) for v in violations if v.ts < horizon]
        table = score(found, truth)
        batch_ids = {c["case_id"] for c in cases}

        # the stream path: one commit per simulated minute, a crash mid-run, redelivery, then a full replay
        from enforcement.inputs import load_cameras, load_registry
        from enforcement.rules import load_holidays

        cams, _ = load_cameras(d / "CAMERAS.csv")
        reg, _ = load_registry(d / "REGISTRY.csv")
        rules = RuleBook(cams, reg, load_holidays(d / "HOLIDAYS.txt"), EnforcementSettings(hmac_key="bench"))
        timed = CaseStore(f"sqlite:///{d / 'timed.sqlite'}")
        stream_s, _ = run(rules, [r for step in steps for r in step], 500, timed)
        timed.close()
        store = CaseStore(f"sqlite:///{d / 'stream.sqlite'}")
        state = new_state(rules)
        crash = len(steps) // 2
        for step in steps[:crash]:
            state, out = process(state, step)
            store.commit(out)
        process(state, steps[crash])  # processed, never committed: the worker dies
        state = store.load_state(rules)
        for step in steps[crash - 10 :] + steps:  # redelivery from 10 messages back, then a full replay
            state, out = process(state, step)
            store.commit(out)
        stream_ids = {c.case_id for c in store.list_cases()}
        stream_found = [(c.rule, {e.read_id for e in store.get_case(c.case_id).evidence}, c.needs_plate_check)
                        for c in store.list_cases() if c.first_ts < horizon]  # fmt: skip
        stream_found += [("watch", {a.read_id}, False) for a in store.alerts() if a.ts < horizon]
        stream_table = score(stream_found, truth)
        counts = store.counts()
        store.close()
        _, once = process(new_state(rules), [r for step in steps for r in step])  # one clean pass, same reads

    print(f"\ndemo city scale {scale}, seed {seed}, {hours:g} h from 06:00 on Wed 2026-03-04, misread rate "
          f"{misread_rate:g}, car volume x{volume:g}: {n_reads:,} reads (simulated in {sim_s:.0f} s)")
    print(f"batch mode: {batch_s:.2f} s = {n_reads / batch_s:,.0f} reads/s (CSV parse + rules + CSV write); "
          f"stream into SQLite, 500 reads a commit: {stream_s:.2f} s = {n_reads / stream_s:,.0f} reads/s")
    for title, tab in (("batch mode (topis enforce)", table), ("stream: crash + redelivery + full replay", stream_table)):
        print(f"\n{title}")
        print(f"{'rule':14} {'cases':>6} {'false':>6} {'precision':>9} {'true':>6} {'found':>6} {'recall':>7} "
              f"{'missed (misread)':>17} {'split':>6} {'false, flagged for plate check':>31}")  # fmt: skip
        for rule, c in tab.items():
            n_found, n_true = c["tp"] + c["fp"], c["hit"] + c["miss"]
            prec = c["tp"] / n_found if n_found else float("nan")
            rec = c["hit"] / n_true if n_true else float("nan")
            print(f"{rule:14} {n_found:6} {c['fp']:6} {prec:9.2%} {n_true:6} {c['hit']:6} {rec:7.2%} "
                  f"{c['miss']:>8} ({c['miss_misread']}) {c['dup']:>8} {c['fp_flagged']:>31}")  # fmt: skip
    print(f"\nstream store: {counts['cases']} case rows; same case ids as one clean pass over the same reads: "
          f"{stream_ids == set(once.cases)}; as batch mode: {stream_ids == batch_ids} (READS.csv has no vehicle "
          "class, so misread buses look like cars there)\n'split' = true violations spread over more than one "
          "case (duplicates)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--truth", action="store_true", help="accuracy against the simulator's ground truth")
    parser.add_argument("--scale", type=float, default=0.5, help="--truth: demo city scale")
    parser.add_argument("--hours", type=float, default=16.0, help="--truth: simulated hours from 06:00")
    parser.add_argument("--misread-rate", type=float, default=0.0, help="--truth: share of misread plates")
    parser.add_argument("--volume", type=float, default=3.0, help="--truth: car volume multiplier")
    parser.add_argument("--reads", type=int, default=100_000)
    parser.add_argument("--plates", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=500, help="reads per Kafka message / store transaction")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    if args.truth:
        truth_run(args.scale, args.hours, args.misread_rate, args.seed, args.volume)
        return

    cameras, registry = city(args.plates, args.seed)
    rules = RuleBook(cameras, registry, settings=EnforcementSettings(hmac_key="bench"))
    data = reads(cameras, registry, args.reads, args.seed)
    rows = []
    seconds, n_cases = run(rules, data, args.batch, None)
    rows.append(("rules only (engine)", seconds, n_cases))
    with tempfile.TemporaryDirectory() as tmp:
        store = CaseStore(f"sqlite:///{Path(tmp) / 'bench.sqlite'}")
        seconds, n_cases = run(rules, data, args.batch, store)
        rows.append(("rules + SQLite file (WAL)", seconds, n_cases))
        seconds_replay, _ = run(rules, data, args.batch, store)
        rows.append(("  replay, same store (all merges)", seconds_replay, store.counts()["cases"]))
        store.close()
    if not args.no_postgres:
        with postgres() as url:
            if url is None:
                rows.append(("rules + PostgreSQL 15: binaries absent", float("nan"), 0))
            else:
                store = CaseStore(url)
                seconds, n_cases = run(rules, data, args.batch, store)
                rows.append(("rules + PostgreSQL 15 (loopback)", seconds, n_cases))
                store.close()

    print(f"\n{args.reads:,} reads, {args.plates:,} plates, {len(cameras)} cameras, batch {args.batch}")
    print(f"{'path':38} {'seconds':>9} {'reads/s':>10} {'case records':>12}")
    for name, sec, n in rows:
        rate = args.reads / sec if sec == sec and sec > 0 else float("nan")
        print(f"{name:38} {sec:9.2f} {rate:10,.0f} {n:12,}")


if __name__ == "__main__":
    main()

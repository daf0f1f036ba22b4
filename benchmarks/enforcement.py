"""Reads/s through the enforcement rules, alone and into the case store (SQLite file, PostgreSQL).

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

from enforcement.engine import RuleBook, new_state, process
from enforcement.rules import Camera, Vehicle
from enforcement.settings import EnforcementSettings
from enforcement.store import CaseStore
from topis.wire import PlateRead

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reads", type=int, default=100_000)
    parser.add_argument("--plates", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=500, help="reads per Kafka message / store transaction")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()

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
    print(f"{'path':38} {'seconds':>9} {'reads/s':>10} {'cases':>8}")
    for name, sec, n in rows:
        rate = args.reads / sec if sec == sec and sec > 0 else float("nan")
        print(f"{name:38} {sec:9.2f} {rate:10,.0f} {n:8,}")


if __name__ == "__main__":
    main()

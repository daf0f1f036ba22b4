"""Fuzzed input against a live worker: what is dead-lettered, what is used, whether anything crashes, how fast.

One run on the embedded broker:

1. the demo city is simulated and its batches (positions and taps by route,
   reads by rule zone) are the valid messages; :mod:`topis.fuzz` turns each
   into a fuzzed one (seeded): ~40 % valid, ~30 % with bad rows, ~22 % broken
   whole (garbage, truncated, empty, NaN/1e400, wrong types, unknown schema
   versions, a bad key, oversize; three 5 MB values per topic), ~8 % random
   byte mutations; and two valid batches per topic just under the size limit
   (their outputs must not crash the agents either);
2. a worker process (live, bus, demand, traffic and enforcement agents) joins,
   then ``--messages`` fuzzed messages are published across the three input
   topics, never more than ``--max-lag`` ahead of the worker (a feed's pace;
   a 100,000-message burst on a busy 2-core machine made the stall guard
   re-read partitions and hit aiokafka's KeyError, PLATFORM_NOTES.md), and the
   worker's committed offsets are polled until it has taken in every one
   (throughput = messages / (publish + drain)); the valid batches are reused
   in turn, their event times moved on each time round;
3. ``--baseline`` valid messages (default 10,000) are timed first on the same
   worker, for the ratio; the valid batches just under the size limit are
   sent last and timed apart;
4. the ``deadletter`` topic is read back and each letter matched to its
   message by partition and offset, against what the edge must make of it
   (:meth:`topis.fuzz.Fuzzed.expected`).

Per topic it prints: sent, accepted whole, dead-lettered (whole / rows), the
share dead-lettered, letters that do not match the oracle (missing or wrong,
duplicated, for no message), processing errors, outputs too large to send
(``output_too_large``: their input dead-lettered), the enforcement engine's
letters (reads it cannot use), the rejections by reason; whether the worker
is alive and how many agent crashes its log shows; throughput.

    .venv/bin/python -m benchmarks.fuzz --messages 100000

Measured (2 CPUs shared with another test run, demo city scale 1.0, seed 1,
commit 9da7ac3): 100,006 messages (54,111 positions, 32,128 taps, 13,767
reads; 39,873 sent valid), 59,240 dead-lettered (59.2 %: 29,213 whole, 30,027
with bad rows), 40,766 accepted whole; 0 missing, wrong, duplicate or
unexpected letters; 0 processing errors; 2 outputs too large (the big valid
batches' predictions); 40 letters of the enforcement engine; worker alive, 0
agent crashes. 94 messages/s fuzzed against 76 messages/s for the valid
baseline in the same run (the whole worker: matching, demand, enforcement).
    .venv/bin/python -m benchmarks.fuzz --messages 3000 --baseline 0 --scale 0.5 --steps 20    # quick
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from pathlib import Path

from topis import fuzz, topics
from topis.broker import group_lag, running_broker, wait_until_committed
from topis.schemas import validation as v
from topis.settings import BrokerSettings, CitySettings, SimSettings, StreamSettings

CITY_SEED = 7
INPUTS = (topics.BUS_POSITIONS, topics.CARD_TAPS, topics.PLATE_READS)
FIVE_MB_PER_TOPIC = 3
BIG_VALID_PER_TOPIC = 2


def valid_batches(scale: float, steps: int) -> list[tuple[topics.TopicSpec, str, object]]:
    """``(topic, key, batch)`` of every message the simulated city sends in ``steps`` steps of 5 s."""
    from topis.city.generate import generate_city
    from topis.schemas.inputs import PositionBatch, ReadBatch, TapBatch
    from topis.sim.feeder import KST, reads_by_key, start_ts
    from topis.sim.simulator import Simulator

    city = generate_city(seed=CITY_SEED, scale=scale)
    # the last weekday's morning peak (the same traffic every run of a day; never ahead of the messages' time)
    day = dt.datetime.now(KST).date() - dt.timedelta(days=1)
    while day.weekday() >= 5:
        day -= dt.timedelta(days=1)
    sim = Simulator(city, seed=1, start_ts=start_ts(SimSettings(start_time="08:00"), today=day))
    section_of = {c.camera_id: c.section_id for c in city.cameras}
    out = []
    for _ in range(steps):
        step = sim.step(5.0)
        out += [(topics.BUS_POSITIONS, k, PositionBatch(list(e))) for k, e in step.positions.items() if e]
        out += [(topics.CARD_TAPS, k, TapBatch(list(e))) for k, e in step.taps.items() if e]
        out += [(topics.PLATE_READS, k, ReadBatch(list(e))) for k, e in reads_by_key(step.reads, section_of).items() if e]
    return out


def in_turn(batches, n: int, steps: int):
    """``n`` of the valid batches taken in turn; each time round, their events moved on by the simulated span
    (so that event time keeps going forward, as a live feed's does)."""
    span = steps * 5.0
    for i in range(n):
        spec, key, batch = batches[i % len(batches)]
        turn = i // len(batches)
        if turn:
            batch = type(batch)([fuzz.replace_field(e, "ts", e.ts + turn * span) for e in batch.events])
        yield spec, key, batch


def fuzzed(batches, n: int, steps: int, seed: int, now_ts: float) -> list[fuzz.Fuzzed]:
    """``n`` fuzzed messages from the valid batches taken in turn, with three 5 MB values per topic among them."""
    fuzzer = fuzz.Fuzzer(random.Random(seed), now_ts)
    out = [fuzzer.draw(spec, key, batch) for spec, key, batch in in_turn(batches, n, steps)]
    for spec in INPUTS:
        mine = [b for b in batches if b[0] is spec]
        for k in range(FIVE_MB_PER_TOPIC):
            _, key, batch = mine[k]
            out[(k + 1) * n // (FIVE_MB_PER_TOPIC + 1) + INPUTS.index(spec)] = fuzzer.whole(spec, key, batch, "five_mb")
    return out


def big_valid(batches, seed: int, now_ts: float) -> list[fuzz.Fuzzed]:
    """Valid batches just under the size limit, a few per topic (sent last: a route given thousands of invented
    buses stays slow to match for as long as they are remembered)."""
    fuzzer = fuzz.Fuzzer(random.Random(seed), now_ts)
    return [fuzzer.big(spec, key, batch) for spec in INPUTS
            for _, key, batch in [b for b in batches if b[0] is spec][:BIG_VALID_PER_TOPIC]]


def publish(servers, messages: list[fuzz.Fuzzed], end: dict, admin=None, group: str = "", max_lag: int = 0,
            chunk: int = 500) -> tuple[list, float]:
    """Send every message; ``[(message, partition, offset, ts_s)]`` and the seconds it took. Updates ``end``.

    With ``max_lag``, each ``chunk`` waits until ``group`` is at most that many
    messages behind: a feed's pace, not a burst the size of the whole run.
    """
    from kafka import KafkaProducer, TopicPartition

    t0 = time.perf_counter()
    producer = KafkaProducer(bootstrap_servers=servers, linger_ms=10, max_request_size=8 * 2**20,
                             batch_size=256 * 1024)
    sent = []
    for start in range(0, len(messages), chunk):
        while max_lag and group_lag(admin, group, end) > max_lag:
            time.sleep(0.2)
        futures = [(m, producer.send(m.topic, key=m.key, value=m.value)) for m in messages[start:start + chunk]]
        producer.flush(timeout=600)
        for m, f in futures:
            meta = f.get(60)
            sent.append((m, meta.partition, meta.offset, meta.timestamp / 1000.0))
            tp = TopicPartition(m.topic, meta.partition)
            end[tp] = max(end.get(tp, 0), meta.offset + 1)
    producer.close()
    return sent, time.perf_counter() - t0


def read_letters(servers, at_least: int, deadline_s: float) -> list[dict]:
    """Every letter on ``deadletter``, waiting until ``at_least`` are in (or the deadline)."""
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(topics.DEAD_LETTERS.name, bootstrap_servers=servers, auto_offset_reset="earliest",
                             group_id=None, fetch_max_wait_ms=100, max_partition_fetch_bytes=16 * 2**20)
    letters, quiet_since, deadline = [], time.monotonic(), time.monotonic() + deadline_s
    try:
        while time.monotonic() < deadline:
            polled = consumer.poll(timeout_ms=500)
            got = [json.loads(r.value) for batch in polled.values() for r in batch]
            letters += got
            quiet_since = time.monotonic() if got else quiet_since
            if len(letters) >= at_least and time.monotonic() - quiet_since > 3:
                break
    finally:
        consumer.close()
    return letters


#: the first mismatches found by :func:`tally`, printed after the table
MISMATCHES: list[tuple] = []


def tally(sent, letters: list[dict], limits: v.Limits) -> dict[str, dict]:
    """Per topic: the counts of the table, matching each edge letter to its message."""
    edge: dict[tuple, list[dict]] = defaultdict(list)
    rows = {spec.name: Counter() for spec in INPUTS}
    for letter in letters:
        if letter["topic"] in rows and "read_id" not in letter:  # the enforcement engine's letters carry the read
            edge[(letter["topic"], letter.get("partition"), letter.get("offset"))].append(letter)
    engine_letters = Counter(d["topic"] for d in letters if "read_id" in d)
    for spec in INPUTS:
        rows[spec.name]["engine letters"] = engine_letters[spec.name]
    reasons = {spec.name: Counter() for spec in INPUTS}
    for made, partition, offset, ts in sent:
        t = rows[made.topic]
        mine = edge.pop((made.topic, partition, offset), [])
        got = [d for d in mine if d["reason"] not in (v.PROCESSING_ERROR, v.OUTPUT_TOO_LARGE)]
        errors = [d for d in mine if d["reason"] == v.PROCESSING_ERROR]
        t["outputs too large"] += sum(d["reason"] == v.OUTPUT_TOO_LARGE for d in mine)
        want = made.expected(limits, ts)
        t["sent"] += 1
        t["sent valid"] += made.case == "valid"
        t["events sent"] += made.rows
        t["processing errors"] += len(errors)
        if not want.rejected:
            t["accepted whole"] += 1
            t["unexpected letters"] += len(got)
            continue
        t["dead-lettered"] += 1
        t["whole" if want.reason else "rows"] += 1
        want_reason = want.reason or want.rows[0].reason
        for r in [want.reason] if want.reason else [r.reason for r in want.rows]:
            reasons[made.topic][r] += 1
        t["duplicate letters"] += max(len(got) - 1, 0)
        if not got or got[0]["reason"] != want_reason or (made.known and want_reason != made.reason):
            t["missing or wrong letters"] += 1
            if len(MISMATCHES) < 10:
                MISMATCHES.append((made.topic, partition, offset, made.case, made.reason, want_reason,
                                   [d["reason"] for d in got]))
    for (topic_name, _, _), extra in edge.items():  # letters matching no message sent
        rows[topic_name]["processing errors"] += sum(d["reason"] == v.PROCESSING_ERROR for d in extra)
        rows[topic_name]["outputs too large"] += sum(d["reason"] == v.OUTPUT_TOO_LARGE for d in extra)
        rows[topic_name]["unexpected letters"] += sum(d["reason"] not in (v.PROCESSING_ERROR, v.OUTPUT_TOO_LARGE)
                                                      for d in extra)
    for spec in INPUTS:
        rows[spec.name]["reasons"] = reasons[spec.name]
    return rows


def run_worker(env: dict, log_path: Path) -> subprocess.Popen:
    with log_path.open("ab") as log:
        return subprocess.Popen([sys.executable, "-m", "topis", "worker"], env=env, stdout=log,
                                stderr=subprocess.STDOUT)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=100_000, help="fuzzed messages to send (all topics)")
    parser.add_argument("--scale", type=float, default=1.0, help="demo city scale (its batches are the valid ones)")
    parser.add_argument("--steps", type=int, default=120, help="5-s simulator steps of valid batches, reused in turn")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--baseline", type=int, default=10_000,
                        help="valid messages timed first on the same worker, for the ratio (0: none)")
    parser.add_argument("--planning", action="store_true", help="also run the live planners in the worker")
    parser.add_argument("--max-lag", type=int, default=2000,
                        help="publish no further ahead of the worker than this many messages (0: all at once)")
    args = parser.parse_args()

    t0 = time.perf_counter()
    batches = valid_batches(args.scale, args.steps)
    now = time.time()
    valid = [fuzz.Fuzzer(random.Random(0), now).valid(spec, key, b)
             for spec, key, b in in_turn(batches, args.baseline, args.steps)]
    later = batches  # the fuzzed messages follow the baseline's in event time
    if valid:
        shift = (len(valid) // len(batches) + 1) * args.steps * 5.0
        later = [(spec, key, type(b)([fuzz.replace_field(e, "ts", e.ts + shift) for e in b.events]))
                 for spec, key, b in batches]
    messages = fuzzed(later, args.messages, args.steps, args.seed, now)
    big = big_valid(later, args.seed, now)
    print(f"{len(batches):,} valid batches from the simulated city (scale {args.scale}), {args.messages:,} fuzzed "
          f"messages made in {time.perf_counter() - t0:.1f} s", flush=True)

    data_dir = Path(tempfile.mkdtemp(prefix="topis-fuzz-"))
    group = f"fuzz-{uuid.uuid4().hex[:8]}"
    streams = StreamSettings(app_id=group, data_dir=data_dir)
    city = CitySettings(seed=CITY_SEED, scale=args.scale)
    from kafka import KafkaAdminClient

    from streams.bus.network import network_feed
    from streams.worker import input_limits

    limits = input_limits(streams, network_feed(streams, city))  # the worker's own (its feed is cached in data_dir)
    log_path = data_dir / "worker.log"
    with running_broker(BrokerSettings(url="embedded"), log_path=data_dir / "broker.log") as broker:
        servers = broker.bootstrap_servers
        env = {**os.environ, "TOPIS_BROKER": broker.url, "TOPIS_STREAMS_APP_ID": group,
               "TOPIS_STREAMS_DATA_DIR": str(data_dir), "TOPIS_CITY_SEED": str(CITY_SEED),
               "TOPIS_CITY_SCALE": str(args.scale), "TOPIS_STREAMS_PLANNING": str(args.planning).lower()}
        worker = run_worker(env, log_path)
        admin = KafkaAdminClient(bootstrap_servers=servers)
        end: dict = {}
        timings = {}
        try:
            warm = [fuzz.Fuzzer(random.Random(0), now).valid(spec, key, b) for spec, key, b in batches[:200]]
            publish(servers, warm, end)  # warm-up: group joined, feed loaded, tables ready
            wait_until_committed(admin, group, end, timeout_s=600, consumer_process=worker)
            runs = [("valid", valid)] if valid else []
            sent = []
            for name, batch in runs + [("fuzzed", messages), ("big valid", big)]:
                done, pub_s = publish(servers, batch, end, admin, group, args.max_lag)
                drain_s = pub_s + wait_until_committed(admin, group, end, timeout_s=7200, consumer_process=worker)
                timings[name] = (len(batch), drain_s)
                sent += done if name != "valid" else []
                print(f"{name}: {len(batch):,} messages in {drain_s:.1f} s (publish {pub_s:.1f} s + drain)", flush=True)
            at_least = sum(1 for m, _, _, ts in sent if m.expected(limits, ts).rejected)
            letters = read_letters(servers, at_least, deadline_s=300)
            alive = worker.poll() is None
        finally:
            worker.terminate()
            worker.wait(60)
            admin.close()
    crashes = log_path.read_text(errors="replace").count("Crashed reason=")
    report(tally(sent, letters, limits), timings, alive, crashes, args)


def report(rows: dict, timings: dict, alive: bool, crashes: int, args) -> None:
    n, fuzz_s = timings["fuzzed"]
    print(f"\nfuzz benchmark: {args.messages:,} messages, seed {args.seed}, demo city scale {args.scale}, "
          f"{os.cpu_count()} CPUs\n")
    names = [spec.name for spec in INPUTS]
    fields = ["sent", "sent valid", "accepted whole", "dead-lettered", "whole", "rows", "missing or wrong letters",
              "duplicate letters", "unexpected letters", "processing errors", "outputs too large", "engine letters"]
    width = max(len(f) for f in fields) + 2
    print(f"{'':<{width}}" + "".join(f"{name:>16}" for name in names) + f"{'all':>12}")
    for f in fields:
        values = [rows[name][f] for name in names]
        print(f"{f:<{width}}" + "".join(f"{x:>16,}" for x in values) + f"{sum(values):>12,}")
    shares = [rows[name]["dead-lettered"] / max(rows[name]["sent"], 1) for name in names]
    total_share = sum(rows[name]["dead-lettered"] for name in names) / max(sum(rows[name]["sent"] for name in names), 1)
    print(f"{'share dead-lettered':<{width}}" + "".join(f"{s:>15.1%} " for s in shares) + f"{total_share:>11.1%}")
    print("\nrejections by reason (a whole message 1, each bad row 1):")
    for name in names:
        top = ", ".join(f"{r} {c:,}" for r, c in rows[name]["reasons"].most_common())
        print(f"  {name}: {top}")
    for m in MISMATCHES:
        print("  mismatch: %s[%d]@%d case %s, fuzzer says %s, edge says %s, letters %s" % m)
    events = sum(rows[name]["events sent"] for name in names)
    print(f"\nworker alive after the run: {'yes' if alive else 'NO'}; agent crashes in its log: {crashes}")
    print(f"throughput, fuzzed: {n / fuzz_s:,.0f} messages/s ({events / fuzz_s:,.0f} events/s; publish + drain)")
    if "valid" in timings:
        n_valid, valid_s = timings["valid"]
        print(f"throughput, valid baseline: {n_valid / valid_s:,.0f} messages/s  "
              f"(fuzzed / valid = {(n / fuzz_s) / (n_valid / valid_s):.2f})")
    n_big, big_s = timings["big valid"]
    print(f"big valid batches (just under the size limit, sent last): {n_big} in {big_s:.1f} s")


if __name__ == "__main__":
    main()

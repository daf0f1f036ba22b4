"""Bad input through the real broker and a worker process: each bad message one dead letter, each good row used.

A few hundred fuzzed messages (:mod:`topis.fuzz`: valid batches, batches with
bad rows, every whole-message fault including a 5 MB value, random byte
mutations) go to the three input topics of a worker running the live, bus,
demand and traffic agents. Then:

* the worker is still alive, no agent crashed, and it committed every message;
* every message with something bad has exactly one letter on ``deadletter``, at
  its partition and offset, with the reason the fuzzer named (random mutations:
  the edge's own verdict) and, for batches, the rows left out;
* no valid message has a letter;
* the read model equals the good rows folded by the live state's pure
  functions (latest positions per route, taps and reads per minute), and the
  ``rejected`` counters add up to the letters per topic.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
import uuid
from collections import Counter

import pytest

from streams.live import state as livestate
from topis import fuzz, topics
from topis.schemas import validation as v

pytestmark = pytest.mark.integration

CITY_SEED, CITY_SCALE = 3, 0.5
PER_TOPIC = 110
INPUTS = (topics.BUS_POSITIONS, topics.CARD_TAPS, topics.PLATE_READS)


def fuzzed_messages(now_ts: float) -> list[fuzz.Fuzzed]:
    rng = random.Random(2026)
    fuzzer = fuzz.Fuzzer(rng, now_ts)
    out = []
    for n in range(PER_TOPIC):
        for spec in INPUTS:
            key = f"F{n % 4}" if spec is not topics.PLATE_READS else f"camF{n % 4}"
            if spec is topics.BUS_POSITIONS:
                batch = fuzz.positions(rng, key, [f"{key}-m{n}-v{i}" for i in range(rng.randint(1, 5))], now_ts)
            elif spec is topics.CARD_TAPS:
                batch = fuzz.taps(rng, key, rng.randint(1, 5), now_ts)
            else:
                batch = fuzz.reads(rng, key, rng.randint(1, 5), now_ts)
            made = fuzzer.whole(spec, key, batch, "five_mb") if n == 7 else fuzzer.draw(spec, key, batch)
            out.append(made)
    return out


def send(servers, messages) -> list[tuple[fuzz.Fuzzed, int, int, float]]:
    """Send in order; ``(message, partition, offset, kafka timestamp s)`` of each."""
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=servers, linger_ms=5, max_request_size=8 * 2**20)
    futures = [(m, producer.send(m.topic, key=m.key, value=m.value)) for m in messages]
    producer.flush()
    sent = [(m, f.get(30).partition, f.get(30).offset, f.get(30).timestamp / 1000.0) for m, f in futures]
    producer.close()
    return sent


def consume(servers, names, until, deadline_s: float) -> list:
    """Records of ``names`` from the beginning, until ``until(records)`` or the deadline."""
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(*names, bootstrap_servers=servers, auto_offset_reset="earliest", group_id=None,
                             fetch_max_wait_ms=100, max_partition_fetch_bytes=16 * 2**20)
    records, deadline = [], time.monotonic() + deadline_s
    try:
        while time.monotonic() < deadline and not until(records):
            for batch in consumer.poll(timeout_ms=300).values():
                records.extend(batch)
    finally:
        consumer.close()
    return records


def expected_state(sent, limits) -> tuple[dict, dict, dict, dict]:
    """What the edge must make of each message, and the live state its kept rows fold into."""
    verdicts, vehicles, taps, reads = {}, {}, {}, {}
    for made, partition, offset, ts in sent:
        checked = made.expected(limits, ts)
        verdicts[(made.topic, partition, offset)] = (made, checked)
        if checked.batch is None:
            continue
        key = made.key.decode()
        if made.topic == topics.BUS_POSITIONS.name:
            vehicles[key] = livestate.track(vehicles.get(key), checked.batch.events, 0.0, 600.0)
        else:
            table, by = (taps, lambda t: t.route_id) if made.topic == topics.CARD_TAPS.name else \
                (reads, lambda r: r.camera_id)
            table.update(livestate.count_batch(table, checked.batch.events, by, partition, offset, 0.0))
    return verdicts, vehicles, taps, reads


def test_every_bad_message_is_dead_lettered_once_and_every_good_row_used(fresh_broker, tmp_path):
    from kafka import KafkaAdminClient

    from streams.bus.network import network_feed
    from streams.worker import input_limits
    from topis.broker import acked_end_offsets, wait_until_committed
    from topis.settings import CitySettings, StreamSettings

    streams = StreamSettings(data_dir=tmp_path, app_id=f"test-dl-{uuid.uuid4().hex[:8]}")
    limits = input_limits(streams, network_feed(streams, CitySettings(seed=CITY_SEED, scale=CITY_SCALE)))
    env = {**os.environ, "TOPIS_BROKER": fresh_broker.url, "TOPIS_STREAMS_APP_ID": streams.app_id,
           "TOPIS_STREAMS_DATA_DIR": str(tmp_path), "TOPIS_CITY_SEED": str(CITY_SEED),
           "TOPIS_CITY_SCALE": str(CITY_SCALE), "TOPIS_STREAMS_PLANNING": "false", "TOPIS_STREAMS_ENFORCEMENT": "false"}
    log_path = tmp_path / "worker.log"
    with log_path.open("wb") as log:
        worker = subprocess.Popen([sys.executable, "-m", "topis", "worker"], env=env, stdout=log,
                                  stderr=subprocess.STDOUT)
    admin = KafkaAdminClient(bootstrap_servers=fresh_broker.bootstrap_servers)
    try:
        sent = send(fresh_broker.bootstrap_servers, fuzzed_messages(time.time()))
        end = acked_end_offsets([type("Ack", (), dict(topic=m.topic, partition=p, offset=o))() for m, p, o, _ in sent])
        wait_until_committed(admin, streams.app_id, end, timeout_s=150, consumer_process=worker)
        verdicts, vehicles, taps, reads = expected_state(sent, limits)
        bad = {where for where, (_, checked) in verdicts.items() if checked.rejected}
        letters = [json.loads(r.value) for r in consume(
            fresh_broker.bootstrap_servers, [topics.DEAD_LETTERS.name],
            lambda rs: len(rs) >= len(bad), deadline_s=30)]
        state = consume(fresh_broker.bootstrap_servers, [topics.STATE_VEHICLES.name, topics.STATE_COUNTERS.name],
                        lambda rs: False, deadline_s=4)  # a few snapshot rounds after the last commit
        assert worker.poll() is None, "the worker died"
    finally:
        worker.terminate()
        worker.wait(30)
        admin.close()
    log_text = log_path.read_text(errors="replace")
    assert "Crashed" not in log_text and "processing_error" not in log_text

    # each bad message: one letter, where it is, with its reason (and rows); no letter for a good one
    by_place = Counter((d["topic"], d["partition"], d["offset"]) for d in letters)
    assert set(by_place) == bad and set(by_place.values()) == {1}
    for letter in letters:
        made, checked = verdicts[(letter["topic"], letter["partition"], letter["offset"])]
        want = checked.reason or checked.rows[0].reason
        assert letter["reason"] == want and (not made.known or want == made.reason), (made.case, letter)
        assert [r["index"] for r in letter.get("rows", [])] == [r.index for r in checked.rows][: len(letter.get("rows", []))]
        assert letter["key"] and len(letter.get("value", "")) <= 1024
    cases = Counter(verdicts[w][0].case for w in bad)
    assert cases["rows"] > 30 and cases["five_mb"] == 3 and sum(c in fuzz.WHOLE for c in cases) >= 12

    # every good row reached the live state; the rejected counters add up to the letters
    snaps = [s for r in state for s in json.loads(r.value)["snapshots"]]
    published_vehicles = {s["route_id"]: s for s in snaps if "vehicles" in s and s["route_id"] in vehicles}
    assert {k: {p["vehicle_id"]: p["ts"] for p in s["vehicles"]} for k, s in published_vehicles.items()} == {
        k: {vid: p["ts"] for vid, p in e["vehicles"].items()} for k, e in vehicles.items()}
    counters = {(s["kind"], s["key"]): s for s in snaps if "kind" in s}
    assert {k: s["per_minute"] for (kind, k), s in counters.items() if kind == "taps"} == {
        k: e["per_minute"] for k, e in taps.items()}
    assert {k: s["per_minute"] for (kind, k), s in counters.items() if kind == "reads"} == {
        k: e["per_minute"] for k, e in reads.items()}
    rejected = Counter()
    for (kind, _), s in counters.items():
        if kind == "rejected":
            rejected[s["source"]] += s["dead_letters"]
    assert rejected == Counter(d["topic"] for d in letters)
    assert set(rejected) == {spec.name for spec in INPUTS}
    assert all(r in v.REASONS for d in letters for r in [d["reason"]])

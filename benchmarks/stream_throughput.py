"""Simulator and stream-worker throughput at a given city scale (default: Seoul, 18.5).

Measures, in one run on the embedded broker:

1. city generation time;
2. simulator events/s (pure stepping, no I/O), and how many simulated seconds
   it runs per real second — above 1 means it keeps up with real time;
3. publishing events/s and messages/s (kafka-python producer);
4. a Faust worker process's sustained events/s: a warm-up is consumed first,
   then the whole recorded load (buses, card taps, plate reads, taxi probes)
   is published and the worker's committed offsets are polled until they reach
   the end of every partition — printed as ``total NNNNN events/s``;
5. the raw limit in the same run: one bare consumer reading the same input
   messages from the broker and decoding each with the wire codec (no agents),
   and the worker's rate as a share of it.

    .venv/bin/python -m benchmarks.stream_throughput [--scale 18.5] [--sim-seconds 300] [--workers 1]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid

from topis import topics
from topis.broker import acked_end_offsets, group_lag, running_broker
from topis.publish import Publisher
from topis.settings import BrokerSettings, SimSettings
from topis.sim.feeder import start_ts

CITY_SEED = 7
INPUTS = (topics.BUS_POSITIONS.name, topics.CARD_TAPS.name, topics.PLATE_READS.name, topics.TAXI_POSITIONS.name)


def simulate(scale: float, sim_seconds: float, step_s: float = 5.0):
    from topis.city.generate import generate_city
    from topis.sim.simulator import Simulator

    t0 = time.perf_counter()
    city = generate_city(seed=CITY_SEED, scale=scale)
    gen_s = time.perf_counter() - t0
    sim = Simulator(city, seed=1, start_ts=start_ts(SimSettings(start_date="2026-11-24", start_time="08:00")))
    t1 = time.perf_counter()
    outputs = [sim.step(step_s) for _ in range(int(sim_seconds / step_s))]
    step_wall_s = time.perf_counter() - t1
    return city, gen_s, outputs, step_wall_s


def publish(servers, outputs, end: dict, section_of: dict) -> tuple[int, int, float]:
    """Publish every step's batches; record the next offset of each partition in ``end``."""
    from topis.sim.feeder import reads_by_key

    t0 = time.perf_counter()
    with Publisher(servers) as pub:
        pub.keep_acks = True
        for out in outputs:
            pub.send(topics.BUS_POSITIONS.name, out.positions)
            pub.send(topics.CARD_TAPS.name, out.taps)
            pub.send(topics.PLATE_READS.name, reads_by_key(out.reads, section_of))
            pub.send_batches(topics.TAXI_POSITIONS.name, out.taxis)
        pub.flush()
        for tp, offset in acked_end_offsets(pub.acked()).items():
            end[tp] = max(end.get(tp, 0), offset)
    return pub.messages_sent, pub.events_sent, time.perf_counter() - t0


def raw_limit(servers: list[str], at_least: int) -> tuple[int, int, float]:
    """(events, messages, seconds): one kafka-python consumer reading every input message and decoding it."""
    from kafka import KafkaConsumer, TopicPartition

    from topis import wire
    from topis.recycle import read_to_end

    kinds = {name: topics.by_name(name).value for name in INPUTS}
    consumer = KafkaConsumer(bootstrap_servers=servers, group_id=None, enable_auto_commit=False, check_crcs=False,
                             fetch_max_wait_ms=100, max_partition_fetch_bytes=16 << 20)
    try:
        start = {TopicPartition(t, p): 0 for t in INPUTS for p in consumer.partitions_for_topic(t) or ()}
        t0, events, msgs = time.perf_counter(), 0, 0
        for tp, record in read_to_end(consumer, start, idle_polls=2):
            batch = wire.decode(record.value, kinds[tp.topic])
            events += len(batch) if tp.topic == topics.TAXI_POSITIONS.name else len(batch.events)
            msgs += 1
        seconds = time.perf_counter() - t0 - 0.6  # less the idle polls that find the end
        assert msgs >= at_least, f"read {msgs} of at least {at_least} messages"
        return events, msgs, seconds
    finally:
        consumer.close()


def _drain(admin, group: str, end: dict, workers: list, logs: list, timeout_s: float = 900.0) -> float:
    """Seconds until the workers' group has committed ``end``; a worker that exits first fails the run,
    with the last lines of its log."""
    t0 = time.monotonic()
    while group_lag(admin, group, end):
        dead = [i for i, w in enumerate(workers) if w.poll() is not None]
        if dead:
            with open(logs[dead[0]].name) as f:
                tail = "".join(f.readlines()[-30:])
            raise ChildProcessError(f"worker {dead[0]} exited with code {workers[dead[0]].returncode}:\n{tail}")
        if time.monotonic() - t0 > timeout_s:
            raise TimeoutError(f"{group} still behind by {group_lag(admin, group, end)} messages after {timeout_s:.0f} s")
        time.sleep(0.25)
    return time.monotonic() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=18.5)
    parser.add_argument("--sim-seconds", type=float, default=300.0)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()

    city, gen_s, outputs, step_wall_s = simulate(args.scale, args.sim_seconds)
    n_events = sum(len(v) for o in outputs for d in (o.positions, o.taps, o.reads, o.taxis) for v in d.values())
    rows = [("city generation", f"{gen_s:.1f} s", f"{len(city.routes)} routes, {city.fleet_size} buses, "
             f"{len(city.stops)} stops, {len(city.cameras)} cameras"),
            ("simulator (no I/O)", f"{n_events / step_wall_s:,.0f} events/s",
             f"{args.sim_seconds / step_wall_s:.1f} simulated s per real s")]

    from kafka import KafkaAdminClient

    with running_broker(BrokerSettings(url="embedded")) as broker:
        servers = broker.bootstrap_servers
        group = f"bench-{uuid.uuid4().hex[:8]}"
        # the workers match buses against the same demo city (its GTFS export is cached in .topis/)
        env = {**os.environ, "TOPIS_BROKER": broker.url, "TOPIS_STREAMS_APP_ID": group,
               "TOPIS_CITY_SEED": str(CITY_SEED), "TOPIS_CITY_SCALE": str(args.scale)}
        logs = [tempfile.NamedTemporaryFile("w+", prefix=f"topis-bench-worker-{i}-", suffix=".log", delete=False)
                for i in range(args.workers)]
        workers = [subprocess.Popen([sys.executable, "-m", "topis", "worker"], env=env, stdout=log, stderr=log)
                   for log in logs]
        admin = KafkaAdminClient(bootstrap_servers=servers)
        end: dict = {}
        section_of = {c.camera_id: c.section_id for c in city.cameras}
        try:
            publish(servers, outputs[:2], end, section_of)  # warm-up: group joined, feed loaded, tables ready
            _drain(admin, group, end, workers, logs)
            msgs, events, pub_s = publish(servers, outputs, end, section_of)
            rows.append(("publish (kafka-python)", f"{events / pub_s:,.0f} events/s", f"{msgs / pub_s:,.0f} messages/s"))
            drain_s = pub_s + _drain(admin, group, end, workers, logs)
            rows.append((f"Faust worker x{args.workers}", f"{events / drain_s:,.0f} events/s",
                         f"{msgs / drain_s:,.0f} messages/s; {events:,} events in {drain_s:.1f} s "
                         f"(publish + drain; offsets committed every 2.8 s)"))
            for w in workers:
                w.terminate()
            raw_events, raw_msgs, raw_s = raw_limit(servers, msgs)
            rows.append(("raw limit: bare consumer + decode", f"{raw_events / raw_s:,.0f} events/s",
                         f"{raw_msgs / raw_s:,.0f} messages/s; worker = {events / drain_s / (raw_events / raw_s):.1%} "
                         f"of it"))
            total = f"total {events / drain_s:,.0f} events/s".replace(",", "")
        finally:
            for w in workers:
                w.terminate()
                w.wait(30)
            admin.close()

    print(f"\nstream throughput, scale {args.scale}, {args.sim_seconds:.0f} simulated s, {os.cpu_count()} CPUs\n")
    width = max(len(r[0]) for r in rows)
    for name, rate, note in rows:
        print(f"  {name:<{width}}  {rate:>20}  {note}")
    print(f"\n{total}")


if __name__ == "__main__":
    main()

"""What a client costs the embedded broker, by what the fetched partition already holds.

Starts a fresh Tansu, fills one partition with ``--records`` records either as
one-record batches (a producer that does not linger) or as large batches, and
after each step measures the broker's CPU share while a producer sends
200 records/s to the partition and a consumer tails it (fetch wait 100 ms).
The first step (nothing held) is the baseline of the same run.

    .venv/bin/python -m benchmarks.broker_costs
    .venv/bin/python -m benchmarks.broker_costs --records 0 20000 60000 --seconds 8

Measured on the 2-core box (nothing else running): one-record batches 1 % ->
12 % (20,000) -> 33 % (60,000) of a core; large batches 1.2 % -> 1.5 % at
900,000 records. An idle tail (no new data) costs the same at any size.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import psutil

from topis.broker import free_port, start_tansu, stop_process, wait_until_answers

TOPIC = "held"


def cpu_share(proc: psutil.Process, run, seconds: float) -> float:
    """The broker's CPU share (1.0 = a core) while ``run(seconds)`` runs."""
    before, t0 = proc.cpu_times(), time.monotonic()
    run(seconds)
    after = proc.cpu_times()
    return (after.user + after.system - before.user - before.system) / (time.monotonic() - t0)


def tail_while_producing(servers: list[str], seconds: float) -> None:
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition

    producer = KafkaProducer(bootstrap_servers=servers, linger_ms=0)
    consumer = KafkaConsumer(bootstrap_servers=servers, group_id=None, fetch_max_wait_ms=100)
    tp = TopicPartition(TOPIC, 0)
    consumer.assign([tp])
    consumer.seek_to_end()
    consumer.poll(timeout_ms=300)
    stop = time.monotonic() + seconds
    while time.monotonic() < stop:
        for _ in range(20):
            producer.send(TOPIC, b"z" * 200)
        consumer.poll(timeout_ms=50)
        time.sleep(0.1)
    producer.flush()
    producer.close()
    consumer.close()


def fill(servers: list[str], n: int, one_per_batch: bool) -> None:
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=servers, linger_ms=0 if one_per_batch else 50, batch_size=1 << 20,
                             max_in_flight_requests_per_connection=1 if one_per_batch else 5)
    for _ in range(n):
        future = producer.send(TOPIC, b"y" * 200)
        if one_per_batch:
            future.get(timeout=10)
    producer.flush()
    producer.close()


def main(argv: list[str] | None = None) -> None:
    from kafka import KafkaAdminClient
    from kafka.admin import NewTopic

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, nargs="+", default=[0, 20_000, 60_000],
                        help="records held at each step (one-record batches; large batches hold 15x as many)")
    parser.add_argument("--seconds", type=float, default=8.0, help="measuring time per step")
    args = parser.parse_args(argv)
    for one_per_batch in (True, False):
        port = free_port()
        proc = start_tansu(port, Path(tempfile.mkdtemp(prefix="topis-broker-costs-")) / "tansu.log")
        servers = [f"127.0.0.1:{port}"]
        try:
            wait_until_answers(servers)
            KafkaAdminClient(bootstrap_servers=servers).create_topics([NewTopic(TOPIC, 1, 1)])
            broker, held = psutil.Process(proc.pid), 0
            for target in sorted(args.records):
                target = target if one_per_batch else target * 15
                fill(servers, target - held, one_per_batch)
                held = target
                share = cpu_share(broker, lambda s: tail_while_producing(servers, s), args.seconds)
                kind = "one-record batches" if one_per_batch else "large batches"
                print(f"{kind:<20} {held:>9,} records held: broker {share:6.1%} of a core "
                      f"(produce 200/s + tail)", flush=True)
        finally:
            stop_process(proc)


if __name__ == "__main__":
    main()

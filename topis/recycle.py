"""Keep the embedded broker's memory bounded: compact its topics by restarting it.

The embedded Tansu broker (0.6) stores everything in memory and enforces
neither retention nor compaction, and it has no DeleteRecords: its memory grows
with everything ever produced (PLATFORM_NOTES.md: ~240 MB/min on the demo). A
real Kafka cluster enforces retention itself; this module is only for the
embedded broker.

The supervisor recycles the broker when its memory passes the budget
(:attr:`topis.settings.BrokerSettings.memory_budget_mb`):

1. the simulator is frozen and the workers are stopped (they commit);
2. :func:`snapshot` reads what must survive: for topics of kept state
   (``keep="latest"``: planner inputs, link speeds, Faust's table changelogs)
   the latest message of each key; for topics read by people (``keep="tail"``:
   events, alerts, plans, dead letters) their last messages; for the workers'
   input topics (``keep="backlog"``) the messages their group has not
   committed yet; the read-model snapshots (``keep="drop"``) are not kept: the
   dashboard holds the last state and the workers publish it again each second;
3. the broker is restarted on the same port (its memory is freed), the topics
   are created again and :func:`restore` writes the snapshot back, each message
   to its old partition;
4. the workers start again (a fresh group: they read the backlog and recover
   their tables from the compacted changelogs) and the simulator goes on.

Nothing that was not yet processed is lost, and every table keeps its state;
what goes is history already folded into that state.
"""

from __future__ import annotations

import logging
import pickle
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from topis import topics
from topis.settings import BrokerSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Record:
    """One message to write back: where it was and what it held."""

    topic: str
    partition: int
    key: bytes | None
    value: bytes | None


@dataclass
class Snapshot:
    """What survives a recycle, with the size of every topic it was read from."""

    records: list[Record] = field(default_factory=list)
    partitions: dict[str, int] = field(default_factory=dict)  #: topic -> partition count
    messages_read: dict[str, int] = field(default_factory=dict)  #: topic -> messages on the old broker
    bytes_read: dict[str, int] = field(default_factory=dict)  #: topic -> key + value bytes on the old broker

    @property
    def bytes_kept(self) -> int:
        return sum(len(r.key or b"") + len(r.value or b"") for r in self.records)


#: tables whose entries remember source offsets (to count a redelivered message once): after a recycle the
#: offsets start again from 0, so their old entries would take every new message for a redelivery. They are
#: not kept; their counts start afresh (the wall's per-minute and rejected counts, for the current minutes).
OFFSET_TABLES = ("taps_per_minute_by_route", "reads_per_minute_by_camera", "dead_letters_by_source")


def keep_policy(topic: str, app_id: str) -> str:
    """How ``topic`` is compacted: "latest" per key, "backlog" (uncommitted only), "tail" or "drop".

    Registered topics say it themselves (:attr:`topis.topics.TopicSpec.keep`);
    Faust's table changelogs (``<app_id>-<table>-changelog``) keep the latest
    value per key, as Kafka's compaction would, except :data:`OFFSET_TABLES`;
    Faust's other internal topics (the assignor's leader topic) are dropped.
    """
    try:
        return topics.by_name(topic).keep
    except KeyError:
        pass
    if topic.startswith(f"{app_id}-") and topic.endswith("-changelog"):
        table = topic.removeprefix(f"{app_id}-").removesuffix("-changelog")
        return "drop" if table in OFFSET_TABLES else "latest"
    return "drop"


def latest_per_key(records: Iterable[Record]) -> list[Record]:
    """The last record of each (topic, partition, key), in log order; a null value (tombstone) deletes the key."""
    last: dict[tuple, Record] = {}
    for record in records:
        where = (record.topic, record.partition, record.key)
        last.pop(where, None)  # re-inserting keeps the dict in the order of each key's last write
        if record.value is not None:
            last[where] = record
    return list(last.values())


def start_offsets(policy: str, ends: dict, committed: dict) -> dict:
    """Where reading each partition starts under ``policy``: its commit, near its end, or the beginning.

    ``ends`` are the broker's listed end offsets. Tansu 0.6 lists the offset
    after the *first* record of the last record batch, so the real end can be
    further on: "tail" starts TAIL_MESSAGES before the listed end (at least as
    many as it keeps) and :func:`read_to_end` reads on past it.
    """
    if policy == "backlog":
        return {tp: committed.get(tp, 0) for tp in ends}
    if policy == "tail":
        return {tp: max(0, end - topics.TAIL_MESSAGES) for tp, end in ends.items()}
    return {tp: 0 for tp in ends}


def read_to_end(consumer, start: dict, idle_polls: int = 3) -> Iterable[tuple]:
    """(TopicPartition, record) for every record from ``start[tp]`` on, until the partitions have nothing more.

    The end is where fetching finds nothing ``idle_polls`` times in a row (the
    listed end offsets cannot be trusted, see :func:`start_offsets`); nothing
    is being produced while a recycle reads.
    """
    if not start:
        return
    consumer.assign(list(start))
    for tp, offset in start.items():
        consumer.seek(tp, offset)
    idle = 0
    while idle < idle_polls:
        polled = consumer.poll(timeout_ms=300, max_records=50_000)
        idle = 0 if polled else idle + 1
        for tp, batch in polled.items():
            for record in batch:
                yield tp, record


def last_per_partition(records: list[Record], n: int) -> list[Record]:
    """The last ``n`` records of each (topic, partition), in log order."""
    by_partition: dict[tuple, list[Record]] = {}
    for record in records:
        by_partition.setdefault((record.topic, record.partition), []).append(record)
    return [r for kept in by_partition.values() for r in kept[-n:]]


def snapshot(servers: list[str], group: str, app_id: str) -> Snapshot:
    """Read what must survive a recycle from the broker at ``servers`` (see the module docstring).

    One pass over every kept partition at once (each from where its policy
    starts), then each topic's policy picks what is written back.
    """
    from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition

    admin = KafkaAdminClient(bootstrap_servers=servers, request_timeout_ms=10_000)
    consumer = KafkaConsumer(bootstrap_servers=servers, group_id=None, enable_auto_commit=False, check_crcs=False,
                             fetch_max_wait_ms=100, max_partition_fetch_bytes=16 << 20)
    try:
        committed = {tp: meta.offset for tp, meta in admin.list_group_offsets(group).get(group, {}).items()
                     if meta.offset is not None and meta.offset >= 0}
        snap, policies, start = Snapshot(), {}, {}
        for topic in sorted(consumer.topics()):
            policies[topic] = keep_policy(topic, app_id)
            count = len(consumer.partitions_for_topic(topic) or ())
            if policies[topic] == "drop" or not count:
                continue
            snap.partitions[topic] = count
            ends = consumer.end_offsets([TopicPartition(topic, p) for p in range(count)])
            start.update(start_offsets(policies[topic], ends, committed))
        read: dict[str, list[Record]] = {}
        for tp, r in read_to_end(consumer, start):
            snap.messages_read[tp.topic] = snap.messages_read.get(tp.topic, 0) + 1
            snap.bytes_read[tp.topic] = snap.bytes_read.get(tp.topic, 0) + len(r.key or b"") + len(r.value or b"")
            read.setdefault(tp.topic, []).append(Record(tp.topic, tp.partition, r.key, r.value))
        for topic, records in read.items():
            if policies[topic] == "latest":
                records = latest_per_key(records)
            elif policies[topic] == "tail":
                records = last_per_partition(records, topics.TAIL_MESSAGES)
            snap.records += records
        return snap
    finally:
        consumer.close()
        admin.close()


def restore(servers: list[str], snap: Snapshot) -> None:
    """Create the snapshot's topics on a fresh broker and write its records back to their partitions."""
    from kafka import KafkaAdminClient, KafkaProducer
    from kafka.admin import NewTopic
    from kafka.errors import TopicAlreadyExistsError

    admin = KafkaAdminClient(bootstrap_servers=servers, request_timeout_ms=10_000)
    try:
        existing = set(admin.list_topics())
        missing = [NewTopic(t, n, 1) for t, n in snap.partitions.items() if t not in existing]
        if missing:
            try:
                admin.create_topics(missing)
            except TopicAlreadyExistsError:
                pass
    finally:
        admin.close()
    producer = KafkaProducer(bootstrap_servers=servers, linger_ms=20, max_request_size=32 << 20, acks=1,
                             max_block_ms=30_000, compression_type=BrokerSettings().compression_type)
    try:
        partitions = {t: producer.partitions_for(t) or set() for t in snap.partitions}
        skipped = 0
        for r in snap.records:
            if r.partition in partitions[r.topic]:
                producer.send(r.topic, key=r.key, value=r.value, partition=r.partition)
            else:
                skipped += 1
        producer.flush(timeout=300)
        if skipped:
            short = {t: len(p) for t, p in partitions.items() if len(p) != snap.partitions[t]}
            log.error("recycle: %d messages not written back: topics with other partition counts %s", skipped, short)
    finally:
        producer.close(timeout=10)


def describe(snap: Snapshot) -> str:
    """What a recycle kept of what the broker held, and its largest topics."""
    read_mb = sum(snap.bytes_read.values()) / 1e6
    worst = sorted(snap.bytes_read.items(), key=lambda kv: -kv[1])[:3]
    return (f"kept {len(snap.records):,} messages ({snap.bytes_kept / 1e6:.1f} MB) "
            f"of {sum(snap.messages_read.values()):,} ({read_mb:.1f} MB); largest topics "
            + ", ".join(f"{t} {b / 1e6:.1f} MB" for t, b in worst))


def save(servers: list[str], group: str, app_id: str, path: Path) -> Snapshot:
    """:func:`snapshot` into the file ``path`` (read back by :func:`load`)."""
    snap = snapshot(servers, group, app_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as fh:
        pickle.dump(snap, fh, protocol=pickle.HIGHEST_PROTOCOL)
    return snap


def load(path: Path) -> Snapshot:
    with path.open("rb") as fh:
        return pickle.load(fh)  # noqa: S301 - our own file, written by save() a moment ago


def main(argv: list[str] | None = None) -> None:
    """``python -m topis.recycle save SERVERS GROUP APP_ID FILE`` | ``restore SERVERS FILE``.

    The supervisor runs each half in a child process, so the megabytes it
    reads never stay in its own memory.
    """
    import sys

    args = sys.argv[1:] if argv is None else argv
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args[:1] == ["save"] and len(args) == 5:
        snap = save(args[1].split(","), args[2], args[3], Path(args[4]))
        print(describe(snap))
    elif args[:1] == ["restore"] and len(args) == 3:
        snap = load(Path(args[2]))
        restore(args[1].split(","), snap)
        print(describe(snap))
        Path(args[2]).unlink()
    else:
        raise SystemExit("usage: python -m topis.recycle save SERVERS GROUP APP_ID FILE | restore SERVERS FILE")


if __name__ == "__main__":
    main()

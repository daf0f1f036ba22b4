"""Recycling the embedded broker keeps what must survive: backlogs, the latest state per key, the tails."""

from __future__ import annotations

import pytest

from topis import topics
from topis.recycle import Record, keep_policy, latest_per_key, restore, snapshot, start_offsets


def test_latest_per_key_keeps_each_keys_last_value_and_honours_tombstones():
    records = [Record("t", 0, b"a", b"1"), Record("t", 0, b"b", b"1"), Record("t", 0, b"a", b"2"),
               Record("t", 1, b"a", b"9"), Record("t", 0, b"b", None)]
    assert latest_per_key(records) == [Record("t", 0, b"a", b"2"), Record("t", 1, b"a", b"9")]


def test_policies_of_registered_faust_and_unknown_topics():
    assert keep_policy("bus.positions", "topis") == "backlog"
    assert keep_policy("demand.owl", "topis") == "latest"
    assert keep_policy("deadletter", "topis") == "tail"
    assert keep_policy("topis-vehicles_by_route-changelog", "topis") == "latest"
    assert keep_policy("topis-__assignor-__leader", "topis") == "drop"
    # counters that remember source offsets would take the new broker's messages for redeliveries
    assert keep_policy("topis-taps_per_minute_by_route-changelog", "topis") == "drop"
    assert keep_policy("topis-dead_letters_by_source-changelog", "topis") == "drop"
    assert keep_policy("someone.elses", "topis") == "drop"


def test_start_offsets_per_policy():
    ends = {"p0": 500, "p1": 40}
    assert start_offsets("backlog", ends, {"p0": 450}) == {"p0": 450, "p1": 0}
    assert start_offsets("tail", ends, {}) == {"p0": 500 - topics.TAIL_MESSAGES, "p1": 0}
    assert start_offsets("latest", ends, {"p0": 450}) == {"p0": 0, "p1": 0}


def read_everything(servers, names):
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=servers, group_id=None, enable_auto_commit=False)
    try:
        tps = [TopicPartition(t, p) for t in names for p in consumer.partitions_for_topic(t)]
        ends = consumer.end_offsets(tps)
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        got = []
        while any(consumer.position(tp) < ends[tp] for tp in tps):
            for tp, batch in consumer.poll(timeout_ms=500).items():
                got += [(tp.topic, tp.partition, r.key, r.value) for r in batch]
        return sorted(got)
    finally:
        consumer.close()


@pytest.mark.integration
def test_a_recycle_keeps_the_backlog_the_latest_and_the_tail(tmp_path):
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition
    from kafka.admin import KafkaAdminClient, NewTopic
    from kafka.structs import OffsetAndMetadata

    from topis.broker import EmbeddedBroker, free_port

    broker = EmbeddedBroker(free_port(), tmp_path / "broker.log")
    broker.start()
    try:
        servers = broker.servers
        admin = KafkaAdminClient(bootstrap_servers=servers)
        admin.create_topics([NewTopic("g-state-changelog", 2, 1)])
        admin.close()
        producer = KafkaProducer(bootstrap_servers=servers)
        for i in range(10):
            producer.send("bus.positions", key=b"r1", value=b"fix%d" % i, partition=3)
        for i in range(5):
            producer.send("demand.owl", key=b"night", value=b"owl%d" % i, partition=0)
        producer.send("g-state-changelog", key=b"k1", value=b"old", partition=1)
        producer.send("g-state-changelog", key=b"k2", value=b"gone", partition=1)
        producer.send("g-state-changelog", key=b"k1", value=b"new", partition=1)
        producer.send("g-state-changelog", key=b"k2", value=None, partition=1)
        for i in range(topics.TAIL_MESSAGES + 50):
            producer.send("deadletter", key=b"bus.positions", value=b"dl%d" % i, partition=0)
        producer.send("g-__assignor-__leader", key=b"x", value=b"y")
        producer.flush()
        producer.close()
        group = KafkaConsumer(bootstrap_servers=servers, group_id="g", enable_auto_commit=False)
        group.commit({TopicPartition("bus.positions", 3): OffsetAndMetadata(6, "", -1)})  # 6 of 10 done
        group.close()

        snap = snapshot(servers, "g", "g")
        broker.restart()
        restore(servers, snap)

        got = read_everything(servers, ["bus.positions", "demand.owl", "g-state-changelog", "deadletter"])
        assert [v for t, p, k, v in got if t == "bus.positions"] == [b"fix6", b"fix7", b"fix8", b"fix9"]
        assert {(p, v) for t, p, k, v in got if t == "bus.positions"} == {(3, b"fix6"), (3, b"fix7"),
                                                                          (3, b"fix8"), (3, b"fix9")}
        assert [v for t, p, k, v in got if t == "demand.owl"] == [b"owl4"]
        assert [(p, k, v) for t, p, k, v in got if t == "g-state-changelog"] == [(1, b"k1", b"new")]
        tail = sorted(int(v[2:]) for t, p, k, v in got if t == "deadletter")
        assert tail == list(range(50, topics.TAIL_MESSAGES + 50))
        admin = KafkaAdminClient(bootstrap_servers=servers)
        assert "g-__assignor-__leader" not in admin.list_topics()
        admin.close()
        assert snap.messages_read["bus.positions"] == 4 and snap.bytes_read["demand.owl"] == 5 * (5 + 4)
    finally:
        broker.stop()


def test_last_per_partition_keeps_the_newest_n_of_each():
    from topis.recycle import last_per_partition

    records = [Record("t", p, None, b"%d" % i) for i in range(5) for p in (0, 1)]
    assert [(r.partition, r.value) for r in last_per_partition(records, 2)] == [
        (0, b"3"), (0, b"4"), (1, b"3"), (1, b"4")]


@pytest.mark.integration
def test_the_supervisors_recycle_runs_in_child_processes_and_keeps_the_backlog(tmp_path):
    import os

    from kafka import KafkaProducer

    from topis.broker import EmbeddedBroker, free_port
    from topis.cli.supervise import Child, Supervisor, stop_all

    broker = EmbeddedBroker(free_port(), tmp_path / "broker.log")
    broker.start()
    worker = Child("worker-1", ["sleep", "600"])
    sup = Supervisor([worker], dict(os.environ), broker=broker, group="g")
    sup.start()
    try:
        producer = KafkaProducer(bootstrap_servers=broker.servers)
        for i in range(20):
            producer.send("card.taps", key=b"r", value=b"tap%d" % i, partition=2)
        producer.flush()
        producer.close()
        old_pid = broker.process.pid
        sup.restart_broker(keep=True)
        assert broker.process.pid != old_pid and broker.exit_code is None
        got = read_everything(broker.servers, ["card.taps"])
        assert [v for _, _, _, v in got] == sorted(b"tap%d" % i for i in range(20))
        assert worker.running and worker.restarts == 1
        assert not (tmp_path / "recycle.snapshot").exists()
    finally:
        stop_all(sup.children)
        broker.stop()

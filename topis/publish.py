"""Publishing batches of events to Kafka (simulator, replay, tests).

One message per key per call: the events of a route (or camera) are wrapped
in the topic's batch schema (``topis.topics.by_name(topic).value``, e.g.
:class:`topis.schemas.inputs.PositionBatch`) and sent with the key, so they
land in that key's partition. Columnar batches
(:class:`topis.schemas.probes.TaxiPositionBatch`) are built by their producer
and sent as they are (:meth:`Publisher.send_batches`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

from topis import topics, wire

log = logging.getLogger(__name__)


class Publisher:
    """A kafka-python producer sending wire batches; use as a context manager."""

    def __init__(self, bootstrap_servers: list[str], linger_ms: int = 50, compression_type: str | None = None):
        """``compression_type``: the producer's; by default the broker settings' (``TOPIS_BROKER_COMPRESSION``).

        Lingers ``linger_ms`` and fills batches of up to 512 kB, so that a
        simulator step's burst goes out as one batch per partition, not one per
        16 kB: the embedded broker's fetches cost per batch held (:mod:`topis.broker`).
        """
        from kafka import KafkaProducer

        from topis.settings import BrokerSettings

        # not idempotent: after the embedded broker is restarted (a fresh process, its producer ids gone)
        # an idempotent producer fails InitProducerId and aborts every batch for good; a plain one retries
        # and reconnects. A retried batch can arrive twice; every sink is idempotent.
        self._producer = KafkaProducer(
            bootstrap_servers=bootstrap_servers, linger_ms=linger_ms, batch_size=512 * 1024, enable_idempotence=False,
            compression_type=compression_type or BrokerSettings().compression_type,
        )
        self.messages_sent = 0
        self.events_sent = 0
        self._futures: list = []
        self.keep_acks = False  #: keep send futures so acked() can report offsets (benchmarks)

    def send(self, topic: str, by_key: Mapping[str, Sequence]) -> None:
        """Send the events of each key as one batch message on ``topic`` (a topic of batches: bus.positions, ...)."""
        batch_type = topics.by_name(topic).value
        for key, events in by_key.items():
            if not events:
                continue
            future = self._producer.send(topic, key=key.encode(), value=wire.encode(batch_type(list(events))))
            if self.keep_acks:
                self._futures.append(future)
            self.messages_sent += 1
            self.events_sent += len(events)

    def send_batches(self, topic: str, by_key: Mapping[str, object]) -> None:
        """Send each key's ready-made batch (a schema Struct with ``len()``, e.g. a taxi batch) as one message."""
        for key, batch in by_key.items():
            if not len(batch):
                continue
            future = self._producer.send(topic, key=key.encode(), value=wire.encode(batch))
            if self.keep_acks:
                self._futures.append(future)
            self.messages_sent += 1
            self.events_sent += len(batch)

    def send_raw(self, topic: str, key: str, value: bytes) -> None:
        """Send one already-encoded message (replay of recordings, bad-input tests)."""
        future = self._producer.send(topic, key=key.encode(), value=value)
        if self.keep_acks:
            self._futures.append(future)
        self.messages_sent += 1

    def acked(self) -> list:
        """Record metadata (topic, partition, offset) of every message sent while ``keep_acks`` was on."""
        return [f.get(timeout=30) for f in self._futures]

    def flush(self, timeout_s: float = 30.0) -> None:
        self._producer.flush(timeout=timeout_s)

    def close(self) -> None:
        self._producer.close(timeout=10)

    def __enter__(self) -> Publisher:
        return self

    def __exit__(self, *exc_info) -> None:
        self.flush()
        self.close()

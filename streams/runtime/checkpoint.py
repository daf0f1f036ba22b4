"""Per-key working state checkpointed into a Faust table.

Pipeline state (a route's matching state, a card bucket's open rides) changes
with every message and can be large; writing it to a table's changelog per
message would dominate a worker. :class:`Checkpointed` keeps the live object
per key in this worker and writes it to the table (its changelog) at most every
``every_s`` — always from the agent handling that key, so the write lands in
the key's own partition. After a rebalance the working copies are dropped and
each key resumes from its last checkpoint.

A checkpoint larger than one Kafka message may carry (a route flooded with
thousands of vehicle ids) is not written — the send would crash the worker —
and a warning says so: that key then resumes from its older checkpoint.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

import faust
import msgspec

from topis import wire

S = TypeVar("S")

log = logging.getLogger(__name__)

class Checkpointed(Generic[S]):
    """Working copies of ``state_type`` by key, checkpointed to table ``name`` at most every ``every_s``.

    ``every_s`` is :attr:`topis.settings.StreamSettings.checkpoint_every_s` in the worker.
    """

    def __init__(self, app: faust.App, name: str, partitions: int, state_type: type[S],
                 new: Callable[[str], S], every_s: float):
        # raw bytes on the changelog: the default (json) would wrap the JSON in a string, escaping every quote
        self.table = app.Table(name, default=bytes, partitions=partitions, key_type=str, value_type=bytes)
        self._decode = msgspec.json.Decoder(state_type).decode
        self._new = new
        self._every_s = every_s
        self._live: dict[str, S] = {}
        self._saved_at: dict[str, float] = {}
        self.max_bytes = int(app.conf.producer_max_request_size) - 16 * 1024  #: largest checkpoint written
        app.on_partitions_revoked.connect(self._forget)

    async def _forget(self, sender, revoked, **kwargs) -> None:
        self._live.clear()
        self._saved_at.clear()

    def get(self, key: str) -> S:
        """The working state of ``key``: this worker's copy, its checkpoint, or a new one."""
        if key not in self._live:
            saved = self.table[key]
            self._live[key] = self._restore(key, saved) if saved else self._new(key)
        return self._live[key]

    def _restore(self, key: str, saved: bytes) -> S:
        try:
            return self._decode(saved)
        except msgspec.DecodeError:
            pass
        try:  # a checkpoint written before they were raw: JSON inside a JSON string
            return self._decode(msgspec.json.decode(saved, type=str))
        except msgspec.DecodeError as exc:
            log.warning("%s[%r]: checkpoint unreadable (%s); starting it afresh", self.table.name, key, exc)
            return self._new(key)

    def put(self, key: str, state: S) -> None:
        """Replace the working state of ``key`` (for folds that return a new state)."""
        self._live[key] = state

    def save_if_due(self, key: str) -> None:
        """Checkpoint ``key`` if its last checkpoint is older than ``every_s`` (call from its agent)."""
        if time.monotonic() - self._saved_at.get(key, 0.0) > self._every_s:
            value = wire.encode(self._live[key])
            if len(value) <= self.max_bytes:
                self.table[key] = value
            else:
                log.warning("%s[%r]: checkpoint of %d bytes not written (more than one Kafka message may carry)",
                            self.table.name, key, len(value))
            self._saved_at[key] = time.monotonic()

    def items(self) -> Iterator[tuple[str, S]]:
        """The working states of this worker."""
        return iter(list(self._live.items()))

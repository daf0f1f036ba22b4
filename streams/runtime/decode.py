"""The edge of every agent: a Kafka message read once, checked, and dead-lettered once when bad.

:func:`receive` turns a Faust event into a :class:`Received`: the key as text,
the value checked by :func:`topis.schemas.validation.check` (structural faults
reject the message, out-of-range values only their rows), and where it came
from (topic, partition, offset). It is pure and deterministic (the future bound
is judged from the message's own timestamp), so every agent reading a topic
keeps exactly the same rows.

A topic has one *owner* among the agents that read it: the agent that turns
what was rejected into a dead letter (:meth:`DeadLetters.take`). The owners
are the live agents for ``bus.positions``, ``card.taps`` and ``plate.reads``
(installed on every worker) and the only reader of each other topic. Every
other reader calls :meth:`DeadLetters.read` and uses what is left, so each bad
message gives exactly one dead letter.

An agent's pure fold runs under :meth:`DeadLetters.fold`: when it raises on a
message, that message is dead-lettered (``processing_error``, with the
exception type and the agent) and the agent goes on with the next one; a
crashed Faust agent would leave its message unacknowledged and its partition's
commits stuck. Sending (Kafka) and store errors are not caught: those are
retried by a restart, not the message's fault — except an output too large for
one Kafka message, which no retry cures: :meth:`DeadLetters.send_out`
dead-letters its input (``output_too_large``) instead, and
:func:`publish_bounded` splits or skips a timer's read-model message.

Dead letters of the input topics are counted, per source topic and partition,
by reason, in the table ``dead_letters_by_source`` (:func:`counted`; one
writer per entry), which the live agents publish on ``state.counters`` as kind
``rejected`` for the wall. A redelivered message (after a restart, or the commit
watch's re-read) that was dead-lettered before is neither counted nor
dead-lettered again, so each bad message gives one letter (at least once: a
worker that dies between the letter and its count sends it again).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections import Counter
from collections.abc import Callable
from typing import Any, TypeVar

import faust

from streams.runtime.app import topic
from topis import topics, wire
from topis.schemas import validation
from topis.schemas.deadletter import MAX_ROWS, VALUE_PREFIX_BYTES, DeadLetter
from topis.schemas.validation import Checked, Limits
from topis.wire import key_text  # noqa: F401  (re-exported: agents import it from here)

log = logging.getLogger(__name__)

T = TypeVar("T")

#: the topics whose dead letters are counted for the wall (all co-partitioned with the counting table)
INPUTS = (topics.BUS_POSITIONS, topics.CARD_TAPS, topics.PLATE_READS, topics.TAXI_POSITIONS)
#: what :meth:`DeadLetters.fold` returns when the fold raised
FAILED = object()
#: a (topic, reason) is logged for its first letters, then once every this many
LOG_EVERY = 1000
_LOG_FIRST = 5


def _is_input(topic_name: str) -> bool:
    return any(topic_name == spec.name for spec in INPUTS)


def value_text(value: bytes | None, limit: int = VALUE_PREFIX_BYTES) -> str:
    """The first ``limit`` bytes of a value as text (what is not UTF-8 as ``\\xNN`` escapes)."""
    return (value or b"")[:limit].decode(errors="backslashreplace")


@dataclasses.dataclass(frozen=True)
class Received:
    """One Kafka message as an agent reads it: where it is from, its key, and what of it may be used."""

    topic: str
    partition: int
    offset: int
    key: str  #: the key as text (:func:`key_text`)
    value: bytes | None  #: the value as sent
    checked: Checked

    @property
    def batch(self) -> Any:
        """The message (for an input batch: with its good rows only), or None when none of it may be used."""
        return self.checked.batch


def receive(spec: topics.TopicSpec, key: bytes | None, value: bytes | None, partition: int, offset: int,
            timestamp: float | None, limits: Limits, kind: Any = None) -> Received:
    """What of one message of ``spec`` may be used (``kind``: another schema than the topic's)."""
    try:
        text = (key or b"").decode()
    except UnicodeDecodeError as exc:
        checked = Checked(reason=validation.BAD_KEY, detail=f"key is not UTF-8 ({exc.reason} at byte {exc.start})")
        return Received(spec.name, partition, offset, key_text(key), value, checked)
    reference_ts = timestamp if timestamp and timestamp > 0 else time.time()
    return Received(spec.name, partition, offset, text, value,
                    validation.check(value, kind or spec.value, limits, reference_ts))


def dead_letter(received: Received) -> DeadLetter | None:
    """The dead letter of what was rejected of a message; None when all of it was used."""
    checked = received.checked
    if not checked.rejected:
        return None
    rows = checked.rows
    partial = dict(rows=rows[:MAX_ROWS], rows_rejected=len(rows), rows_total=checked.total_rows) if rows else {}
    return DeadLetter(topic=received.topic, key=received.key, reason=checked.reason or rows[0].reason,
                      value=value_text(received.value), detail=checked.detail or rows[0].detail,
                      partition=received.partition, offset=received.offset, value_bytes=len(received.value or b""),
                      **partial)


def processing_letter(received: Received, agent: str, exc: BaseException) -> DeadLetter:
    """The dead letter of a message whose processing by ``agent`` raised ``exc``."""
    return DeadLetter(topic=received.topic, key=received.key, reason=validation.PROCESSING_ERROR,
                      value=value_text(received.value), detail=validation.short(f"{type(exc).__name__}: {exc}"),
                      partition=received.partition, offset=received.offset, value_bytes=len(received.value or b""),
                      agent=agent)


def reasons_of(checked: Checked) -> Counter:
    """What was rejected of a message, by reason: the message itself, or each bad row."""
    return Counter([checked.reason] if checked.reason else [r.reason for r in checked.rows])


def counted(entry: dict | None, offset: int, reasons: Counter, letters: int, received_ts: float) -> dict | None:
    """A counting entry (one source partition's, one writer) with one message's dead letters added (a new dict).

    None when the message at ``offset`` was counted before (a redelivery).
    Entry: ``{"dead_letters", "reasons", "received_ts", "counted_at"}``.
    """
    entry = entry or {"dead_letters": 0, "reasons": {}, "received_ts": None, "counted_at": -1}
    if offset <= entry["counted_at"]:
        return None
    merged = dict(entry["reasons"])
    for reason, n in reasons.items():
        merged[reason] = merged.get(reason, 0) + n
    return {"dead_letters": entry["dead_letters"] + letters, "reasons": merged, "received_ts": received_ts,
            "counted_at": offset}


async def publish_bounded(channel: faust.TopicT, key: bytes, message: Any, max_bytes: int) -> int:
    """Publish a read-model message (a timer's, not a message's); returns how many Kafka messages it took.

    One larger than ``max_bytes`` (what the producer may send: a bigger one
    raises and crashes the timer, and with it the worker) is split in halves
    when it is a batch of several ``snapshots`` or ``events`` (whose readers
    fold each part alike), else skipped with a warning; readers keep the
    previous one.
    """
    value = wire.encode(message)
    if len(value) <= max_bytes:
        await channel.send(key=key, value=value)
        return 1
    parts = getattr(message, "snapshots", None) or getattr(message, "events", None)
    if isinstance(parts, list) and len(parts) > 1:
        half = len(parts) // 2
        return sum([await publish_bounded(channel, key, type(message)(part), max_bytes)
                    for part in (parts[:half], parts[half:])])
    log.warning("%s: skipped a read-model message of %d bytes (key %r): more than one Kafka message may carry",
                channel.get_topic_name(), len(value), key)
    return 0


def decode_value(value: bytes, kind: type[T]) -> tuple[T, None] | tuple[None, str]:
    """``(message, None)``, or ``(None, why not)`` when ``value`` is not a valid ``kind`` (structure only)."""
    try:
        return wire.decode(value, kind), None
    except wire.WireError as exc:
        return None, str(exc)


class DeadLetters:
    """The ``deadletter`` topic of an app, and the count of the input topics' letters (table ``dead_letters_by_source``).

    ``limits`` are what :func:`receive` accepts (the city's area, the largest
    value; built by the worker from its settings and feed).
    """

    def __init__(self, app: faust.App, limits: Limits | None = None):
        self.topic = topic(app, topics.DEAD_LETTERS)
        self.limits = limits or Limits()
        self.counts = app.Table("dead_letters_by_source", default=dict, partitions=topics.BUS_POSITIONS.partitions,
                                key_type=str)
        self._logged: Counter = Counter()
        #: largest output value an agent may send (the producer's request limit, less room for the record's framing)
        self.max_output_bytes = int(app.conf.producer_max_request_size) - 16 * 1024

    def read(self, spec: topics.TopicSpec, event: faust.types.EventT, kind: Any = None) -> Received:
        """What of ``event`` (of topic ``spec``) may be used; for readers that do not own the topic."""
        m = event.message
        return receive(spec, event.key, event.value, m.partition, m.offset, m.timestamp, self.limits, kind)

    async def take(self, spec: topics.TopicSpec, event: faust.types.EventT, kind: Any = None) -> Received:
        """:meth:`read`, and what was rejected sent to ``deadletter`` (and counted): for a topic's owner."""
        received = self.read(spec, event, kind)
        letter = dead_letter(received)
        if letter is not None:
            await self.send(letter, received, reasons_of(received.checked))
        return received

    async def fold(self, received: Received, agent: str, fn: Callable[..., T], *args) -> T | object:
        """``fn(*args)``; when it raises, the message dead-lettered (processing_error) and :data:`FAILED`.

        ``agent`` names the caller, e.g. ``"track_routes"``. Only a pure
        function's call goes here: nothing it sends or stores.
        """
        try:
            return fn(*args)
        except Exception as exc:  # noqa: BLE001 - any fault of one message's fold: dead-letter it, keep the agent
            log.exception("%s: %s raised on %s[%d]@%d", agent, getattr(fn, "__qualname__", fn), received.topic,
                          received.partition, received.offset)
            await self.send(processing_letter(received, agent, exc), received, Counter([validation.PROCESSING_ERROR]),
                            counter=f"/{agent}")
            return FAILED

    async def fold_together(self, group: list[Received], agent: str, fold: Callable[[list[Received]], T],
                            afresh: Callable[[], None]) -> list[T]:
        """``[fold(group)]``: one key's messages of a batch folded in one call.

        When that raises, the key's state may be half changed: ``afresh()`` starts
        it again, and ``fold([message])`` runs for each message in turn under
        :meth:`fold`, so that only the message at fault is dead-lettered. Returns
        what each successful call returned.
        """
        try:
            return [fold(group)]
        except Exception:  # noqa: BLE001 - find the message at fault below
            log.warning("%s: a batch of %d messages of key %r raised; starting the key afresh and folding them one "
                        "by one", agent, len(group), group[0].key, exc_info=True)
        afresh()
        outs = [await self.fold(received, agent, fold, [received]) for received in group]
        return [out for out in outs if out is not FAILED]

    async def send_out(self, channel: faust.TopicT, key: bytes, value: bytes, received: Received, agent: str) -> bool:
        """Send what ``agent`` made of ``received`` on ``channel``; False, after dead-lettering the message, when it
        is larger than the producer may send (the send would raise and crash the agent on every redelivery)."""
        if len(value) <= self.max_output_bytes:
            await channel.send(key=key, value=value)
            return True
        detail = f"{len(value):,} bytes for {channel.get_topic_name()} > {self.max_output_bytes:,}"
        letter = DeadLetter(topic=received.topic, key=received.key, reason=validation.OUTPUT_TOO_LARGE, detail=detail,
                            value=value_text(received.value), partition=received.partition, offset=received.offset,
                            value_bytes=len(received.value or b""), agent=agent)
        await self.send(letter, received, Counter([validation.OUTPUT_TOO_LARGE]), counter=f"/{agent}")
        return False

    async def send(self, letter: DeadLetter, received: Received | None = None, reasons: Counter | None = None,
                   counter: str = "") -> None:
        """Publish one dead letter (keyed by its source topic); count it when it is of an input topic.

        ``counter`` tells apart the writers of one source partition's counts (an
        agent's processing errors are counted apart from the owner's rejections).
        A message of an input topic that was dead-lettered before (redelivered
        after a restart or a re-read) gets no second letter.
        """
        if received is not None and self.seen(received, counter):
            return
        await self.topic.send(key=letter.topic.encode(), value=wire.encode(letter))
        self._log(letter)
        if received is not None and _is_input(received.topic):
            self.count(received, reasons or Counter([letter.reason]), 1, counter)

    def seen(self, received: Received, counter: str = "") -> bool:
        """True when ``received`` (of an input topic) was dead-lettered and counted under ``counter`` before."""
        if not _is_input(received.topic):
            return False
        entry = self.counts[f"{received.topic}/{received.partition}{counter}"]
        return bool(entry) and received.offset <= entry["counted_at"]

    async def engine_letters(self, received: Received, letters: list[DeadLetter], counter: str) -> None:
        """Publish the letters a domain made of one message's events (e.g. reads the engine cannot use), counted once."""
        if not letters or self.seen(received, counter):
            return
        for letter in letters:
            await self.topic.send(key=letter.topic.encode(), value=wire.encode(letter))
            self._log(letter)
        if _is_input(received.topic):
            self.count(received, Counter(letter.reason for letter in letters), len(letters), counter)

    def count(self, received: Received, reasons: Counter, letters: int, counter: str = "") -> None:
        """Add a message's dead letters to its source partition's count (once per message and ``counter``)."""
        key = f"{received.topic}/{received.partition}{counter}"
        entry = counted(self.counts[key], received.offset, reasons, letters, time.time())
        if entry is not None:
            self.counts[key] = entry

    def entries(self) -> list[tuple[str, dict]]:
        """``(key, entry)`` of every count this worker holds; the key is ``topic/partition[/agent]``."""
        return list(self.counts.items())

    async def decode(self, source: topics.TopicSpec, key: str, value: bytes, kind: Any = None) -> Any:
        """``value`` as ``kind`` (default: the topic's schema), or None after dead-lettering it.

        For the owners of internal topics, which iterate ``stream.items()``: the
        partition and offset are the current event's.
        """
        event = faust.current_event()
        m = event.message if event is not None else None
        received = receive(source, key.encode(), value, m.partition if m else -1, m.offset if m else -1,
                           m.timestamp if m else None, self.limits, kind)
        letter = dead_letter(received)
        if letter is not None:
            await self.send(letter, received, reasons_of(received.checked))
        return received.batch

    def _log(self, letter: DeadLetter) -> None:
        n = self._logged[(letter.topic, letter.reason)] = self._logged[(letter.topic, letter.reason)] + 1
        if n <= _LOG_FIRST or n % LOG_EVERY == 0:
            log.warning("%s: ignored a message (key %r, offset %s): %s: %s [%d so far]", letter.topic, letter.key,
                        letter.offset, letter.reason, letter.detail, n)

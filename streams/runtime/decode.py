"""The edge of every agent: message keys as text, values decoded, bad values dead-lettered once.

A topic has one *owner* among the agents that read it: the agent that turns
its bad messages into dead letters (and, for the input topics, counts them in
the live state). The owners are the live agents for ``bus.positions``,
``card.taps`` and ``plate.reads`` (installed on every worker) and the only
reader of each other topic. Every other reader decodes with :func:`decode_value`
and skips what it cannot read, so each bad message gives exactly one dead
letter.
"""

from __future__ import annotations

import logging
from typing import Any, TypeVar

import faust

from streams.runtime.app import topic
from topis import topics, wire
from topis.schemas.deadletter import DeadLetter
from topis.wire import key_text  # noqa: F401  (re-exported: agents import it from here)

log = logging.getLogger(__name__)

T = TypeVar("T")


def decode_value(value: bytes, kind: type[T]) -> tuple[T, None] | tuple[None, str]:
    """``(message, None)``, or ``(None, why not)`` when ``value`` is not a valid ``kind``."""
    try:
        return wire.decode(value, kind), None
    except wire.WireError as exc:
        return None, str(exc)


def dead_letter(source: str, key: str, value: bytes, reason: str) -> DeadLetter:
    """The dead letter of a message of ``source`` that could not be read (its bytes as text, kept)."""
    return DeadLetter(topic=source, key=key, reason=reason, value=value.decode(errors="replace"))


class DeadLetters:
    """The ``deadletter`` topic of an app, for the agents that own their topics' bad messages."""

    def __init__(self, app: faust.App):
        self.topic = topic(app, topics.DEAD_LETTERS)

    async def send(self, letter: DeadLetter) -> None:
        """Publish one dead letter (keyed by its source topic) and log it."""
        await self.topic.send(key=letter.topic.encode(), value=wire.encode(letter))
        log.warning("%s: ignored a message (key %r): %s", letter.topic, letter.key, letter.reason)

    async def decode(self, source: topics.TopicSpec, key: str, value: bytes, kind: Any = None) -> Any:
        """``value`` as ``kind`` (default: the topic's schema), or None after dead-lettering it with the reason."""
        message, reason = decode_value(value, kind or source.value)
        if reason is not None:
            await self.send(dead_letter(source.name, key, value, reason))
        return message

"""Rejected messages on ``deadletter`` (key = source topic), each with its reason.

One letter per bad message. A message that is not valid for its topic's schema
carries its bytes as text (``value``); a plate read the enforcement engine
cannot use carries the engine's reason and a keyed hash of the plate instead of
the plate (``detail``, ``read_id``, ``ts``, ``plate_hash``).
"""

from __future__ import annotations

import msgspec


class DeadLetter(msgspec.Struct, frozen=True):
    """One rejected message or read."""

    topic: str  #: topic the message came from
    key: str  #: its key, as text
    reason: str  #: why it was rejected
    value: str | msgspec.UnsetType = msgspec.UNSET  #: the message value as text (undecodable bytes replaced)
    detail: str | msgspec.UnsetType = msgspec.UNSET  #: the engine's explanation (plate reads)
    read_id: str | msgspec.UnsetType = msgspec.UNSET  #: the read (plate reads)
    ts: float | None | msgspec.UnsetType = msgspec.UNSET  #: time of the read, epoch seconds (plate reads)
    plate_hash: str | msgspec.UnsetType = msgspec.UNSET  #: keyed hash of the plate (plate reads)

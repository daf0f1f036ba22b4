"""Rejected messages on ``deadletter`` (key = source topic), each with its reason code.

One letter per Kafka message that was rejected, whole or in part, or whose
processing raised (built by :mod:`streams.runtime.decode`):

* ``topic``, ``partition``, ``offset``: where the message is, to fetch it again;
* ``reason``: a code from :mod:`topis.schemas.validation` (``not_json``,
  ``oversize``, ``bad_ts``, ..., ``processing_error``), ``detail`` a short
  explanation;
* ``value``: at most :data:`VALUE_PREFIX_BYTES` bytes of the value, as text
  (bytes that are not UTF-8 as ``\\xNN`` escapes), ``value_bytes`` its full size;
* a batch whose good rows were kept lists its bad rows in ``rows`` (the first
  :data:`MAX_ROWS`, each with its index, reason and detail), the letter's
  ``reason`` being the first row's; ``rows_rejected`` and ``rows_total`` count
  them all.

A plate read the enforcement engine cannot use (an unknown camera, a plate it
cannot parse) carries the engine's reason and a keyed hash of the plate instead
of the plate (``detail``, ``read_id``, ``ts``, ``plate_hash``).

Every field added since the first version is optional, so letters written
before (``topic``, ``key``, ``reason``, ``value``) still decode.
"""

from __future__ import annotations

import msgspec

from topis.schemas.validation import RowReject

#: most bytes of a rejected value a letter carries
VALUE_PREFIX_BYTES = 1024
#: most bad rows a letter lists
MAX_ROWS = 20


class DeadLetter(msgspec.Struct, frozen=True):
    """One rejected message or read."""

    topic: str  #: topic the message came from
    key: str  #: its key, as text (not UTF-8: ``\\xNN`` escapes)
    reason: str  #: reason code (topis.schemas.validation, or the enforcement engine's)
    value: str | msgspec.UnsetType = msgspec.UNSET  #: the first VALUE_PREFIX_BYTES of the value, as text
    detail: str | msgspec.UnsetType = msgspec.UNSET  #: short explanation
    read_id: str | msgspec.UnsetType = msgspec.UNSET  #: the read (plate reads)
    ts: float | None | msgspec.UnsetType = msgspec.UNSET  #: time of the read, epoch seconds (plate reads)
    plate_hash: str | msgspec.UnsetType = msgspec.UNSET  #: keyed hash of the plate (plate reads)
    partition: int | msgspec.UnsetType = msgspec.UNSET  #: source partition
    offset: int | msgspec.UnsetType = msgspec.UNSET  #: source offset
    value_bytes: int | msgspec.UnsetType = msgspec.UNSET  #: size of the whole value, bytes
    rows: list[RowReject] | msgspec.UnsetType = msgspec.UNSET  #: the first MAX_ROWS rows left out of a batch
    rows_rejected: int | msgspec.UnsetType = msgspec.UNSET  #: rows left out of the batch
    rows_total: int | msgspec.UnsetType = msgspec.UNSET  #: rows the batch had
    agent: str | msgspec.UnsetType = msgspec.UNSET  #: processing_error: the agent whose fold raised

"""The wire codec: every Kafka message value as JSON, via msgspec.

The message types are in :mod:`topis.schemas` (one module per domain) and the
topic each travels on, with its type, in :mod:`topis.topics`. JSON keeps the
messages readable with any Kafka tool; msgspec decodes them with type checking
in one pass.

>>> from topis.schemas.inputs import BusPosition, PositionBatch
>>> data = encode(PositionBatch([BusPosition("v1", "r1", 10.0, 37.5, 127.0)]))
>>> data[:28]
b'{"schema":"bus.position/1","'
>>> decode(data, PositionBatch).events[0].vehicle_id
'v1'
"""

from __future__ import annotations

import functools
from typing import Any, TypeVar

import msgspec
import numpy as np

#: Current major version of every schema in topis.schemas (the ``/1`` of their tags). Bump on a breaking change.
VERSION = 1

T = TypeVar("T")


def plain(obj: object) -> object:
    """msgspec ``enc_hook``: numpy scalars (simulators and pipelines compute with numpy) as plain values."""
    if isinstance(obj, np.generic):
        return obj.item()
    raise NotImplementedError(f"cannot encode {type(obj).__name__}")


_encoder = msgspec.json.Encoder(enc_hook=plain)


class WireError(msgspec.DecodeError):
    """A message that is not valid for the expected schema (a ``msgspec.DecodeError``, so a ``ValueError``)."""


def encode(message: Any) -> bytes:
    """Serialise a message (a schema Struct, or a list of them) to the bytes of one Kafka message value."""
    return _encoder.encode(message)


def key_text(key: bytes | None) -> str:
    """A message key as text; ``""`` for a message with no key; bytes that are not UTF-8 as ``\\xNN``."""
    return (key or b"").decode(errors="backslashreplace")


@functools.cache
def _decoder(kind: Any) -> msgspec.json.Decoder:
    return msgspec.json.Decoder(kind)


def decode(data: bytes, kind: type[T]) -> T:
    """Parse one Kafka message value as ``kind`` (a schema type, e.g. ``topis.topics.X.value``).

    Raises
    ------
    WireError
        If the bytes are not JSON, name another schema or version, or a field
        has the wrong type. The message says which field.
    """
    name = kind.__name__ if isinstance(kind, type) else str(kind)
    try:
        return _decoder(kind).decode(data)
    except msgspec.ValidationError as exc:
        raise WireError(f"{name}: {exc}") from exc
    except msgspec.DecodeError as exc:
        raise WireError(f"{name}: not valid JSON ({exc})") from exc

"""Recordings of a simulator run: JSON lines of Kafka messages, for replay.

One line per message::

    {"topic": "bus.positions", "key": "100", "ts": 1795478400.0, "value": "<wire batch JSON>"}

``value`` is the exact output of :func:`topis.wire.encode` as text (the wire
format is UTF-8 JSON), so replay sends byte-identical message values. ``ts`` is
the latest event time in the batch; lines are written in step order, which
:func:`read` preserves.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections.abc import Iterable, Iterator
from pathlib import Path

import msgspec

from topis.schemas.inputs import BusPosition, CardTap, PlateRead, PositionBatch, ReadBatch, TapBatch
from topis.schemas.probes import TaxiPositionBatch
from topis.wire import encode

_BATCH_OF = {BusPosition: PositionBatch, CardTap: TapBatch, PlateRead: ReadBatch}


class Message(msgspec.Struct, frozen=True):
    """One Kafka message of a recording."""

    topic: str
    key: str
    ts: float  #: latest event time in the batch, epoch seconds UTC
    value: bytes  #: wire-encoded batch


class RecordingError(ValueError):
    """A recording line that is not a valid message; says which line."""


def batch_messages(topic: str, by_key: dict[str, list] | dict[str, TaxiPositionBatch]) -> list[Message]:
    """One message per key: the key's events wrapped in their wire batch (or its ready-made batch), encoded."""
    out = []
    for key, events in by_key.items():
        if not len(events):
            continue
        if isinstance(events, TaxiPositionBatch):
            out.append(Message(topic, key, events.latest_ts(), encode(events)))
            continue
        batch = _BATCH_OF[type(events[0])](events=list(events))
        out.append(Message(topic, key, max(e.ts for e in events), encode(batch)))
    return out


class Recorder:
    """Append messages to a JSON-lines recording; use as a context manager or call ``close``."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._fh = open(self.path, "w", encoding="utf-8")
        self.messages = 0

    def write(self, topic: str, by_key: dict[str, list] | dict[str, TaxiPositionBatch]) -> int:
        """Record one step's events of ``topic`` (grouped by key); returns messages written."""
        return self.write_messages(batch_messages(topic, by_key))

    def write_messages(self, messages: Iterable[Message]) -> int:
        """Record already-encoded messages; returns how many."""
        n = 0
        for m in messages:
            line = {"topic": m.topic, "key": m.key, "ts": m.ts, "value": m.value.decode("utf-8")}
            self._fh.write(json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n")
            n += 1
        self.messages += n
        return n

    def close(self) -> None:
        """Flush and close the file."""
        self._fh.close()

    def __enter__(self) -> "Recorder":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def read(path: str | Path) -> Iterator[Message]:
    """Messages of a recording, in recorded order.

    Raises
    ------
    RecordingError
        On a line that is not JSON or lacks a field; the message names the line.
    """
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
                yield Message(str(obj["topic"]), str(obj["key"]), float(obj["ts"]), obj["value"].encode("utf-8"))
            except (json.JSONDecodeError, KeyError, TypeError, AttributeError, ValueError) as exc:
                raise RecordingError(f"{path}:{lineno}: not a recorded message ({exc})") from exc


#: columns of READS.csv, the plate-read input of ``topis enforce`` (issue 5)
READS_COLUMNS = ("read_id", "camera_id", "ts", "plate", "confidence")
_KST = dt.timezone(dt.timedelta(hours=9))


def write_reads_csv(reads: Iterable[PlateRead], path: str | Path) -> int:
    """Write plate reads as READS.csv (ts as ISO 8601 in KST with offset); returns rows written."""
    n = 0
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(READS_COLUMNS)
        for r in reads:
            ts = dt.datetime.fromtimestamp(r.ts, _KST).isoformat(timespec="milliseconds")
            w.writerow((r.read_id, r.camera_id, ts, r.plate, f"{r.confidence:.3f}"))
            n += 1
    return n

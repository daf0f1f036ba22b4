"""Pure pieces of the enforcement agents: each rule zone's engine state, and what an outcome publishes.

* :func:`zone_state` — the engine state of one rule zone, cut from the store's
  pending reads (a zone's pending reads and watermark move only with its own
  reads);
* :func:`alert_message` — a watch-list hit for ``enforcement.alerts``, the
  plate masked;
* :func:`dead_letter_message` — a read the engine could not use, for
  ``deadletter``, with only a keyed hash of the plate.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from enforcement import engine
from enforcement.privacy import mask_plate
from topis import topics
from topis.schemas.deadletter import DeadLetter
from topis.schemas.enforcement import WatchAlert

if TYPE_CHECKING:
    from streams.runtime.decode import Received


def zone_state(saved: engine.EngineState, zone: str, rules: engine.RuleBook) -> engine.EngineState:
    """The engine state of one rule zone: the saved pending reads of its own cameras."""
    pending = {key: p for key, p in saved.pending.items()
               if zone_of(rules, p.first.camera_id) == zone}
    return engine.EngineState(rules=rules, pending=pending)


def zone_of(rules: engine.RuleBook, camera_id: str) -> str:
    """The rule zone (plate.reads key) of a camera: its section's for section-speed cameras, else its own."""
    camera = rules.cameras.get(camera_id)
    return topics.plate_read_key(camera_id, camera.section_id if camera else None)


def alert_message(alert: engine.Alert) -> WatchAlert:
    """The topic form of a watch-list alert: plate masked, everything else as recorded."""
    return WatchAlert(alert.alert_id, alert.reason, mask_plate(alert.plate), alert.read_id, alert.camera_id,
                      alert.lat, alert.lon, alert.ts, alert.confidence)


def dead_letter_message(letter: engine.DeadLetter, source: Received | None = None) -> DeadLetter:
    """The topic form of a read the engine could not use (keyed by ``plate.reads``), from message ``source``."""
    where = dict(partition=source.partition, offset=source.offset) if source is not None else {}
    return DeadLetter(topic=topics.PLATE_READS.name, key=letter.camera_id, reason=letter.reason,
                      detail=letter.detail, read_id=letter.read_id, ts=letter.ts, plate_hash=letter.plate_hash, **where)

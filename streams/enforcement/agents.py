"""Enforcement agents: plate reads → rules → the durable case queue.

``plate.reads`` is keyed by *rule zone* (:func:`topis.topics.plate_read_key`:
the section for section-speed cameras, so a section's entry and exit reads
meet in one partition and one engine; the camera otherwise).

* ``detect_violations`` runs :func:`enforcement.engine.process` on each batch,
  with one engine state per rule zone (a zone's pending reads and its
  event-time watermark move only with its own reads: partitions are consumed
  at different paces, and one zone running ahead must not expire another
  zone's pending section entries or stops), and commits the outcome (cases with evidence, alerts, pending reads, no-case
  counts) to the store in one transaction, in a worker thread so the event
  loop never blocks. Only then does the loop move on, so no read is
  acknowledged to Kafka before its outcome is committed. Redelivered reads map
  to the same deterministic case ids and merge instead of duplicating.

Watch-list hits go to ``enforcement.alerts`` with the plate masked (the full
plate is in the store, for staff with the right role); reads the engine
cannot use go to ``deadletter`` with their reason and only a keyed hash of the
plate.
"""

from __future__ import annotations

import asyncio
import json
import logging
from concurrent.futures import ThreadPoolExecutor

import faust
from sqlalchemy.exc import SQLAlchemyError

from enforcement import engine
from enforcement.privacy import mask_plate
from enforcement.store import CaseStore
from topis import topics, wire

log = logging.getLogger(__name__)


def zone_state(saved: engine.EngineState, zone: str, rules: engine.RuleBook) -> engine.EngineState:
    """The engine state of one rule zone: the saved pending reads of its own cameras."""
    pending = {key: p for key, p in saved.pending.items()
               if _zone_of(rules, p.first.camera_id) == zone}
    return engine.EngineState(rules=rules, pending=pending)


def _zone_of(rules: engine.RuleBook, camera_id: str) -> str:
    camera = rules.cameras.get(camera_id)
    return topics.plate_read_key(camera_id, camera.section_id if camera else None)


def alert_message(alert: engine.Alert) -> dict:
    """The topic form of a watch-list alert: plate masked, everything else as recorded."""
    return {"alert_id": alert.alert_id, "reason": alert.reason, "plate_masked": mask_plate(alert.plate),
            "read_id": alert.read_id, "camera_id": alert.camera_id, "lat": alert.lat, "lon": alert.lon,
            "ts": alert.ts, "confidence": alert.confidence}


def dead_letter_message(letter: engine.DeadLetter) -> dict:
    return {"topic": topics.PLATE_READS.name, "key": letter.camera_id, "reason": letter.reason,
            "detail": letter.detail, "read_id": letter.read_id, "ts": letter.ts, "plate_hash": letter.plate_hash}


def install(app: faust.App, rules: engine.RuleBook, store: CaseStore) -> None:
    """Declare the enforcement agents on ``app``; ``store`` is built by the entry point."""
    reads = app.topic(topics.PLATE_READS.name, value_type=bytes, key_type=bytes)
    alerts = app.topic(topics.ENFORCEMENT_ALERTS.name, value_type=bytes, key_type=bytes)
    dead_letters = app.topic(topics.DEAD_LETTERS.name, value_type=bytes, key_type=bytes)
    db = ThreadPoolExecutor(max_workers=1, thread_name_prefix="case-store")  # one writer: ordered commits
    by_zone: dict[str, engine.EngineState] = {}  # working copies; pending reads live in the store
    saved: dict[str, engine.EngineState] = {}  # the store's pending reads, loaded once after (re)assignment

    async def engine_state(zone: str) -> engine.EngineState:
        if zone not in by_zone:
            if "all" not in saved:
                saved["all"] = await asyncio.get_running_loop().run_in_executor(db, store.load_state, rules)
            by_zone[zone] = zone_state(saved["all"], zone, rules)
        return by_zone[zone]

    @app.on_partitions_revoked.connect
    async def reload_engine(sender, revoked, **kwargs) -> None:
        """Partitions moved: rebuild the engines from the store on the next batch."""
        by_zone.clear()
        saved.clear()

    @app.agent(reads)
    async def detect_violations(stream):
        """Turn reads into cases, alerts and dead letters; commit before moving on."""
        async for key, value in stream.items():
            try:
                batch = wire.decode(value, wire.ReadBatch)
            except wire.WireError:
                continue  # dead-lettered and counted by count_reads
            zone = (key or b"").decode()
            state = await engine_state(zone)
            _, outcome = engine.process(state, batch.events)
            try:
                await asyncio.get_running_loop().run_in_executor(db, store.commit, outcome)
            except SQLAlchemyError:
                by_zone.clear()  # the working state is ahead of the store: rebuild it before retrying
                saved.clear()
                raise
            for alert in outcome.alerts:
                await alerts.send(key=alert.camera_id.encode(), value=json.dumps(alert_message(alert)).encode())
            for letter in outcome.dead_letters:
                await dead_letters.send(key=topics.PLATE_READS.name.encode(),
                                        value=json.dumps(dead_letter_message(letter)).encode())

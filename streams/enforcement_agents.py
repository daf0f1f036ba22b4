"""Enforcement agents: plate reads → rules → the durable case queue.

Two hops:

* ``route_reads_to_rules`` re-keys ``plate.reads`` (keyed by camera) onto
  ``enforcement.reads`` keyed by *rule zone*: the section id for section-speed
  cameras (so a section's entry and exit reads meet in one partition, hence one
  engine), the camera id otherwise.
* ``detect_violations`` runs :func:`enforcement.engine.process` on each batch
  and commits the outcome (cases with evidence, alerts, pending reads, no-case
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

from enforcement import engine
from enforcement.privacy import mask_plate
from enforcement.rules import Camera
from enforcement.store import CaseStore
from topis import topics, wire

log = logging.getLogger(__name__)


def rule_zone(camera: Camera | None, camera_id: str) -> str:
    """Partition key of a camera's reads for the rules: its section, else itself."""
    if camera is not None and camera.section_id:
        return f"section:{camera.section_id}"
    return camera_id


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
    zoned = app.topic(topics.ENFORCEMENT_READS.name, value_type=bytes, key_type=bytes,
                      partitions=topics.ENFORCEMENT_READS.partitions)
    alerts = app.topic(topics.ENFORCEMENT_ALERTS.name, value_type=bytes, key_type=bytes)
    dead_letters = app.topic(topics.DEAD_LETTERS.name, value_type=bytes, key_type=bytes)
    db = ThreadPoolExecutor(max_workers=1, thread_name_prefix="case-store")  # one writer: ordered commits
    holder: dict[str, engine.EngineState] = {}  # this worker's engine; pending reads live in the store

    async def engine_state() -> engine.EngineState:
        if "state" not in holder:
            holder["state"] = await asyncio.get_running_loop().run_in_executor(db, store.load_state, rules)
        return holder["state"]

    @app.on_partitions_revoked.connect
    async def reload_engine(sender, revoked, **kwargs) -> None:
        """Partitions moved: rebuild the engine from the store on the next batch."""
        holder.clear()

    @app.agent(reads)
    async def route_reads_to_rules(stream):
        """Re-key plate reads so each rule zone's reads meet in one partition."""
        async for key, value in stream.items():
            try:
                batch = wire.decode(value, wire.ReadBatch)
            except wire.WireError:
                continue  # dead-lettered and counted by count_reads
            camera_id = (key or b"").decode()
            zone = rule_zone(rules.cameras.get(camera_id), camera_id)
            await zoned.send(key=zone.encode(), value=value if zone == camera_id else wire.encode(batch))

    @app.agent(zoned)
    async def detect_violations(stream):
        """Turn reads into cases, alerts and dead letters; commit before moving on."""
        async for value in stream:
            batch = wire.decode(value, wire.ReadBatch)
            state = await engine_state()
            _, outcome = engine.process(state, batch.events)
            await asyncio.get_running_loop().run_in_executor(db, store.commit, outcome)
            for alert in outcome.alerts:
                await alerts.send(key=alert.camera_id.encode(), value=json.dumps(alert_message(alert)).encode())
            for letter in outcome.dead_letters:
                await dead_letters.send(key=topics.PLATE_READS.name.encode(),
                                        value=json.dumps(dead_letter_message(letter)).encode())

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
plate (:mod:`streams.enforcement.outcome`), with the source partition and
offset, counted for the wall with the edge's rejections. Messages that are not
valid batches, and bad rows of a batch, are dead-lettered and counted by the
live agents; ``detect_violations`` uses the rows the edge kept. If the engine
raises on a batch, the batch is dead-lettered (``processing_error``) and the
working state rebuilt from the store.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor

import faust
from sqlalchemy.exc import SQLAlchemyError

from enforcement import engine
from enforcement.store import CaseStore
from streams.enforcement.outcome import alert_message, dead_letter_message, zone_state
from streams.runtime.app import agent, topic
from streams.runtime.decode import FAILED, DeadLetters
from topis import topics, wire

log = logging.getLogger(__name__)


class EnforcementAgents:
    """The violation detector over the case store (built by the entry point), declared on ``app``."""

    def __init__(self, app: faust.App, rules: engine.RuleBook, store: CaseStore, dead_letters: DeadLetters):
        self.rules, self.store, self.dead_letters = rules, store, dead_letters
        rules.warm()  # the misread index (seconds at Seoul scale) is built at boot, not on the first read
        self.alerts = topic(app, topics.ENFORCEMENT_ALERTS)
        self.db = ThreadPoolExecutor(max_workers=1, thread_name_prefix="case-store")  # one writer: ordered commits
        self.by_zone: dict[str, engine.EngineState] = {}  # working copies; pending reads live in the store
        self.saved: dict[str, engine.EngineState] = {}  # the store's pending reads, loaded once after (re)assignment
        agent(app, topic(app, topics.PLATE_READS), self.detect_violations)
        app.on_partitions_revoked.connect(self.reload_engine)

    async def detect_violations(self, stream):
        """Turn reads into cases, alerts and dead letters; commit before moving on."""
        async for event in stream.events():
            received = self.dead_letters.read(topics.PLATE_READS, event)  # what is bad: count_reads' to letter
            if received.batch is None:
                continue
            state = await self.engine_state(received.key)
            out = await self.dead_letters.fold(received, "detect_violations", engine.process, state,
                                               received.batch.events)
            if out is FAILED:
                self.by_zone.clear()  # the working state may be half-way through the batch: rebuild from the store
                continue
            _, outcome = out
            await self.commit(outcome)
            for alert in outcome.alerts:
                await self.alerts.send(key=alert.camera_id.encode(), value=wire.encode(alert_message(alert)))
            await self.dead_letters.engine_letters(received, [dead_letter_message(d, received)
                                                              for d in outcome.dead_letters], "/detect_violations")

    async def engine_state(self, zone: str) -> engine.EngineState:
        """The working engine state of a rule zone (cut from the store's pending reads the first time)."""
        if zone not in self.by_zone:
            if "all" not in self.saved:
                self.saved["all"] = await asyncio.get_running_loop().run_in_executor(
                    self.db, self.store.load_state, self.rules)
            self.by_zone[zone] = zone_state(self.saved["all"], zone, self.rules)
        return self.by_zone[zone]

    async def commit(self, outcome: engine.Outcome) -> None:
        """Commit an outcome to the store in its thread; on failure, rebuild the working state before retrying."""
        try:
            await asyncio.get_running_loop().run_in_executor(self.db, self.store.commit, outcome)
        except SQLAlchemyError:
            self.by_zone.clear()  # the working state is ahead of the store
            self.saved.clear()
            raise

    async def reload_engine(self, sender, revoked, **kwargs) -> None:
        """Partitions moved: rebuild the engines from the store on the next batch."""
        self.by_zone.clear()
        self.saved.clear()

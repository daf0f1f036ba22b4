"""Live agents: thin loops over the pure functions in ``streams.live.state``.

Each input topic has one agent; state lives in Faust tables keyed like the
topic (route, or rule zone for plate reads), so a key's state is in the same partition as its
events and moves with it when workers are added. The vehicles of a route are a
working copy checkpointed to its table (:class:`streams.runtime.checkpoint.Checkpointed`);
the counters are written per message (their offsets make a redelivery count once). A timer publishes the read
model (``state.vehicles``, ``state.counters``) that the dashboard reads.

These agents own the input topics' bad messages (:mod:`streams.runtime.decode`):
what of a message is rejected (all of it, or its bad rows) goes to the
``deadletter`` topic with its reason and source offset and is counted per
source partition and reason; the agent keeps running. The counts are published
with the other counters (kind ``rejected``).
"""

from __future__ import annotations

import time

import faust

from streams.live import state as livestate
from streams.runtime.app import agent, timer, topic
from streams.runtime.checkpoint import Checkpointed
from streams.runtime.decode import FAILED, DeadLetters, publish_bounded
from topis import topics
from topis.settings import StreamSettings


class LiveAgents:
    """The live state's tables, its three counting agents and the read-model timer, declared on ``app``."""

    def __init__(self, app: faust.App, settings: StreamSettings, dead_letters: DeadLetters):
        self.settings = settings
        self.dead_letters = dead_letters
        self.state_vehicles = topic(app, topics.STATE_VEHICLES)
        self.state_counters = topic(app, topics.STATE_COUNTERS)
        table_args = dict(partitions=topics.BUS_POSITIONS.partitions, key_type=str)
        # written per message it would send a route's whole entry to the changelog on every fix batch
        # (~5 % of a worker at Seoul scale): a working copy, checkpointed; a restart loses seconds of positions
        self.vehicles_by_route = Checkpointed(app, "vehicles_by_route", topics.BUS_POSITIONS.partitions, dict,
                                              lambda _: livestate.empty_vehicles(), every_s=settings.checkpoint_every_s)
        self.taps_by_route = app.Table("taps_per_minute_by_route", default=dict, **table_args)
        self.reads_by_camera = app.Table("reads_per_minute_by_camera", default=dict, **table_args)
        agent(app, topic(app, topics.BUS_POSITIONS), self.track_vehicles)
        agent(app, topic(app, topics.CARD_TAPS), self.count_taps)
        agent(app, topic(app, topics.PLATE_READS), self.count_reads)
        timer(app, settings.snapshot_interval_s, self.publish_read_model)

    async def track_vehicles(self, stream):
        """Keep the latest position of every vehicle, per route."""
        async for event in stream.events():
            received = await self.dead_letters.take(topics.BUS_POSITIONS, event)
            if received.batch is None:
                continue
            entry = await self.dead_letters.fold(received, "track_vehicles", livestate.track,
                                                 self.vehicles_by_route.get(received.key), received.batch.events,
                                                 time.time(), self.settings.vehicle_timeout_s)
            if entry is not FAILED:
                self.vehicles_by_route.put(received.key, entry)
                self.vehicles_by_route.save_if_due(received.key)

    async def count_taps(self, stream):
        """Count card taps per route per minute."""
        await self._count_events(stream, topics.CARD_TAPS, self.taps_by_route, "count_taps", by=lambda tap: tap.route_id)

    async def count_reads(self, stream):
        """Count plate reads per camera per minute."""
        await self._count_events(stream, topics.PLATE_READS, self.reads_by_camera, "count_reads",
                                 by=lambda read: read.camera_id)

    async def _count_events(self, stream, source: topics.TopicSpec, table: faust.Table, name: str, by) -> None:
        async for event in stream.events():
            received = await self.dead_letters.take(source, event)
            if received.batch is None:
                continue
            held = {k: table[k] for k in {by(e) for e in received.batch.events}}
            entries = await self.dead_letters.fold(received, name, livestate.count_batch, held, received.batch.events,
                                                   by, received.partition, received.offset, time.time())
            if entries is not FAILED:
                for counted_key, entry in entries.items():
                    table[counted_key] = entry

    async def publish_read_model(self) -> None:
        """Publish this worker's share of the live state for the dashboard, a few snapshots per message."""
        per_message = self.settings.read_model_chunk_snapshots
        counters = [("taps", k, e) for k, e in list(self.taps_by_route.items())]
        counters += [("reads", k, e) for k, e in list(self.reads_by_camera.items())]
        counters += [("rejected", k, e) for k, e in self.dead_letters.entries()]
        limit = self.dead_letters.max_output_bytes  # a route with thousands of vehicles: split, never a crash
        for key, message in livestate.vehicles_messages(list(self.vehicles_by_route.items()), time.time(), per_message):
            await publish_bounded(self.state_vehicles, key.encode(), message, limit)
        for key, message in livestate.counters_messages(counters, per_message):
            await publish_bounded(self.state_counters, key.encode(), message, limit)

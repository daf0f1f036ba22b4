"""Live agents: thin loops over the pure functions in ``streams.live.state``.

Each input topic has one agent; state lives in Faust tables keyed like the
topic (route, or rule zone for plate reads), so a key's state is in the same partition as its
events and moves with it when workers are added. A timer publishes the read
model (``state.vehicles``, ``state.counters``) that the dashboard reads.

These agents own the input topics' bad messages (:mod:`streams.runtime.decode`):
a message that is not a valid batch goes to the ``deadletter`` topic with its
reason and is counted in its key's entry; the agent keeps running.
"""

from __future__ import annotations

import time

import faust

from streams.live import state as livestate
from streams.runtime.app import agent, topic
from streams.runtime.decode import DeadLetters, dead_letter, decode_value, key_text
from topis import topics, wire
from topis.settings import StreamSettings


class LiveAgents:
    """The live state's tables, its three counting agents and the read-model timer, declared on ``app``."""

    def __init__(self, app: faust.App, settings: StreamSettings, dead_letters: DeadLetters):
        self.settings = settings
        self.dead_letters = dead_letters
        self.state_vehicles = topic(app, topics.STATE_VEHICLES)
        self.state_counters = topic(app, topics.STATE_COUNTERS)
        table_args = dict(partitions=topics.BUS_POSITIONS.partitions, key_type=str)
        self.vehicles_by_route = app.Table("vehicles_by_route", default=dict, **table_args)
        self.taps_by_route = app.Table("taps_per_minute_by_route", default=dict, **table_args)
        self.reads_by_camera = app.Table("reads_per_minute_by_camera", default=dict, **table_args)
        agent(app, topic(app, topics.BUS_POSITIONS), self.track_vehicles)
        agent(app, topic(app, topics.CARD_TAPS), self.count_taps)
        agent(app, topic(app, topics.PLATE_READS), self.count_reads)
        app.timer(settings.snapshot_interval_s)(self.publish_read_model)

    async def _decoded(self, source: topics.TopicSpec, key: str, value: bytes, table: faust.Table, empty: dict):
        """The batch, or None after dead-lettering it and counting the dead letter in ``table[key]``."""
        batch, reason = decode_value(value, source.value)
        if reason is not None:
            table[key] = livestate.with_dead_letter(table[key], empty)
            await self.dead_letters.send(dead_letter(source.name, key, value, reason))
        return batch

    async def track_vehicles(self, stream):
        """Keep the latest position of every vehicle, per route."""
        async for key, value in stream.items():
            route_id = key_text(key)
            batch = await self._decoded(topics.BUS_POSITIONS, route_id, value, self.vehicles_by_route,
                                        livestate.empty_vehicles())
            if batch is not None:
                self.vehicles_by_route[route_id] = livestate.track(
                    self.vehicles_by_route[route_id], batch.events, time.time(), self.settings.vehicle_timeout_s)

    async def count_taps(self, stream):
        """Count card taps per route per minute."""
        await self._count_events(stream, topics.CARD_TAPS, self.taps_by_route, by=lambda tap: tap.route_id)

    async def count_reads(self, stream):
        """Count plate reads per camera per minute."""
        await self._count_events(stream, topics.PLATE_READS, self.reads_by_camera, by=lambda read: read.camera_id)

    async def _count_events(self, stream, source: topics.TopicSpec, table: faust.Table, by) -> None:
        async for event in stream.events():
            batch = await self._decoded(source, key_text(event.key), event.value, table, livestate.empty_counter())
            if batch is None:
                continue
            for counted_key, events in livestate.group_by(batch.events, by).items():
                entry = livestate.counted(table[counted_key], [e.ts for e in events], event.message.partition,
                                          event.message.offset, time.time())
                if entry is not None:  # None: a redelivered message, counted once already
                    table[counted_key] = entry

    async def publish_read_model(self) -> None:
        """Publish this worker's share of the live state for the dashboard, a few snapshots per message."""
        per_message = self.settings.read_model_chunk_snapshots
        counters = [("taps", k, e) for k, e in list(self.taps_by_route.items())]
        counters += [("reads", k, e) for k, e in list(self.reads_by_camera.items())]
        for key, message in livestate.vehicles_messages(list(self.vehicles_by_route.items()), time.time(), per_message):
            await self.state_vehicles.send(key=key.encode(), value=wire.encode(message))
        for key, message in livestate.counters_messages(counters, per_message):
            await self.state_counters.send(key=key.encode(), value=wire.encode(message))

"""Faust agents: thin loops over the pure functions in ``streams.live.state``.

Each input topic has one agent; state lives in Faust tables keyed like the
topic (route or camera), so a key's state is in the same partition as its
events and moves with it when workers are added. A timer publishes the
read model (``state.vehicles``, ``state.counters``) that the dashboard reads.

A message that is not a valid batch goes to the ``deadletter`` topic with its
reason and is counted; the agent keeps running.
"""

from __future__ import annotations

import json
import logging
import time

import faust

from streams.live import state as livestate
from topis import topics, wire
from topis.settings import StreamSettings

log = logging.getLogger(__name__)

#: a vehicle not heard from for this long (event time) leaves the live state.
VEHICLE_TIMEOUT_S = 600.0
#: snapshots per read-model message (~50 routes of ~20 buses ≈ 150 kB).
READ_MODEL_CHUNK = 50


def _entry(counts: dict | None) -> dict:
    return counts or {"per_minute": {}, "last_event_ts": None, "received_ts": None, "dead_letters": 0}


def install(app: faust.App, settings: StreamSettings) -> None:
    """Declare topis's topics, tables, agents and timers on ``app``."""
    positions = app.topic(topics.BUS_POSITIONS.name, value_type=bytes, key_type=bytes)
    taps = app.topic(topics.CARD_TAPS.name, value_type=bytes, key_type=bytes)
    reads = app.topic(topics.PLATE_READS.name, value_type=bytes, key_type=bytes)
    state_vehicles = app.topic(topics.STATE_VEHICLES.name, value_type=bytes, key_type=bytes)
    state_counters = app.topic(topics.STATE_COUNTERS.name, value_type=bytes, key_type=bytes)
    dead_letters = app.topic(topics.DEAD_LETTERS.name, value_type=bytes, key_type=bytes)

    table_args = dict(partitions=topics.BUS_POSITIONS.partitions, key_type=str)
    vehicles_by_route = app.Table("vehicles_by_route", default=dict, **table_args)
    taps_by_route = app.Table("taps_per_minute_by_route", default=dict, **table_args)
    reads_by_camera = app.Table("reads_per_minute_by_camera", default=dict, **table_args)

    async def reject(source: str, key: str, value: bytes, reason: str, table: faust.Table) -> None:
        entry = _entry(table[key])
        table[key] = {**entry, "dead_letters": entry["dead_letters"] + 1}
        letter = {"topic": source, "key": key, "reason": reason, "value": value.decode(errors="replace")}
        await dead_letters.send(key=source.encode(), value=json.dumps(letter).encode())
        log.warning("dead letter from %s key %s: %s", source, key, reason)

    @app.agent(positions)
    async def track_vehicles(stream):
        """Keep the latest position of every vehicle, per route."""
        async for key, value in stream.items():
            route_id = (key or b"").decode()
            try:
                batch = wire.decode(value, wire.PositionBatch)
            except wire.WireError as exc:
                await reject(positions.get_topic_name(), route_id, value, str(exc), vehicles_by_route)
                continue
            entry = vehicles_by_route[route_id] or {"vehicles": {}, "dead_letters": 0}
            vehicles = livestate.latest_positions(entry["vehicles"], batch.events)
            newest_ts = max((v["ts"] for v in vehicles.values()), default=0.0)
            vehicles = livestate.drop_stale(vehicles, newest_ts, VEHICLE_TIMEOUT_S)
            vehicles_by_route[route_id] = {**entry, "vehicles": vehicles, "received_ts": time.time()}

    async def count_events(stream, kind: type[wire.TapBatch] | type[wire.ReadBatch], table: faust.Table, by):
        async for event in stream.events():
            key_text = (event.key or b"").decode()
            try:
                batch = wire.decode(event.value, kind)
            except wire.WireError as exc:
                await reject(stream.channel.get_topic_name(), key_text, event.value, str(exc), table)
                continue
            at = event.message.partition, event.message.offset
            for counted_key, events in livestate.group_by(batch.events, by).items():
                entry = _entry(table[counted_key])
                if livestate.already_counted(entry.get("counted_at"), *at):
                    continue  # redelivered: counted once already
                event_ts = [e.ts for e in events]
                last_ts = max([*event_ts, entry["last_event_ts"] or 0.0])
                per_minute = livestate.count_per_minute(entry["per_minute"], event_ts, last_ts)
                table[counted_key] = {**entry, "per_minute": per_minute, "last_event_ts": last_ts,
                                      "received_ts": time.time(), "counted_at": list(at)}

    @app.agent(taps)
    async def count_taps(stream):
        """Count card taps per route per minute."""
        await count_events(stream, wire.TapBatch, taps_by_route, by=lambda tap: tap.route_id)

    @app.agent(reads)
    async def count_reads(stream):
        """Count plate reads per camera per minute."""
        await count_events(stream, wire.ReadBatch, reads_by_camera, by=lambda read: read.camera_id)

    @app.timer(interval=settings.snapshot_interval_s)
    async def publish_read_model():
        """Publish this worker's share of the live state for the dashboard, a few messages per tick."""
        now = time.time()
        routes = []
        for route_id, entry in list(vehicles_by_route.items()):
            snapshot = livestate.vehicles_snapshot(route_id, entry.get("vehicles", {}), now)
            snapshot.update(received_ts=entry.get("received_ts"), dead_letters=entry.get("dead_letters", 0))
            routes.append(snapshot)
        counters = []
        for kind, table in (("taps", taps_by_route), ("reads", reads_by_camera)):
            for key, entry in list(table.items()):
                snapshot = livestate.counter_snapshot(kind, key, entry["per_minute"], entry["last_event_ts"])
                snapshot.update(received_ts=entry["received_ts"], dead_letters=entry["dead_letters"])
                counters.append(snapshot)
        for topic, snapshots in ((state_vehicles, routes), (state_counters, counters)):
            for chunk in livestate.chunks(snapshots, READ_MODEL_CHUNK):
                await topic.send(key=chunk[0].get("route_id", chunk[0].get("key", "")).encode(),
                                 value=json.dumps({"snapshots": chunk}).encode())

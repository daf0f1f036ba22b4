"""Demand agents: card taps → located taps → rides and journeys → loads, OD and planner inputs.

Three keyed stages (see :mod:`streams.demand.taps` for why): ``locate_taps`` (by
route) places taps on a route pattern and a bus run; ``link_rides`` (by card
bucket) builds rides, infers missing tap-offs, links transfers and counts
OD; ``load_routes`` (by route) turns rides into bus and segment loads. A timer
publishes the optimizer's inputs: ``demand.squirrel`` (peak load by segment,
per route) and ``demand.owl`` (night OD of this worker's card buckets; a
consumer merges the workers' messages with :func:`streams.demand.od.merge`).
"""

from __future__ import annotations

import time

import faust
import msgspec

from streams.demand import boardings, loads, od
from streams.demand.aggregates import encode as encode_aggregate
from streams.demand.taps import LocatedTapBatch, RideBatch, RoutePatterns, by_card_bucket, by_route
from streams.runtime.checkpoint import Checkpointed
from topis import topics, wire
from topis.settings import StreamSettings

_encode = msgspec.json.Encoder(enc_hook=wire.plain).encode
_located = msgspec.json.Decoder(LocatedTapBatch).decode
_rides = msgspec.json.Decoder(RideBatch).decode


def install(app: faust.App, settings: StreamSettings, patterns: RoutePatterns) -> None:
    """Declare the demand agents on ``app``."""
    n = topics.CARD_TAPS.partitions
    taps = app.topic(topics.CARD_TAPS.name, value_type=bytes, key_type=bytes)
    located = app.topic(topics.CARD_LOCATED.name, value_type=bytes, key_type=bytes)
    rides = app.topic(topics.CARD_RIDES.name, value_type=bytes, key_type=bytes)
    squirrel_topic = app.topic(topics.DEMAND_SQUIRREL.name, value_type=bytes, key_type=bytes)
    owl_topic = app.topic(topics.DEMAND_OWL.name, value_type=bytes, key_type=bytes)

    route_taps = Checkpointed(app, "tap_state_by_route", n, boardings.RouteTapState, boardings.RouteTapState)
    cards = Checkpointed(app, "card_state_by_bucket", topics.CARD_LOCATED.partitions, od.CardLinkState,
                         lambda _: od.CardLinkState())
    od_counts = Checkpointed(app, "od_counts_by_bucket", topics.CARD_LOCATED.partitions, od.ODCounts,
                             lambda _: od.ODCounts())
    route_loads = Checkpointed(app, "load_state_by_route", topics.CARD_RIDES.partitions, loads.RouteLoadState,
                               loads.RouteLoadState)
    @app.agent(taps)
    async def locate_taps(stream):
        """Place each route's taps on its patterns and bus runs; pass them on by card bucket."""
        async for key, value in stream.items():
            route_id = (key or b"").decode()
            try:
                batch = wire.decode(value, wire.TapBatch)
            except wire.WireError:
                continue  # dead-lettered and counted by count_taps
            _, placed = boardings.advance(route_taps.get(route_id), batch.events, patterns)
            route_taps.save_if_due(route_id)
            for bucket, out in by_card_bucket(placed).items():
                await located.send(key=bucket.encode(), value=_encode(out))

    @app.agent(located)
    async def link_rides(stream):
        """Build each card's rides and journeys; count OD; pass rides on by route."""
        async for key, value in stream.items():
            bucket = (key or b"").decode()
            _, out = od.advance(cards.get(bucket), _located(value).events, patterns)
            od.accumulate(od_counts.get(bucket), out.journeys)
            cards.save_if_due(bucket)
            od_counts.save_if_due(bucket)
            for route_id, batch in by_route(out.rides).items():
                await rides.send(key=route_id.encode(), value=_encode(batch))

    @app.agent(rides)
    async def load_routes(stream):
        """Turn rides into loads on each bus and route segment."""
        async for key, value in stream.items():
            route_id = (key or b"").decode()
            loads.advance(route_loads.get(route_id), _rides(value).events, patterns)
            route_loads.save_if_due(route_id)

    @app.timer(interval=settings.aggregate_interval_s)
    async def publish_planner_inputs():
        """Publish this worker's Squirrel load profiles and night OD for the optimizer."""
        now = time.time()
        for route_id, state in route_loads.items():
            profile = loads.squirrel_input(state, patterns, now)
            await squirrel_topic.send(key=route_id.encode(), value=encode_aggregate(profile))
        for bucket, state in cards.items():  # close rides and journeys that can no longer change
            _, out = od.expire(state, state.newest_ts, patterns)
            od.accumulate(od_counts.get(bucket), out.journeys)
            for route_id, batch in by_route(out.rides).items():
                await rides.send(key=route_id.encode(), value=_encode(batch))
        merged = od.ODCounts()
        for _, counts in od_counts.items():
            merged = od.merge(merged, counts)
        await owl_topic.send(key=b"night", value=encode_aggregate(od.owl_input(merged, now)))

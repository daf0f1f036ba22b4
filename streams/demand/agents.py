"""Demand agents: card taps → located taps → rides and journeys → loads, OD and planner inputs.

Three keyed stages (see :mod:`streams.demand.taps` for why): ``locate_taps`` (by
route) places taps on a route pattern and a bus run; ``link_rides`` (by card
bucket) builds rides, infers missing tap-offs, links transfers and counts
OD; ``load_routes`` (by route) turns rides into bus and segment loads. A timer
publishes the optimizer's inputs: ``demand.squirrel`` (peak load by segment,
per route) and ``demand.owl`` (night OD of this worker's card buckets; a
consumer merges the workers' messages with :func:`streams.demand.od.merge`).

Bad ``card.taps`` messages (and bad rows of a batch) are dead-lettered and
counted by the live agents, and ``locate_taps`` uses the rows the edge kept;
``link_rides`` and ``load_routes`` own (dead-letter) the bad messages of
``card.located`` and ``card.rides``. A stage whose fold raises on a message
dead-letters it (``processing_error``) and goes on.
"""

from __future__ import annotations

import time

import faust

from streams.demand import boardings, loads, od
from streams.demand.taps import RoutePatterns, by_card_bucket, by_route
from streams.runtime.app import agent, each_current, timer, topic
from streams.runtime.checkpoint import Checkpointed
from streams.runtime.decode import FAILED, DeadLetters, publish_bounded
from topis import topics, wire
from topis.settings import StreamSettings


class DemandAgents:
    """The three demand stages and the planner-input timer, declared on ``app``."""

    def __init__(self, app: faust.App, settings: StreamSettings, patterns: RoutePatterns, dead_letters: DeadLetters):
        self.settings, self.patterns, self.dead_letters = settings, patterns, dead_letters
        self.located = topic(app, topics.CARD_LOCATED)
        self.rides = topic(app, topics.CARD_RIDES)
        self.squirrel = topic(app, topics.DEMAND_SQUIRREL)
        self.owl = topic(app, topics.DEMAND_OWL)
        every_s, buckets = settings.checkpoint_every_s, topics.CARD_LOCATED.partitions
        self.route_taps = Checkpointed(app, "tap_state_by_route", topics.CARD_TAPS.partitions, boardings.RouteTapState,
                                       boardings.RouteTapState, every_s=every_s)
        self.cards = Checkpointed(app, "card_state_by_bucket", buckets, od.CardLinkState, lambda _: od.CardLinkState(),
                                  every_s=every_s)
        self.od_counts = Checkpointed(app, "od_counts_by_bucket", buckets, od.ODCounts, lambda _: od.ODCounts(),
                                      every_s=every_s)
        self.route_loads = Checkpointed(app, "load_state_by_route", topics.CARD_RIDES.partitions, loads.RouteLoadState,
                                        loads.RouteLoadState, every_s=every_s)
        agent(app, topic(app, topics.CARD_TAPS), self.locate_taps)
        agent(app, self.located, self.link_rides)
        agent(app, self.rides, self.load_routes)
        timer(app, settings.aggregate_interval_s, self.publish_planner_inputs)

    async def locate_taps(self, stream):
        """Place each route's taps on its patterns and bus runs; pass them on by card bucket.

        Messages are taken a batch at a time (up to ``tap_batch_messages``, or what came within
        ``tap_batch_s``) and their located taps sent on as one message per card bucket: a route's
        message holds a few taps, and one message per bucket per route message would be nearly
        one per tap. The batch's messages are acknowledged once its outputs are sent.
        """
        async for events in stream.take_events(self.settings.tap_batch_messages, self.settings.tap_batch_s):
            located, last = [], None
            for event in each_current(stream, events):
                received = self.dead_letters.read(topics.CARD_TAPS, event)  # what is bad: count_taps' to letter
                if received.batch is None:
                    continue
                route_id = received.key
                out = await self.dead_letters.fold(received, "locate_taps", boardings.advance,
                                                   self.route_taps.get(route_id), received.batch.events, self.patterns)
                if out is FAILED:
                    continue
                self.route_taps.save_if_due(route_id)
                located.extend(out[1])
                last = received
            for bucket, batch in by_card_bucket(located).items():
                await self.dead_letters.send_out(self.located, bucket.encode(), wire.encode(batch), last, "locate_taps")

    async def link_rides(self, stream):
        """Build each card's rides and journeys; count OD; pass rides on by route."""
        async for event in stream.events():
            received = await self.dead_letters.take(topics.CARD_LOCATED, event)
            if received.batch is None:
                continue
            bucket = received.key
            out = await self.dead_letters.fold(received, "link_rides", self._link, bucket, received.batch.events)
            if out is FAILED:
                continue
            self.cards.save_if_due(bucket)
            self.od_counts.save_if_due(bucket)
            for route_id, rides in by_route(out.rides).items():
                await self.dead_letters.send_out(self.rides, route_id.encode(), wire.encode(rides), received,
                                                 "link_rides")

    def _link(self, bucket: str, events) -> od.CardStageOutput:
        """The card stage of one located batch: rides and journeys, the journeys counted into the OD."""
        _, out = od.advance(self.cards.get(bucket), events, self.patterns)
        od.accumulate(self.od_counts.get(bucket), out.journeys)
        return out

    async def load_routes(self, stream):
        """Turn rides into loads on each bus and route segment."""
        async for event in stream.events():
            received = await self.dead_letters.take(topics.CARD_RIDES, event)
            if received.batch is None:
                continue
            out = await self.dead_letters.fold(received, "load_routes", loads.advance,
                                               self.route_loads.get(received.key), received.batch.events, self.patterns)
            if out is not FAILED:
                self.route_loads.save_if_due(received.key)

    async def publish_planner_inputs(self) -> None:
        """Publish this worker's Squirrel load profiles, the rides that can no longer change, and its night OD."""
        now, limit = time.time(), self.dead_letters.max_output_bytes  # too big for one message: split or skipped
        for route_id, state in self.route_loads.items():
            profile = loads.squirrel_input(state, self.patterns, now)
            await publish_bounded(self.squirrel, route_id.encode(), profile, limit)
        closing = [(state, self.od_counts.get(bucket)) for bucket, state in self.cards.items()]
        for route_id, rides in od.close_rides(closing, self.patterns):
            await publish_bounded(self.rides, route_id.encode(), rides, limit)
        night = od.night_input((counts for _, counts in self.od_counts.items()), now)
        await publish_bounded(self.owl, b"night", night, limit)

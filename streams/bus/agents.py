"""Bus operations agent: positions → matching, arrivals, headways, predictions, per route.

``track_routes`` is a loop over :func:`streams.bus.route_view.advance` (the
pipeline, then the route's view). Its outputs:

* ``bus.events`` — arrivals, departures, headway observations, bunching and
  gapping alerts with holding advice (JSON list of tagged events per message);
* ``bus.predictions`` — every arrival prediction made, one round per bus and fix
  (:class:`topis.schemas.bus.PredictionRound`, a JSON list per message);
* ``state.routes`` — the read model of each route for the dashboard, every
  ``route_snapshot_interval_s`` (2 s) when it changed (vehicles with status, Marey points, alerts, headways, next arrivals);
  the Marey points are all of them every ``marey_full_every_s``, only the new
  ones in between;
* ``bus.positions`` again, for fixes that came with no route (key "") or a
  route the feed does not know: :func:`streams.bus.route_assignment.place_fixes`
  places each on a route (over the vehicle's recent fixes) and the agent
  republishes it keyed by that route, so the route's state stays in one
  partition. Fixes no route fits are counted and published on
  ``state.counters`` (kind ``unrouted``, key = the source key).

State. A route's pipeline state is large (matching state of every bus,
travel-time history) and changes with every fix, so writing it to the table's
changelog per message would dominate the worker. The live object is kept in
the table's in-memory mapping of this worker's partitions and *checkpointed*
to the changelog at most every ``checkpoint_every_s`` (by the agent, so the write
lands in the route's own partition); after a rebalance or restart a route
resumes from its last checkpoint (at most that much learning is lost; buses
re-match on their next fix).

Bad messages on ``bus.positions`` and ``card.taps`` are dead-lettered and
counted by the live agents (:mod:`streams.live.agents`); these agents use what
the edge kept (:meth:`streams.runtime.decode.DeadLetters.read`: the good rows
of a batch). A fold that raises on a message dead-letters it
(``processing_error``) and the agent goes on.
"""

from __future__ import annotations

import time

import faust

from streams.bus import route_assignment, route_view
from streams.bus.gtfs import Feed
from streams.bus.headways import HeadwayParams
from streams.bus.pipeline import RouteState, observe_taps, route_model
from streams.bus.predictions import PredictParams
from streams.runtime.app import agent, timer, topic
from streams.runtime.checkpoint import Checkpointed
from streams.runtime.decode import FAILED, DeadLetters, Received, publish_bounded
from topis import topics, wire
from topis.schemas.inputs import PositionBatch
from topis.settings import StreamSettings


class BusAgents:
    """Bus operations on ``app``: the per-route pipeline, route assignment, and the route read model."""

    def __init__(self, app: faust.App, settings: StreamSettings, feed: Feed, dead_letters: DeadLetters):
        self.settings, self.feed, self.dead_letters = settings, feed, dead_letters
        predict = PredictParams(repredict_every_s=settings.repredict_every_s)
        self.models = {route_id: route_model(feed, route_id, predict=predict) for route_id in feed.routes}
        self.index = route_assignment.route_index(feed)
        self.params = HeadwayParams()
        self.positions = topic(app, topics.BUS_POSITIONS)  # also where placed fixes are republished
        self.events = topic(app, topics.BUS_EVENTS)
        self.predictions = topic(app, topics.BUS_PREDICTIONS)
        self.state_routes = topic(app, topics.STATE_ROUTES)
        self.state_counters = topic(app, topics.STATE_COUNTERS)
        n, every_s = topics.BUS_POSITIONS.partitions, settings.checkpoint_every_s
        self.assigners = Checkpointed(app, "route_assignment_by_key", n, route_assignment.AssignmentState,
                                      lambda key: route_assignment.AssignmentState(), every_s=every_s)
        self.routes = Checkpointed(app, "bus_state_by_route", n, route_view.LiveRoute,
                                   lambda route_id: route_view.LiveRoute(RouteState(route_id)), every_s=every_s)
        self.changed: set[str] = set()  # routes with new fixes since their last read-model snapshot
        self.marey_sent: dict[str, dict[str, float]] = {}  # route -> trip -> newest Marey point published
        self.marey_full_ts: dict[str, float] = {}  # route -> when its last full set of Marey points went out
        self.unrouted_changed: set[str] = set()  # source keys with fixes since their last counter snapshot
        agent(app, self.positions, self.track_routes)
        agent(app, topic(app, topics.CARD_TAPS), self.learn_boardings)
        timer(app, settings.route_snapshot_interval_s, self.publish_routes)

    async def track_routes(self, stream):
        """Match every fix, emit arrivals, headways, alerts and predictions, per route."""
        async for event in stream.events():
            received = self.dead_letters.read(topics.BUS_POSITIONS, event)  # what is bad: track_vehicles' to letter
            route_id, batch = received.key, received.batch
            if batch is None or (route_id not in self.models and not batch.events):
                continue
            if route_id not in self.models:  # no route, or one the feed does not know
                await self._place_on_routes(received)
                continue
            # far behind, predictions for the past help nobody: catch up on arrivals and headways first
            fresh = not event.message.timestamp or time.time() - event.message.timestamp <= self.settings.predict_max_lag_s
            out = await self.dead_letters.fold(received, "track_routes", route_view.advance, self.routes.get(route_id),
                                               batch.events, self.models[route_id], fresh)
            self.changed.add(route_id)
            if out is FAILED:
                continue
            published, predictions = out
            if published:
                await self.dead_letters.send_out(self.events, event.key, wire.encode(published), received, "track_routes")
            if predictions:
                await self.dead_letters.send_out(self.predictions, event.key, wire.encode(predictions), received,
                                                 "track_routes")
            self.routes.save_if_due(route_id)  # in the event's partition

    async def _place_on_routes(self, received: Received) -> None:
        """Give fixes with no known route their route; republish them keyed by it (same topic)."""
        source_key = received.key
        placed = await self.dead_letters.fold(received, "track_routes", route_assignment.place_fixes, self.feed,
                                              self.index, self.assigners.get(source_key), received.batch.events)
        if placed is FAILED:
            return
        for route_id, route_fixes in placed.items():
            await self.dead_letters.send_out(self.positions, route_id.encode(), wire.encode(PositionBatch(route_fixes)),
                                             received, "track_routes")
        self.unrouted_changed.add(source_key)
        self.assigners.save_if_due(source_key)  # in the source key's partition

    async def learn_boardings(self, stream):
        """Fold card taps into each route's boarding rates (dwell in the predictions)."""
        async for event in stream.events():
            received = self.dead_letters.read(topics.CARD_TAPS, event)  # what is bad: count_taps' to letter
            route_id = received.key
            if received.batch is not None and route_id in self.models:
                await self.dead_letters.fold(received, "learn_boardings", observe_taps,
                                             self.routes.get(route_id).pipeline, received.batch.events,
                                             self.models[route_id])

    async def publish_routes(self) -> None:
        """Publish the read model of this worker's routes and unrouted keys that changed since the last tick."""
        now = time.time()
        live, placing = dict(self.routes.items()), dict(self.assigners.items())
        due, self.changed = [r for r in self.changed if r in live], set()
        unrouted, self.unrouted_changed = [k for k in self.unrouted_changed if k in placing], set()
        for route_id in due:
            full = now - self.marey_full_ts.get(route_id, float("-inf")) >= self.settings.marey_full_every_s
            marey, self.marey_sent[route_id] = route_view.marey_update(
                live[route_id].view.marey, None if full else self.marey_sent.get(route_id))
            if full:
                self.marey_full_ts[route_id] = now
            snapshot = route_view.snapshot(route_id, live[route_id], self.params, now, marey=marey, marey_full=full)
            await publish_bounded(self.state_routes, route_id.encode(), snapshot, self.dead_letters.max_output_bytes)
        for key in unrouted:
            message = route_assignment.unrouted_counter(key, placing[key], self.settings.assignment_forget_s, now)
            await publish_bounded(self.state_counters, key.encode(), message, self.dead_letters.max_output_bytes)

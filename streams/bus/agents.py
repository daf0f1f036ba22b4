"""Bus operations agent: positions → matching, arrivals, headways, predictions, per route.

``track_routes`` is a loop over :func:`streams.bus.pipeline.advance` and
:func:`streams.bus.route_view.fold`. Its outputs:

* ``bus.events`` — arrivals, departures, headway observations, bunching and
  gapping alerts with holding advice (JSON list of tagged events per message);
* ``bus.predictions`` — every arrival prediction made (JSON list per message);
* ``state.routes`` — the read model of each route for the dashboard, once a
  second (vehicles with status, Marey points, alerts, headways, next arrivals);
* ``bus.positions`` again, for fixes that came with no route (key "") or a
  route the feed does not know: :func:`streams.bus.route_assignment.assign_routes`
  places each on a route (over the vehicle's recent fixes) and the agent
  republishes it keyed by that route, so the route's state stays in one
  partition. Fixes no route fits are counted and published on
  ``state.counters`` (kind ``unrouted``, key = the source key).

State. A route's pipeline state is large (matching state of every bus,
travel-time history) and changes with every fix, so writing it to the table's
changelog per message would dominate the worker. The live object is kept in
the table's in-memory mapping of this worker's partitions and *checkpointed*
to the changelog at most every ``CHECKPOINT_S`` (by the agent, so the write
lands in the route's own partition); after a rebalance or restart a route
resumes from its last checkpoint (at most that much learning is lost; buses
re-match on their next fix).
"""

from __future__ import annotations

import logging
import time

import faust
import msgspec

from streams.bus import route_view
from streams.bus.gtfs import Feed
from streams.bus.headways import HeadwayParams
from streams.bus.pipeline import RouteModel, RouteState, advance, observe_taps, route_model
from streams.bus.route_assignment import AssignmentState, assign_routes, forget_vehicles, route_index
from streams.live import state as livestate
from streams.runtime.checkpoint import Checkpointed
from topis import topics, wire
from topis.settings import StreamSettings

log = logging.getLogger(__name__)

#: seconds between checkpoints of every route's state to the changelog.
CHECKPOINT_S = 30.0
#: route assignment forgets a vehicle silent for this long (event time), seconds.
ASSIGNMENT_FORGET_S = 3600.0

_encode = msgspec.json.Encoder(enc_hook=wire.plain).encode


def _models(feed: Feed) -> dict[str, RouteModel]:
    return {route_id: route_model(feed, route_id) for route_id in feed.routes}


def _blocks(fixes: list[wire.BusPosition]) -> dict[str, str] | None:
    blocks = {f.vehicle_id: f.block_id for f in fixes if f.block_id}
    return blocks or None


def install(app: faust.App, settings: StreamSettings, feed: Feed) -> None:
    """Declare the bus operations agent, its tables and topics on ``app``."""
    models = _models(feed)
    params = HeadwayParams()
    positions = app.topic(topics.BUS_POSITIONS.name, value_type=bytes, key_type=bytes)
    taps = app.topic(topics.CARD_TAPS.name, value_type=bytes, key_type=bytes)
    events_topic = app.topic(topics.BUS_EVENTS.name, value_type=bytes, key_type=bytes)
    predictions_topic = app.topic(topics.BUS_PREDICTIONS.name, value_type=bytes, key_type=bytes)
    routes_topic = app.topic(topics.STATE_ROUTES.name, value_type=bytes, key_type=bytes)
    counters_topic = app.topic(topics.STATE_COUNTERS.name, value_type=bytes, key_type=bytes)
    index = route_index(feed)
    assigners = Checkpointed(app, "route_assignment_by_key", topics.BUS_POSITIONS.partitions, AssignmentState,
                             lambda key: AssignmentState(), every_s=CHECKPOINT_S)
    routes = Checkpointed(app, "bus_state_by_route", topics.BUS_POSITIONS.partitions, route_view.LiveRoute,
                          lambda route_id: route_view.LiveRoute(RouteState(route_id)), every_s=CHECKPOINT_S)
    changed: set[str] = set()  # routes with new fixes since their last read-model snapshot
    unrouted_changed: set[str] = set()  # source keys with fixes since their last counter snapshot

    async def place_on_routes(source_key: str, fixes: list[wire.BusPosition]) -> None:
        """Give fixes with no known route their route; republish them keyed by it (same topic)."""
        state = assigners.get(source_key)
        routed, unmatched = assign_routes(feed, index, state, fixes)
        for route_id, placed in routed.items():
            await positions.send(key=route_id.encode(), value=wire.encode(wire.PositionBatch(placed)))
        state.unmatched_per_minute = livestate.count_per_minute(state.unmatched_per_minute,
                                                                [f.ts for f in unmatched], state.newest_ts)
        unrouted_changed.add(source_key)
        assigners.save_if_due(source_key)  # in the source key's partition

    @app.agent(positions)
    async def track_routes(stream):
        """Match every fix, emit arrivals, headways, alerts and predictions, per route."""
        async for key, value in stream.items():
            route_id = (key or b"").decode()
            model = models.get(route_id)
            try:
                batch = wire.decode(value, wire.PositionBatch)
            except wire.WireError:
                continue  # dead-lettered and counted by track_vehicles
            if model is None:
                if batch.events:
                    await place_on_routes(route_id, batch.events)  # no route, or one the feed does not know
                continue
            state = routes.get(route_id)
            _, events = advance(state.pipeline, batch.events, model, _blocks(batch.events))
            route_view.fold(state.view, batch.events, events)
            changed.add(route_id)
            published, predictions = route_view.emitted(events)
            if published:
                await events_topic.send(key=key, value=_encode(published))
            if predictions:
                await predictions_topic.send(key=key, value=_encode(predictions))
            routes.save_if_due(route_id)  # in the event's partition

    @app.agent(taps)
    async def learn_boardings(stream):
        """Fold card taps into each route's boarding rates (dwell in the predictions)."""
        async for key, value in stream.items():
            route_id = (key or b"").decode()
            model = models.get(route_id)
            try:
                batch = wire.decode(value, wire.TapBatch)
            except wire.WireError:
                continue  # dead-lettered and counted by count_taps
            if model is not None:
                observe_taps(routes.get(route_id).pipeline, batch.events, model)

    @app.timer(interval=settings.snapshot_interval_s)
    async def publish_routes():
        """Publish the read model of this worker's routes that changed since the last tick."""
        now = time.time()
        live = dict(routes.items())
        due = [r for r in changed if r in live]
        changed.clear()
        for route_id in due:
            snap = route_view.snapshot(route_id, live[route_id], params, now)
            await routes_topic.send(key=route_id.encode(), value=_encode(snap))
        placing = dict(assigners.items())
        for key in [k for k in unrouted_changed if k in placing]:
            state = placing[key]
            forget_vehicles(state, state.newest_ts - ASSIGNMENT_FORGET_S)
            snap = livestate.counter_snapshot("unrouted", key, state.unmatched_per_minute, state.newest_ts)
            snap.update(received_ts=now, dead_letters=0, routed=state.routed, unmatched=state.unmatched)
            await counters_topic.send(key=key.encode(), value=_encode({"snapshots": [snap]}))
        unrouted_changed.clear()

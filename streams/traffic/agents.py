"""Link-speed agents: bus and taxi probes → road links → space-mean speed per link per 5 minutes.

``measure_link_speeds`` (by route) maps bus fixes to road links and publishes
closed 5-minute bins on ``traffic.link_speeds``; each route's partition
publishes partial bins that :func:`streams.traffic.linkspeeds.merge` sums.
Bad ``bus.positions`` messages are dead-lettered and counted by the live agents;
this agent uses the rows the edge kept.

``measure_taxi_speeds`` (by probe cell) map-matches taxi fixes
(:mod:`streams.traffic.taxi_speeds`) and publishes their closed bins on the
same topic with ``source="taxi"``, keyed ``taxi:<cell>``. It needs a road
graph: the demo city's (a real city's road network is not read yet). It owns
``taxi.positions``: a bad message is dead-lettered there.

Both take messages a batch at a time (``probe_batch_messages``, or what came
within ``probe_batch_s``): in real time a message holds a few fixes, and the
link mapping and the matcher cost more per call than per fix. The taxi agent
folds each cell's messages in one call; the bus agent maps every route's fixes
of the batch onto the links in one call (:func:`streams.traffic.linkspeeds.map_routes`)
and then folds route by route. A link's bins close minutes after their end, so
the wait costs the link speeds nothing, and a bus's place on the wall does not
wait for it: the bus agent's lag is reported as the link speeds' own
(``bus.positions>link_speeds``, :data:`streams.runtime.health.DERIVED_STATES`).
When a fold raises, the cell or route starts afresh and its messages are folded
one by one, so that only the one at fault is dead-lettered
(:meth:`streams.runtime.decode.DeadLetters.fold_together`).
"""

from __future__ import annotations

import logging

import faust

from streams.demand.taps import RoutePatterns
from streams.runtime.app import agent, each_current, topic
from streams.runtime.checkpoint import Checkpointed
from streams.runtime.decode import DeadLetters, Received
from streams.traffic import linkspeeds, mapmatch, taxi_speeds
from topis import topics, wire
from topis.schemas.probes import TaxiFixes
from topis.settings import StreamSettings

log = logging.getLogger(__name__)


class TrafficAgents:
    """The link-speed agent and its per-route probe state, declared on ``app``."""

    def __init__(self, app: faust.App, settings: StreamSettings, patterns: RoutePatterns, net: linkspeeds.LinkNetwork,
                 dead_letters: DeadLetters, roads: mapmatch.MatchNetwork | None = None):
        self.settings, self.net, self.roads, self.dead_letters = settings, net, roads, dead_letters
        self.known_routes = {p.route_id for p in patterns.patterns}
        self.speeds = topic(app, topics.LINK_SPEEDS)
        self.probes = Checkpointed(app, "link_state_by_route", topics.BUS_POSITIONS.partitions,
                                   linkspeeds.LinkSpeedState, lambda _: linkspeeds.LinkSpeedState(),
                                   every_s=settings.checkpoint_every_s)
        agent(app, topic(app, topics.BUS_POSITIONS), self.measure_link_speeds)
        self.cells: dict[str, taxi_speeds.CellState] = {}  #: probe cell -> matcher state (this worker's cells)
        if roads is not None:
            app.on_partitions_revoked.connect(self._forget_cells)
            agent(app, topic(app, topics.TAXI_POSITIONS), self.measure_taxi_speeds)

    async def _forget_cells(self, sender, revoked, **kwargs) -> None:
        """A cell that moved to another worker starts afresh there (a few traversals lost at the move)."""
        self.cells.clear()

    async def measure_link_speeds(self, stream):
        """Space-mean speed of buses per road link per 5 minutes."""
        async for events in stream.take_events(self.settings.probe_batch_messages, self.settings.probe_batch_s):
            by_route: dict[str, list[Received]] = {}
            for event in each_current(stream, events):
                received = self.dead_letters.read(topics.BUS_POSITIONS, event)  # what is bad: track_vehicles' to letter
                if received.key in self.known_routes and received.batch is not None:
                    # an unknown route's fixes: the bus agents place them on a route and republish them keyed by it
                    by_route.setdefault(received.key, []).append(received)
            if by_route:
                await self._fold_routes(by_route)

    async def _fold_routes(self, by_route: dict[str, list[Received]]) -> None:
        """Every route's messages of a batch, mapped onto the links in one call (:func:`linkspeeds.map_routes`),
        then folded route by route; a route whose fold raises starts afresh and folds its messages one by one
        (:meth:`DeadLetters.fold_together`), so that only the message at fault is dead-lettered."""
        try:
            mapped = linkspeeds.map_routes(self.net, {route: _fixes(group) for route, group in by_route.items()})
        except Exception:  # noqa: BLE001 - each route maps its own below
            log.warning("measure_link_speeds: mapping a batch of %d routes raised; mapping route by route",
                        len(by_route), exc_info=True)
            mapped = {}
        for route, group in by_route.items():
            def fold(messages: list[Received], route=route, group=group) -> list:
                state = self.probes.get(route)
                if messages is group and route in mapped:
                    return linkspeeds.advance_mapped(state, *mapped[route], self.net)
                return linkspeeds.advance(state, _fixes(messages), self.net)[1]

            def afresh(route=route) -> None:
                self.probes.put(route, linkspeeds.LinkSpeedState())

            closed = [s for out in await self.dead_letters.fold_together(group, "measure_link_speeds", fold, afresh)
                      for s in out]
            self.probes.save_if_due(route)
            if closed:
                await self.dead_letters.send_out(self.speeds, route.encode(), wire.encode(closed), group[-1],
                                                 "measure_link_speeds")

    async def measure_taxi_speeds(self, stream):
        """Map-match taxi fixes per probe cell; publish each closed 5-minute bin of their link speeds."""
        async for events in stream.take_events(self.settings.probe_batch_messages, self.settings.probe_batch_s):
            by_cell: dict[str, list[Received]] = {}
            for event in each_current(stream, events):
                received = await self.dead_letters.take(topics.TAXI_POSITIONS, event)
                if received.batch is not None:
                    by_cell.setdefault(received.key, []).append(received)
            for cell, group in by_cell.items():
                await self._fold_cell(cell, group)

    async def _fold_cell(self, cell: str, group: list[Received]) -> None:
        def fold(messages: list[Received]) -> list:
            state = self.cells.setdefault(cell, taxi_speeds.CellState())
            return taxi_speeds.advance(state, TaxiFixes.concat([r.batch.arrays() for r in messages]), self.roads)

        def afresh() -> None:
            self.cells[cell] = taxi_speeds.CellState()

        closed = [s for out in await self.dead_letters.fold_together(group, "measure_taxi_speeds", fold, afresh)
                  for s in out]
        if closed:
            await self.dead_letters.send_out(self.speeds, f"taxi:{cell}".encode(), wire.encode(closed), group[-1],
                                             "measure_taxi_speeds")


def _fixes(messages: list[Received]) -> list:
    """The fixes of ``bus.positions`` messages, in message order."""
    return [p for r in messages for p in r.batch.events]

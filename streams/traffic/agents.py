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

The taxi agent takes messages a batch at a time (``probe_batch_messages``, or
what came within ``probe_batch_s``) and folds each cell's in one call: in real
time a cell's message holds a dozen fixes, and the matcher costs more per call
than per fix. A link's bins close minutes after their end, so the wait costs the
link speeds nothing. When a batch's fold raises, the cell starts afresh and its
messages are folded one by one, so that only the one at fault is dead-lettered
(:meth:`streams.runtime.decode.DeadLetters.fold_together`). The bus agent folds
message by message: a ``bus.positions`` message counts as done when every agent
is done with it (:class:`streams.runtime.health.StateLag`), and a bus's place on
the wall must not wait for a batch.
"""

from __future__ import annotations

import faust

from streams.demand.taps import RoutePatterns
from streams.runtime.app import agent, each_current, topic
from streams.runtime.checkpoint import Checkpointed
from streams.runtime.decode import FAILED, DeadLetters, Received
from streams.traffic import linkspeeds, mapmatch, taxi_speeds
from topis import topics, wire
from topis.schemas.probes import TaxiFixes
from topis.settings import StreamSettings


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
        async for event in stream.events():
            received = self.dead_letters.read(topics.BUS_POSITIONS, event)  # what is bad: track_vehicles' to letter
            route_id = received.key
            if route_id not in self.known_routes:
                continue  # the bus agents place these fixes on a route and republish them keyed by it
            if received.batch is None:
                continue
            out = await self.dead_letters.fold(received, "measure_link_speeds", linkspeeds.advance,
                                               self.probes.get(route_id), received.batch.events, self.net)
            if out is FAILED:
                continue
            self.probes.save_if_due(route_id)
            if out[1]:
                await self.dead_letters.send_out(self.speeds, event.key, wire.encode(out[1]), received,
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

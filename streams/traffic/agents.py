"""Link-speed agent: bus probes → road links → space-mean speed per link per 5 minutes.

``measure_link_speeds`` (by route) maps bus fixes to road links and publishes
closed 5-minute bins on ``traffic.link_speeds``; each route's partition
publishes partial bins that :func:`streams.traffic.linkspeeds.merge` sums.
"""

from __future__ import annotations

import faust
import msgspec

from streams.demand.taps import RoutePatterns
from streams.runtime.checkpoint import Checkpointed
from streams.traffic import linkspeeds
from topis import topics, wire

_encode = msgspec.json.Encoder(enc_hook=wire.plain).encode


def install(app: faust.App, patterns: RoutePatterns, net: linkspeeds.LinkNetwork) -> None:
    """Declare the link-speed agent on ``app``."""
    positions = app.topic(topics.BUS_POSITIONS.name, value_type=bytes, key_type=bytes)
    speeds_topic = app.topic(topics.LINK_SPEEDS.name, value_type=bytes, key_type=bytes)
    probes = Checkpointed(app, "link_state_by_route", topics.BUS_POSITIONS.partitions, linkspeeds.LinkSpeedState,
                          lambda _: linkspeeds.LinkSpeedState())

    @app.agent(positions)
    async def measure_link_speeds(stream):
        """Space-mean speed of buses per road link per 5 minutes."""
        known_routes = {p.route_id for p in patterns.patterns}
        async for key, value in stream.items():
            route_id = (key or b"").decode()
            if route_id not in known_routes:
                continue  # bus_agents places these fixes on a route and republishes them keyed by it
            try:
                batch = wire.decode(value, wire.PositionBatch)
            except wire.WireError:
                continue  # dead-lettered and counted by track_vehicles
            _, closed = linkspeeds.advance(probes.get(route_id), batch.events, net)
            probes.save_if_due(route_id)
            if closed:
                await speeds_topic.send(key=key, value=_encode(closed))

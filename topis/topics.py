"""The topic registry: every Kafka topic topis uses, in one place.

Keys are chosen so the state an agent keeps lives in one partition: positions
and taps are keyed by route (a route's vehicles, headways and loads are
computed together), plate reads by camera — except that the two cameras of a
section-speed pair share their section's key, so an entry read and its exit
read meet in one partition, in the order the cameras sent them. Taxi probes
are keyed by the 2 km probe cell of their position (:func:`topis.geo.grid_cell`),
so the fixes on one road link meet in one partition; a link that crosses a
cell edge gets fixes in each of its cells, whose partial link speeds sum
exactly (``dist_m``/``time_s``, :func:`streams.traffic.linkspeeds.merge`).

Each spec names the schema type of its values (:mod:`topis.schemas`): follow
``value`` to see every message's shape; :func:`topis.wire.decode` reads one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from topis.schemas import bus, deadletter, demand, enforcement, health, inputs, plans, probes, state, traffic

HOUR_MS = 3_600_000
TAIL_MESSAGES = 100  #: messages per partition a "tail" topic keeps across a broker recycle


@dataclass(frozen=True)
class TopicSpec:
    """One topic: its name, partitioning, key, value schema and retention."""

    name: str  #: dotted lower-case topic name
    partitions: int  #: parallelism ceiling: at most this many workers share the topic
    key: str  #: what the message key is
    value: Any  #: the schema type of the value (topis.schemas): ``topis.wire.decode(data, spec.value)``
    retention_ms: int  #: how long the broker keeps messages
    #: what survives a recycle of the embedded broker (topis.recycle): "backlog" = messages the
    #: workers have not committed; "latest" = the last message per key; "tail" = the last TAIL_MESSAGES;
    #: "drop" = nothing (read-model snapshots the workers publish again every second)
    keep: str = "backlog"


BUS_POSITIONS = TopicSpec("bus.positions", 8, "route_id", inputs.PositionBatch, 6 * HOUR_MS)
CARD_TAPS = TopicSpec("card.taps", 8, "route_id", inputs.TapBatch, 6 * HOUR_MS)
PLATE_READS = TopicSpec(
    "plate.reads", 8, "rule zone: section:<id> for section-speed cameras, else camera_id", inputs.ReadBatch,
    6 * HOUR_MS,
)
#: taxi GPS fixes as columns; 16 partitions: ~170 cells over Seoul, ~7,000 fixes/s shared by up to 16 workers
TAXI_POSITIONS = TopicSpec(
    "taxi.positions", 16, "probe cell: topis.geo.cell_key(*topis.geo.grid_cell(lat, lon))", probes.TaxiPositionBatch,
    6 * HOUR_MS,
)
#: arrivals, departures, headways, bunching/gapping alerts with holding advice
BUS_EVENTS = TopicSpec("bus.events", 8, "route_id", list[bus.BusEvent], 24 * HOUR_MS, keep="tail")
BUS_PREDICTIONS = TopicSpec("bus.predictions", 8, "route_id", list[bus.PredictionRound], 6 * HOUR_MS, keep="drop")
#: a route's buses with status, Marey points, alerts, headways, next arrivals
STATE_ROUTES = TopicSpec("state.routes", 8, "route_id", state.RouteSnapshot, HOUR_MS, keep="drop")
CARD_LOCATED = TopicSpec(
    "card.located", 8, "card bucket (CRC-32 of card_hash mod 64)", demand.LocatedTapBatch, 24 * HOUR_MS
)
CARD_RIDES = TopicSpec("card.rides", 8, "route_id", demand.RideBatch, 24 * HOUR_MS)
#: peak load by segment
DEMAND_SQUIRREL = TopicSpec("demand.squirrel", 1, "route_id", demand.SquirrelInput, 7 * 24 * HOUR_MS, keep="latest")
#: night (00–05 h) OD
DEMAND_OWL = TopicSpec("demand.owl", 1, "'night'", demand.OwlInput, 7 * 24 * HOUR_MS, keep="latest")
#: link speeds per 5-min bin
LINK_SPEEDS = TopicSpec("traffic.link_speeds", 8, "route_id of the probes", list[traffic.LinkSpeed], 24 * HOUR_MS, keep="latest")
#: watch-list hits
ENFORCEMENT_ALERTS = TopicSpec("enforcement.alerts", 1, "camera_id", enforcement.WatchAlert, 7 * 24 * HOUR_MS, keep="tail")
#: current vs proposed plan + KPIs
PLANS = TopicSpec("plans.proposed", 1, "plan kind (headways, squirrel, owl)", plans.PlanProposal, 7 * 24 * HOUR_MS, keep="tail")
#: plan now
PLAN_REQUESTS = TopicSpec("plans.requests", 1, "plan kind", plans.PlanRequest, 7 * 24 * HOUR_MS)
#: latest position of each vehicle of the route
STATE_VEHICLES = TopicSpec("state.vehicles", 8, "route_id", state.VehiclesMessage, 1 * HOUR_MS, keep="drop")
#: events per minute of a route or camera
STATE_COUNTERS = TopicSpec("state.counters", 8, "route_id or camera_id", state.CountersMessage, 1 * HOUR_MS, keep="drop")
#: each component's status (supervisor) and each worker's lag and event-time progress
STATE_HEALTH = TopicSpec("state.health", 1, "'supervisor' or worker:<host>:<pid>", health.Health, HOUR_MS, keep="latest")
DEAD_LETTERS = TopicSpec("deadletter", 1, "source topic", deadletter.DeadLetter, 24 * 7 * HOUR_MS, keep="tail")

#: every topic, in pipeline order.
ALL: tuple[TopicSpec, ...] = (
    BUS_POSITIONS,
    CARD_TAPS,
    PLATE_READS,
    TAXI_POSITIONS,
    BUS_EVENTS,
    BUS_PREDICTIONS,
    CARD_LOCATED,
    CARD_RIDES,
    DEMAND_SQUIRREL,
    DEMAND_OWL,
    LINK_SPEEDS,
    ENFORCEMENT_ALERTS,
    PLANS,
    PLAN_REQUESTS,
    STATE_ROUTES,
    STATE_VEHICLES,
    STATE_COUNTERS,
    STATE_HEALTH,
    DEAD_LETTERS,
)


def by_name(name: str) -> TopicSpec:
    """The spec of topic ``name``; KeyError names the known topics."""
    for spec in ALL:
        if spec.name == name:
            return spec
    raise KeyError(f"unknown topic {name!r}; known: {', '.join(s.name for s in ALL)}")


def plate_read_key(camera_id: str, section_id: str | None) -> str:
    """Message key of a camera's plate reads: its section's for section-speed cameras, else its own."""
    return f"section:{section_id}" if section_id else camera_id

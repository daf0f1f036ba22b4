"""The topic registry: every Kafka topic topis uses, in one place.

Keys are chosen so the state an agent keeps lives in one partition: positions
and taps are keyed by route (a route's vehicles, headways and loads are
computed together), plate reads by camera — except that the two cameras of a
section-speed pair share their section's key, so an entry read and its exit
read meet in one partition, in the order the cameras sent them.
"""

from __future__ import annotations

from dataclasses import dataclass

HOUR_MS = 3_600_000


@dataclass(frozen=True)
class TopicSpec:
    """One topic: its name, partitioning, key and retention."""

    name: str  #: dotted lower-case topic name
    partitions: int  #: parallelism ceiling: at most this many workers share the topic
    key: str  #: what the message key is
    value: str  #: the wire schema of the value (see topis.wire) or a description
    retention_ms: int  #: how long the broker keeps messages


BUS_POSITIONS = TopicSpec("bus.positions", 8, "route_id", "bus.position/1 batch", 6 * HOUR_MS)
CARD_TAPS = TopicSpec("card.taps", 8, "route_id", "card.tap/1 batch", 6 * HOUR_MS)
PLATE_READS = TopicSpec(
    "plate.reads", 8, "rule zone: section:<id> for section-speed cameras, else camera_id", "plate.read/1 batch",
    6 * HOUR_MS,
)
BUS_EVENTS = TopicSpec(
    "bus.events", 8, "route_id", "JSON list: stop arrivals/departures, headways, bunching/gapping alerts", 24 * HOUR_MS
)
BUS_PREDICTIONS = TopicSpec("bus.predictions", 8, "route_id", "JSON list: arrival predictions", 6 * HOUR_MS)
STATE_ROUTES = TopicSpec(
    "state.routes", 8, "route_id", "JSON: a route's buses with status, Marey points, alerts, next arrivals", HOUR_MS
)
CARD_LOCATED = TopicSpec(
    "card.located", 8, "card bucket (CRC-32 of card_hash mod 256)", "card.located_tap/1 batch", 24 * HOUR_MS
)
CARD_RIDES = TopicSpec("card.rides", 8, "route_id", "rides (boarding → alighting) batch", 24 * HOUR_MS)
DEMAND_SQUIRREL = TopicSpec("demand.squirrel", 1, "route_id", "demand.squirrel/1: peak load by segment", 7 * 24 * HOUR_MS)
DEMAND_OWL = TopicSpec("demand.owl", 1, "'night'", "demand.owl/1: night (00–05 h) OD", 7 * 24 * HOUR_MS)
LINK_SPEEDS = TopicSpec("traffic.link_speeds", 8, "route_id of the probes", "JSON: link speeds per 5-min bin", 24 * HOUR_MS)
ENFORCEMENT_ALERTS = TopicSpec("enforcement.alerts", 1, "camera_id", "JSON: watch-list hits", 7 * 24 * HOUR_MS)
PLANS = TopicSpec("plans.proposed", 1, "plan kind (headways, squirrel, owl)", "JSON: current vs proposed plan + KPIs",
                  7 * 24 * HOUR_MS)
PLAN_REQUESTS = TopicSpec("plans.requests", 1, "plan kind", "JSON: {kind, requested_by, ts}: plan now", 7 * 24 * HOUR_MS)
STATE_VEHICLES = TopicSpec(
    "state.vehicles", 8, "route_id", "JSON: latest position of each vehicle of the route", 1 * HOUR_MS
)
STATE_COUNTERS = TopicSpec(
    "state.counters", 8, "route_id or camera_id", "JSON: events per minute of a route or camera", 1 * HOUR_MS
)
DEAD_LETTERS = TopicSpec("deadletter", 1, "source topic", "JSON: {topic, reason, value}", 24 * 7 * HOUR_MS)

#: every topic, in pipeline order.
ALL: tuple[TopicSpec, ...] = (
    BUS_POSITIONS,
    CARD_TAPS,
    PLATE_READS,
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

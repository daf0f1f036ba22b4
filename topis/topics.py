"""The topic registry: every Kafka topic topis uses, in one place.

Keys are chosen so the state an agent keeps lives in one partition: positions
and taps are keyed by route (a route's vehicles, headways and loads are
computed together), plate reads by camera (per-camera counters and the
section-speed pairing of a camera's reads).
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
PLATE_READS = TopicSpec("plate.reads", 8, "camera_id", "plate.read/1 batch", 6 * HOUR_MS)
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

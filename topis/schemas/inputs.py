"""What the city sends: bus positions, card taps and plate reads, in batches.

Every Kafka message value of an input topic is one *batch*: a versioned
envelope carrying many events that share the message key (a route for bus
positions and card taps, a rule zone for plate reads), the way a GTFS-realtime
FeedMessage carries many vehicles. Faust's cost is per message, not per byte,
so batching is what lets one worker handle tens of thousands of events per
second.
"""

from __future__ import annotations

from typing import Literal

import msgspec


class BusPosition(msgspec.Struct, frozen=True, omit_defaults=True):
    """One AVL fix from a bus."""

    vehicle_id: str  #: fleet number of the bus
    route_id: str  #: route the unit reports (may be wrong or empty on real feeds)
    ts: float  #: time of the fix, epoch seconds UTC
    lat: float  #: latitude, WGS84 degrees
    lon: float  #: longitude, WGS84 degrees
    trip_id: str | None = None  #: trip the unit is signed on to, if known
    speed_kph: float | None = None  #: ground speed, km/h
    heading_deg: float | None = None  #: bearing, degrees clockwise from north
    occupancy: int | None = None  #: passengers on board, if the unit counts them
    block_id: str | None = None  #: block (run) the bus is assigned to, if the AVL source says


class CardTap(msgspec.Struct, frozen=True, omit_defaults=True):
    """One transport-card tap on a bus reader."""

    card_hash: str  #: keyed hash of the card number (never the number itself)
    direction: Literal["on", "off"]  #: boarding ("on") or alighting ("off")
    route_id: str  #: route of the bus
    vehicle_id: str  #: bus the reader is in
    stop_id: str  #: stop where the tap happened (reader's own stop match)
    ts: float  #: time of the tap, epoch seconds UTC
    fare_class: Literal["adult", "youth", "child", "senior", "free"] = "adult"  #: fare category


class PlateRead(msgspec.Struct, frozen=True, omit_defaults=True):
    """One plate read by an ANPR camera."""

    read_id: str  #: unique id of the read, stable across redelivery
    camera_id: str  #: camera that made the read
    ts: float  #: time of the read, epoch seconds UTC
    plate: str  #: plate text as read (may be wrong at low confidence)
    confidence: float  #: reader's confidence in the plate text, 0..1
    lane: str | None = None  #: lane the vehicle was in, e.g. "bus", "1", "2"
    vehicle_class: str | None = None  #: class seen by the camera ("car", "bus", "truck", ...)
    image_ref: str | None = None  #: URI of the evidence image


class PositionBatch(msgspec.Struct, frozen=True, tag="bus.position/1", tag_field="schema"):
    """All fixes of one route in one message; key = route_id."""

    events: list[BusPosition]


class TapBatch(msgspec.Struct, frozen=True, tag="card.tap/1", tag_field="schema"):
    """Taps on one route in one message; key = route_id."""

    events: list[CardTap]


class ReadBatch(msgspec.Struct, frozen=True, tag="plate.read/1", tag_field="schema"):
    """Reads of one rule zone in one message; key = :func:`topis.topics.plate_read_key`."""

    events: list[PlateRead]


Batch = PositionBatch | TapBatch | ReadBatch

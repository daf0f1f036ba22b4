"""Every topic names its value's schema, and every schema survives the wire."""

from __future__ import annotations

import msgspec
import msgspec.inspect as mi
import numpy as np
import pytest

from topis import topics, wire
from topis.schemas.probes import DTYPES, TaxiFixes, TaxiPositionBatch


def example(t: mi.Type):
    """A value of type ``t`` with every field set (so optional and UNSET fields are exercised)."""
    if isinstance(t, mi.StructType) and t.cls is TaxiPositionBatch:  # columns of one length: made by hand
        return TaxiFixes(*((np.arange(3) % 2).astype(dtype) for dtype in DTYPES.values())).to_batch()
    if isinstance(t, mi.StructType):
        return t.cls(**{f.name: example(f.type) for f in t.fields})
    if isinstance(t, mi.UnionType):  # a list of a union gets one of each member (see ListType)
        return example(next(m for m in t.types if not isinstance(m, mi.NoneType)))
    if isinstance(t, (mi.ListType, mi.VarTupleType)):
        members = t.item_type.types if isinstance(t.item_type, mi.UnionType) else (t.item_type,)
        items = [example(m) for m in members if not isinstance(m, mi.NoneType)]
        return tuple(items) if isinstance(t, mi.VarTupleType) else items
    if isinstance(t, mi.TupleType):
        return tuple(example(m) for m in t.item_types)
    if isinstance(t, mi.DictType):
        return {example(t.key_type): example(t.value_type)}
    if isinstance(t, mi.LiteralType):
        return t.values[0]
    simple = {mi.StrType: "x", mi.IntType: 3, mi.FloatType: 2.5, mi.BoolType: True, mi.NoneType: None,
              mi.AnyType: {"any": [1, "a"]}}
    return simple[type(t)]


def structs_in(t: mi.Type) -> set[type]:
    """The Struct classes reachable from ``t``."""
    if isinstance(t, mi.StructType):
        return {t.cls} | {c for f in t.fields for c in structs_in(f.type)}
    inner = [getattr(t, a) for a in ("item_type", "key_type", "value_type") if hasattr(t, a)]
    inner += list(getattr(t, "types", ())) + list(getattr(t, "item_types", ()))
    return {c for i in inner for c in structs_in(i)}


@pytest.mark.parametrize("spec", topics.ALL, ids=lambda s: s.name)
def test_every_topic_value_round_trips_encode_decode(spec):
    value = example(mi.type_info(spec.value))
    assert wire.decode(wire.encode(value), spec.value) == value


@pytest.mark.parametrize("spec", topics.ALL, ids=lambda s: s.name)
def test_every_topic_value_is_a_schema_of_topis_schemas(spec):
    classes = structs_in(mi.type_info(spec.value))
    assert classes and all(c.__module__.startswith("topis.schemas.") for c in classes)


def test_a_value_of_another_topic_is_a_wire_error():
    data = wire.encode(example(mi.type_info(topics.CARD_TAPS.value)))
    with pytest.raises(wire.WireError, match="schema"):
        wire.decode(data, topics.BUS_POSITIONS.value)


def test_tagged_schemas_keep_their_tags():
    tags = {spec.name: mi.type_info(spec.value).tag for spec in (topics.BUS_POSITIONS, topics.CARD_TAPS,
                                                                 topics.PLATE_READS, topics.CARD_LOCATED,
                                                                 topics.CARD_RIDES, topics.DEMAND_SQUIRREL,
                                                                 topics.DEMAND_OWL)}
    assert tags == {"bus.positions": "bus.position/1", "card.taps": "card.tap/1", "plate.reads": "plate.read/1",
                    "card.located": "card.located_tap/1", "card.rides": "card.ride/1",
                    "demand.squirrel": "demand.squirrel/1", "demand.owl": "demand.owl/1"}
    events = {m.tag for m in mi.type_info(topics.BUS_EVENTS.value).item_type.types}
    assert events == {"stop.arrival/1", "stop.departure/1", "bus.headway/1", "bus.bunching/1", "bus.gapping/1"}


def test_unset_fields_are_left_out_and_none_is_null():
    from topis.schemas.deadletter import DeadLetter

    assert msgspec.json.decode(wire.encode(DeadLetter("t", "k", "r", value="v"))) == {
        "topic": "t", "key": "k", "reason": "r", "value": "v"}
    assert msgspec.json.decode(wire.encode(DeadLetter("t", "k", "r", ts=None))) == {
        "topic": "t", "key": "k", "reason": "r", "ts": None}


def test_plan_kinds_are_the_optimizers():
    from optimizer.live import KINDS
    from topis.schemas.plans import PLAN_KINDS

    assert PLAN_KINDS == KINDS

import pytest

from topis import wire
from topis.schemas.inputs import BusPosition, PositionBatch, TapBatch


def test_position_batch_round_trips_with_schema_tag():
    batch = PositionBatch([BusPosition("v1", "r1", 10.5, 37.5, 127.0, trip_id="t1", speed_kph=20.0)])
    data = wire.encode(batch)
    assert data.startswith(b'{"schema":"bus.position/1"')
    assert wire.decode(data, PositionBatch) == batch


def test_optional_fields_are_omitted_not_zeroed():
    data = wire.encode(PositionBatch([BusPosition("v1", "r1", 1.0, 37.5, 127.0)]))
    assert b"speed_kph" not in data and b"occupancy" not in data
    assert wire.decode(data, PositionBatch).events[0].occupancy is None


@pytest.mark.parametrize(
    "data, fragment",
    [
        (b"garbage", "not valid JSON"),
        (b'{"schema":"card.tap/1","events":[]}', "schema"),
        (b'{"schema":"bus.position/2","events":[]}', "schema"),
        (b'{"schema":"bus.position/1","events":[{"vehicle_id":"v","route_id":"r","ts":"x","lat":1,"lon":2}]}',
         "events[0].ts"),
        (b'{"schema":"bus.position/1","events":[{"vehicle_id":"v","ts":1,"lat":1,"lon":2}]}', "route_id"),
    ],
)
def test_bad_messages_raise_wire_error_naming_the_problem(data, fragment):
    with pytest.raises(wire.WireError) as info:
        wire.decode(data, PositionBatch)
    assert fragment in str(info.value)


def test_tap_direction_is_checked():
    bad = b'{"schema":"card.tap/1","events":[{"card_hash":"h","direction":"sideways","route_id":"r",' \
          b'"vehicle_id":"v","stop_id":"s","ts":1}]}'
    with pytest.raises(wire.WireError, match="direction"):
        wire.decode(bad, TapBatch)


def test_decode_takes_any_schema_type_and_names_it_in_errors():
    from topis.schemas.bus import Prediction

    data = b'[{"schema":"bus.prediction/1","vehicle_id":"v","route_id":"r","trip_id":"t","stop_id":"s",' \
           b'"stop_sequence":1,"made_at_ts":1.0,"predicted_arrival_ts":2.0}]'
    assert wire.decode(data, list[Prediction]) == [Prediction("v", "r", "t", "s", 1, 1.0, 2.0)]
    with pytest.raises(wire.WireError, match=r"list\[.*Prediction\]"):
        wire.decode(b"[{}]", list[Prediction])


def test_a_wire_error_is_a_msgspec_decode_error():
    import msgspec

    with pytest.raises(msgspec.DecodeError):
        wire.decode(b"garbage", PositionBatch)


def test_prediction_rounds_carry_every_field_of_the_predictions():
    from topis.schemas.bus import Prediction, PredictionRound, predictions_of, rounds_of

    preds = [Prediction("v1", "r", "t1", "s1", 1, 10.0, 70.0), Prediction("v1", "r", "t1", "s2", 2, 10.0, 130.0),
             Prediction("v2", "r", "t2", "s1", 1, 10.0, 90.0), Prediction("v1", "r", "t1", "s2", 2, 20.0, 125.0)]
    rounds = rounds_of(preds)
    assert [(r.vehicle_id, r.made_at_ts, r.stop_ids) for r in rounds] == [
        ("v1", 10.0, ["s1", "s2"]), ("v2", 10.0, ["s1"]), ("v1", 20.0, ["s2"])]
    assert predictions_of(wire.decode(wire.encode(rounds), list[PredictionRound])) == preds
    assert len(wire.encode(rounds)) < len(wire.encode(preds))

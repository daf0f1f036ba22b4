"""The agents' edge: key text, decode or say why, dead letters."""

import msgspec
import pytest

from streams.runtime.decode import dead_letter, decode_value, key_text
from topis import topics, wire
from topis.schemas.inputs import BusPosition, PositionBatch


def test_key_text():
    assert key_text(None) == "" and key_text(b"") == "" and key_text(b"R1") == "R1"
    with pytest.raises(UnicodeDecodeError):
        key_text(b"\xff")


def test_decode_value_returns_the_message_or_why_not():
    batch = PositionBatch([BusPosition("v", "r", 1.0, 37.5, 127.0)])
    assert decode_value(wire.encode(batch), PositionBatch) == (batch, None)
    message, reason = decode_value(b'{"schema":"bus.position/1","events":[{}]}', PositionBatch)
    assert message is None and "PositionBatch" in reason and "vehicle_id" in reason


def test_dead_letter_keeps_the_value_as_text():
    letter = dead_letter("bus.positions", "R-bad", b'{"x":\xff}', "not valid")
    assert msgspec.json.decode(wire.encode(letter)) == {"topic": "bus.positions", "key": "R-bad", "reason": "not valid",
                                                        "value": '{"x":\ufffd}'}
    assert wire.decode(wire.encode(letter), topics.DEAD_LETTERS.value) == letter

"""What the enforcement agents publish and keep per rule zone (streams.enforcement.outcome)."""

import math

from enforcement.engine import EngineState, new_state, process
from streams.enforcement.outcome import alert_message, dead_letter_message, zone_of, zone_state
from topis import topics, wire
from topis.schemas.inputs import PlateRead

WED = (2026, 3, 4)


def test_zones_are_sections_for_section_cameras_else_the_camera(rulebook):
    assert [zone_of(rulebook, c) for c in ("S1A", "S1B", "BM1", "NOPE")] == ["section:S1", "section:S1", "BM1", "NOPE"]


def test_zone_state_keeps_only_the_zones_pending_reads(rulebook, kst):
    t = kst(*WED, 9)
    saved, _ = process(new_state(rulebook), [PlateRead("e", "S1A", t, "12가3456", 0.95),
                                             PlateRead("n", "N1", t, "34나5678", 0.95)])
    assert {p.first.camera_id for p in saved.pending.values()} == {"S1A", "N1"}
    section = zone_state(saved, "section:S1", rulebook)
    assert isinstance(section, EngineState) and section.rules is rulebook
    assert [p.first.camera_id for p in section.pending.values()] == ["S1A"]
    assert zone_state(saved, "BM1", rulebook).pending == {}


def test_alert_message_masks_the_plate(rulebook, kst):
    _, out = process(new_state(rulebook), [PlateRead("w1", "P1", kst(*WED, 9), "11바2222", 0.9)])
    (alert,) = out.alerts
    message = wire.decode(wire.encode(alert_message(alert)), topics.ENFORCEMENT_ALERTS.value)
    assert message.plate_masked == "11바**22" and "11바2222" not in wire.encode(message).decode()
    assert (message.alert_id, message.read_id, message.camera_id, message.ts) == (alert.alert_id, "w1", "P1", alert.ts)


def test_dead_letter_messages_keep_the_reason_and_only_a_hash_of_the_plate(rulebook, kst):
    t = kst(*WED, 9)
    _, out = process(new_state(rulebook), [PlateRead("a", "NOPE", t, "12가3456", 0.9),
                                           PlateRead("b", "BM1", t, "HELLO", 0.9),
                                           PlateRead("c", "BM1", math.nan, "12가3456", 0.9)])
    letters = [wire.decode(wire.encode(dead_letter_message(d)), topics.DEAD_LETTERS.value) for d in out.dead_letters]
    assert [(d.topic, d.read_id, d.reason) for d in letters] == [
        ("plate.reads", "a", "unknown_camera"), ("plate.reads", "b", "unparseable_plate"), ("plate.reads", "c", "bad_ts")]
    assert all(len(d.plate_hash) == 32 and "HELLO" not in wire.encode(d).decode() for d in letters)
    assert letters[0].key == "NOPE" and letters[0].ts == t

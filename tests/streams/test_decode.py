"""The agents' edge: key text, what of a message is kept, its dead letter, the counts, a fold that raises."""

from __future__ import annotations

import time
from collections import Counter

import msgspec
from agent_fixtures import capture, json_values, run, run_agent, stream_app

from streams.runtime.decode import (
    FAILED,
    DeadLetters,
    counted,
    dead_letter,
    decode_value,
    key_text,
    processing_letter,
    receive,
    value_text,
)
from topis import topics, wire
from topis.schemas.deadletter import MAX_ROWS, VALUE_PREFIX_BYTES
from topis.schemas.inputs import BusPosition, PositionBatch
from topis.schemas.validation import Limits

NOW = 1_790_000_000.0  # 2026-09-21


def fix(vehicle="v", ts=NOW, lat=37.5, lon=127.0, **kw) -> BusPosition:
    return BusPosition(vehicle, "r", ts, lat, lon, **kw)


def got(value: bytes | None, key: bytes | None = b"r", offset: int = 7):
    return receive(topics.BUS_POSITIONS, key, value, 3, offset, NOW, Limits())


def test_key_text():
    assert key_text(None) == "" and key_text(b"") == "" and key_text(b"R1") == "R1"
    assert key_text(b"\xffR") == "\\xffR"  # never raises: an agent must not die on a key


def test_value_text_is_a_bounded_prefix():
    assert value_text(b"x" * 5_000_000) == "x" * VALUE_PREFIX_BYTES
    assert value_text(b'{"a":\xff}') == '{"a":\\xff}' and value_text(None) == ""


def test_decode_value_returns_the_message_or_why_not():
    batch = PositionBatch([fix()])
    assert decode_value(wire.encode(batch), PositionBatch) == (batch, None)
    message, reason = decode_value(b'{"schema":"bus.position/1","events":[{}]}', PositionBatch)
    assert message is None and "PositionBatch" in reason and "vehicle_id" in reason


def test_a_good_message_is_kept_whole_and_gives_no_letter():
    batch = PositionBatch([fix("a"), fix("b")])
    received = got(wire.encode(batch))
    assert received.batch == batch and received.key == "r" and dead_letter(received) is None


def test_a_bad_key_rejects_the_message():
    received = got(wire.encode(PositionBatch([fix()])), key=b"\xff\xfe")
    letter = dead_letter(received)
    assert received.batch is None and letter.reason == "bad_key" and letter.key == "\\xff\\xfe"


def test_the_letter_of_a_rejected_message_says_where_it_is_and_keeps_a_bounded_prefix():
    value = b'{"pad":"' + b"x" * 5_000_000 + b'"}'
    letter = dead_letter(got(value))
    assert (letter.topic, letter.partition, letter.offset, letter.key) == ("bus.positions", 3, 7, "r")
    assert letter.reason == "oversize" and "5,000,010 bytes" in letter.detail
    assert len(letter.value) == VALUE_PREFIX_BYTES and letter.value_bytes == len(value)
    assert len(wire.encode(letter)) < 2 * VALUE_PREFIX_BYTES


def test_a_batch_with_bad_rows_keeps_the_good_ones_and_lists_the_bad_in_one_letter():
    rows = [fix("a"), fix(""), fix("b", lat=95.0), fix("c"), fix("d", ts=1e12)]
    received = got(wire.encode(PositionBatch(rows)))
    assert [e.vehicle_id for e in received.batch.events] == ["a", "c"]
    letter = dead_letter(received)
    assert (letter.reason, letter.rows_rejected, letter.rows_total) == ("empty_id", 3, 5)
    assert [(r.index, r.reason) for r in letter.rows] == [(1, "empty_id"), (2, "bad_position"), (4, "bad_ts")]
    assert (letter.partition, letter.offset) == (3, 7)


def test_a_letter_lists_at_most_max_rows_rows_but_counts_them_all():
    letter = dead_letter(got(wire.encode(PositionBatch([fix("")] * (MAX_ROWS + 5)))))
    assert len(letter.rows) == MAX_ROWS and letter.rows_rejected == MAX_ROWS + 5
    assert got(wire.encode(PositionBatch([fix("")] * 3))).batch is None  # no good row left: nothing to use


def test_an_old_letter_still_decodes():
    old = b'{"topic":"bus.positions","key":"r","reason":"bad","value":"x"}'
    letter = wire.decode(old, topics.DEAD_LETTERS.value)
    assert letter.reason == "bad" and letter.offset is msgspec.UNSET


def test_processing_letter_names_the_exception_and_the_agent():
    received = got(wire.encode(PositionBatch([fix()])))
    letter = processing_letter(received, "track_routes", ValueError("year 33658 is out of range"))
    assert (letter.reason, letter.agent, letter.offset) == ("processing_error", "track_routes", 7)
    assert letter.detail == "ValueError: year 33658 is out of range"


def test_counted_adds_reasons_once_per_offset():
    entry = counted(None, 4, Counter({"not_json": 1}), 1, 10.0)
    entry = counted(entry, 5, Counter({"bad_ts": 2, "empty_id": 1}), 1, 11.0)
    assert entry == {"dead_letters": 2, "reasons": {"not_json": 1, "bad_ts": 2, "empty_id": 1}, "received_ts": 11.0,
                     "counted_at": 5}
    assert counted(entry, 5, Counter({"bad_ts": 1}), 1, 12.0) is None  # redelivered


def test_fold_dead_letters_a_raising_fold_and_counts_it(tmp_path):
    def boom(_):
        raise ZeroDivisionError("no")

    with stream_app(tmp_path) as (app, streams):
        dead_letters = DeadLetters(app)
        letters = capture(dead_letters.topic)
        results = []

        async def agent_loop(stream):
            async for event in stream.events():
                received = dead_letters.read(topics.BUS_POSITIONS, event)
                results.append(await dead_letters.fold(received, "probe", boom if received.key == "bad" else len, "x"))

        app.agent(app.topic("probe-topic"), name="probe")(agent_loop)
        value = wire.encode(PositionBatch([BusPosition("v", "r", time.time(), 37.5, 127.0)]))
        run_agent(app, "probe", [(b"bad", value), (b"ok", value)])
        counts = dict(dead_letters.entries())
    assert results == [FAILED, 1]
    (letter,) = json_values(letters)
    assert (letter["reason"], letter["agent"], letter["detail"]) == ("processing_error", "probe", "ZeroDivisionError: no")
    assert counts == {"bus.positions/0/probe": {"dead_letters": 1, "reasons": {"processing_error": 1},
                                                "received_ts": counts["bus.positions/0/probe"]["received_ts"],
                                                "counted_at": 0}}


def test_an_output_too_large_to_send_dead_letters_its_input_instead(tmp_path):
    with stream_app(tmp_path) as (app, streams):
        dead_letters = DeadLetters(app)
        out_topic = app.topic("probe-out")
        letters, outputs = capture(dead_letters.topic), capture(out_topic)
        dead_letters.max_output_bytes = 100
        sent = []

        async def agent_loop(stream):
            async for event in stream.events():
                received = dead_letters.read(topics.CARD_TAPS, event)
                sent.append(await dead_letters.send_out(out_topic, b"k", event.value * 2, received, "probe"))

        app.agent(app.topic("probe-in"), name="probe")(agent_loop)
        run_agent(app, "probe", [(b"r", b"x" * 40), (b"r", b"x" * 60)])
    assert sent == [True, False] and outputs == [(b"k", b"x" * 80)]
    (letter,) = json_values(letters)
    assert (letter["reason"], letter["agent"], letter["offset"]) == ("output_too_large", "probe", 1)
    assert letter["detail"] == "120 bytes for probe-out > 100"


def test_publish_bounded_splits_a_read_model_message_too_large_and_skips_a_snapshot_too_large(tmp_path):
    from streams.runtime.decode import publish_bounded
    from topis.schemas.state import RouteVehicles, VehiclesMessage

    def route(name, n):
        return RouteVehicles(name, NOW, [fix(f"{name}{i}") for i in range(n)], None)

    with stream_app(tmp_path) as (app, streams):
        out = app.topic("probe-out")
        sent = capture(out)
        message = VehiclesMessage([route("a", 2), route("b", 2), route("c", 2), route("huge", 40)])
        limit = len(wire.encode(VehiclesMessage([route("a", 2), route("b", 2)]))) + 10
        n = run(app, publish_bounded(out, b"a", message, limit))
    got = [[s["route_id"] for s in m["snapshots"]] for m in json_values(sent)]
    assert n == 2 and got == [["a", "b"], ["c"]]  # "huge" alone is still too large: skipped


def test_a_redelivered_bad_message_gets_no_second_letter(tmp_path):
    with stream_app(tmp_path) as (app, streams):
        dead_letters = DeadLetters(app)
        letters = capture(dead_letters.topic)

        async def owner(stream):
            async for event in stream.events():
                await dead_letters.take(topics.CARD_TAPS, event)

        app.agent(app.topic("probe-in"), name="owner")(owner)

        async def go():  # offsets 0, 1, then 0 and 1 again (a re-read from the committed offset), then 2
            async with app.agents["owner"].test_context() as ctx:
                for offset in (0, 1, 0, 1, 2):
                    ctx.sent_offset = offset
                    await ctx.put(key=b"r", value=b"garbage")

        run(app, go())
        counts = dict(dead_letters.entries())
    assert [d["offset"] for d in json_values(letters)] == [0, 1, 2]
    assert counts["card.taps/0"]["dead_letters"] == 3

"""Checkpoints of working state: written at most every ``every_s``, never larger than a Kafka message."""

from __future__ import annotations

import msgspec
from agent_fixtures import run_agent, stream_app

from streams.runtime.checkpoint import Checkpointed


class Box(msgspec.Struct):
    items: list[str] = []


def test_a_checkpoint_too_large_for_one_message_is_not_written(tmp_path):
    with stream_app(tmp_path) as (app, streams):
        boxes = Checkpointed(app, "boxes", 1, Box, lambda _: Box(), every_s=0.0)
        boxes.max_bytes = 40

        async def fill(stream):
            async for event in stream.events():
                boxes.get(event.key.decode()).items.append(event.value.decode())
                boxes.save_if_due(event.key.decode())

        app.agent(app.topic("probe"), name="fill")(fill)
        run_agent(app, "fill", [(b"a", b"x"), (b"b", b"y" * 50)])
        saved = dict(boxes.table.items())
    assert saved == {"a": b'{"items":["x"]}'}  # raw JSON; b's 60-byte state stays in memory only


def test_checkpoints_are_restored_raw_or_as_older_json_strings(tmp_path):
    with stream_app(tmp_path) as (app, streams):
        boxes = Checkpointed(app, "boxes", 1, Box, lambda _: Box(), every_s=0.0)
        assert boxes._restore("a", b'{"items":["x"]}') == Box(["x"])
        assert boxes._restore("b", b'"{\\"items\\":[\\"y\\"]}"') == Box(["y"])  # written before they were raw
        assert boxes._restore("c", b"not json") == Box()  # unreadable: afresh, with a warning

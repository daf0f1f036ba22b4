"""Agent tests without a broker: a worker's app in Faust's test profile, and what its topics were sent.

``agent.test_context()`` runs an agent on messages put into it (memory store,
no Kafka); outbound sends are captured with :func:`capture` instead of going
to a broker (PLATFORM_NOTES.md, faust-streaming 0.15).
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Iterator
from pathlib import Path

import msgspec

from streams.runtime.app import TopisApp, new_app
from topis.settings import BrokerSettings, StreamSettings


@contextlib.contextmanager
def stream_app(tmp_path: Path, **settings) -> Iterator[tuple[TopisApp, StreamSettings]]:
    """An empty worker app (never connected) and its settings, on an event loop of its own (closed after)."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    streams = StreamSettings(app_id=f"test-{uuid.uuid4().hex[:8]}", data_dir=tmp_path, **settings)
    app = new_app(BrokerSettings(url="kafka://127.0.0.1:9"), streams)
    app.loop = loop
    app.flow_control.resume()
    try:
        yield app, streams
    finally:
        if app._consumer is not None:  # stream.events() made the Kafka consumer, whose thread has a loop of its own
            app._consumer._thread.thread_loop.close()
        asyncio.set_event_loop(None)
        loop.close()


def run(app, coro):
    """Run ``coro`` on the app's loop (a timer's tick, a test context)."""
    return app.loop.run_until_complete(coro)


def capture(topic) -> list[tuple[bytes, bytes]]:
    """Replace ``topic.send`` with a recorder; returns the list of ``(key, value)`` it records."""
    sent: list[tuple[bytes, bytes]] = []

    async def send(key=None, value=None, **kwargs):
        sent.append((key, value))

    topic.send = send
    return sent


def json_values(sent: list[tuple[bytes, bytes]]) -> list:
    """The recorded values as JSON."""
    return [msgspec.json.decode(value) for _, value in sent]


def run_agent(app, name: str, messages: list[tuple[bytes | None, bytes]]) -> None:
    """Put ``(key, value)`` messages through the agent ``name`` of ``app`` (offsets 0, 1, ... of partition 0)."""

    async def go():
        async with app.agents[name].test_context() as ctx:
            for key, value in messages:
                await ctx.put(key=key, value=value)

    run(app, go())

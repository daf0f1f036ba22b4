"""An agent that crashes (outside a fold) is logged, counted on the app, reported on state.health and on the wall."""

from __future__ import annotations

import logging

from agent_fixtures import run, stream_app

from dashboard.pages.wall import components_line
from streams.runtime.app import agent
from streams.runtime.commit_watch import CommitWatch
from streams.runtime.health import HealthReport
from topis import topics


class Crashes:
    async def fold_everything(self, stream):
        async for _ in stream.events():
            raise RuntimeError("a bug outside any fold")


def test_a_crashed_agent_is_counted_and_reported(tmp_path, caplog):
    """Faust calls the app's ``_on_agent_error`` from every agent's actor when its loop raises
    (``Agent._execute_actor``; the test context bypasses it, so it is called here as Faust does)."""
    with stream_app(tmp_path) as (app, streams):
        name = f"{__name__}.fold_everything"
        agent(app, app.topic(topics.BUS_POSITIONS.name, value_type=bytes, key_type=bytes), Crashes().fold_everything)
        health = HealthReport(app, CommitWatch(app, 60.0, 5.0, 1000))
        assert app.agents[name]._on_error == app._on_agent_error  # what Faust wires every agent to
        with caplog.at_level(logging.ERROR):
            for _ in range(2):
                run(app, app._on_agent_error(app.agents[name], RuntimeError("a bug outside any fold")))
        assert app.topis_agent_crashes == {name: 2}
        assert health.health().agent_crashes == {name: 2}
    assert any("crashed (2 so far)" in r.getMessage() and r.exc_info for r in caplog.records)


def test_the_wall_says_which_agents_crashed():
    line = components_line((("worker-1", "up", 0.0, 0),), 0, {"track_routes": 2})
    assert line == "all 1 components up · agent track_routes crashed 2×"
    assert components_line((("worker-1", "up", 0.0, 0),), 0, {}) == "all 1 components up"


def test_a_timer_tick_without_a_producer_is_skipped_and_other_faults_still_raise(tmp_path, caplog):
    """A recycle stops the worker while a timer runs: that tick's ``NotReady`` must not crash the worker."""
    import pytest
    from faust.exceptions import NotReady

    from streams.runtime.app import skipping_not_ready

    ticks = []

    async def not_ready():
        ticks.append("not ready")
        raise NotReady("Producer service not yet started")

    async def broken():
        raise RuntimeError("a bug in the tick")

    with stream_app(tmp_path) as (app, _):
        with caplog.at_level(logging.INFO, logger="streams.runtime.app"):
            run(app, skipping_not_ready(not_ready)())
        assert ticks == ["not ready"]
        assert any("skipped a tick" in r.getMessage() for r in caplog.records)
        with pytest.raises(RuntimeError, match="a bug in the tick"):
            run(app, skipping_not_ready(broken)())

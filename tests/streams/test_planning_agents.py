"""The planning agents on Faust's test context: planner inputs and requests in, bad messages dead-lettered."""

from __future__ import annotations

import logging

from agent_fixtures import capture, json_values, run_agent, stream_app
from planning_fixtures import OWL, SQUIRREL, write_gtfs

from streams.bus.gtfs import load_feed
from streams.planning.agents import PlanningAgents
from streams.runtime.decode import DeadLetters
from topis import wire
from topis.schemas.plans import PlanRequest
from topis.schemas.traffic import LinkSpeed

AGENT = "streams.planning.agents."


def test_inputs_and_requests_are_kept_and_bad_ones_dead_lettered(tmp_path, caplog):
    feed = load_feed(write_gtfs(tmp_path / "gtfs"))
    with stream_app(tmp_path) as (app, streams):
        dead_letters = DeadLetters(app)
        letters = capture(dead_letters.topic)
        planner = PlanningAgents(app, streams, feed, dead_letters).planner
        run_agent(app, AGENT + "keep_squirrel_inputs",
                  [(sq.route_id.encode(), wire.encode(sq)) for sq in SQUIRREL] + [(b"LP1", wire.encode(OWL))])
        run_agent(app, AGENT + "keep_owl_input", [(b"night", wire.encode(OWL))])
        run_agent(app, AGENT + "keep_route_speeds", [(b"LP1", wire.encode([LinkSpeed("L1", 600.0, 20.0, 2, 100.0, 18.0)]))])
        with caplog.at_level(logging.WARNING, logger="streams.runtime.decode"):
            run_agent(app, AGENT + "take_plan_requests", [(b"owl", wire.encode(PlanRequest("owl", "test", 1.0))),
                                                          (b"x", b"not json"), (b"x", b'{"kind":"bogus"}')])
    assert set(planner.squirrel) == {sq.route_id for sq in SQUIRREL} and planner.owl == wire.encode(OWL)
    assert planner.clock_ts == 900.0 and list(planner.bins["LP1"]) == [("L1", 600.0)]
    assert planner.requested == {"owl"}
    assert [(m["topic"], m["key"]) for m in json_values(letters)] == [
        ("demand.squirrel", "LP1"), ("plans.requests", "x"), ("plans.requests", "x")]
    assert "plans.requests: ignored" in caplog.text

"""The bus agents on Faust's test context, on the tiny feed: matching, placing fixes with no route, read model."""

from __future__ import annotations

from agent_fixtures import capture, json_values, run, run_agent, stream_app
from busops_fixtures import at, fix

from streams.bus import route_view
from streams.bus.agents import BusAgents
from streams.bus.pipeline import RouteState, route_model
from streams.runtime.decode import DeadLetters
from topis import wire
from topis.schemas.bus import MatchedPosition, PredictionRound, predictions_of
from topis.schemas.inputs import PositionBatch

TRACK = "streams.bus.agents.track_routes"


def eastbound(route="R1", n=8):
    """v1 on trip E1: leaves A at 08:00 at 5 m/s, a fix every 30 s."""
    return [fix(5.0 * 30 * k, at(8, 0) + 30 * k, route=route) for k in range(n)]


def test_advance_runs_the_pipeline_and_folds_the_view(tiny_feed):
    live = route_view.LiveRoute(RouteState("R1"))
    fixes = eastbound()
    published, predictions = route_view.advance(live, fixes, route_model(tiny_feed, "R1"))
    assert live.view.last_fix["v1"][0] == fixes[-1].ts and live.pipeline.fixes == len(fixes)
    assert predictions and {p.trip_id for p in predictions} == {"E1"}
    assert {e.stop_id for e in published if type(e).__name__ == "StopArrival"} >= {"B", "C"}
    assert not any(isinstance(e, MatchedPosition) for e in published)


def test_track_routes_publishes_events_predictions_and_the_route_view(tmp_path, tiny_feed):
    with stream_app(tmp_path) as (app, streams):
        agents = BusAgents(app, streams, tiny_feed, DeadLetters(app))
        events, predictions, routes = capture(agents.events), capture(agents.predictions), capture(agents.state_routes)
        run_agent(app, TRACK, [(b"R1", wire.encode(PositionBatch(eastbound()))), (b"R1", b"garbage")])
        run(app, agents.publish_routes())
        run(app, agents.publish_routes())  # nothing changed since: nothing published
    assert {key for key, _ in events + predictions} == {b"R1"}
    assert {e["schema"] for m in json_values(events) for e in m} >= {"stop.arrival/1", "stop.departure/1"}
    assert {p.trip_id for _, v in predictions for p in predictions_of(wire.decode(v, list[PredictionRound]))} == {"E1"}
    ((key, _),) = routes
    (snapshot,) = json_values(routes)
    assert key == b"R1" and [(v["vehicle_id"], v["trip_id"]) for v in snapshot["vehicles"]] == [("v1", "E1")]


def test_fixes_with_no_route_are_placed_republished_and_counted(tmp_path, tiny_feed):
    sent = [*eastbound(route=""), fix(500.0, at(8, 1), vehicle="v2", route="", y_m=2000.0)]
    with stream_app(tmp_path) as (app, streams):
        agents = BusAgents(app, streams, tiny_feed, DeadLetters(app))
        placed, counters = capture(agents.positions), capture(agents.state_counters)
        run_agent(app, TRACK, [(b"", wire.encode(PositionBatch(sent)))])
        run(app, agents.publish_routes())
    assert [(k, [(f.vehicle_id, f.route_id) for f in wire.decode(v, PositionBatch).events]) for k, v in placed] == [
        (b"R1", [("v1", "R1")] * 8)]
    (snap,) = json_values(counters)[0]["snapshots"]
    assert (snap["kind"], snap["key"], snap["routed"], snap["unmatched"]) == ("unrouted", "", 8, 1)
    assert sum(snap["per_minute"].values()) == 1



def test_a_fold_that_raises_dead_letters_its_message_and_the_route_goes_on(tmp_path, tiny_feed, monkeypatch):
    real, calls = route_view.advance, []

    def advance_failing_once(*args):
        calls.append(1)
        if len(calls) == 1:
            raise ValueError("year 33658 is out of range")
        return real(*args)

    monkeypatch.setattr(route_view, "advance", advance_failing_once)
    with stream_app(tmp_path) as (app, streams):
        dead_letters = DeadLetters(app)
        agents = BusAgents(app, streams, tiny_feed, dead_letters)
        events, letters = capture(agents.events), capture(dead_letters.topic)
        fixes = eastbound()
        run_agent(app, TRACK, [(b"R1", wire.encode(PositionBatch(fixes[:4]))),
                               (b"R1", wire.encode(PositionBatch(fixes[4:])))])
    (letter,) = json_values(letters)
    assert (letter["reason"], letter["agent"], letter["offset"]) == ("processing_error", "track_routes", 0)
    assert letter["detail"] == "ValueError: year 33658 is out of range"
    assert len(calls) == 2 and events  # the second batch was matched and published

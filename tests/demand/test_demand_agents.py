"""The demand agents on Faust's test context: taps → located taps → rides → loads → planner inputs."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from agent_fixtures import capture, json_values, run, run_agent, stream_app

from streams.demand.agents import DemandAgents
from streams.demand.taps import Pattern, RoutePatterns
from streams.runtime.decode import DeadLetters
from topis import wire
from topis.schemas.demand import OwlInput, RideBatch, SquirrelInput
from topis.schemas.inputs import CardTap, TapBatch

T0 = datetime(2026, 11, 23, 8, 0, tzinfo=ZoneInfo("Asia/Seoul")).timestamp()
PATTERNS = RoutePatterns((Pattern("A", 0, ("A1", "A2", "A3")),),
                         {f"A{i + 1}": (37.50, 127.00 + 0.01 * i) for i in range(3)})
AGENT = "streams.demand.agents."


def tap(card, direction, stop, ts):
    return CardTap(card_hash=card, direction=direction, route_id="A", vehicle_id="bus1", stop_id=stop, ts=ts)


def test_taps_become_rides_loads_and_planner_inputs(tmp_path):
    taps = [tap("c1", "on", "A1", T0), tap("c2", "on", "A1", T0 + 5), tap("c1", "off", "A3", T0 + 600),
            tap("c2", "off", "A2", T0 + 300)]
    with stream_app(tmp_path) as (app, streams):
        dead_letters = DeadLetters(app)
        agents = DemandAgents(app, streams, PATTERNS, dead_letters)
        located, rides = capture(agents.located), capture(agents.rides)
        squirrel, owl, letters = capture(agents.squirrel), capture(agents.owl), capture(dead_letters.topic)
        run_agent(app, AGENT + "locate_taps", [(b"A", wire.encode(TapBatch(taps))), (b"A", b"garbage")])
        run_agent(app, AGENT + "link_rides", [*located, (b"c000", b"{}")])
        run_agent(app, AGENT + "load_routes", rides)
        run(app, agents.publish_planner_inputs())
    assert sorted((r.card_hash, r.alight_method) for _, v in rides for r in wire.decode(v, RideBatch).events) == [
        ("c1", "tap"), ("c2", "tap")]
    ((key, value),) = squirrel
    profile = wire.decode(value, SquirrelInput)
    assert key == b"A" and profile.rides == 2 and profile.inferred_alighting_share == 0.0
    # A1→A2 carries both riders, A2→A3 only c1
    assert [p.passengers_pax for p in profile.profiles] == [[2.0, 1.0]]
    assert [k for k, _ in owl] == [b"night"] and wire.decode(owl[0][1], OwlInput).journeys == 0  # 08:00 is not night
    # the garbage tap batch is the live agents' to dead-letter; the bad located batch is link_rides'
    assert [(m["topic"], m["key"]) for m in json_values(letters)] == [("card.located", "c000")]


def test_a_batch_of_tap_messages_goes_on_as_one_message_per_card_bucket(tmp_path):
    from streams.demand.taps import CARD_BUCKETS
    from topis.schemas.demand import LocatedTapBatch

    messages = [(b"A", wire.encode(TapBatch([tap(f"card{i}", "on", "A1", T0 + i)]))) for i in range(60)]
    with stream_app(tmp_path) as (app, streams):
        agents = DemandAgents(app, streams, PATTERNS, DeadLetters(app))
        located = capture(agents.located)
        run_agent(app, AGENT + "locate_taps", messages)
    cards = [lt.tap.card_hash for _, v in located for lt in wire.decode(v, LocatedTapBatch).events]
    assert sorted(cards) == sorted(f"card{i}" for i in range(60))  # every tap, once
    assert len(located) < 60 and len(located) <= 2 * CARD_BUCKETS  # not one message per tap

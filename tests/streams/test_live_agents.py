"""The live agents on Faust's test context: positions, counters, dead letters, the read model."""

from __future__ import annotations

from agent_fixtures import capture, json_values, run, run_agent, stream_app

from streams.live.agents import LiveAgents
from streams.runtime.decode import DeadLetters
from topis import wire
from topis.schemas.inputs import BusPosition, CardTap, PlateRead, PositionBatch, ReadBatch, TapBatch

BAD = b'{"schema":"bus.position/1","events":[{}]}'
TRACK = "streams.live.agents.track_vehicles"


def declare(app, streams):
    dead_letters = DeadLetters(app)
    return LiveAgents(app, streams, dead_letters), capture(dead_letters.topic)


def positions(route, *fixes) -> bytes:
    return wire.encode(PositionBatch([BusPosition(v, route, ts, 37.5, 127.0) for v, ts in fixes]))


def test_track_vehicles_keeps_the_newest_fix_and_dead_letters_a_bad_batch_once(tmp_path):
    with stream_app(tmp_path) as (app, streams):
        agents, letters = declare(app, streams)
        run_agent(app, TRACK, [(b"r1", positions("r1", ("a", 10), ("b", 20))), (b"r1", BAD),
                               (b"r1", positions("r1", ("a", 5), ("b", 30)))])
        entry = agents.vehicles_by_route["r1"]
    assert {v: p["ts"] for v, p in entry["vehicles"].items()} == {"a": 10, "b": 30}
    assert entry["dead_letters"] == 1
    (letter,) = json_values(letters)
    assert (letter["topic"], letter["key"], letter["value"]) == ("bus.positions", "r1", BAD.decode())
    assert "vehicle_id" in letter["reason"]


def test_a_bad_first_message_does_not_stop_the_route(tmp_path):
    with stream_app(tmp_path) as (app, streams):
        agents, letters = declare(app, streams)
        run_agent(app, TRACK, [(b"R-bad", BAD), (b"R-bad", positions("", ("a", 1)))])
        entry = agents.vehicles_by_route["R-bad"]
    assert entry["dead_letters"] == 1 and set(entry["vehicles"]) == {"a"} and len(letters) == 1


def test_count_taps_per_route_and_minute_once_per_message(tmp_path):
    taps = wire.encode(TapBatch([CardTap("h1", "on", "r1", "v", "s", 60.0), CardTap("h2", "on", "r2", "v", "s", 61.0),
                                 CardTap("h3", "off", "r1", "v", "s", 125.0)]))
    with stream_app(tmp_path) as (app, streams):
        agents, letters = declare(app, streams)
        run_agent(app, "streams.live.agents.count_taps", [(b"r1", taps), (b"r1", b"garbage")])
        counted = {k: dict(e) for k, e in agents.taps_by_route.items()}
    assert counted["r1"]["per_minute"] == {"60": 1, "120": 1} and counted["r1"]["counted_at"] == [0, 0]
    assert counted["r2"]["per_minute"] == {"60": 1}
    assert counted["r1"]["dead_letters"] == 1 and json_values(letters)[0]["topic"] == "card.taps"


def test_publish_read_model_chunks_the_snapshots(tmp_path):
    reads = wire.encode(ReadBatch([PlateRead("x", "cam", 5.0, "12가3456", 0.9)]))
    with stream_app(tmp_path, read_model_chunk_snapshots=2) as (app, streams):
        agents, _ = declare(app, streams)
        vehicles, counters = capture(agents.state_vehicles), capture(agents.state_counters)
        run_agent(app, TRACK, [(r.encode(), positions(r, ("v" + r, 1.0))) for r in ("r1", "r2", "r3")])
        run_agent(app, "streams.live.agents.count_reads", [(b"cam", reads)])
        run(app, agents.publish_read_model())
    assert [key for key, _ in vehicles] == [b"r1", b"r3"]
    assert [[s["route_id"] for s in m["snapshots"]] for m in json_values(vehicles)] == [["r1", "r2"], ["r3"]]
    assert json_values(vehicles)[1]["snapshots"][0]["vehicles"] == [
        {"vehicle_id": "vr3", "route_id": "r3", "ts": 1.0, "lat": 37.5, "lon": 127.0}]
    ((key, _),) = counters
    (snap,) = json_values(counters)[0]["snapshots"]
    assert key == b"cam" and (snap["kind"], snap["key"], snap["per_minute"]) == ("reads", "cam", {"0": 1})

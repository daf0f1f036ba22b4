"""The live agents on Faust's test context: positions, counters, dead letters, the read model."""

from __future__ import annotations

import time

from agent_fixtures import capture, json_values, run, run_agent, stream_app

from streams.live.agents import LiveAgents
from streams.runtime.decode import DeadLetters
from topis import wire
from topis.schemas.inputs import BusPosition, CardTap, PlateRead, PositionBatch, ReadBatch, TapBatch

BAD = b'{"schema":"bus.position/1","events":[{}]}'
TRACK = "streams.live.agents.track_vehicles"
#: a whole minute, ten minutes ago: event times the edge accepts (after 2000, not ahead of the messages' time)
T0 = 60 * (int(time.time()) // 60) - 600


def declare(app, streams):
    dead_letters = DeadLetters(app)
    return LiveAgents(app, streams, dead_letters), capture(dead_letters.topic)


def positions(route, *fixes) -> bytes:
    return wire.encode(PositionBatch([BusPosition(v, route, T0 + ts, 37.5, 127.0) for v, ts in fixes]))


def test_track_vehicles_keeps_the_newest_fix_and_dead_letters_a_bad_batch_once(tmp_path):
    with stream_app(tmp_path) as (app, streams):
        agents, letters = declare(app, streams)
        run_agent(app, TRACK, [(b"r1", positions("r1", ("a", 10), ("b", 20))), (b"r1", BAD),
                               (b"r1", positions("r1", ("a", 5), ("b", 30)))])
        entry = agents.vehicles_by_route.get("r1")
        counts = dict(agents.dead_letters.entries())
    assert {v: p["ts"] - T0 for v, p in entry["vehicles"].items()} == {"a": 10, "b": 30}
    (letter,) = json_values(letters)
    assert (letter["topic"], letter["key"], letter["value"]) == ("bus.positions", "r1", BAD.decode())
    assert (letter["reason"], letter["partition"], letter["offset"]) == ("wrong_type", 0, 1)
    assert "vehicle_id" in letter["detail"]
    assert {k: (e["dead_letters"], e["reasons"]) for k, e in counts.items()} == {"bus.positions/0": (1, {"wrong_type": 1})}


def test_a_bad_first_message_does_not_stop_the_route(tmp_path):
    with stream_app(tmp_path) as (app, streams):
        agents, letters = declare(app, streams)
        run_agent(app, TRACK, [(b"R-bad", BAD), (b"R-bad", positions("", ("a", 1)))])
        entry = agents.vehicles_by_route.get("R-bad")
    assert set(entry["vehicles"]) == {"a"} and len(letters) == 1


def test_bad_rows_are_dead_lettered_and_the_good_rows_of_the_batch_kept(tmp_path):
    batch = PositionBatch([BusPosition("a", "r1", T0, 37.5, 127.0), BusPosition("", "r1", T0, 37.5, 127.0),
                           BusPosition("b", "r1", 1e12, 37.5, 127.0), BusPosition("c", "r1", T0, 95.0, 127.0)])
    with stream_app(tmp_path) as (app, streams):
        agents, letters = declare(app, streams)
        run_agent(app, TRACK, [(b"r1", wire.encode(batch)), (b"\xff", positions("r1", ("z", 1)))])
        entry = agents.vehicles_by_route.get("r1")
        counts = dict(agents.dead_letters.entries())
    assert set(entry["vehicles"]) == {"a"}
    rows, key = json_values(letters)
    assert (rows["offset"], rows["rows_rejected"], rows["rows_total"]) == (0, 3, 4)
    assert [(r["index"], r["reason"]) for r in rows["rows"]] == [(1, "empty_id"), (2, "bad_ts"), (3, "bad_position")]
    assert (key["reason"], key["key"], key["offset"]) == ("bad_key", "\\xff", 1)
    assert counts["bus.positions/0"]["reasons"] == {"empty_id": 1, "bad_ts": 1, "bad_position": 1, "bad_key": 1}
    assert counts["bus.positions/0"]["dead_letters"] == 2


def test_count_taps_per_route_and_minute_once_per_message(tmp_path):
    taps = wire.encode(TapBatch([CardTap("h1", "on", "r1", "v", "s", T0 + 0.0),
                                 CardTap("h2", "on", "r2", "v", "s", T0 + 1.0),
                                 CardTap("h3", "off", "r1", "v", "s", T0 + 65.0)]))
    with stream_app(tmp_path) as (app, streams):
        agents, letters = declare(app, streams)
        run_agent(app, "streams.live.agents.count_taps", [(b"r1", taps), (b"r1", b"garbage")])
        counted = {k: dict(e) for k, e in agents.taps_by_route.items()}
        counts = dict(agents.dead_letters.entries())
    assert counted["r1"]["per_minute"] == {str(T0): 1, str(T0 + 60): 1} and counted["r1"]["counted_at"] == [0, 0]
    assert counted["r2"]["per_minute"] == {str(T0): 1}
    assert json_values(letters)[0]["topic"] == "card.taps" and json_values(letters)[0]["reason"] == "not_json"
    assert counts["card.taps/0"]["reasons"] == {"not_json": 1}


def test_publish_read_model_chunks_the_snapshots(tmp_path):
    reads = wire.encode(ReadBatch([PlateRead("x", "cam", T0 + 5.0, "12가3456", 0.9)]))
    with stream_app(tmp_path, read_model_chunk_snapshots=2) as (app, streams):
        agents, _ = declare(app, streams)
        vehicles, counters = capture(agents.state_vehicles), capture(agents.state_counters)
        run_agent(app, TRACK, [(r.encode(), positions(r, ("v" + r, 1.0))) for r in ("r1", "r2", "r3")])
        run_agent(app, "streams.live.agents.count_reads", [(b"cam", reads), (b"cam", b"")])
        run(app, agents.publish_read_model())
    assert [key for key, _ in vehicles] == [b"r1", b"r3"]
    assert [[s["route_id"] for s in m["snapshots"]] for m in json_values(vehicles)] == [["r1", "r2"], ["r3"]]
    assert json_values(vehicles)[1]["snapshots"][0]["vehicles"] == [
        {"vehicle_id": "vr3", "route_id": "r3", "ts": T0 + 1.0, "lat": 37.5, "lon": 127.0}]
    ((key, _),) = counters
    snap, rejected = json_values(counters)[0]["snapshots"]
    assert key == b"cam" and (snap["kind"], snap["key"], snap["per_minute"]) == ("reads", "cam", {str(T0): 1})
    assert (rejected["kind"], rejected["key"], rejected["source"]) == ("rejected", "plate.reads/0", "plate.reads")
    assert (rejected["dead_letters"], rejected["reasons"]) == (1, {"empty_value": 1})

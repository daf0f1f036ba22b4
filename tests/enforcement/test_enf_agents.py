"""The violation detector on Faust's test context, over a real SQLite case store."""

from __future__ import annotations

from agent_fixtures import capture, json_values, run_agent, stream_app

from streams.enforcement.agents import EnforcementAgents
from streams.runtime.decode import DeadLetters
from topis import wire
from topis.schemas.inputs import PlateRead, ReadBatch

WED = (2026, 3, 4)


def test_reads_become_cases_alerts_and_dead_letters(tmp_path, rulebook, sqlite_store, kst):
    t = kst(*WED, 8)
    reads = [PlateRead("a", "BF1", t, "12가3456", 0.95), PlateRead("w", "P1", t, "11바2222", 0.9),
             PlateRead("n", "NOPE", t, "12가3456", 0.9)]
    with stream_app(tmp_path) as (app, streams):
        dead_letters = DeadLetters(app)
        agents = EnforcementAgents(app, rulebook, sqlite_store, dead_letters)
        alerts, letters = capture(agents.alerts), capture(dead_letters.topic)
        run_agent(app, "streams.enforcement.agents.detect_violations",
                  [(b"BF1", wire.encode(ReadBatch(reads))), (b"BF1", b"garbage")])
        agents.db.shutdown()
        counts = {k: (e["dead_letters"], e["reasons"]) for k, e in dead_letters.entries()}
    assert [c.rule for c in sqlite_store.list_cases()] == ["bus_lane"]
    assert [(k, m["read_id"], m["plate_masked"]) for (k, _), m in zip(alerts, json_values(alerts))] == [
        (b"P1", "w", "11바**22")]
    assert [(k, m["read_id"], m["reason"], m["offset"]) for (k, _), m in zip(letters, json_values(letters))] == [
        (b"plate.reads", "n", "unknown_camera", 0)]  # the garbage batch is the live agents' to dead-letter
    assert counts == {"plate.reads/0/detect_violations": (1, {"unknown_camera": 1})}

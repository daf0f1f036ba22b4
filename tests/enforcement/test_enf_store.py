"""The case store on a real SQLite file and a real PostgreSQL 15 server."""

from sqlalchemy import text

from enforcement.engine import new_state, process
from topis.schemas.inputs import PlateRead

WED = (2026, 3, 4)


def reads_for(kst):
    t = kst(*WED, 8)
    return [
        PlateRead("a", "BF1", t, "12가3456", 0.95, image_ref="s3://img/a.jpg"),
        PlateRead("b", "G1", t + 10, "34나5678", 0.7),
        PlateRead("c", "S1A", t + 100, "22사3333", 0.9),
        PlateRead("d", "P1", t, "12가3456", 0.9),
        PlateRead("e", "P1", t + 3601, "12가3456", 0.9),
        PlateRead("f", "P1", t, "11바2222", 0.9),
        PlateRead("g", "NOPE", t, "12가3456", 0.9),
    ]


def test_commit_is_idempotent_and_complete(store, rulebook, kst):
    state, out = process(new_state(rulebook), reads_for(kst))
    first = store.commit(out, now=1000.0)
    again = store.commit(out, now=2000.0)
    assert (first.new_cases, first.merged_cases, first.alerts, first.dead_letters) == (2, 0, 1, 1)
    assert (again.new_cases, again.merged_cases) == (0, 2)
    counts = store.counts()
    assert counts == {"cases_new": 2, "cases": 2, "evidence": 2, "alerts": 1, "dead_letters": 1, "pending": 1,
                      "reads_without_case": 2 * 3}  # fmt: skip  # counts are at-least-once
    bus = store.list_cases(rule="bus_lane")[0]
    assert (bus.plate, bus.fine_krw, bus.status, bus.area, bus.needs_plate_check) == ("12가3456", 50_000, "new",
                                                                                        "Jung-gu", False)  # fmt: skip
    assert bus.created_ts == 1000.0
    ev = store.get_case(bus.case_id).evidence
    assert [(e.read_id, e.camera_id, e.image_ref) for e in ev] == [("a", "BF1", "s3://img/a.jpg")]
    assert store.list_cases(rule="green_zone")[0].needs_plate_check
    assert [(a.action, a.to_status, a.actor) for a in store.audit_log(bus.case_id)] == [("open", "new", "engine")]
    hours = {(r.camera_id, r.hour_ts): r.reads_n for r in store.read_counts()}
    t = kst(*WED, 8)
    assert hours == {("S1A", int(t // 3600) * 3600): 2, ("P1", int(t // 3600) * 3600): 2,
                     ("P1", int((t + 3601) // 3600) * 3600): 2}  # fmt: skip


def test_merge_widens_case_and_ors_plate_check(store, rulebook, kst):
    g5 = "34나5678"
    _, out1 = process(new_state(rulebook), [PlateRead("x1", "G1", kst(*WED, 12), g5, 0.95)])
    _, out2 = process(new_state(rulebook), [PlateRead("x0", "G2", kst(*WED, 7), g5, 0.5),
                                            PlateRead("x2", "G2", kst(*WED, 18), g5, 0.95)])  # fmt: skip
    store.commit(out1)
    store.commit(out2)
    (case,) = store.list_cases()
    assert (case.first_ts, case.last_ts, case.needs_plate_check) == (kst(*WED, 7), kst(*WED, 18), True)
    assert [e.read_id for e in store.get_case(case.case_id).evidence] == ["x0", "x1", "x2"]


def test_pending_state_survives_a_restart(store, rulebook, kst):
    t = kst(*WED, 10)
    state, out = process(new_state(rulebook), [PlateRead("in", "S1A", t, "12가3456", 0.9),
                                               PlateRead("n0", "N1", t, "22사3333", 0.9)])  # fmt: skip
    store.commit(out)
    restored = store.load_state(rulebook)
    assert restored.pending == state.pending
    restored, out = process(restored, [PlateRead("out", "S1B", t + 60, "12가3456", 0.9)])
    store.commit(out)
    (case,) = store.list_cases()
    assert case.rule == "section_speed" and [e.read_id for e in store.get_case(case.case_id).evidence] == ["in", "out"]
    assert set(store.load_state(rulebook).pending) == {"stop|N1|22사3333"}


def test_purge_drops_old_counts_and_dead_letters(store, rulebook, kst):
    t = kst(*WED, 8)
    _, out = process(new_state(rulebook), reads_for(kst))
    store.commit(out, now=t)
    assert store.purge(retention_days=1, now=t + 86400) == {"read_counts": 0, "dead_letters": 0}
    assert store.purge(retention_days=1, now=t + 86400 + 1) == {"read_counts": 2, "dead_letters": 1}
    assert store.purge(retention_days=1, now=t + 86400 + 3601) == {"read_counts": 1, "dead_letters": 0}
    assert store.counts()["reads_without_case"] == 0 and store.counts()["cases"] == 2


def test_filters(store, rulebook, kst):
    t = kst(*WED, 8)
    _, out = process(new_state(rulebook), [PlateRead("a", "BF1", t, "12가3456", 0.9),
                                           PlateRead("b", "BP1", t, "22사3333", 0.9),
                                           PlateRead("c", "BM1", t + 5, "12가3456", 0.9)])  # fmt: skip
    store.commit(out)
    assert {c.camera_id for c in store.list_cases(area="Jung-gu")} == {"BF1", "BM1"}
    assert {c.camera_id for c in store.list_cases(area="BP1")} == {"BP1"}
    assert [c.camera_id for c in store.list_cases(plate="12가3456")] == ["BF1", "BM1"]
    assert store.list_cases(status="confirmed") == []
    assert len(store.list_cases(limit=1)) == 1
    assert sorted([e.read_id for e in c.evidence] for c in store.list_cases(with_evidence=True)) == [["a"], ["b"], ["c"]]


def test_sqlite_file_uses_wal(sqlite_store, tmp_path):
    with sqlite_store.engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
    assert (tmp_path / "cases.sqlite").exists()


def test_postgres_is_a_real_server(pg_store):
    with pg_store.engine.connect() as conn:
        assert conn.execute(text("SHOW server_version")).scalar().startswith("15")
        schema = conn.execute(text("SELECT current_schema()")).scalar()
        tables = conn.execute(text("SELECT count(*) FROM pg_tables WHERE schemaname = :s"), {"s": schema}).scalar()
    assert schema.startswith("t") and tables == 7



def test_commit_async_from_an_event_loop(store, rulebook, kst):
    import asyncio

    async def agent_like():
        state = new_state(rulebook)
        results = []
        for r in reads_for(kst):  # one message per read, each committed before the next
            state, out = process(state, [r])
            results.append(await store.commit_async(out))
        return results

    results = asyncio.run(agent_like())
    assert sum(r.new_cases for r in results) == 2 and store.counts()["cases"] == 2


def test_reads_for_the_dashboard_are_plain_data(store, rulebook, kst):
    from enforcement import review

    t = kst(*WED, 8)
    _, out = process(new_state(rulebook), [PlateRead("a", "BF1", t, "12가3456", 0.9),  # bus lane, Jung-gu
                                           PlateRead("b", "BP1", t, "22사3333", 0.9),  # bus lane, Jongno-gu
                                           PlateRead("w1", "P1", t, "11바2222", 0.9),  # watch list, no case
                                           PlateRead("w2", "P1", t + 60, "11바2222", 0.8)])  # fmt: skip
    store.commit(out)
    assert store.areas() == ["Jongno-gu", "Jung-gu"]
    ids = sorted(c.case_id for c in store.list_cases())
    assert store.case_ids_with_prefix(ids[0][:6]) == [ids[0]]
    assert store.case_ids_with_prefix("", limit=5) == ids and store.case_ids_with_prefix("zzzzzz") == []
    assert store.open_case_count() == 2
    review.claim(store, ids[0], "kim", "test")
    assert store.open_case_count() == 2  # under review is still open
    review.dismiss(store, ids[0], "kim", "test", "misread plate")
    assert store.open_case_count() == 1
    newest, older = store.recent_alerts(10)
    assert (newest["read_id"], newest["ts"], newest["confidence"]) == ("w2", t + 60, 0.8)
    assert set(newest) == {"alert_id", "reason", "plate", "read_id", "camera_id", "lat", "lon", "ts", "confidence"}
    assert (older["read_id"], older["plate"], older["camera_id"], older["reason"]) == ("w1", "11바2222", "P1", "watch")
    assert [a["read_id"] for a in store.recent_alerts(1)] == ["w2"]

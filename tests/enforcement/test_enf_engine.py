"""The engine on hand-made reads: each rule end to end, dead letters, restart and redelivery."""

import math

from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from enforcement.engine import new_state, process
from enforcement.rules import case_id
from topis.schemas.inputs import PlateRead

WED = (2026, 3, 4)
_ids = iter(range(10**6))


def read(camera, ts, plate="12가3456", conf=0.95, rid=None, **kw):
    return PlateRead(rid or f"r{next(_ids)}", camera, ts, plate, conf, **kw)


def run(rulebook, reads):
    state, out = process(new_state(rulebook), reads)
    return state, out


def test_bus_lane_one_case_per_passage(rulebook, kst):
    reads = [read("BF1", kst(*WED, 8), rid="a"), read("BF1", kst(*WED, 18), rid="b"),
             read("BM1", kst(*WED, 8), rid="c"), read("BF1", kst(2026, 3, 5, 8), rid="d")]  # fmt: skip
    _, out = run(rulebook, reads)
    cases = sorted(out.cases.values(), key=lambda c: (c.camera_id, c.first_ts))
    assert [(c.camera_id, [e.read_id for e in c.evidence]) for c in cases] == [
        ("BF1", ["a"]), ("BF1", ["b"]), ("BF1", ["d"]), ("BM1", ["c"])]  # fmt: skip
    assert cases[0].case_id == case_id("bus_lane", "12가3456", "a")
    assert cases[0].fine_krw == 50_000 and cases[0].first_ts == cases[0].last_ts == kst(*WED, 8)
    assert process(new_state(rulebook), reads)[1].cases.keys() == out.cases.keys()  # same ids on a replay


def test_bus_lane_exemptions_hours_and_lane_field(rulebook, kst):
    reads = [
        read("BF1", kst(*WED, 8), plate="56다7890"),  # bus
        read("BF1", kst(*WED, 8), plate="78라1234"),  # emergency
        read("BF1", kst(*WED, 8), plate="90마5678"),  # permit holder
        read("BF1", kst(*WED, 21)),  # after hours
        read("BP1", kst(*WED, 12)),  # part-time lane, midday
        read("BF1", kst(2026, 3, 7, 8)),  # Saturday
        read("BF1", kst(*WED, 8), lane="2"),  # the camera saw it outside the bus lane
        read("BF1", kst(*WED, 8), plate="99가9999", vehicle_class="bus"),  # unregistered, seen as a bus
    ]
    _, out = run(rulebook, reads)
    assert out.cases == {}
    assert sum(out.no_case_counts.values()) == len(reads)


def test_unregistered_and_heavy_vehicles_in_bus_lane(rulebook, kst):
    _, out = run(rulebook, [read("BM1", kst(*WED, 3), plate="99가9999"), read("BM1", kst(*WED, 3), plate="22사3333")])
    assert sorted((c.plate, c.fine_krw) for c in out.cases.values()) == [("22사3333", 60_000), ("99가9999", 50_000)]


def test_green_zone_one_case_per_plate_per_day_across_cameras(rulebook, kst):
    g5 = "34나5678"
    reads = [read("G1", kst(*WED, 5, 59, 59), plate=g5, rid="early"), read("G1", kst(*WED, 6), plate=g5, rid="g1"),
             read("G2", kst(*WED, 15), plate=g5, rid="g2"), read("G1", kst(*WED, 21), plate=g5, rid="late"),
             read("G2", kst(2026, 3, 8, 20, 59, 59), plate=g5, rid="sunday"),
             read("G1", kst(*WED, 12), plate="90마5678"), read("G1", kst(*WED, 12), plate="78라1234"),
             read("G1", kst(*WED, 12))]  # fmt: skip
    _, out = run(rulebook, reads)
    got = sorted((c.first_ts, [e.read_id for e in c.evidence], c.fine_krw) for c in out.cases.values())
    assert got == [(kst(*WED, 6), ["g1", "g2"], 250_000), (kst(2026, 3, 8, 20, 59, 59), ["sunday"], 250_000)]
    assert case_id("green_zone", g5, "2026-03-04") in out.cases


def test_green_zone_day_is_the_local_day(rulebook, kst):
    # 23:30 UTC on 3 March is 08:30 on 4 March in Seoul: same case as a 4 March afternoon read
    g5 = "34나5678"
    _, out = run(rulebook, [read("G1", kst(*WED, 8, 30), plate=g5), read("G2", kst(*WED, 16), plate=g5)])
    assert list(out.cases) == [case_id("green_zone", g5, "2026-03-04")]


def test_section_speed(rulebook, kst, settings):
    t0 = kst(*WED, 10)
    reads = [
        read("S1A", t0, rid="fast_in"), read("S1B", t0 + 100, rid="fast_out"),  # 2000 m in 100 s = 72 > 60 + 10
        read("S1A", t0, plate="22사3333"), read("S1B", t0 + 102.86, plate="22사3333"),  # 69.999 km/h: within tolerance
        read("S1B", t0 + 50, plate="34나5678"),  # exit without entry
    ]  # fmt: skip
    state, out = run(rulebook, reads)
    (case,) = out.cases.values()
    assert case.rule == "section_speed" and [e.read_id for e in case.evidence] == ["fast_in", "fast_out"]
    assert case.case_id == case_id("section_speed", "12가3456", "S1", "fast_in")
    assert case.fine_krw == 40_000  # 12 km/h over: lowest band
    assert "72.0 km/h" in case.detail
    assert set(state.pending) == {"secx|S1|34나5678"}  # the lone exit waits for an entry from another partition


def test_section_speed_exit_processed_before_its_entry(rulebook, kst):
    """Entry and exit cameras sit in different partitions: the exit may be processed first."""
    t0 = kst(*WED, 10)
    reads = [read("S1B", t0 + 100, rid="fast_out"), read("S1A", t0, rid="fast_in"),  # 72 km/h, reversed
             read("S1B", t0 + 103, plate="22사3333"), read("S1A", t0, plate="22사3333")]  # within tolerance
    state, out = run(rulebook, reads)
    (case,) = out.cases.values()
    assert [e.read_id for e in case.evidence] == ["fast_in", "fast_out"]
    assert case.case_id == case_id("section_speed", "12가3456", "S1", "fast_in")  # same id as in order
    assert state.pending == {}


def test_section_tolerance_and_max_age(rulebook, kst, settings):
    t0 = kst(*WED, 10)
    strict = rulebook.__class__(rulebook.cameras, rulebook.registry, rulebook.holidays,
                                settings.model_copy(update={"speed_tolerance_kph": 15.0}))  # fmt: skip
    _, out = run(strict, [read("S1A", t0), read("S1B", t0 + 100)])  # 72 <= 60 + 15
    assert out.cases == {}
    _, out = run(rulebook, [read("S1A", t0), read("S1B", t0 + settings.section_max_s + 1)])
    assert out.cases == {}


def test_no_stopping(rulebook, kst, settings):
    t0 = kst(*WED, 14)
    reads = [read("N1", t0, rid="n0"), read("N1", t0 + 200, rid="n1"), read("N1", t0 + 300, rid="n2"),
             read("N1", t0 + 301, rid="n3"), read("N1", t0 + 500, rid="n4")]  # fmt: skip
    state, out = run(rulebook, reads)
    (case,) = out.cases.values()
    assert case.case_id == case_id("no_stopping", "12가3456", "N1", "n0")
    assert [e.read_id for e in case.evidence] == ["n0", "n3", "n4"]
    assert (case.first_ts, case.last_ts, case.fine_krw) == (t0, t0 + 500, 40_000)
    # a read after a gap longer than no_stopping_gap_s starts a new stop
    later = t0 + 500 + settings.no_stopping_gap_s + 1
    state, out = process(state, [read("N1", later, rid="m0"), read("N1", later + 150, rid="m1"),
                                  read("N1", later + 301, rid="m2")])
    (case2,) = out.cases.values()
    assert case2.case_id == case_id("no_stopping", "12가3456", "N1", "m0")


def test_watch_list_alerts_and_still_judged(rulebook, kst):
    _, out = run(rulebook, [read("P1", kst(*WED, 9), plate="11바2222", rid="w1"),
                            read("BM1", kst(*WED, 9), plate="11바2222", rid="w2")])  # fmt: skip
    assert [(a.reason, a.read_id, a.plate) for a in out.alerts] == [("watch", "w1", "11바2222"),
                                                                    ("watch", "w2", "11바2222")]  # fmt: skip
    assert [c.rule for c in out.cases.values()] == ["bus_lane"]
    assert not out.no_case_counts  # alerted reads are not anonymous counts


def test_low_confidence_marks_case_for_plate_check(rulebook, kst):
    t = kst(*WED, 9)
    _, out = run(rulebook, [read("BM1", t, conf=0.79), read("BF1", t, conf=0.8)])
    checks = {c.camera_id: c.needs_plate_check for c in out.cases.values()}
    assert checks == {"BM1": True, "BF1": False}


def test_bad_reads_become_dead_letters(rulebook, kst):
    t = kst(*WED, 9)
    bad = [read("NOPE", t), read("BM1", t, plate="HELLO"), read("BM1", t, conf=1.5), read("BM1", math.nan),
           read("BM1", t, conf=math.nan), {"read_id": "x"}, PlateRead("", "BM1", t, "12가3456", 0.9),
           read("BM1", 1e20), read("BM1", -5.0), read("BM1", t, rid="x" * 65), read(["BM1"], t),
           read("BM1", t, plate=None)]  # fmt: skip
    state, out = run(rulebook, [*bad, read("BM1", t, rid="ok")])
    assert out.dead_letter_counts() == {"unknown_camera": 1, "unparseable_plate": 2, "bad_confidence": 2,
                                        "bad_ts": 3, "bad_read": 4}  # fmt: skip
    assert len(out.cases) == 1 and out.reads_n == 13
    dl = out.dead_letters[1]
    assert "HELLO" not in repr(dl) and len(dl.plate_hash) == 32


def test_sweep_forgets_stale_pending(rulebook, kst, settings):
    t0 = kst(*WED, 10)
    state, _ = run(rulebook, [read("S1A", t0), read("N1", t0)])
    assert len(state.pending) == 2
    state, out = process(state, [read("P1", t0 + settings.section_max_s + 61)])
    assert state.pending == {} and len(out.pending_drop) == 2


def _stream(kst):
    """A day of reads touching every rule, in time order."""
    t = kst(*WED, 7)
    reads = []
    for i in range(40):
        ts = t + 60 * i
        reads += [read("BF1", ts, plate=f"{10 + i % 7}가{1000 + i % 5}", rid=f"b{i}"),
                  read("G1" if i % 2 else "G2", ts, plate="34나5678", rid=f"g{i}"),
                  read("S1A", ts, plate=f"3{i % 10}나1111", rid=f"si{i}"),
                  read("S1B", ts + 90 + (i % 3) * 20, plate=f"3{i % 10}나1111", rid=f"so{i}"),
                  read("N1", t + 50 * i, plate="22사3333", conf=0.6 if i == 5 else 0.9, rid=f"n{i}"),
                  read("NOPE", ts, rid=f"x{i}")]  # fmt: skip
    return sorted(reads, key=lambda r: r.ts)


def _snapshot(store):
    cases = {c.case_id: (c.rule, c.plate, c.first_ts, c.last_ts, c.needs_plate_check) for c in store.list_cases()}
    evidence = {c.case_id: [e.read_id for e in store.get_case(c.case_id).evidence] for c in store.list_cases()}
    return cases, evidence


def test_restart_mid_stream_and_redelivery_make_no_duplicates(rulebook, kst, tmp_path):
    from enforcement.store import CaseStore

    reads = _stream(kst)
    batches = [reads[i : i + 17] for i in range(0, len(reads), 17)]

    clean = CaseStore(f"sqlite:///{tmp_path / 'clean.sqlite'}")
    state = new_state(rulebook)
    for batch in batches:
        state, out = process(state, batch)
        clean.commit(out)

    crashy = CaseStore(f"sqlite:///{tmp_path / 'crashy.sqlite'}")
    state = new_state(rulebook)
    crash_at = len(batches) // 2
    for batch in batches[:crash_at]:
        state, out = process(state, batch)
        crashy.commit(out)
    state, _lost = process(state, batches[crash_at])  # processed, never committed: the worker dies here
    state = crashy.load_state(rulebook)  # restarted worker
    for batch in batches[crash_at - 2 :]:  # the broker redelivers from an older offset
        state, out = process(state, batch)
        crashy.commit(out)
    for batch in batches:  # and a full replay on top
        state, out = process(state, batch)
        crashy.commit(out)

    assert _snapshot(crashy) == _snapshot(clean)
    counts = crashy.counts()
    assert counts["cases"] == len(_snapshot(clean)[0]) > 5
    rules = {v[0] for v in _snapshot(clean)[0].values()}
    assert rules == {"bus_lane", "green_zone", "section_speed", "no_stopping"}
    clean.close()
    crashy.close()


_cams = st.sampled_from(["BM1", "BF1", "BP1", "G1", "G2", "S1A", "S1B", "N1", "P1", "NOPE", ""])
_plates = st.one_of(st.sampled_from(["12가3456", "34나5678", "56다7890", "11바2222", "22사3333", "HELLO"]), st.text())
_reads = st.builds(
    PlateRead,
    read_id=st.text(max_size=70),
    camera_id=_cams,
    ts=st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.floats(1.77e9, 1.78e9)),
    plate=_plates,
    confidence=st.one_of(st.floats(-1, 2), st.just(math.nan)),
)


# the rulebook fixture is immutable, so sharing it between examples is safe
@hsettings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(_reads, max_size=30))
def test_engine_never_raises_and_accounts_for_every_read(rulebook, reads):
    state, out = process(new_state(rulebook), reads)
    assert out.reads_n == len(reads)
    assert len(out.dead_letters) <= len(reads)


@hsettings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.sampled_from(["BM1", "BF1", "G1", "G2", "S1A", "S1B", "N1"]),
                          st.floats(0, 86400 * 2), st.sampled_from(["12가3456", "34나5678", "22사3333"])),
                max_size=40),
       st.integers(1, 7))  # fmt: skip
def test_batch_boundaries_do_not_change_the_cases(rulebook, kst, raw, batch):
    t0 = kst(*WED, 0)
    reads = sorted((PlateRead(f"h{i}", cam, t0 + dt, plate, 0.9) for i, (cam, dt, plate) in enumerate(raw)),
                   key=lambda r: r.ts)  # fmt: skip
    _, whole = process(new_state(rulebook), reads)
    state, merged = new_state(rulebook), {}
    for i in range(0, len(reads), batch):
        state, out = process(state, reads[i : i + batch])
        for cid, c in out.cases.items():
            merged[cid] = c if cid not in merged else merged[cid].merged(c)
    assert merged == whole.cases


def test_low_confidence_misread_is_matched_to_its_registered_vehicle(rulebook, kst, settings):
    t = kst(*WED, 9)
    reads = [read("BM1", t, plate="56다7891", conf=0.5, rid="bus"),  # a misread bus: exempt, no case
             read("G1", t, plate="34나5679", conf=0.5, rid="g5"),  # a misread grade-5 truck: green-zone case
             read("BM1", t, plate="56다7891", conf=0.9, rid="sure"),  # confident: taken as read (unregistered car)
             read("S1A", t, plate="12가3455", conf=0.4, rid="in"), read("S1B", t + 60, rid="out")]  # fmt: skip
    _, out = run(rulebook, reads)
    got = {c.rule: (c.plate, [e.read_id for e in c.evidence], c.needs_plate_check) for c in out.cases.values()}
    assert got == {"green_zone": ("34나5678", ["g5"], True), "bus_lane": ("56다7891", ["sure"], False),
                   "section_speed": ("12가3456", ["in", "out"], True)}  # fmt: skip
    assert out.cases[case_id("green_zone", "34나5678", "2026-03-04")].evidence[0].plate_text == "34나5679"
    off = rulebook.__class__(rulebook.cameras, rulebook.registry, rulebook.holidays,
                             settings.model_copy(update={"match_misreads": False}))  # fmt: skip
    _, out = run(off, reads)
    assert sorted(c.rule for c in out.cases.values()) == ["bus_lane", "bus_lane"]

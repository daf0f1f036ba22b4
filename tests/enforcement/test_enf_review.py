"""Review workflow: transitions, claims and their expiry, audit log, repeat offenders, notices."""

import csv
import io
import json

import pytest

from enforcement import review
from enforcement.engine import new_state, process
from topis.schemas.inputs import PlateRead

WED = (2026, 3, 4)
T = 1_800_000_000.0  # "now" of the reviewers, after every violation below


@pytest.fixture
def cases(store, rulebook, kst):
    """Three bus-lane cases (one low-confidence) of the same plate on three days, and one of another plate."""
    reads = [PlateRead(f"r{d}", "BM1", kst(2026, 3, d, 9), "12가3456", 0.6 if d == 6 else 0.95,
                       image_ref=f"img/r{d}.jpg") for d in (4, 5, 6)]  # fmt: skip
    reads.append(PlateRead("q", "BM1", kst(*WED, 9), "22사3333", 0.95))
    _, out = process(new_state(rulebook), reads)
    store.commit(out)
    by_key = {(c.plate, c.first_ts): c.case_id for c in store.list_cases()}
    return {
        "d4": by_key[("12가3456", kst(2026, 3, 4, 9))],
        "d5": by_key[("12가3456", kst(2026, 3, 5, 9))],
        "d6": by_key[("12가3456", kst(2026, 3, 6, 9))],
        "van": by_key[("22사3333", kst(*WED, 9))],
    }


def test_claim_confirm_and_audit(store, cases):
    c = review.claim(store, cases["d4"], "kim", "10.0.0.7", ttl_s=600, now=T)
    assert (c.status, c.claimed_by, c.claim_expires_ts) == ("under_review", "kim", T + 600)
    c = review.confirm(store, cases["d4"], "kim", "10.0.0.7", now=T + 10)
    assert (c.status, c.decided_by, c.decided_ts, c.notice_id) == ("confirmed", "kim", T + 10, f"N-{cases['d4']}")
    log = [(a.actor, a.origin, a.action, a.from_status, a.to_status, a.ts) for a in store.audit_log(cases["d4"])]
    assert log == [("engine", store.origin, "open", "", "new", log[0][5]),
                   ("kim", "10.0.0.7", "claim", "new", "under_review", T),
                   ("kim", "10.0.0.7", "confirm", "under_review", "confirmed", T + 10)]  # fmt: skip


def test_illegal_transitions_raise_clear_errors(store, cases):
    cid = cases["d4"]
    with pytest.raises(review.TransitionError, match="claim it before you confirm"):
        review.confirm(store, cid, "kim", "cli", now=T)
    with pytest.raises(review.TransitionError, match="claim it before you dismiss"):
        review.dismiss(store, cid, "kim", "cli", "blurred", now=T)
    review.claim(store, cid, "kim", "cli", ttl_s=600, now=T)
    with pytest.raises(review.TransitionError, match="claimed by kim"):
        review.claim(store, cid, "lee", "cli", ttl_s=600, now=T + 1)
    with pytest.raises(review.TransitionError, match="claimed by kim, not lee"):
        review.confirm(store, cid, "lee", "cli", now=T + 1)
    with pytest.raises(review.ReviewError, match="reason is required"):
        review.dismiss(store, cid, "kim", "cli", "  ", now=T + 1)
    with pytest.raises(review.ReviewError, match="reviewer name"):
        review.claim(store, cid, "", "cli", now=T + 1)
    review.dismiss(store, cid, "kim", "cli", "vehicle was turning right", now=T + 2)
    for fn in (lambda: review.claim(store, cid, "kim", "cli", now=T + 3),
               lambda: review.confirm(store, cid, "kim", "cli", now=T + 3)):  # fmt: skip
        with pytest.raises(review.TransitionError, match="dismissed"):
            fn()
    with pytest.raises(review.CaseNotFound):
        review.claim(store, "0" * 32, "kim", "cli", now=T)
    assert [a.action for a in store.audit_log(cid)] == ["open", "claim", "dismiss"]
    assert store.get_case(cid).dismiss_reason == "vehicle was turning right"


def test_claim_expiry_and_takeover(store, cases):
    cid = cases["d4"]
    review.claim(store, cid, "kim", "host-a", ttl_s=600, now=T)
    review.claim(store, cid, "kim", "host-a", ttl_s=600, now=T + 300)  # renew own claim
    assert store.get_case(cid).claim_expires_ts == T + 900
    with pytest.raises(review.TransitionError, match="expired"):
        review.confirm(store, cid, "kim", "host-a", now=T + 901)
    c = review.claim(store, cid, "lee", "host-b", ttl_s=600, now=T + 901)
    assert c.claimed_by == "lee"
    assert store.audit_log(cid)[-1].detail == "took over the expired claim of kim"
    other = cases["van"]
    review.claim(store, other, "kim", "host-a", ttl_s=60, now=T)
    assert review.expire_claims(store, now=T + 61) == [other]
    assert store.get_case(other).status == "new" and store.audit_log(other)[-1].action == "expire"
    assert review.expire_claims(store, now=T + 62) == []


def test_release_returns_case_to_queue(store, cases):
    review.claim(store, cases["d5"], "kim", "cli", now=T)
    with pytest.raises(review.TransitionError):
        review.release(store, cases["d5"], "lee", "cli", now=T)
    assert review.release(store, cases["d5"], "kim", "cli", now=T).status == "new"


def test_low_confidence_case_needs_plate_check_to_confirm(store, cases):
    cid = cases["d6"]
    assert store.get_case(cid).needs_plate_check
    review.claim(store, cid, "kim", "cli", now=T)
    with pytest.raises(review.TransitionError, match="low-confidence"):
        review.confirm(store, cid, "kim", "cli", now=T + 1)
    assert review.confirm(store, cid, "kim", "cli", plate_checked=True, now=T + 2).status == "confirmed"
    assert store.audit_log(cid)[-1].detail == "plate checked"


def _confirm(store, cid, now):
    review.claim(store, cid, "kim", "cli", now=now)
    return review.confirm(store, cid, "kim", "cli", plate_checked=True, repeat_n=3, repeat_days=30, now=now + 1)


def test_repeat_offenders_flagged(store, cases, kst):
    assert not _confirm(store, cases["d4"], T).repeat_offender
    assert not _confirm(store, cases["d5"], T + 10).repeat_offender
    assert _confirm(store, cases["d6"], T + 20).repeat_offender  # third confirmed case within 30 days
    assert not _confirm(store, cases["van"], T + 30).repeat_offender
    assert review.repeat_offenders(store, n=3, days=30, now=kst(2026, 3, 10, 0)) == {"12가3456": 3}
    assert review.repeat_offenders(store, n=3, days=1, now=kst(2026, 3, 10, 0)) == {}


def test_notices_export_csv_and_json(store, cases):
    _confirm(store, cases["d4"], T)
    review.claim(store, cases["d5"], "kim", "cli", now=T)
    review.dismiss(store, cases["d5"], "kim", "cli", "duplicate", now=T + 1)
    items = review.notices(store)
    assert [n.case_id for n in items] == [cases["d4"]]
    (n,) = items
    assert (n.plate, n.rule, n.fine_krw, n.place, n.area, n.time, n.evidence_refs) == (
        "12가3456", "bus_lane", 50_000, "BM1", "Jung-gu", "2026-03-04T09:00:00+09:00", ["img/r4.jpg"])  # fmt: skip
    buf = io.StringIO()
    assert review.write_notices_csv(items, buf) == 1
    rows = list(csv.DictReader(io.StringIO(buf.getvalue())))
    assert rows[0]["plate"] == "12가3456" and rows[0]["fine_krw"] == "50000" and rows[0]["lat"] == "37.57"
    assert tuple(rows[0]) == review.NOTICE_CSV_COLUMNS
    buf = io.StringIO()
    review.write_notices_json(items, buf)
    data = json.loads(buf.getvalue())
    assert data[0]["case_id"] == cases["d4"] and data[0]["evidence_refs"] == ["img/r4.jpg"]
    assert "12가3456" in buf.getvalue()  # unescaped UTF-8
    assert review.notices(store, since_ts=T + 100) == []

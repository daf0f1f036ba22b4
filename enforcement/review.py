"""The review workflow: new → under_review → confirmed | dismissed.

Every function takes the acting reviewer and where the request came from
(``origin``: a host name, an IP address, or ``"cli:<host>"``), so the CLI
and a web page call the same code. Each transition is one conditional
``UPDATE`` (atomic against a second reviewer racing for the same case)
plus its audit entry, in one transaction.

::

    new ──claim──▶ under_review ──confirm──▶ confirmed (notice issued)
     ▲                 │  │
     └─release/expire──┘  └──dismiss(reason)──▶ dismissed

A claim lasts ``ttl_s``; after that any reviewer may claim the case again
(:func:`expire_claims` also returns expired claims to ``new``). A case
flagged ``needs_plate_check`` is confirmed only with ``plate_checked=True``.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import IO
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, selectinload

from enforcement.models import AuditEntry, Case
from enforcement.store import CaseStore


class ReviewError(Exception):
    """A review action that cannot be done; the message says why."""


class CaseNotFound(ReviewError, LookupError):
    """No case with that id."""


class TransitionError(ReviewError, ValueError):
    """The case is not in a state that allows the action."""


def _now(now: float | None) -> float:
    return time.time() if now is None else now


def _load(s: Session, case_id: str) -> Case:
    found = s.get(Case, case_id)
    if found is None:
        raise CaseNotFound(f"no case {case_id!r}")
    return found


def _audit(s: Session, case_id: str, now: float, actor: str, origin: str, action: str, from_status: str,
           to_status: str, detail: str = "") -> None:  # fmt: skip
    s.add(AuditEntry(case_id=case_id, ts=now, actor=actor, origin=origin, action=action,
                     from_status=from_status, to_status=to_status, detail=detail))  # fmt: skip


def _check_actor(reviewer: str, origin: str) -> None:
    if not reviewer or not reviewer.strip():
        raise ReviewError("a reviewer name is required")
    if not origin or not origin.strip():
        raise ReviewError("the origin of the request (host, IP or 'cli') is required")


def claim(store: CaseStore, case_id: str, reviewer: str, origin: str, *, ttl_s: float = 900.0,
          now: float | None = None) -> Case:  # fmt: skip
    """Claim a case for review (``new`` → ``under_review``) for ``ttl_s`` seconds.

    A reviewer may renew their own claim; an expired claim of someone else
    may be taken over. Raises :class:`TransitionError` otherwise.
    """
    _check_actor(reviewer, origin)
    now = _now(now)
    with store.session() as s:
        before = _load(s, case_id)
        from_status, previous = before.status, before.claimed_by
        claimable = (Case.status == "new") | (
            (Case.status == "under_review") & ((Case.claim_expires_ts < now) | (Case.claimed_by == reviewer))
        )
        done = s.execute(
            update(Case)
            .where(Case.case_id == case_id, claimable)
            .values(status="under_review", claimed_by=reviewer, claim_expires_ts=now + ttl_s)
            .execution_options(synchronize_session=False)
        ).rowcount
        if not done:
            if before.status == "under_review":
                raise TransitionError(
                    f"case {case_id} is claimed by {before.claimed_by} until "
                    f"{dt.datetime.fromtimestamp(before.claim_expires_ts, dt.timezone.utc):%Y-%m-%d %H:%M:%S} UTC"
                )
            raise TransitionError(f"case {case_id} is {before.status}; only new cases can be claimed")
        detail = f"took over the expired claim of {previous}" if from_status == "under_review" and previous != reviewer else ""
        _audit(s, case_id, now, reviewer, origin, "claim", from_status, "under_review", detail)
    return store.get_case(case_id)


def _decide(store: CaseStore, case_id: str, reviewer: str, origin: str, action: str, to_status: str,
            values: dict, now: float, detail: str = "", *, plate_checked: bool = True) -> Case:  # fmt: skip
    with store.session() as s:
        before = _load(s, case_id)
        held = (before.status == "under_review" and before.claimed_by == reviewer
                and (before.claim_expires_ts or 0) >= now)  # fmt: skip
        if not held:
            if before.status != "under_review":
                raise TransitionError(f"case {case_id} is {before.status}; claim it before you {action} it")
            if before.claimed_by != reviewer:
                raise TransitionError(f"case {case_id} is claimed by {before.claimed_by}, not {reviewer}")
            raise TransitionError(f"your claim on case {case_id} has expired; claim it again")
        if to_status == "confirmed" and before.needs_plate_check and not plate_checked:
            raise TransitionError(
                f"case {case_id} rests on a low-confidence read: check the plate against the evidence "
                "image and confirm with plate_checked=True (CLI: --plate-checked)"
            )
        done = s.execute(
            update(Case)
            .where(Case.case_id == case_id, Case.status == "under_review", Case.claimed_by == reviewer)
            .values(status=to_status, decided_by=reviewer, decided_ts=now, claim_expires_ts=None, **values)
            .execution_options(synchronize_session=False)
        ).rowcount
        if not done:  # somebody changed it between our read and write
            raise TransitionError(f"case {case_id} changed while you were deciding; reload it")
        _audit(s, case_id, now, reviewer, origin, action, "under_review", to_status, detail)
    return store.get_case(case_id)


def confirm(store: CaseStore, case_id: str, reviewer: str, origin: str, *, plate_checked: bool = False,
            repeat_n: int = 3, repeat_days: float = 365.0, now: float | None = None) -> Case:  # fmt: skip
    """Confirm a claimed case and issue its notice (``under_review`` → ``confirmed``).

    The case is flagged ``repeat_offender`` when its plate has at least
    ``repeat_n`` confirmed cases (this one included) within ``repeat_days``
    before this violation.
    """
    _check_actor(reviewer, origin)
    now = _now(now)
    detail = "plate checked" if plate_checked else ""
    decided = _decide(store, case_id, reviewer, origin, "confirm", "confirmed", {"notice_id": f"N-{case_id}"},
                      now, detail, plate_checked=plate_checked)  # fmt: skip
    with store.session() as s:
        n = s.scalar(
            select(func.count()).select_from(Case).where(
                Case.plate == decided.plate, Case.status == "confirmed",
                Case.first_ts > decided.first_ts - repeat_days * 86400.0, Case.first_ts <= decided.first_ts,
            )  # fmt: skip
        )
        if n >= repeat_n:
            s.execute(update(Case).where(Case.case_id == case_id).values(repeat_offender=True))
    return store.get_case(case_id)


def dismiss(store: CaseStore, case_id: str, reviewer: str, origin: str, reason: str, *,
            now: float | None = None) -> Case:  # fmt: skip
    """Dismiss a claimed case (``under_review`` → ``dismissed``); ``reason`` is required."""
    _check_actor(reviewer, origin)
    if not reason or not reason.strip():
        raise ReviewError("a reason is required to dismiss a case")
    return _decide(store, case_id, reviewer, origin, "dismiss", "dismissed", {"dismiss_reason": reason.strip()},
                   _now(now), reason.strip())  # fmt: skip


def release(store: CaseStore, case_id: str, reviewer: str, origin: str, *, now: float | None = None) -> Case:
    """Give a claimed case back to the queue (``under_review`` → ``new``)."""
    _check_actor(reviewer, origin)
    now = _now(now)
    with store.session() as s:
        before = _load(s, case_id)
        if before.status != "under_review" or before.claimed_by != reviewer:
            raise TransitionError(f"case {case_id} is not under review by {reviewer}")
        s.execute(update(Case).where(Case.case_id == case_id)
                  .values(status="new", claimed_by=None, claim_expires_ts=None))  # fmt: skip
        _audit(s, case_id, now, reviewer, origin, "release", "under_review", "new")
    return store.get_case(case_id)


def expire_claims(store: CaseStore, *, now: float | None = None, origin: str = "system") -> list[str]:
    """Return every case whose claim has expired to ``new``; their ids."""
    now = _now(now)
    with store.session() as s:
        stale = list(s.scalars(select(Case).where(Case.status == "under_review", Case.claim_expires_ts < now)))
        for c in stale:
            _audit(s, c.case_id, now, "system", origin, "expire", "under_review", "new", f"claim of {c.claimed_by}")
            c.status, c.claimed_by, c.claim_expires_ts = "new", None, None
    return [c.case_id for c in stale]


def repeat_offenders(store: CaseStore, *, n: int = 3, days: float = 365.0, now: float | None = None) -> dict[str, int]:
    """Plates with at least ``n`` confirmed cases whose violation was within ``days`` before ``now``."""
    now = _now(now)
    query = (
        select(Case.plate, func.count())
        .where(Case.status == "confirmed", Case.first_ts > now - days * 86400.0, Case.first_ts <= now)
        .group_by(Case.plate)
        .having(func.count() >= n)
    )
    with store.session() as s:
        return {plate: count for plate, count in s.execute(query)}


# ---------------------------------------------------------------- notices


@dataclass(frozen=True)
class Notice:
    """One penalty notice, as exported for the mailing / mobile-notification service."""

    notice_id: str
    case_id: str
    plate: str
    rule: str
    fine_krw: int
    place: str  #: camera id of the first evidence read
    area: str | None
    lat: float
    lon: float
    time: str  #: local time of the violation, ISO 8601 with offset
    evidence_refs: list[str]  #: image refs, or "read:<id>" when a read has no image
    repeat_offender: bool
    decided_by: str


def notices(store: CaseStore, *, since_ts: float | None = None, tz: str = "Asia/Seoul") -> list[Notice]:
    """Notices of confirmed cases (decided at or after ``since_ts``), oldest violation first."""
    zone = ZoneInfo(tz)
    query = select(Case).options(selectinload(Case.evidence)).where(Case.status == "confirmed")
    if since_ts is not None:
        query = query.where(Case.decided_ts >= since_ts)
    with store.session() as s:
        cases = list(s.scalars(query.order_by(Case.first_ts, Case.case_id)))
    out = []
    for c in cases:
        first = c.evidence[0] if c.evidence else None
        out.append(
            Notice(
                notice_id=c.notice_id or f"N-{c.case_id}", case_id=c.case_id, plate=c.plate, rule=c.rule,
                fine_krw=c.fine_krw, place=c.camera_id, area=c.area,
                lat=first.lat if first else float("nan"), lon=first.lon if first else float("nan"),
                time=dt.datetime.fromtimestamp(c.first_ts, zone).isoformat(),
                evidence_refs=[e.image_ref or f"read:{e.read_id}" for e in c.evidence],
                repeat_offender=c.repeat_offender, decided_by=c.decided_by or "",
            )  # fmt: skip
        )
    return out


NOTICE_CSV_COLUMNS = ("notice_id", "case_id", "plate", "rule", "fine_krw", "place", "area", "lat", "lon", "time",
                      "evidence_refs", "repeat_offender", "decided_by")  # fmt: skip


def write_notices_csv(items: Iterable[Notice], fh: IO[str]) -> int:
    """Write notices as CSV (evidence refs space-separated); returns the number written."""
    writer = csv.writer(fh, lineterminator="\n")
    writer.writerow(NOTICE_CSV_COLUMNS)
    n = 0
    for item in items:
        row = asdict(item)
        row["evidence_refs"] = " ".join(item.evidence_refs)
        row["repeat_offender"] = int(item.repeat_offender)
        row["area"] = item.area or ""
        writer.writerow([row[c] for c in NOTICE_CSV_COLUMNS])
        n += 1
    return n


def write_notices_json(items: Iterable[Notice], fh: IO[str]) -> int:
    """Write notices as a JSON array (UTF-8, plates unescaped); returns the number written."""
    rows = [asdict(i) for i in items]
    json.dump(rows, fh, ensure_ascii=False, indent=1)
    fh.write("\n")
    return len(rows)

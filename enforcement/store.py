"""The durable case queue: SQLAlchemy 2 over SQLite (WAL) or PostgreSQL.

``CaseStore(url)`` opens (and creates) the tables. Its methods are plain,
blocking functions; the stream agent runs them in an executor
(``await loop.run_in_executor(None, store.commit, outcome)``) and
acknowledges the Kafka message only after :meth:`CaseStore.commit` returns.

Idempotence: cases are inserted with ``INSERT ... ON CONFLICT DO NOTHING``
on their deterministic id, evidence with ``ON CONFLICT (case_id, read_id)
DO NOTHING``, and an existing case only widens its time span and ORs its
plate-check flag; so committing the same outcome twice changes nothing.
Aggregate read counts are the exception: they are at-least-once, a
redelivered message counts its case-less reads again.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import bindparam, case, create_engine, delete, event, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, selectinload, sessionmaker

from enforcement.engine import EngineState, Evidence, Outcome, Pending, RuleBook
from enforcement.models import (
    OPEN_STATUSES,
    AlertRow,
    AuditEntry,
    Base,
    Case,
    DeadLetterRow,
    EvidenceRead,
    PendingRow,
    ReadCount,
)
from enforcement.rules import case_id
from topis.settings import EnforcementSettings

logger = logging.getLogger(__name__)

_CHUNK = 500


@dataclass(frozen=True)
class CommitResult:
    """What one commit changed."""

    new_cases: int
    merged_cases: int  #: cases that existed already (evidence merged)
    alerts: int
    dead_letters: int


def _chunks(items: list, size: int = _CHUNK) -> Iterator[list]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def make_engine(url: str) -> Engine:
    """A SQLAlchemy engine; SQLite files get WAL, a busy timeout and foreign keys."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True)


def create_tables(metadata, engine: Engine, attempts: int = 5) -> None:
    """``metadata.create_all`` that survives another process creating the same tables at the same time.

    The worker and the dashboard open the same SQLite file at start-up; the
    loser of that race sees "table already exists" or "database is locked".
    """
    for attempt in range(attempts):
        try:
            metadata.create_all(engine)
            return
        except OperationalError:
            if attempt == attempts - 1:
                raise
            time.sleep(0.2 * (attempt + 1))


class CaseStore:
    """The case store; build one at an entry point and pass it in."""

    def __init__(self, url: str, *, origin: str | None = None):
        self.url = url
        self.engine = make_engine(url)
        dialect = self.engine.dialect.name
        if dialect not in ("sqlite", "postgresql"):
            raise ValueError(f"unsupported database {dialect!r}: use sqlite:/// or postgresql+psycopg://")
        self._insert = sqlite.insert if dialect == "sqlite" else postgresql.insert
        create_tables(Base.metadata, self.engine)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        #: where engine-made audit entries say they came from
        self.origin = origin or f"engine:{socket.gethostname()}"

    @classmethod
    def from_settings(cls, settings: EnforcementSettings) -> CaseStore:
        return cls(settings.resolved_db_url())

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session in one transaction: committed on success, rolled back on error."""
        with self.sessions() as s, s.begin():
            yield s

    # ------------------------------------------------------------ engine side

    def commit(self, outcome: Outcome, now: float | None = None) -> CommitResult:
        """Write one outcome (cases, evidence, alerts, dead letters, pending, counts) in one transaction."""
        now = time.time() if now is None else now
        with self.session() as s:
            new_n, merged_n = self._write_cases(s, list(outcome.cases.values()), now)
            self._write_alerts(s, outcome, now)
            self._write_pending(s, outcome)
            self._write_counts(s, outcome, now)
        return CommitResult(new_n, merged_n, len(outcome.alerts), len(outcome.dead_letters))

    def _write_cases(self, s: Session, cases: list, now: float) -> tuple[int, int]:
        if not cases:
            return 0, 0
        conn = s.connection()  # Core statements: the ORM's bulk path costs ~3x more per row
        existing: set[str] = set()
        for chunk in _chunks([c.case_id for c in cases]):
            existing.update(s.scalars(select(Case.case_id).where(Case.case_id.in_(chunk))))
        fresh = [c for c in cases if c.case_id not in existing]
        old = [c for c in cases if c.case_id in existing]
        if fresh:
            rows = [
                dict(case_id=c.case_id, rule=c.rule, plate=c.plate, first_ts=c.first_ts, last_ts=c.last_ts,
                     fine_krw=c.fine_krw, needs_plate_check=c.needs_plate_check, camera_id=c.camera_id,
                     area=c.area, detail=c.detail, status="new", repeat_offender=False, created_ts=now)  # fmt: skip
                for c in fresh
            ]
            conn.execute(self._insert(Case.__table__).on_conflict_do_nothing(index_elements=["case_id"]), rows)
            conn.execute(
                self._insert(AuditEntry.__table__),
                [dict(case_id=c.case_id, ts=now, actor="engine", origin=self.origin, action="open",
                      from_status="", to_status="new", detail=c.rule) for c in fresh],  # fmt: skip
            )
        if old:
            t = Case.__table__
            conn.execute(
                update(t)
                .where(t.c.case_id == bindparam("b_id"))
                .values(
                    first_ts=case((t.c.first_ts > bindparam("b_first"), bindparam("b_first")), else_=t.c.first_ts),
                    last_ts=case((t.c.last_ts < bindparam("b_last"), bindparam("b_last")), else_=t.c.last_ts),
                    needs_plate_check=t.c.needs_plate_check | bindparam("b_check"),
                ),
                [dict(b_id=c.case_id, b_first=c.first_ts, b_last=c.last_ts, b_check=c.needs_plate_check) for c in old],
            )
        evidence = [dict(case_id=c.case_id, **_evidence_dict(e)) for c in cases for e in c.evidence]
        stmt = self._insert(EvidenceRead.__table__).on_conflict_do_nothing(index_elements=["case_id", "read_id"])
        conn.execute(stmt, evidence)
        return len(fresh), len(old)

    def _write_alerts(self, s: Session, outcome: Outcome, now: float) -> None:
        if outcome.alerts:
            rows = [dict(alert_id=a.alert_id, reason=a.reason, plate=a.plate, read_id=a.read_id, camera_id=a.camera_id,
                         lat=a.lat, lon=a.lon, ts=a.ts, confidence=a.confidence) for a in outcome.alerts]  # fmt: skip
            stmt = self._insert(AlertRow.__table__).on_conflict_do_nothing(index_elements=["alert_id"])
            s.connection().execute(stmt, rows)
        if outcome.dead_letters:
            rows = [dict(dead_id=case_id("dead", d.plate_hash, d.read_id, d.camera_id, d.ts, d.reason),
                         read_id=d.read_id[:64], camera_id=d.camera_id[:64], ts=d.ts, reason=d.reason,
                         detail=d.detail, plate_hash=d.plate_hash, recorded_ts=now) for d in outcome.dead_letters]  # fmt: skip
            stmt = self._insert(DeadLetterRow.__table__).on_conflict_do_nothing(index_elements=["dead_id"])
            s.connection().execute(stmt, rows)

    def _write_pending(self, s: Session, outcome: Outcome) -> None:
        for chunk in _chunks(sorted(outcome.pending_drop)):
            s.execute(delete(PendingRow).where(PendingRow.key.in_(chunk)))
        if outcome.pending_put:
            rows = [
                dict(key=p.key, kind=p.kind, plate=p.plate, last_ts=p.last_ts, expires_ts=p.expires_ts,
                     **_evidence_dict(p.first))  # fmt: skip
                for p in outcome.pending_put.values()
            ]
            stmt = self._insert(PendingRow.__table__)
            cols = {c: getattr(stmt.excluded, c) for c in rows[0] if c != "key"}
            s.connection().execute(stmt.on_conflict_do_update(index_elements=["key"], set_=cols), rows)

    def _write_counts(self, s: Session, outcome: Outcome, now: float) -> None:
        if outcome.no_case_counts:
            rows = [dict(camera_id=cam, hour_ts=hour, reads_n=n) for (cam, hour), n in outcome.no_case_counts.items()]
            stmt = self._insert(ReadCount.__table__)
            s.connection().execute(
                stmt.on_conflict_do_update(
                    index_elements=["camera_id", "hour_ts"], set_={"reads_n": ReadCount.__table__.c.reads_n + stmt.excluded.reads_n}
                ),
                rows,
            )

    def load_state(self, rules: RuleBook) -> EngineState:
        """Rebuild the engine state of a restarted worker from the pending table."""
        state = EngineState(rules=rules)
        with self.session() as s:
            for row in s.scalars(select(PendingRow)):
                first = Evidence(row.read_id, row.camera_id, row.lat, row.lon, row.ts, row.confidence,
                                 row.image_ref, row.plate_text)  # fmt: skip
                state.pending[row.key] = Pending(row.key, row.kind, row.plate, first, row.last_ts, row.expires_ts)
                state.watermark_ts = max(state.watermark_ts, row.last_ts)
        state.swept_ts = state.watermark_ts
        return state

    async def commit_async(self, outcome: Outcome, executor=None) -> CommitResult:
        """:meth:`commit` in an executor thread, for an asyncio agent; await it before acknowledging."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(executor, self.commit, outcome)

    # ------------------------------------------------------------ queries

    def get_case(self, case_id: str) -> Case | None:
        """One case with its evidence loaded, or None."""
        with self.session() as s:
            return s.scalar(select(Case).options(selectinload(Case.evidence)).where(Case.case_id == case_id))

    def list_cases(self, *, rule: str | None = None, status: str | None = None, area: str | None = None,
                   plate: str | None = None, limit: int | None = None, offset: int = 0,
                   with_evidence: bool = False) -> list[Case]:  # fmt: skip
        """Cases (oldest first) filtered by rule, status, area (area name or camera id) and plate.

        The cases are detached from their session: pass ``with_evidence=True``
        to read ``case.evidence`` afterwards.
        """
        query = select(Case).order_by(Case.first_ts, Case.case_id)
        if with_evidence:
            query = query.options(selectinload(Case.evidence))
        if rule:
            query = query.where(Case.rule == rule)
        if status:
            query = query.where(Case.status == status)
        if area:
            query = query.where((Case.area == area) | (Case.camera_id == area))
        if plate:
            query = query.where(Case.plate == plate)
        query = query.offset(offset)
        if limit is not None:
            query = query.limit(limit)
        with self.session() as s:
            return list(s.scalars(query))

    def case_ids_with_prefix(self, prefix: str, limit: int = 2) -> list[str]:
        """Up to ``limit`` case ids starting with ``prefix``, in id order (to resolve a shortened id)."""
        query = select(Case.case_id).where(Case.case_id.like(f"{prefix}%")).order_by(Case.case_id).limit(limit)
        with self.session() as s:
            return list(s.scalars(query))

    def open_case_count(self) -> int:
        """Cases waiting for a decision (:data:`~enforcement.models.OPEN_STATUSES`): one indexed COUNT."""
        with self.session() as s:
            return s.scalar(select(func.count()).select_from(Case).where(Case.status.in_(OPEN_STATUSES)))

    def areas(self) -> list[str]:
        """The areas cases were opened in, sorted (cases of cameras without an area add none)."""
        with self.session() as s:
            return sorted(a for a in s.scalars(select(Case.area).distinct()) if a)

    def recent_alerts(self, limit: int) -> list[dict]:
        """The newest ``limit`` watch-list alerts, newest first, each a dict of the ``alerts`` table's columns."""
        query = select(*AlertRow.__table__.c).order_by(AlertRow.ts.desc()).limit(limit)
        with self.session() as s:
            return [dict(row._mapping) for row in s.execute(query)]

    def audit_log(self, case_id: str | None = None) -> list[AuditEntry]:
        """Audit entries (oldest first), of one case or of all."""
        query = select(AuditEntry).order_by(AuditEntry.id)
        if case_id:
            query = query.where(AuditEntry.case_id == case_id)
        with self.session() as s:
            return list(s.scalars(query))

    def alerts(self) -> list[AlertRow]:
        with self.session() as s:
            return list(s.scalars(select(AlertRow).order_by(AlertRow.ts)))

    def counts(self) -> dict[str, int]:
        """Row counts of the main tables (cases by status, evidence, alerts, dead letters, pending)."""
        with self.session() as s:
            out = {f"cases_{st}": n for st, n in s.execute(select(Case.status, func.count()).group_by(Case.status))}
            out["cases"] = sum(v for k, v in out.items())
            for name, model in (("evidence", EvidenceRead), ("alerts", AlertRow), ("dead_letters", DeadLetterRow),
                                ("pending", PendingRow)):  # fmt: skip
                out[name] = s.scalar(select(func.count()).select_from(model))
            out["reads_without_case"] = s.scalar(select(func.coalesce(func.sum(ReadCount.reads_n), 0)))
        return out

    def read_counts(self) -> list[ReadCount]:
        with self.session() as s:
            return list(s.scalars(select(ReadCount).order_by(ReadCount.camera_id, ReadCount.hour_ts)))

    def purge(self, retention_days: float, now: float | None = None) -> dict[str, int]:
        """Delete aggregate read counts and dead letters older than the retention period."""
        now = time.time() if now is None else now
        cutoff = now - retention_days * 86400.0
        with self.session() as s:
            counts = s.execute(delete(ReadCount).where(ReadCount.hour_ts < cutoff)).rowcount
            dead = s.execute(delete(DeadLetterRow).where(DeadLetterRow.recorded_ts < cutoff)).rowcount
        return {"read_counts": counts, "dead_letters": dead}


def _evidence_dict(e: Evidence) -> dict:
    return dict(read_id=e.read_id, camera_id=e.camera_id, lat=e.lat, lon=e.lon, ts=e.ts, confidence=e.confidence,
                image_ref=e.image_ref, plate_text=e.plate_text)  # fmt: skip


"""ORM tables of the case store (SQLAlchemy 2).

Plates appear in clear only in ``cases``, ``evidence``, ``alerts`` and
``pending`` (the case store proper). ``dead_letters`` and ``read_counts``
hold no plate text: a keyed hash, or nothing at all.
"""

from __future__ import annotations

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

#: review states
STATUSES = ("new", "under_review", "confirmed", "dismissed")
#: the states of a case still waiting for a decision
OPEN_STATUSES = ("new", "under_review")


class Base(DeclarativeBase):
    pass


class Case(Base):
    __tablename__ = "cases"

    case_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    rule: Mapped[str] = mapped_column(String(32), index=True)
    plate: Mapped[str] = mapped_column(String(32), index=True)
    first_ts: Mapped[float] = mapped_column(Float)  #: epoch seconds UTC
    last_ts: Mapped[float] = mapped_column(Float)
    fine_krw: Mapped[int] = mapped_column(Integer)
    needs_plate_check: Mapped[bool] = mapped_column(Boolean, default=False)
    camera_id: Mapped[str] = mapped_column(String(64))
    area: Mapped[str | None] = mapped_column(String(64), index=True, nullable=True)
    detail: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), index=True, default="new")
    claimed_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    claim_expires_ts: Mapped[float | None] = mapped_column(Float, nullable=True)
    decided_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    decided_ts: Mapped[float | None] = mapped_column(Float, nullable=True)
    dismiss_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    notice_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    repeat_offender: Mapped[bool] = mapped_column(Boolean, default=False)
    created_ts: Mapped[float] = mapped_column(Float)

    evidence: Mapped[list[EvidenceRead]] = relationship(
        back_populates="case", order_by="EvidenceRead.ts", cascade="all, delete-orphan"
    )


class EvidenceRead(Base):
    __tablename__ = "evidence"
    __table_args__ = (UniqueConstraint("case_id", "read_id", name="uq_evidence_case_read"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.case_id", ondelete="CASCADE"), index=True)
    read_id: Mapped[str] = mapped_column(String(64))
    camera_id: Mapped[str] = mapped_column(String(64))
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    ts: Mapped[float] = mapped_column(Float)
    confidence: Mapped[float] = mapped_column(Float)
    image_ref: Mapped[str | None] = mapped_column(Text, nullable=True)
    plate_text: Mapped[str] = mapped_column(String(32), default="")

    case: Mapped[Case] = relationship(back_populates="evidence")


class AuditEntry(Base):
    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[str] = mapped_column(String(32), index=True)
    ts: Mapped[float] = mapped_column(Float)
    actor: Mapped[str] = mapped_column(String(64))
    origin: Mapped[str] = mapped_column(String(128))  #: host, IP address or "cli:<host>"
    action: Mapped[str] = mapped_column(String(32))  #: claim, confirm, dismiss, expire, release
    from_status: Mapped[str] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    detail: Mapped[str] = mapped_column(Text, default="")


class AlertRow(Base):
    __tablename__ = "alerts"

    alert_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    reason: Mapped[str] = mapped_column(String(32))
    plate: Mapped[str] = mapped_column(String(32), index=True)
    read_id: Mapped[str] = mapped_column(String(64))
    camera_id: Mapped[str] = mapped_column(String(64))
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    ts: Mapped[float] = mapped_column(Float)
    confidence: Mapped[float] = mapped_column(Float)


class PendingRow(Base):
    """Engine state that must survive a restart (see :mod:`enforcement.engine`)."""

    __tablename__ = "pending"

    key: Mapped[str] = mapped_column(String(160), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    plate: Mapped[str] = mapped_column(String(32))
    read_id: Mapped[str] = mapped_column(String(64))
    camera_id: Mapped[str] = mapped_column(String(64))
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    ts: Mapped[float] = mapped_column(Float)
    confidence: Mapped[float] = mapped_column(Float)
    image_ref: Mapped[str | None] = mapped_column(Text, nullable=True)
    plate_text: Mapped[str] = mapped_column(String(32), default="")
    last_ts: Mapped[float] = mapped_column(Float)
    expires_ts: Mapped[float] = mapped_column(Float)


class DeadLetterRow(Base):
    __tablename__ = "dead_letters"

    #: hash of the dead letter's fields, so a redelivered bad read is stored once
    dead_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    read_id: Mapped[str] = mapped_column(String(64))
    camera_id: Mapped[str] = mapped_column(String(64))
    ts: Mapped[float | None] = mapped_column(Float, nullable=True)
    reason: Mapped[str] = mapped_column(String(32), index=True)
    detail: Mapped[str] = mapped_column(Text)
    plate_hash: Mapped[str] = mapped_column(String(32))
    recorded_ts: Mapped[float] = mapped_column(Float, index=True)


class ReadCount(Base):
    """Reads that produced no case: only a count per camera per hour survives."""

    __tablename__ = "read_counts"

    camera_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    hour_ts: Mapped[int] = mapped_column(Integer, primary_key=True)  #: epoch s of the hour's start (UTC)
    reads_n: Mapped[int] = mapped_column(Integer)


Index("ix_cases_plate_status", Case.plate, Case.status)

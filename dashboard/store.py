"""The control room's own durable records, in the case store's database.

* ``dashboard_users`` — who may log in, their role and password hash;
* ``dashboard_acks`` — acknowledged alerts: who, when, from where;
* ``dashboard_plan_decisions`` — accepted plan proposals: who, when, from where;
* ``dashboard_sign_ins`` — the sign-in audit trail: every login, wrong password, lockout,
  refused attempt and ended session, with the user name given, when and from where.

Tables are created on open (beside ``cases`` when the URL is the case
store's). Passwords are stored only as werkzeug scrypt hashes.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import Float, Integer, String, Text, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker
from werkzeug.security import check_password_hash, generate_password_hash

from enforcement.store import create_tables, make_engine

#: roles: enforcement staff read and decide cases; controllers watch; planners accept plans (dashboard.access).
ROLES = ("enforcement", "controller", "planner")
#: demo-only accounts seeded into an empty user table by ``topis dashboard`` (never in production).
DEMO_USERS = {"enforcer": ("enforcement", "enforcer-demo"), "controller": ("controller", "controller-demo"),
              "planner": ("planner", "planner-demo")}


@functools.cache
def _dummy_hash() -> str:
    """Checked against when a user name is unknown, so that costs what a wrong password costs."""
    return generate_password_hash("no such user")


class Base(DeclarativeBase):
    pass


class UserRow(Base):
    __tablename__ = "dashboard_users"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(Text)
    created_ts: Mapped[float] = mapped_column(Float)


class AckRow(Base):
    __tablename__ = "dashboard_acks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    alert_id: Mapped[str] = mapped_column(String(200), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(64))
    origin: Mapped[str] = mapped_column(String(128))
    ts: Mapped[float] = mapped_column(Float)


class PlanDecisionRow(Base):
    __tablename__ = "dashboard_plan_decisions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    plan_id: Mapped[str] = mapped_column(String(200), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    decision: Mapped[str] = mapped_column(String(16))  #: "accepted"
    actor: Mapped[str] = mapped_column(String(64))
    origin: Mapped[str] = mapped_column(String(128))
    ts: Mapped[float] = mapped_column(Float)


#: what a sign-in audit entry records
SIGN_IN_EVENTS = ("signed_in", "failed", "locked_out", "refused", "signed_out", "expired", "idle")


class SignInRow(Base):
    __tablename__ = "dashboard_sign_ins"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event: Mapped[str] = mapped_column(String(16), index=True)  #: one of SIGN_IN_EVENTS
    actor: Mapped[str] = mapped_column(String(64), index=True)  #: the user name given (it may not exist)
    origin: Mapped[str] = mapped_column(String(128), index=True)  #: client address
    ts: Mapped[float] = mapped_column(Float, index=True)
    detail: Mapped[str] = mapped_column(Text, default="")


class UserError(ValueError):
    """A user that cannot be added or changed; the message says why."""


@dataclass(frozen=True)
class User:
    name: str
    role: str


class DeskStore:
    """Users, acknowledgements and plan decisions; build one at an entry point and pass it in."""

    def __init__(self, url: str):
        self.url = url
        self.engine = make_engine(url)
        create_tables(Base.metadata, self.engine)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self._sessions() as s, s.begin():
            yield s

    # ------------------------------------------------------------ users

    def add_user(self, name: str, role: str, password: str, *, now: float | None = None) -> User:
        """Add a user with a hashed password; UserError on a bad role, short password or taken name."""
        name = (name or "").strip()
        if not name or len(name) > 64:
            raise UserError("a user name of 1 to 64 characters is required")
        if role not in ROLES:
            raise UserError(f"unknown role {role!r}; roles: {', '.join(ROLES)}")
        if len(password or "") < 8:
            raise UserError("passwords need at least 8 characters")
        try:
            with self.session() as s:
                s.add(UserRow(name=name, role=role, password_hash=generate_password_hash(password),
                              created_ts=time.time() if now is None else now))
        except IntegrityError:
            raise UserError(f"user {name!r} exists already") from None
        return User(name, role)

    def set_password(self, name: str, password: str) -> None:
        if len(password or "") < 8:
            raise UserError("passwords need at least 8 characters")
        with self.session() as s:
            row = s.get(UserRow, name)
            if row is None:
                raise UserError(f"no user {name!r}")
            row.password_hash = generate_password_hash(password)

    def remove_user(self, name: str) -> None:
        with self.session() as s:
            row = s.get(UserRow, name)
            if row is None:
                raise UserError(f"no user {name!r}")
            s.delete(row)

    def users(self) -> list[User]:
        with self.session() as s:
            return [User(r.name, r.role) for r in s.scalars(select(UserRow).order_by(UserRow.name))]

    def authenticate(self, name: str, password: str) -> User | None:
        """The user when the password matches its hash, else None.

        An unknown name costs one hash check too, so the answer's timing does
        not tell which user names exist.
        """
        with self.session() as s:
            row = s.get(UserRow, (name or "").strip())
            stored = row.password_hash if row is not None else _dummy_hash()
            if not check_password_hash(stored, password or "") or row is None:
                return None
            return User(row.name, row.role)

    def has_password(self, name: str, password: str) -> bool:
        """Whether user ``name`` exists and ``password`` is its password (e.g. a demo account still on its demo one)."""
        return self.authenticate(name, password) is not None

    def seed_demo_users(self) -> dict[str, tuple[str, str]]:
        """Add :data:`DEMO_USERS` when no user exists yet (demo only); the accounts added."""
        if self.users():
            return {}
        for name, (role, password) in DEMO_USERS.items():
            self.add_user(name, role, password)
        return dict(DEMO_USERS)

    # ------------------------------------------------------------ acknowledgements and decisions

    def acknowledge(self, alert_id: str, kind: str, actor: str, origin: str, *, now: float | None = None) -> None:
        """Record that ``actor`` acknowledged an alert (a second acknowledgement is kept too)."""
        with self.session() as s:
            s.add(AckRow(alert_id=alert_id, kind=kind, actor=actor, origin=origin,
                         ts=time.time() if now is None else now))

    def acks(self) -> dict[str, AckRow]:
        """First acknowledgement of every acknowledged alert, by alert id."""
        out: dict[str, AckRow] = {}
        with self.session() as s:
            for row in s.scalars(select(AckRow).order_by(AckRow.id)):
                out.setdefault(row.alert_id, row)
        return out

    def accept_plan(self, plan_id: str, kind: str, actor: str, origin: str, *, now: float | None = None) -> None:
        with self.session() as s:
            s.add(PlanDecisionRow(plan_id=plan_id, kind=kind, decision="accepted", actor=actor, origin=origin,
                                  ts=time.time() if now is None else now))

    def record_sign_in(self, event: str, actor: str, origin: str, detail: str = "", *,
                       now: float | None = None) -> None:
        """Add an entry to the sign-in audit trail (``event`` one of :data:`SIGN_IN_EVENTS`)."""
        if event not in SIGN_IN_EVENTS:
            raise ValueError(f"unknown sign-in event {event!r}")
        with self.session() as s:
            s.add(SignInRow(event=event, actor=(actor or "")[:64], origin=(origin or "")[:128], detail=detail,
                            ts=time.time() if now is None else now))

    def sign_ins(self, *, since_ts: float = 0.0, actor: str | None = None, origin: str | None = None,
                 events: tuple[str, ...] = SIGN_IN_EVENTS, limit: int | None = None) -> list[SignInRow]:
        """Sign-in audit entries since ``since_ts`` (oldest first; the newest ``limit`` when given)."""
        query = select(SignInRow).where(SignInRow.ts >= since_ts, SignInRow.event.in_(events))
        if actor is not None:
            query = query.where(SignInRow.actor == actor[:64])
        if origin is not None:
            query = query.where(SignInRow.origin == origin[:128])
        query = query.order_by(SignInRow.ts.desc(), SignInRow.id.desc())
        if limit is not None:
            query = query.limit(limit)
        with self.session() as s:
            return list(reversed(s.scalars(query).all()))

    def plan_decisions(self) -> dict[str, PlanDecisionRow]:
        out: dict[str, PlanDecisionRow] = {}
        with self.session() as s:
            for row in s.scalars(select(PlanDecisionRow).order_by(PlanDecisionRow.id)):
                out.setdefault(row.plan_id, row)
        return out

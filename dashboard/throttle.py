"""Login throttling: wrong passwords lock a user name, or a client address, out for a while.

The attempts are read back from the sign-in audit trail (``dashboard_sign_ins``
of :class:`dashboard.store.DeskStore`), so a lockout holds across the web
server's threads, across dashboard processes sharing the database, and across
restarts. :func:`locked_until` is the rule; :func:`lockout` applies it to both
the user name and the address of one attempt.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

from dashboard.store import DeskStore
from topis.settings import DeskSettings


@dataclass(frozen=True)
class Lockout:
    """A lockout in force."""

    scope: str  #: "user" (the user name given) or "address" (the client address)
    until_ts: float  #: epoch seconds when attempts are let through again

    def minutes_left(self, now_ts: float) -> int:
        """Whole minutes until it ends, at least 1."""
        return max(1, math.ceil((self.until_ts - now_ts) / 60.0))

    def message(self, now_ts: float) -> str:
        """What the login page tells the person at the keyboard."""
        return f"too many attempts, try again in {self.minutes_left(now_ts)} min"


def locked_until(failure_ts: Sequence[float], *, max_failures: int, window_s: float, lockout_s: float) -> float | None:
    """End of the last lockout that the failures at ``failure_ts`` started, or None when none did.

    A lockout starts at a failure that is the ``max_failures``-th within
    ``window_s`` seconds (the earlier ones less than ``window_s`` before it) and
    lasts ``lockout_s``. Failures inside a lockout are not counted, and the count
    starts afresh after one. The caller compares the result with the clock.

    Examples
    --------
    >>> locked_until([0, 10, 20], max_failures=3, window_s=60, lockout_s=300)
    320
    >>> locked_until([0, 100, 200], max_failures=3, window_s=60, lockout_s=300) is None
    True
    """
    until = None
    run: deque[float] = deque()
    for ts in sorted(failure_ts):
        if until is not None and ts < until:
            continue
        while run and run[0] <= ts - window_s:
            run.popleft()
        run.append(ts)
        if len(run) >= max_failures:
            until = ts + lockout_s
            run.clear()
    return until


def lockout(records: DeskStore, name: str, origin: str, now_ts: float, settings: DeskSettings) -> Lockout | None:
    """The lockout in force at ``now_ts`` for user name ``name`` or client address ``origin`` (the longer), or None.

    A successful login of ``name`` forgets that name's earlier failures (not
    those of the address: one valid account must not reset an address's count).
    Failures older than ``login_window_s + login_lockout_s`` are not read.
    """
    since = now_ts - settings.login_window_s - settings.login_lockout_s
    by_name = records.sign_ins(since_ts=since, actor=name, events=("failed", "signed_in"))
    last_ok = max((e.ts for e in by_name if e.event == "signed_in"), default=-math.inf)
    failures = {"user": [e.ts for e in by_name if e.event == "failed" and e.ts > last_ok],
                "address": [e.ts for e in records.sign_ins(since_ts=since, origin=origin, events=("failed",))]}
    found = []
    for scope, times in failures.items():
        until = locked_until(times, max_failures=settings.login_max_failures, window_s=settings.login_window_s,
                             lockout_s=settings.login_lockout_s)
        if until is not None and until > now_ts:
            found.append(Lockout(scope, until))
    return max(found, key=lambda lock: lock.until_ts, default=None)

"""Keep topis's processes running for ``topis up``: restart what dies, keep the broker's memory bounded.

Children get SIGTERM if this process dies (Linux ``PR_SET_PDEATHSIG``), so even
a killed supervisor leaves no orphans. A child that exits is logged with its
exit code and started again after a back-off (1 s, doubling to 30 s while it
keeps dying within a minute of its start); the others go on, so the wall keeps
serving the last state while a worker restarts. Only a child that fails with an
error at its very first start (bad settings) stops ``topis up``: retrying would
not help, and the user sees why at once.

The embedded broker is watched too. If it dies, a new one starts on the same
port (its data is gone: the workers are restarted so they start from the new
broker's offsets, and the simulator is frozen meanwhile); when its memory
passes the budget it is *recycled* (:mod:`topis.recycle`): the same restart,
with what must survive read before and written back after. Cases, plan
decisions, users and audit live in the SQL store, not on the broker.

Every ``status_every_s`` the supervisor publishes each component's status on
``state.health`` (key ``supervisor``), which the wall shows.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import time
from dataclasses import dataclass

from topis.process import die_with_parent

log = logging.getLogger(__name__)

STABLE_S = 60.0  #: a child up this long has its back-off reset
STARTUP_S = 20.0  #: a first run that fails (exit code > 0) this soon is a set-up error: stop, do not retry


class StartupError(RuntimeError):
    """A child failed right at its first start (bad settings, a port in use): retrying will not help."""
RESTART_BASE_S, RESTART_MAX_S = 1.0, 30.0


@dataclass
class Child:
    """One supervised process and its restart history."""

    name: str
    argv: list[str]
    process: subprocess.Popen | None = None
    restarts: int = 0  #: starts after the first
    failures: int = 0  #: exits in a row, each within STABLE_S of its start
    started_s: float = 0.0  #: monotonic time of the last start
    since_ts: float = 0.0  #: wall-clock time of the last change of state (up or down)
    last_exit: int | None = None
    retry_at_s: float | None = None  #: monotonic time of the next start while down
    frozen: bool = False  #: stopped with SIGSTOP (the simulator, while the broker restarts)

    def start(self, env: dict[str, str]) -> None:
        # own session: a terminal's Ctrl-C reaches only the supervisor, which stops the children in order
        # (newest first, the broker last) instead of all at once with the broker gone under the workers
        self.process = subprocess.Popen(self.argv, env=env, preexec_fn=die_with_parent, start_new_session=True)
        self.started_s, self.since_ts, self.retry_at_s = time.monotonic(), time.time(), None

    @property
    def exit_code(self) -> int | None:
        return None if self.process is None else self.process.poll()

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def state(self) -> str:
        """"up", "frozen", "restarting" (down, a start is due) or "down"."""
        if self.running:
            return "frozen" if self.frozen else "up"
        return "restarting" if self.retry_at_s is not None else "down"

    def freeze(self) -> None:
        if self.running and not self.frozen:
            self.process.send_signal(signal.SIGSTOP)
            self.frozen = True

    def thaw(self) -> None:
        if self.frozen:
            if self.running:
                self.process.send_signal(signal.SIGCONT)
            self.frozen = False


def topis_argv(*args: str) -> list[str]:
    """argv running a ``topis`` subcommand with this interpreter."""
    return [sys.executable, "-m", "topis", *args]


def restart_delay_s(failures: int, base_s: float = RESTART_BASE_S, max_s: float = RESTART_MAX_S) -> float:
    """Back-off before the next start after ``failures`` quick exits in a row (1 → base_s, doubling)."""
    return min(max_s, base_s * 2 ** max(0, failures - 1))


def stop_all(children: list[Child], timeout_s: float = 10.0) -> None:
    """SIGINT every child (like Ctrl-C), then SIGTERM, then SIGKILL, newest first.

    A second Ctrl-C while stopping is ignored, so the supervisor always gets to
    the SIGKILL step instead of dying and leaving children behind.
    """
    if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    else:
        previous = None
    try:
        for child in children:
            child.thaw()
        running = [c for c in reversed(children) if c.running]
        for sig, wait_s in ((signal.SIGINT, timeout_s), (signal.SIGTERM, 3.0), (signal.SIGKILL, 3.0)):
            for child in running:
                if child.process.poll() is None:
                    child.process.send_signal(sig)
            deadline = time.monotonic() + wait_s
            while time.monotonic() < deadline and any(c.process.poll() is None for c in running):
                time.sleep(0.1)
            running = [c for c in running if c.process.poll() is None]
            if not running:
                return
            log.warning("still running after %s: %s", sig.name, ", ".join(c.name for c in running))
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)


class Supervisor:
    """Watches ``children`` (and the embedded ``broker``, if any) until interrupted; see the module docstring."""

    def __init__(self, children: list[Child], env: dict[str, str], broker=None, memory_budget_bytes: int = 0,
                 group: str = "topis", status=None, status_every_s: float = 5.0, memory_every_s: float = 10.0):
        self.children, self.env, self.broker = children, env, broker
        self.memory_budget_bytes, self.group = memory_budget_bytes, group
        self.status, self.status_every_s, self.memory_every_s = status, status_every_s, memory_every_s
        self.broker_restarts = 0  #: unplanned: the broker died
        self.recycles = 0  #: planned: its memory passed the budget
        self.broker_rss_bytes = 0
        self.broker_since_ts = time.time()  #: when the broker last (re)started
        self._status_at_s = self._memory_at_s = 0.0

    def start(self) -> None:
        for child in self.children:
            child.start(self.env)

    def run(self, poll_s: float = 0.5, until_s: float | None = None, tick=None) -> None:
        """Supervise until KeyboardInterrupt (or monotonic ``until_s``, for tests); call ``tick()`` each round."""
        while until_s is None or time.monotonic() < until_s:
            try:
                self.step()
                if tick is not None:
                    tick()
            except StartupError:
                raise
            except Exception:  # noqa: BLE001 - the supervisor is the last thing that may stop
                log.exception("supervisor step failed; going on")
            time.sleep(poll_s)

    def step(self) -> None:
        """One look at everything: the broker first (children depend on it), then each child."""
        now_s = time.monotonic()
        if self.broker is not None and self.broker.exit_code is not None:
            log.error("embedded broker exited with code %s; starting a new one on the same port "
                      "(its data is lost; restarting the workers)", self.broker.exit_code)
            self.broker_restarts += 1
            self.restart_broker(keep=False)
        elif self.broker is not None and self.memory_budget_bytes and now_s - self._memory_at_s >= self.memory_every_s:
            self._memory_at_s = now_s
            self.broker_rss_bytes = self.broker.rss_bytes()
            if self.broker_rss_bytes > self.memory_budget_bytes:
                log.warning("embedded broker uses %.0f MB (budget %.0f MB): recycling it",
                            self.broker_rss_bytes / 1e6, self.memory_budget_bytes / 1e6)
                self.recycles += 1
                self.restart_broker(keep=True)
        for child in self.children:
            self._look_after(child, now_s)
        if self.status is not None and now_s - self._status_at_s >= self.status_every_s:
            self._status_at_s = now_s
            self.status.publish(self)

    def _look_after(self, child: Child, now_s: float) -> None:
        if child.process is not None and child.retry_at_s is None and child.exit_code is not None:
            code = child.exit_code
            if child.restarts == 0 and code > 0 and now_s - child.started_s < STARTUP_S:
                raise StartupError(f"{child.name} exited with code {code} right after it started; "
                                   f"stopping the others (see its output above)")
            child.failures = child.failures + 1 if now_s - child.started_s < STABLE_S else 1
            delay_s = restart_delay_s(child.failures)
            child.last_exit, child.since_ts, child.retry_at_s = code, time.time(), now_s + delay_s
            log.error("%s exited with code %s; starting it again in %.0f s (restart %d)",
                      child.name, code, delay_s, child.restarts + 1)
        if child.retry_at_s is not None and now_s >= child.retry_at_s:
            child.start(self.env)
            child.restarts += 1
            log.warning("%s started again (pid %d)", child.name, child.process.pid)

    def restart_broker(self, keep: bool) -> None:
        """Restart the embedded broker on its port with the workers stopped and the simulator frozen.

        With ``keep``, what must survive (:mod:`topis.recycle`) is read before
        and written back after; without (the broker died), there is nothing to read.
        """
        workers = [c for c in self.children if c.name.startswith("worker")]
        frozen_first = [c for c in self.children if c.name == "simulator"]
        # Tansu creates a topic (with one partition) for any client asking for it, so no other client may
        # reach the new broker before topis's topics exist: the dashboard is frozen for that second too
        readers = [c for c in self.children if c not in workers and c not in frozen_first]
        phases_s, t0 = {}, time.monotonic()
        for child in frozen_first:
            child.freeze()
        stop_all(workers)
        phases_s["stop workers"], t0 = time.monotonic() - t0, time.monotonic()
        snap_path = None
        if keep:
            snap_path = self._run_recycle("save", ",".join(self.broker.servers), self.group, self.group,
                                          str(self.broker.log_path.parent / "recycle.snapshot"))
        phases_s["read"], t0 = time.monotonic() - t0, time.monotonic()
        for child in readers:
            child.freeze()
        try:
            self._start_new_broker()
        finally:
            for child in readers:
                child.thaw()
        phases_s["restart"], t0 = time.monotonic() - t0, time.monotonic()
        self.broker_since_ts = time.time()
        if self.status is not None:
            self.status.close()  # its connection was to the old process
        if snap_path is not None:
            done = self._run_recycle("restore", ",".join(self.broker.servers), snap_path)
            phases_s["write back"] = time.monotonic() - t0
            if done is not None:
                log.warning("broker recycled in %.1f s (%s): %s", sum(phases_s.values()),
                            ", ".join(f"{phase} {s:.1f} s" for phase, s in phases_s.items()), done)
        for child in workers:
            child.start(self.env)
            child.restarts += 1
        for child in frozen_first:
            child.thaw()

    def _run_recycle(self, *args: str) -> str | None:
        """Run one half of :mod:`topis.recycle` in a child process; its last output line, or None if it failed.

        For "save" that is the snapshot file's path; for "restore" what was written back.
        """
        try:
            result = subprocess.run([sys.executable, "-m", "topis.recycle", *args], capture_output=True, text=True,
                                    env=self.env, timeout=900)
        except subprocess.TimeoutExpired:
            log.error("recycle %s took over 15 min and was stopped; the broker restarts %s", args[0],
                      "empty" if args[0] == "save" else "with part of it")
            return None
        if result.returncode != 0:
            log.error("recycle %s failed (code %d); the broker restarts %s: %s", args[0], result.returncode,
                      "empty" if args[0] == "save" else "with part of it", result.stderr[-2000:])
            return None
        return args[-1] if args[0] == "save" else result.stdout.strip().splitlines()[-1]

    def _start_new_broker(self) -> None:
        from topis.broker import BrokerError

        for attempt in range(1, 6):
            try:
                self.broker.restart()
                return
            except BrokerError as exc:
                log.error("embedded broker did not start (attempt %d): %s", attempt, exc)
                time.sleep(restart_delay_s(attempt))


def supervisor_status(supervisor: Supervisor):
    """The :class:`topis.schemas.health.SupervisorStatus` of everything ``supervisor`` watches."""
    from topis.schemas.health import ComponentStatus, SupervisorStatus

    components = [ComponentStatus(c.name, c.state, c.since_ts, c.restarts,
                                  c.process.pid if c.running else None, c.last_exit) for c in supervisor.children]
    broker = supervisor.broker
    if broker is not None:
        up = broker.exit_code is None
        components.insert(0, ComponentStatus("broker", "up" if up else "restarting", supervisor.broker_since_ts,
                                             broker.starts - 1, broker.process.pid if up else None))
    mb = (lambda b: round(b / 1e6, 1)) if broker is not None else (lambda b: None)
    return SupervisorStatus(time.time(), components, mb(supervisor.broker_rss_bytes),
                            mb(supervisor.memory_budget_bytes), supervisor.broker_restarts, supervisor.recycles)


class StatusBoard:
    """Publishes the supervisor's status on ``state.health``; never blocks the supervisor for long."""

    def __init__(self, servers: list[str]):
        self.servers = servers
        self._producer = None

    def publish(self, supervisor: Supervisor) -> None:
        from kafka import KafkaProducer
        from kafka.errors import KafkaError

        from topis import topics, wire
        from topis.broker import _any_port_accepts

        try:
            if self._producer is None:
                _any_port_accepts(self.servers)  # a client made against a refusing port leaks its socket
                self._producer = KafkaProducer(bootstrap_servers=self.servers, max_block_ms=1000,
                                               enable_idempotence=False, retries=0)
            self._producer.send(topics.STATE_HEALTH.name, key=b"supervisor", value=wire.encode(
                supervisor_status(supervisor)))
        except (KafkaError, OSError) as exc:  # the broker is down or restarting: the next publish tries again
            log.debug("status not published: %s", exc)
            self.close()

    def close(self) -> None:
        if self._producer is not None:
            self._producer.close(timeout=1)
            self._producer = None

"""Run topis's processes together for ``topis up``, and stop them together.

Children get SIGTERM if this process dies (Linux ``PR_SET_PDEATHSIG``), so even
a killed supervisor leaves no orphans. A child that exits is reported with its
exit code, and the others are stopped: a half-running control centre that
looks healthy is worse than a clear failure.
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

@dataclass
class Child:
    """One supervised process."""

    name: str
    argv: list[str]
    process: subprocess.Popen | None = None

    def start(self, env: dict[str, str]) -> None:
        # own session: a terminal's Ctrl-C reaches only the supervisor, which stops the children in order
        # (newest first, the broker last) instead of all at once with the broker gone under the workers
        self.process = subprocess.Popen(self.argv, env=env, preexec_fn=die_with_parent, start_new_session=True)

    @property
    def exit_code(self) -> int | None:
        return None if self.process is None else self.process.poll()


def topis_argv(*args: str) -> list[str]:
    """argv running a ``topis`` subcommand with this interpreter."""
    return [sys.executable, "-m", "topis", *args]


def stop_all(children: list[Child], timeout_s: float = 10.0) -> None:
    """SIGINT every child (like Ctrl-C), then SIGTERM, then SIGKILL, newest first.

    A second Ctrl-C while stopping is ignored, so the supervisor always gets to
    the SIGKILL step instead of dying and leaving children behind.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    running = [c for c in reversed(children) if c.process is not None and c.process.poll() is None]
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


def watch(children: list[Child], poll_s: float = 0.5) -> Child:
    """Block until a child exits; return it."""
    while True:
        for child in children:
            if child.exit_code is not None:
                return child
        time.sleep(poll_s)

"""`topis up` on the embedded defaults: everything starts, the wall answers, Ctrl-C leaves nothing behind."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.request

import pytest

from topis.broker import free_port

pytestmark = pytest.mark.integration


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:  # a zombie is dead, only not yet reaped
        return stat.read().split()[2] != "Z"


def test_up_starts_everything_and_ctrl_c_stops_it_all(tmp_path):
    port = free_port()
    env = {**os.environ, "TOPIS_DASHBOARD_PORT": str(port), "TOPIS_CITY_SCALE": "0.3"}
    env.pop("TOPIS_BROKER", None)
    up = subprocess.Popen([sys.executable, "-m", "topis", "up"], env=env, cwd=tmp_path,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 150
        while time.monotonic() < deadline:
            line = up.stdout.readline()
            if not line:
                break
            lines.append(line)
            if "wall display:" in line:
                break
        output = "".join(lines)
        assert f"wall display: http://127.0.0.1:{port}" in output, output
        assert "embedded Tansu broker at kafka://127.0.0.1:" in output
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as page:
            assert page.status == 200
        pids = [int(p) for p in re.findall(r"pid (\d+)", output)]
        assert len(pids) == 3  # worker, dashboard, simulator
        assert all(alive(pid) for pid in pids)
    finally:
        up.send_signal(signal.SIGINT)
        rest, _ = up.communicate(timeout=60)
    assert up.returncode == 0, rest
    assert "stopped:" in rest
    time.sleep(0.5)
    assert not any(alive(pid) for pid in pids), "a child outlived `topis up`"
    assert (tmp_path / ".topis" / "broker.log").exists()


def test_a_child_that_dies_is_reported_and_stops_the_rest(tmp_path):
    env = {**os.environ, "TOPIS_DASHBOARD_PORT": str(free_port()), "TOPIS_CITY_SCALE": "0.3",
           "TOPIS_SIM_START_TIME": "25:99"}  # the simulator refuses this and exits
    env.pop("TOPIS_BROKER", None)
    result = subprocess.run([sys.executable, "-m", "topis", "up"], env=env, cwd=tmp_path,
                            capture_output=True, text=True, timeout=180)
    assert result.returncode == 1
    assert "simulator exited with code 1 right after it started" in result.stderr
    assert "start time must be HH:MM" in result.stderr + result.stdout

"""The supervisor of `topis up`: what dies is started again, set-up errors stop everything, the broker comes back."""

from __future__ import annotations

import os
import signal
import sys
import time

import pytest

from topis.cli import supervise
from topis.cli.supervise import Child, StartupError, Supervisor, restart_delay_s, supervisor_status

SLEEPER = [sys.executable, "-c", "import time; time.sleep(600)"]


def test_back_off_doubles_from_one_second_to_thirty():
    assert [restart_delay_s(n) for n in (1, 2, 3, 4, 5, 6, 7)] == [1, 2, 4, 8, 16, 30, 30]


def wait_for(predicate, timeout_s: float, supervisor: Supervisor) -> float:
    t0 = time.monotonic()
    while not predicate():
        assert time.monotonic() - t0 < timeout_s, "timed out"
        supervisor.step()
        time.sleep(0.05)
    return time.monotonic() - t0


def test_a_killed_child_is_started_again_and_the_others_go_on():
    worker, dashboard = Child("worker-1", SLEEPER), Child("dashboard", SLEEPER)
    sup = Supervisor([worker, dashboard], dict(os.environ))
    sup.start()
    try:
        first_pid, dashboard_pid = worker.process.pid, dashboard.process.pid
        os.kill(first_pid, signal.SIGKILL)
        took_s = wait_for(lambda: worker.running and worker.process.pid != first_pid, 10, sup)
        assert took_s < 10
        assert worker.restarts == 1 and worker.last_exit == -signal.SIGKILL
        assert dashboard.process.pid == dashboard_pid and dashboard.running  # untouched
        status = supervisor_status(sup)
        assert [(c.name, c.state, c.restarts) for c in status.components] == [("worker-1", "up", 1),
                                                                           ("dashboard", "up", 0)]
    finally:
        supervise.stop_all(sup.children)
    assert not worker.running and not dashboard.running


def test_a_child_dying_again_and_again_backs_off():
    crasher = Child("worker-1", [sys.executable, "-c", "import os; os.kill(os.getpid(), 9)"])
    sup = Supervisor([crasher], dict(os.environ))
    sup.start()
    wait_for(lambda: crasher.restarts == 2, 10, sup)
    wait_for(lambda: crasher.retry_at_s is not None, 10, sup)
    assert crasher.failures == 3
    assert crasher.retry_at_s - time.monotonic() == pytest.approx(4.0, abs=0.5)
    assert supervisor_status(sup).components[0].state == "restarting"


def test_an_error_at_the_first_start_stops_the_room_with_the_reason():
    bad = Child("simulator", [sys.executable, "-c", "raise SystemExit(2)"])
    sup = Supervisor([bad], dict(os.environ))
    sup.start()
    bad.process.wait(10)
    with pytest.raises(StartupError, match="simulator exited with code 2 right after it started"):
        sup.run(until_s=time.monotonic() + 5)


@pytest.mark.integration
def test_a_dead_broker_is_started_again_on_its_port_with_the_topics(tmp_path):
    from kafka import KafkaAdminClient

    from topis import topics
    from topis.broker import EmbeddedBroker, free_port

    broker = EmbeddedBroker(free_port(), tmp_path / "broker.log")
    broker.start()
    worker, simulator = Child("worker-1", SLEEPER), Child("simulator", SLEEPER)
    sup = Supervisor([worker, simulator], dict(os.environ), broker=broker)
    sup.start()
    try:
        old_worker = worker.process.pid
        broker.process.kill()
        took_s = wait_for(lambda: sup.broker_restarts == 1 and broker.exit_code is None, 30, sup)
        assert took_s < 30
        admin = KafkaAdminClient(bootstrap_servers=broker.servers)
        try:
            assert {s.name for s in topics.ALL} <= set(admin.list_topics())
        finally:
            admin.close()
        assert worker.process.pid != old_worker, "workers restart to start from the new broker's offsets"
        assert simulator.running and not simulator.frozen
    finally:
        supervise.stop_all(sup.children)
        broker.stop()

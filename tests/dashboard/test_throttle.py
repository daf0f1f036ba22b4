"""The login throttle's rule on hand-made failure times, and its reading of the sign-in audit trail (real SQLite)."""

from __future__ import annotations

import pytest

from dashboard.store import DeskStore
from dashboard.throttle import Lockout, locked_until, lockout
from topis.settings import DeskSettings

RULE = dict(max_failures=5, window_s=900.0, lockout_s=900.0)


def test_five_failures_within_the_window_lock_out_from_the_fifth():
    assert locked_until([0, 60, 120, 180], **RULE) is None  # four are not enough
    assert locked_until([0, 60, 120, 180, 240], **RULE) == 240 + 900


def test_failures_spread_wider_than_the_window_do_not_lock_out():
    assert locked_until([0, 300, 600, 900, 1200], **RULE) is None  # 0 is 1200 s before the fifth: outside the 900 s
    assert locked_until([0, 300, 600, 899, 1199, 1200], **RULE) is None  # 300 is exactly 900 s before 1200: out
    assert locked_until([0, 301, 600, 899, 1199, 1200], **RULE) == 1200 + 900  # 301..1200: five within 900 s


def test_failures_inside_a_lockout_are_not_counted_and_counting_restarts_after_it():
    first = [0, 1, 2, 3, 4]  # locked until 904
    inside = [10, 20, 30, 40, 50]  # refused attempts, should they be recorded as failures
    assert locked_until(first + inside, **RULE) == 904
    after = [905, 906, 907, 908]  # four after the lockout: not yet again
    assert locked_until(first + after, **RULE) == 904
    assert locked_until(first + after + [909], **RULE) == 909 + 900


def test_order_of_the_times_does_not_matter():
    assert locked_until([240, 0, 180, 60, 120], **RULE) == 1140


def test_message_rounds_the_minutes_up():
    lock = Lockout("user", until_ts=1000.0)
    assert lock.message(100.0) == "too many attempts, try again in 15 min"
    assert lock.message(999.5) == "too many attempts, try again in 1 min"
    assert lock.minutes_left(1000.0) == 1


@pytest.fixture
def records(tmp_path):
    store = DeskStore(f"sqlite:///{tmp_path / 'desk.sqlite'}")
    yield store
    store.close()


def fail(records, name, origin, *times):
    for ts in times:
        records.record_sign_in("failed", name, origin, now=ts)


def test_lockout_by_user_name_from_any_address(records):
    settings = DeskSettings()
    fail(records, "kim", "10.0.0.1", 1000, 1010)
    fail(records, "kim", "10.0.0.2", 1020, 1030)
    assert lockout(records, "kim", "10.0.0.3", 1035, settings) is None
    fail(records, "kim", "10.0.0.3", 1040)
    lock = lockout(records, "kim", "10.0.0.9", 1041, settings)
    assert lock == Lockout("user", 1040 + 900)
    assert lockout(records, "lee", "10.0.0.9", 1041, settings) is None  # another name, another address
    assert lockout(records, "kim", "10.0.0.9", 1940, settings) is None  # over


def test_lockout_by_address_across_user_names(records):
    settings = DeskSettings(login_max_failures=3, login_lockout_s=60)
    fail(records, "a", "10.0.0.7", 100)
    fail(records, "b", "10.0.0.7", 101)
    fail(records, "c", "10.0.0.7", 102)
    assert lockout(records, "kim", "10.0.0.7", 103, settings) == Lockout("address", 162)
    assert lockout(records, "kim", "10.0.0.8", 103, settings) is None


def test_a_successful_login_forgets_the_names_failures_but_not_the_addresses(records):
    settings = DeskSettings(login_max_failures=3)
    fail(records, "kim", "10.0.0.1", 100, 101)
    records.record_sign_in("signed_in", "kim", "10.0.0.1", now=102)
    fail(records, "kim", "10.0.0.2", 103, 104)
    assert lockout(records, "kim", "10.0.0.2", 105, settings) is None  # 2 since the login, not 4
    lock = lockout(records, "other", "10.0.0.1", 105, settings)
    assert lock is None  # 10.0.0.1 has 2 failures
    fail(records, "x", "10.0.0.1", 106)
    assert lockout(records, "other", "10.0.0.1", 107, settings).scope == "address"  # the login did not reset it


def test_the_longer_of_two_lockouts_is_reported(records):
    settings = DeskSettings(login_max_failures=2, login_lockout_s=100)
    fail(records, "kim", "10.0.0.1", 10, 20)  # address and user locked until 120
    fail(records, "kim", "10.0.0.2", 130, 140)  # user locked again until 240; 10.0.0.2 until 240
    fail(records, "zed", "10.0.0.1", 150)  # 10.0.0.1: one more, not locked
    assert lockout(records, "kim", "10.0.0.1", 160, settings) == Lockout("user", 240)

"""The stall guard's decision: act only on a commit that stopped with work waiting behind it."""

from __future__ import annotations

from streams.runtime.stall_guard import Watch, is_stalled

STALL_S = 30.0


def test_a_commit_stuck_with_messages_beyond_it_is_a_stall():
    assert is_stalled(Watch(214, since_s=0.0), 214, end_offset=434, delivered=None, now_s=31.0, stall_s=STALL_S)


def test_delivered_past_the_commit_is_a_stall_even_when_the_end_offset_lags():
    # the embedded broker can report a high watermark below the real end
    assert is_stalled(Watch(214, since_s=0.0), 214, end_offset=200, delivered=300, now_s=31.0, stall_s=STALL_S)


def test_not_before_the_stall_time():
    assert not is_stalled(Watch(214, since_s=0.0), 214, end_offset=434, delivered=300, now_s=29.0, stall_s=STALL_S)


def test_a_caught_up_partition_is_not_stalled():
    # committed is the next offset to read; the last delivered one is just before it
    assert not is_stalled(Watch(434, since_s=0.0), 434, end_offset=434, delivered=433, now_s=600.0, stall_s=STALL_S)


def test_a_moving_commit_is_not_stalled():
    assert not is_stalled(Watch(214, since_s=0.0), 220, end_offset=434, delivered=300, now_s=600.0, stall_s=STALL_S)


def test_a_partition_never_committed_is_left_alone():
    assert not is_stalled(Watch(None, since_s=0.0), None, end_offset=434, delivered=None, now_s=600.0, stall_s=STALL_S)


def test_an_idle_partition_after_a_seek_is_not_stalled():
    # after a seek Faust's last-delivered offset equals the committed one: nothing delivered, nothing waiting
    assert not is_stalled(Watch(17, since_s=0.0), 17, end_offset=17, delivered=17, now_s=600.0, stall_s=STALL_S)


def test_check_starts_a_watch_on_a_new_partition_or_a_moved_commit():
    from streams.runtime.stall_guard import check

    assert check(None, 5, 9, None, now_s=100.0, stall_s=30.0) == (Watch(5, 100.0), False)
    assert check(Watch(4, 0.0), 5, 9, None, now_s=100.0, stall_s=30.0) == (Watch(5, 100.0), False)


def test_check_seeks_a_stall_back_and_watches_it_afresh():
    from streams.runtime.stall_guard import check

    held = Watch(5, 0.0)
    assert check(held, 5, 9, None, now_s=29.0, stall_s=30.0) == (held, False)  # not yet
    assert check(held, 5, 9, None, now_s=30.0, stall_s=30.0) == (Watch(5, 30.0), True)
    assert check(held, 5, 5, None, now_s=60.0, stall_s=30.0) == (held, False)  # caught up: idle, not stalled

"""The commit watch: being behind is reported, only a commit held by a lost acknowledgement is read again."""

from __future__ import annotations

from collections import namedtuple

from streams.runtime.commit_watch import Watch, behind_summary, check, has_hole, lag_by_topic

STUCK_S = 60.0
TP = namedtuple("TP", "topic partition")


def test_acks_beyond_an_unacknowledged_commit_are_a_hole():
    assert has_hole(committed=214, smallest_acked=215, gap_end=None)


def test_a_contiguous_backlog_is_no_hole():
    # behind: the next message to ack is the committed one, nothing beyond it acked yet
    assert not has_hole(committed=214, smallest_acked=None, gap_end=None)
    assert not has_hole(committed=214, smallest_acked=214, gap_end=None)


def test_a_gap_the_log_has_is_no_hole():
    # offsets 214..219 do not exist in the log (compaction, markers): Faust commits across them itself
    assert not has_hole(committed=214, smallest_acked=220, gap_end=220)
    assert has_hole(committed=214, smallest_acked=225, gap_end=220)


def test_a_partition_never_committed_is_left_alone():
    assert not has_hole(committed=None, smallest_acked=10, gap_end=None)


def test_check_reads_again_only_a_hole_held_for_the_stuck_time():
    held = Watch(5, 0.0)
    assert check(held, 5, hole=True, now_s=59.0, stuck_s=STUCK_S) == (held, False)
    assert check(held, 5, hole=True, now_s=60.0, stuck_s=STUCK_S) == (Watch(5, 60.0), True)


def test_a_slow_partition_without_a_hole_is_never_read_again():
    # the old guard's misfire: a commit unmoved for minutes because the worker is behind
    held = Watch(5, 0.0)
    assert check(held, 5, hole=False, now_s=3600.0, stuck_s=STUCK_S) == (held, False)


def test_check_starts_a_watch_on_a_new_partition_or_a_moved_commit():
    assert check(None, 5, hole=True, now_s=100.0, stuck_s=STUCK_S) == (Watch(5, 100.0), False)
    assert check(Watch(4, 0.0), 5, hole=True, now_s=100.0, stuck_s=STUCK_S) == (Watch(5, 100.0), False)


def test_lag_sums_partitions_per_topic_and_never_goes_negative():
    lags = lag_by_topic({TP("bus.positions", 0): (10, 110), TP("bus.positions", 1): (5, 25),
                         TP("card.taps", 0): (None, 7), TP("plate.reads", 0): (30, 20)})
    assert lags == {"bus.positions": 120, "card.taps": 7, "plate.reads": 0}


def test_behind_summary_names_the_worst_topics_over_the_limit():
    assert behind_summary({"bus.positions": 39_182, "card.taps": 17_142, "plate.reads": 3}, 1000) == (
        "worker behind: bus.positions 39,182 messages, card.taps 17,142 messages")
    assert behind_summary({"bus.positions": 999}, 1000) is None

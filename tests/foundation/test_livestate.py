from streams.live import state as livestate
from topis.wire import BusPosition


def fix(vehicle, ts, lat=37.5):
    return BusPosition(vehicle, "r1", ts, lat, 127.0)


def test_newest_fix_wins_and_late_or_duplicate_fixes_are_ignored():
    state = livestate.latest_positions({}, [fix("a", 10, 37.1), fix("b", 12, 37.2)])
    state = livestate.latest_positions(state, [fix("a", 9, 37.9), fix("a", 10, 37.8), fix("a", 15, 37.3)])
    assert state["a"]["ts"] == 15 and state["a"]["lat"] == 37.3
    assert state["b"]["ts"] == 12


def test_latest_positions_does_not_mutate_its_input():
    before = {"a": {"ts": 1.0, "lat": 1.0}}
    livestate.latest_positions(before, [fix("a", 2)])
    assert before == {"a": {"ts": 1.0, "lat": 1.0}}


def test_counts_per_minute_and_drops_minutes_older_than_an_hour():
    counts = livestate.count_per_minute({}, [0, 59.9, 60, 61, 125], now_ts=125)
    assert counts == {"0": 2, "60": 2, "120": 1}
    later = livestate.count_per_minute(counts, [3700], now_ts=3700)
    # minute 3660 minus 60 minutes = 60: minute 0 is dropped, minute 60 kept
    assert later == {"60": 2, "120": 1, "3660": 1}


def test_drop_stale_keeps_fixes_up_to_the_limit():
    state = {"a": {"ts": 100.0}, "b": {"ts": 39.0}, "c": {"ts": 40.0}}
    assert set(livestate.drop_stale(state, now_ts=100, max_age_s=60)) == {"a", "c"}


def test_a_redelivered_message_is_not_counted_twice():
    from streams.live.state import already_counted

    assert not already_counted(None, 3, 0)
    assert already_counted([3, 41], 3, 41)  # the same message again
    assert already_counted([3, 41], 3, 12)  # an earlier one, re-read after a restart
    assert not already_counted([3, 41], 3, 42)  # the next one
    assert not already_counted([2, 41], 3, 12)  # another partition (after a repartition)

from streams.live import state as livestate
from topis.schemas.inputs import BusPosition


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


def test_track_keeps_newest_fixes_and_drops_vehicles_silent_past_the_timeout():
    entry = livestate.track(None, [fix("a", 100), fix("b", 300)], received_ts=7.0, timeout_s=300)
    assert set(entry["vehicles"]) == {"a", "b"} and entry["received_ts"] == 7.0 and entry["dead_letters"] == 0
    later = livestate.track(entry, [fix("b", 250), fix("c", 401)], received_ts=8.0, timeout_s=300)
    # newest fix 401 s: a (100 s) is 301 s behind it and leaves; b keeps its 300 s fix over the older 250 s one
    assert {v: p["ts"] for v, p in later["vehicles"].items()} == {"b": 300, "c": 401}
    assert later["received_ts"] == 8.0


def test_track_keeps_at_most_max_vehicles_the_newest(monkeypatch):
    monkeypatch.setattr(livestate, "MAX_VEHICLES", 3)
    entry = livestate.track(None, [fix(f"v{i}", 100 + i) for i in range(5)], received_ts=1.0, timeout_s=600)
    assert set(entry["vehicles"]) == {"v2", "v3", "v4"}


def test_count_batch_counts_each_key_of_a_message_once():
    events = [fix("a", 60.0), fix("b", 61.0), fix("a", 125.0)]
    out = livestate.count_batch({}, events, lambda f: f.vehicle_id, partition=1, offset=4, received_ts=9.0)
    assert {k: e["per_minute"] for k, e in out.items()} == {"a": {"60": 1, "120": 1}, "b": {"60": 1}}
    again = livestate.count_batch(out, events, lambda f: f.vehicle_id, partition=1, offset=4, received_ts=9.5)
    assert again == {}  # redelivered: nothing changes


def test_counted_takes_a_message_once():
    entry = livestate.counted(None, [0.0, 59.0, 61.0], partition=2, offset=10, received_ts=5.0)
    assert entry == {"per_minute": {"0": 2, "60": 1}, "last_event_ts": 61.0, "received_ts": 5.0, "dead_letters": 0,
                     "counted_at": [2, 10]}
    assert livestate.counted(entry, [62.0], partition=2, offset=10, received_ts=6.0) is None  # redelivered
    nxt = livestate.counted(entry, [30.0], partition=2, offset=11, received_ts=6.0)
    assert nxt["per_minute"] == {"0": 3, "60": 1} and nxt["last_event_ts"] == 61.0  # a late event keeps the clock


def test_vehicles_messages_are_the_read_model_json():
    import msgspec

    from topis import wire

    entries = [("r1", livestate.track(None, [fix("a", 10)], 3.0, 600)), ("r2", {"vehicles": {}, "dead_letters": 2})]
    messages = livestate.vehicles_messages(entries, published_ts=9.0, per_message=1)
    assert [key for key, _ in messages] == ["r1", "r2"]
    assert msgspec.json.decode(wire.encode(messages[0][1])) == {"snapshots": [
        {"route_id": "r1", "published_ts": 9.0, "vehicles": [{"vehicle_id": "a", "route_id": "r1", "ts": 10,
                                                              "lat": 37.5, "lon": 127.0}],
         "received_ts": 3.0, "dead_letters": 0}]}
    assert msgspec.json.decode(wire.encode(messages[1][1]))["snapshots"][0]["received_ts"] is None


def test_counters_messages_are_the_read_model_json():
    import msgspec

    from topis import wire

    taps = livestate.counted(None, [60.0], 0, 0, received_ts=4.0)
    rejected = {"dead_letters": 3, "reasons": {"not_json": 1, "bad_ts": 4}, "received_ts": 5.0, "counted_at": 9}
    messages = livestate.counters_messages([("taps", "r1", taps), ("reads", "cam", livestate.empty_counter()),
                                            ("rejected", "card.taps/2", rejected)], per_message=50)
    assert [key for key, _ in messages] == ["r1"]
    assert msgspec.json.decode(wire.encode(messages[0][1])) == {"snapshots": [
        {"kind": "taps", "key": "r1", "per_minute": {"60": 1}, "last_event_ts": 60.0, "received_ts": 4.0,
         "dead_letters": 0},
        {"kind": "reads", "key": "cam", "per_minute": {}, "last_event_ts": None, "received_ts": None,
         "dead_letters": 0},
        {"kind": "rejected", "key": "card.taps/2", "per_minute": {}, "last_event_ts": None, "received_ts": 5.0,
         "dead_letters": 3, "source": "card.taps", "reasons": {"not_json": 1, "bad_ts": 4}}]}

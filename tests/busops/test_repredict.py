"""Predictions between stops are remade at most every repredict_every_s; stop events always predict again."""

from __future__ import annotations

from streams.bus.pipeline import RouteState, _due
from topis.schemas.bus import MatchedPosition, StopArrival


def matched(ts: float) -> MatchedPosition:
    return MatchedPosition("v", "r", "t", 0, ts, 100.0, 37.5, 127.0, 3.0, 0.0)


def test_off_predicts_at_every_fix():
    assert _due(RouteState("r"), "v", 100.0, [matched(100.0)], every_s=0.0)


def test_between_stops_only_after_the_interval():
    state = RouteState("r", predicted_at={"v": 100.0})
    assert not _due(state, "v", 129.0, [matched(129.0)], every_s=30.0)
    assert _due(state, "v", 130.0, [matched(130.0)], every_s=30.0)


def test_a_bus_never_predicted_is_due():
    assert _due(RouteState("r"), "v", 5.0, [matched(5.0)], every_s=30.0)


def test_a_stop_event_is_always_due():
    state = RouteState("r", predicted_at={"v": 100.0})
    arrival = StopArrival("v", "r", "t", 0, "s1", 1, 0, 101.0, 100.0, 0.0)
    assert _due(state, "v", 101.0, [matched(101.0), arrival], every_s=30.0)

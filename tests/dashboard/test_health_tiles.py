"""The wall's view of state.health: feed lag from the live workers, components that are not up."""

from __future__ import annotations

from dashboard import kpis
from dashboard.pages.wall import _fmt_age, components_line
from dashboard.readmodel import CityState
from topis import topics, wire
from topis.schemas.health import ComponentStatus, SupervisorStatus, WorkerHealth

NOW = 1_800_000_000.0


def fold(state: CityState, message) -> None:
    import msgspec

    state.apply(topics.STATE_HEALTH.name, msgspec.json.decode(wire.encode(message)), NOW)


def test_worker_reports_give_each_feed_the_worst_live_lag_and_the_backlog():
    state = CityState()
    fold(state, WorkerHealth("w1", NOW - 2, NOW - 600, {"bus.positions": 120, "state.routes": 9}, {}, 0,
                             {"bus.positions": 0.8, "taxi.positions": 3.5, "card.taps": 0.2}))
    fold(state, WorkerHealth("w2", NOW - 3, NOW - 600, {"card.taps": 30}, {}, 0, {"bus.positions": 1.4}))
    fold(state, WorkerHealth("gone", NOW - 300, NOW - 900, {"bus.positions": 10_000}, {}, 0, {"bus.positions": 99.0}))
    lags, backlog = kpis.state_lags(state, NOW)
    assert lags == {"positions": 1.4, "taps": 0.2, "reads": None, "routes": 1.4, "link_speeds": 3.5}
    assert backlog == 150  # input topics of live workers only


def test_the_supervisors_status_lists_what_is_not_up():
    state = CityState()
    fold(state, SupervisorStatus(NOW, [ComponentStatus("broker", "up", NOW - 900, 0, 11),
                                       ComponentStatus("worker-1", "restarting", NOW - 4, 2, None, -9),
                                       ComponentStatus("dashboard", "up", NOW - 900, 0, 12)]))
    parts = kpis.components(state)
    assert [p[:2] for p in parts] == [("broker", "up"), ("worker-1", "restarting"), ("dashboard", "up")]
    line = components_line(parts, 1200)
    assert line.startswith("worker-1 restarting since ") and "(2 restarts)" in line
    assert "broker" not in line and line.endswith("workers behind by 1,200 messages")
    assert components_line(tuple(p for p in parts if p[1] == "up"), 0) == "all 2 components up"


def test_a_feed_tile_turns_amber_then_red_with_its_lag():
    assert _fmt_age(2.0, 30.0, 0.4) == ("2 s ago · lag 0.4 s", {"color": "#69f0ae"})
    assert _fmt_age(2.0, 30.0, 12.0)[1] == {"color": "#ffd740"}
    assert _fmt_age(2.0, 30.0, 90.0)[1] == {"color": "#ff5252"}
    assert _fmt_age(45.0, 30.0, None) == ("45 s ago", {"color": "#ff5252"})

"""Taxi probes → link speeds: the pure step on the simulator's taxis, and the agent on its batches."""

from __future__ import annotations

import functools

import numpy as np
import pytest

from streams.traffic import mapmatch, taxi_speeds

CITY_SEED, CITY_SCALE, START_TS = 3, 0.5, 1_795_000_000.0


@functools.cache
def city_and_batches(steps: int = 90):
    from topis.city.generate import generate_city
    from topis.sim.simulator import Simulator

    city = generate_city(seed=CITY_SEED, scale=CITY_SCALE)
    sim = Simulator(city, seed=1, start_ts=START_TS)
    return city, [sim.step(10.0).taxis for _ in range(steps)]


def test_simulated_taxis_give_link_speeds_near_the_links_true_speeds():
    city, steps = city_and_batches()
    net = mapmatch.network_from_city(city)
    cells: dict[str, taxi_speeds.CellState] = {}
    closed = []
    for by_cell in steps:
        for cell, batch in by_cell.items():
            closed += taxi_speeds.advance(cells.setdefault(cell, taxi_speeds.CellState()), batch.arrays(), net)
    assert closed and {s.source for s in closed} == {"taxi"}
    fixes = sum(s.fixes for s in cells.values())
    assert sum(s.matched for s in cells.values()) > 0.8 * fixes
    assert all(0 < s.speed_kph < 150 and s.n_probes >= 1 and 0 <= s.confidence <= 1 for s in closed)
    assert {s.link_id for s in closed} <= set(net.link_ids.tolist())
    newest = max(s.newest_ts for s in cells.values())
    assert all(s.bin_start_ts + 300 <= newest - taxi_speeds.LATENESS_S + 300 for s in closed)


def test_bad_coordinates_are_left_out_and_an_empty_batch_gives_nothing():
    from topis.schemas.probes import TaxiFixes

    city, _ = city_and_batches()
    net = mapmatch.network_from_city(city)
    nan = TaxiFixes(np.array([1], np.uint64), np.array([START_TS]), np.array([np.nan]), np.array([127.0]),
                    np.array([30.0], np.float32), np.array([np.nan], np.float32), np.array([True]))
    state = taxi_speeds.CellState()
    assert taxi_speeds.advance(state, nan, net) == [] and state.fixes == 0
    assert taxi_speeds.advance(state, TaxiFixes.empty(), net) == []


def _totals(speeds) -> dict[tuple[str, float], tuple[int, float, float]]:
    """(traversals, metres, seconds) per (link, bin): what the partial bins of any batching add up to."""
    out: dict[tuple[str, float], tuple[int, float, float]] = {}
    for s in speeds:
        n, d, t = out.get((s.link_id, s.bin_start_ts), (0, 0.0, 0.0))
        out[(s.link_id, s.bin_start_ts)] = (n + s.n_probes, d + s.dist_m, t + s.time_s)
    return out


def _run_taxi_agent(tmp_path, messages, city, roads):
    from agent_fixtures import capture, run_agent, stream_app

    from streams.demand.taps import Pattern, RoutePatterns
    from streams.runtime.decode import DeadLetters
    from streams.traffic.agents import TrafficAgents
    from streams.traffic.linkspeeds import road_network
    from topis import wire
    from topis.schemas.traffic import LinkSpeed

    with stream_app(tmp_path) as (app, streams):
        letters = DeadLetters(app)
        dead = capture(letters.topic)
        agents = TrafficAgents(app, streams, RoutePatterns((Pattern("R", 0, ("S1",)),), {"S1": (37.5, 127.0)}),
                               road_network(None, city), letters, roads)
        sent = capture(agents.speeds)
        run_agent(app, "streams.traffic.agents.measure_taxi_speeds", messages)
    return sent, [s for _, v in sent for s in wire.decode(v, list[LinkSpeed])], dead


def _one_cell(steps):
    from topis import wire

    cell = max(steps[0], key=lambda c: len(steps[0][c].arrays().ts))
    return cell, [(cell.encode(), wire.encode(by_cell[cell])) for by_cell in steps if cell in by_cell]


def _fold_one_by_one(messages, roads) -> list:
    from topis import topics, wire

    expected, state = [], taxi_speeds.CellState()
    for _, value in messages:
        expected += taxi_speeds.advance(state, wire.decode(value, topics.TAXI_POSITIONS.value).arrays(), roads)
    return expected


def test_the_taxi_agent_publishes_closed_bins_keyed_by_cell_and_dead_letters_garbage(tmp_path):
    """The agent folds a batch's messages of a cell in one call: the same traversals as one by one, fewer records."""
    city, steps = city_and_batches()
    roads = mapmatch.network_from_city(city)
    cell, messages = _one_cell(steps)
    expected = _fold_one_by_one(messages, roads)
    messages.insert(3, (cell.encode(), b"not a batch"))
    sent, speeds, dead = _run_taxi_agent(tmp_path, messages, city, roads)
    assert expected, "the trace is long enough to close bins"
    assert {k for k, _ in sent} == {f"taxi:{cell}".encode()}
    got, want = _totals(speeds), _totals(expected)
    assert got.keys() == want.keys()
    assert all(got[k][0] == want[k][0] and got[k][1:] == pytest.approx(want[k][1:]) for k in want)
    assert len(speeds) <= len(expected)  # a bin reopened by a late traversal closes once per batch, not per message
    assert len(dead) == 1 and dead[0][0] == b"taxi.positions"


def test_a_fold_that_raises_dead_letters_only_its_message(tmp_path, monkeypatch):
    """When a batch's fold raises, the cell starts afresh and only the message at fault is dead-lettered."""
    from topis import topics, wire

    city, steps = city_and_batches()
    roads = mapmatch.network_from_city(city)
    cell, messages = _one_cell(steps)
    marker_ts = float(wire.decode(messages[5][1], topics.TAXI_POSITIONS.value).arrays().ts.max())
    real = taxi_speeds.advance

    def advance(state, fixes, *args, **kwargs):
        if marker_ts in fixes.ts:
            raise RuntimeError("a fault of this message")
        return real(state, fixes, *args, **kwargs)

    monkeypatch.setattr(taxi_speeds, "advance", advance)
    sent, speeds, dead = _run_taxi_agent(tmp_path, messages, city, roads)
    letters = [wire.decode(v, topics.DEAD_LETTERS.value) for _, v in dead]
    assert [(d.reason, d.offset, d.agent) for d in letters] == [("processing_error", 5, "measure_taxi_speeds")]
    assert speeds, "the other messages still give link speeds"


@pytest.mark.parametrize("seed", [1, 2])
def test_cell_states_are_independent(seed):
    """Two cells' fixes folded apart give the same bins as each folded alone (no state leaks between cells)."""
    city, steps = city_and_batches()
    net = mapmatch.network_from_city(city)
    cells = sorted({c for by_cell in steps for c in by_cell})
    rng = np.random.default_rng(seed)
    a, b = rng.choice(cells, 2, replace=False)
    together = {a: taxi_speeds.CellState(), b: taxi_speeds.CellState()}
    alone = taxi_speeds.CellState()
    out_together, out_alone = [], []
    for by_cell in steps:
        for c in (a, b):
            if c in by_cell:
                got = taxi_speeds.advance(together[c], by_cell[c].arrays(), net)
                out_together += got if c == a else []
        if a in by_cell:
            out_alone += taxi_speeds.advance(alone, by_cell[a].arrays(), net)
    assert out_together == out_alone

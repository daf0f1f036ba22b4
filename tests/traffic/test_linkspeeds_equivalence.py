"""The bus link-speed step against its pre-optimisation twin, to the last bit, on simulated batches.

A demo city (scale 1) runs ten minutes; every route's batches go through
:func:`streams.traffic.linkspeeds.advance` and through the twin
(``tests/traffic/linkspeeds_twin.py``), one state per route as the agent keeps them.
The batches are roughed up as real feeds are: shuffled, fixes repeated, fixes made
older, headings and speeds missing, fixes far off the network, frozen receivers. After
every call the returned bins and the state (as its JSON checkpoint) must be identical.
"""

from __future__ import annotations

import random

import linkspeeds_twin as twin
import msgspec
import numpy as np
import pytest

from streams.traffic import linkspeeds as ls
from topis.schemas.inputs import BusPosition

START_TS = 1_795_500_000.0  # a Tuesday morning; any start will do


@pytest.fixture(scope="module")
def city_batches():
    from topis.city.generate import generate_city
    from topis.sim.simulator import Simulator

    city = generate_city(seed=7, scale=1.0)
    sim = Simulator(city, seed=1, start_ts=START_TS)
    batches = [list(sim.step(5.0).positions.items()) for _ in range(120)]
    nets = {"roads": ls.road_network(None, lambda: city),  # what the agent measures on (no stops)
            "with-stops": ls.build_network(ls.links_from_city(city), [(s.lat, s.lon) for s in city.stops])}
    return nets, batches


def _roughen(batch: list[BusPosition], rng: random.Random) -> list[BusPosition]:
    """The batch with a few of the faults of real AVL feeds."""
    out = list(batch)
    for i, p in enumerate(out):
        u = rng.random()
        if u < 0.04:
            out[i] = msgspec.structs.replace(p, ts=p.ts - rng.choice([1.0, 30.0, 200.0, 400.0]))  # late fix
        elif u < 0.07:
            out[i] = msgspec.structs.replace(p, heading_deg=None)
        elif u < 0.10:
            out[i] = msgspec.structs.replace(p, speed_kph=None)
        elif u < 0.12:
            out[i] = msgspec.structs.replace(p, speed_kph=0.0)  # standing (at a stop or in a queue)
        elif u < 0.13:
            out[i] = msgspec.structs.replace(p, lat=p.lat + 0.01)  # a kilometre off: unmapped
        elif u < 0.14:
            out[i] = msgspec.structs.replace(p, lat=p.lat + 0.0003)  # ~33 m off: a teleport or another link
    if out and rng.random() < 0.2:
        out.append(out[rng.randrange(len(out))])  # a repeated fix (duplicate)
    if out and rng.random() < 0.1:
        p = out[rng.randrange(len(out))]
        out.append(msgspec.structs.replace(p, ts=p.ts + 5.0))  # a frozen receiver
    if rng.random() < 0.5:
        rng.shuffle(out)
    return out


def _kept(state: ls.LinkSpeedState) -> bytes:
    """The state as JSON, less when the fast step last looked for closed bins (the twin looks every time)."""
    return msgspec.json.encode(msgspec.structs.replace(state, scanned_bin=-1, late=False))


SHORT_BINS = ls.SpeedRules(bin_s=60.0, lateness_s=30.0, dwell_move_m=25.0, dwell_speed_kph=8.0)


@pytest.mark.parametrize(("network", "rules"), [("roads", ls.SpeedRules()), ("with-stops", ls.SpeedRules()),
                                                ("with-stops", SHORT_BINS)], ids=["roads", "with-stops", "short-bins"])
def test_advance_matches_twin_on_simulated_batches(city_batches, network, rules):
    nets, batches = city_batches
    net = nets[network]
    rng = random.Random(3)
    fast: dict[str, ls.LinkSpeedState] = {}
    slow: dict[str, ls.LinkSpeedState] = {}
    emitted = 0
    for step, batch in enumerate(batches):
        for route_id, fixes in batch:
            fixes = _roughen(fixes, rng)
            _, got = ls.advance(fast.setdefault(route_id, ls.LinkSpeedState()), fixes, net, rules)
            _, want = twin.advance(slow.setdefault(route_id, ls.LinkSpeedState()), fixes, net, rules)
            assert got == want, (step, route_id)
            assert _kept(fast[route_id]) == _kept(slow[route_id]), (step, route_id)
            emitted += len(got)
        if step == 60:  # a restart from the checkpoint in the middle
            fast = {k: msgspec.json.decode(msgspec.json.encode(s), type=ls.LinkSpeedState) for k, s in fast.items()}
    _, got = ls.advance(fast[route_id], [], net, rules)  # an empty message
    _, want = twin.advance(slow[route_id], [], net, rules)
    assert got == want
    for route_id in slow:
        assert ls.flush(fast[route_id], net, rules) == twin.flush(slow[route_id], net, rules)
        assert _kept(fast[route_id]) == _kept(slow[route_id])
    assert emitted > 100  # the watermark closed bins along the way, not only at the flush
    dropped = {k: sum(s.pairs_dropped.get(k, 0) for s in slow.values()) for k in
               ("unmapped", "time_gap", "not_adjacent", "teleport", "frozen_position", "dwell_at_stop")}
    assert all(dropped.values()) or network == "roads" and dropped.pop("dwell_at_stop") == 0, dropped  # every filter ran


def test_map_fixes_matches_twin_on_noisy_points(city_batches):
    nets, batches = city_batches
    net = nets["roads"]
    fixes = [p for batch in batches[:3] for _, ps in batch for p in ps]
    rng = np.random.default_rng(5)
    x, y = net.to_xy([p.lat for p in fixes], [p.lon for p in fixes])
    x, y = x + rng.normal(0, 15, len(x)), y + rng.normal(0, 15, len(y))
    heading = rng.uniform(0, 360, len(x))
    heading[::7] = np.nan
    for h in (heading, None):
        for start in range(0, len(x), 13):  # message-sized batches
            sl = slice(start, start + 13)
            got = ls.map_fixes(net, x[sl], y[sl], 30.0, None if h is None else h[sl])
            want = twin.map_fixes(net, x[sl], y[sl], 30.0, None if h is None else h[sl])
            np.testing.assert_array_equal(got[0], want[0])
            np.testing.assert_array_equal(got[1], want[1])
    for n in (0, 1):
        got, want = ls.map_fixes(net, x[:n], y[:n], 30.0), twin.map_fixes(net, x[:n], y[:n], 30.0)
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_array_equal(got[1], want[1])


def test_advance_routes_is_advance_per_route(city_batches):
    """Several routes' windows folded in one call (one mapping for all) give what each route's own advance gives."""
    nets, batches = city_batches
    net = nets["with-stops"]
    rng = random.Random(11)
    together: dict[str, ls.LinkSpeedState] = {}
    alone: dict[str, ls.LinkSpeedState] = {}
    emitted = 0
    for start in range(0, len(batches), 4):  # windows of four steps, as the agent takes them
        window: dict[str, list] = {}
        for batch in batches[start:start + 4]:
            for route_id, fixes in batch:
                window.setdefault(route_id, []).extend(_roughen(fixes, rng))
        for route_id in window:
            together.setdefault(route_id, ls.LinkSpeedState())
        got = ls.advance_routes(together, window, net)
        assert set(got) == set(window)
        for route_id, fixes in window.items():
            _, want = ls.advance(alone.setdefault(route_id, ls.LinkSpeedState()), fixes, net)
            assert got[route_id] == want, (start, route_id)
            assert _kept(together[route_id]) == _kept(alone[route_id]), (start, route_id)
            emitted += len(want)
    assert emitted > 50
    assert ls.advance_routes({}, {}, net) == {}

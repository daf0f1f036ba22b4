"""The map matcher's Numba kernels against their plain-Python twin (``mapmatch_twins.py``).

Seeded random batches on a small grid: GPS noise, duplicated fixes, shuffled order,
fixes off the network, NaN coordinates and headings, gaps, empty batches, several
batches with state carried between them.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from mapmatch_twins import Twin
from mapmatch_twins import candidates as twin_candidates
from probe_traces import drive, grid_network

from streams.traffic import _kernels as k
from streams.traffic import mapmatch as mm

#: compares Numba kernels with their twins; `make test` runs these again with NUMBA_DISABLE_JIT=1
pytestmark = pytest.mark.kernels


@pytest.fixture(scope="module")
def net():
    return grid_network(4, 150.0)


def messy_batch(net, seed: int, n_vehicles: int = 6, duration_s: float = 600.0):
    """A synthetic trace made untidy: duplicates, shuffled, a few fixes far off or NaN, random headings."""
    rng = np.random.default_rng(seed)
    tr = drive(net, rng.uniform(15, 60, len(net.link_ids)), n_vehicles, duration_s, seed=seed, sigma_m=10.0)
    v, ts, x, y = tr.vehicle_id, tr.ts_s, tr.x_m.copy(), tr.y_m.copy()
    head = np.where(rng.random(len(ts)) < 0.5, tr.heading_deg, np.nan)
    off = rng.random(len(ts)) < 0.03
    x[off] += 500.0  # no link within the radius
    x[rng.random(len(ts)) < 0.01] = np.nan
    dup = rng.choice(len(ts), size=len(ts) // 10)
    idx = rng.permutation(np.concatenate([np.arange(len(ts)), dup]))
    return v[idx], ts[idx], x[idx], y[idx], head[idx]


def kernel_run(net, rules, batches):
    state = mm.new_state(rules)
    parts = [mm.advance(state, net, *b, rules=rules) for b in batches] + [mm.flush(state, net, rules)]
    fixes = mm.concat_fixes([p[0] for p in parts])
    trav = mm.concat_traversals([p[1] for p in parts])
    return fixes, trav


def twin_run(net, rules, batches):
    twin = Twin(net, rules)
    fixes, trav = [], []
    for b in batches:
        f, t = twin.advance(list(b[0]), *b[1:])
        fixes += f
        trav += t
    f, t = twin.flush()
    return fixes + f, trav + t


def assert_same(kernel, twin):
    fixes, trav = kernel
    t_fixes, t_trav = twin
    order = np.argsort(fixes.seq)
    t_fixes = sorted(t_fixes)
    assert [r[0] for r in t_fixes] == fixes.seq[order].tolist()
    assert [r[1] for r in t_fixes] == fixes.vehicle_id[order].tolist()
    assert [r[3] for r in t_fixes] == fixes.link[order].tolist()
    assert [r[5] for r in t_fixes] == fixes.status[order].tolist()
    np.testing.assert_array_equal([r[4] for r in t_fixes], fixes.along_m[order])
    np.testing.assert_array_equal([r[2] for r in t_fixes], fixes.ts_s[order])
    got = sorted(zip(trav.vehicle_id.tolist(), trav.link.tolist(), trav.entry_ts_s.tolist(), trav.exit_ts_s.tolist()))
    assert got == sorted(t_trav)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_kernel_equals_twin_on_messy_batches(net, seed):
    rules = mm.MatchRules(sigma_m=10.0, lag_fixes=3)
    v, ts, x, y, h = messy_batch(net, seed)
    cut = np.sort(np.random.default_rng(seed).choice(len(ts), 3, replace=False))
    batches = [tuple(a[lo:hi] for a in (v, ts, x, y, h)) for lo, hi in zip([0, *cut], [*cut, len(ts)])]
    kernel = kernel_run(net, rules, batches)
    assert_same(kernel, twin_run(net, rules, batches))
    status = np.bincount(kernel[0].status, minlength=3)
    assert status[mm.DROPPED] > 0 and status[mm.NO_CANDIDATE] > 0 and len(kernel[1].link) > 0


@pytest.mark.parametrize("lag", [1, 2, 8])
def test_kernel_equals_twin_for_any_lag(net, lag):
    rules = mm.MatchRules(lag_fixes=lag, idle_s=120.0, max_gap_s=60.0)
    v, ts, x, y, h = messy_batch(net, 10 + lag, n_vehicles=4)
    order = np.argsort(ts)
    batches = [tuple(a[order][s] for a in (v, ts, x, y, h)) for s in np.array_split(np.arange(len(ts)), 7)]
    assert_same(kernel_run(net, rules, batches), twin_run(net, rules, batches))


def test_empty_batches(net):
    rules = mm.MatchRules()
    empty = (np.array([], dtype=object), np.array([]), np.array([]), np.array([]), np.array([]))
    fixes, trav = kernel_run(net, rules, [empty, empty])
    assert len(fixes.seq) == 0 and len(trav.link) == 0
    assert twin_run(net, rules, [empty]) == ([], [])


def test_candidates_grid_equals_brute_force(net):
    rng = np.random.default_rng(5)
    x = rng.uniform(-80, 530, 400)
    y = rng.uniform(-80, 530, 400)
    x[:3] = [np.nan, 1e6, -1e6]
    c_link, c_along, c_dist, c_bear, c_n = k.candidates(x, y, net.geo, net.grid, 40.0, 5)
    for i in range(len(x)):
        want = twin_candidates(net, x[i], y[i], 40.0, 5)
        assert c_n[i] == len(want)
        assert c_link[i, : c_n[i]].tolist() == [w[0] for w in want]
        np.testing.assert_array_equal(c_along[i, : c_n[i]], [w[1] for w in want])
        np.testing.assert_array_equal(c_dist[i, : c_n[i]], [w[2] for w in want])
        np.testing.assert_array_equal(c_bear[i, : c_n[i]], [w[3] for w in want])
    assert c_n[:3].tolist() == [0, 0, 0]
    assert math.isinf(c_dist[0, 0])

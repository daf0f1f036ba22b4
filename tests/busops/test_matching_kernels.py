"""The bus matcher's kernels against their plain-Python twins, on seeded random shapes and windows."""

from __future__ import annotations

import math

import matching_twins as twin
import numpy as np
import pytest

from streams.bus import _kernels as k

pytestmark = pytest.mark.kernels


def random_shape(rng, n: int):
    """A wandering polyline with a few zero-length and doubled-back segments."""
    steps = rng.normal(0.0, 40.0, size=(n - 1, 2))
    steps[rng.random(n - 1) < 0.1] = 0.0  # repeated vertices
    xy = np.vstack([[0.0, 0.0], np.cumsum(steps, axis=0)])
    cum = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(xy, axis=0).T))])
    return xy[:, 0].copy(), xy[:, 1].copy(), cum


def test_project_window_matches_its_twin_on_random_shapes_points_and_windows():
    rng = np.random.default_rng(11)
    for _ in range(3000):
        x, y, cum = random_shape(rng, int(rng.integers(2, 40)))
        px, py = rng.normal(x.mean(), 80.0), rng.normal(y.mean(), 80.0)
        lo = float(rng.uniform(-50.0, cum[-1] + 20.0))
        hi = math.inf if rng.random() < 0.2 else lo + float(rng.uniform(0.0, 300.0))
        if rng.random() < 0.1:  # a window on a vertex
            lo = float(cum[int(rng.integers(0, len(cum)))])
        got, want = k.project_window(x, y, cum, px, py, lo, hi), twin.project_window(x, y, cum, px, py, lo, hi)
        assert got[2] == want[2]
        if want[2]:  # the same operations in the same order: the same floats
            assert (got[0], got[1]) == (want[0], want[1])


def test_project_window_with_no_segment_in_the_window():
    x, y, cum = np.array([0.0, 100.0]), np.array([0.0, 0.0]), np.array([0.0, 100.0])
    assert k.project_window(x, y, cum, 50.0, 5.0, 150.0, 200.0)[2] is False
    assert k.project_window(x, y, cum, 50.0, 5.0, 0.0, 100.0)[:2] == pytest.approx((50.0, 5.0))
    # a window cutting the segment: measured from the window's end
    assert k.project_window(x, y, cum, 90.0, 0.0, 0.0, 60.0)[:2] == pytest.approx((60.0, 30.0))

"""Taxi link speeds from traversals: harmonic means, counts and confidence worked out by hand;
the records on ``traffic.link_speeds`` and their merge beside bus bins; matched synthetic traces."""

from __future__ import annotations

import math

import msgspec
import numpy as np
import pytest
from probe_traces import drive, grid_network

from streams.traffic import linkspeeds as ls
from streams.traffic import mapmatch as mm
from streams.traffic import traversal_speeds as tsp
from topis.schemas.traffic import LinkSpeed

T = 1_800_000_000.0  # a multiple of 300 s
LENGTH_M = np.array([300.0, 500.0])


def test_harmonic_mean_count_and_bin_of_the_midpoint():
    # link 0 (300 m): 30 s and 60 s (36 and 18 km/h) → harmonic mean 600 m / 90 s = 24 km/h
    # link 0 again with midpoint T+310: next bin; link 1: one traversal of 50 s; a 0 s one is dropped
    bins = tsp.bin_traversals([0, 0, 0, 1, 1], [T + 10, T + 100, T + 300, T + 20, T + 30],
                              [T + 40, T + 160, T + 320, T + 70, T + 30], LENGTH_M)
    assert bins.link.tolist() == [0, 0, 1]
    assert bins.bin_start_ts.tolist() == [T, T + 300, T]
    assert bins.n.tolist() == [2, 1, 1]
    np.testing.assert_allclose(bins.speed_kph, [24.0, 54.0, 36.0])
    np.testing.assert_allclose(bins.time_sq_s2, [30**2 + 60**2, 20**2, 50**2])
    assert bins.speed_kph[0] == pytest.approx(2 / (1 / 36 + 1 / 18))


def test_impossible_speeds_are_dropped():
    bins = tsp.bin_traversals([0, 0], [T, T + 50], [T + 2, T + 80], LENGTH_M)  # 540 km/h, 36 km/h
    assert bins.n.tolist() == [1] and bins.speed_kph.tolist() == [pytest.approx(36.0)]


def test_confidence_grows_with_count_and_falls_with_spread():
    # one traversal: prior cv 0.3 → erf(0.1 / (0.3 √2))
    assert tsp.confidence(1, 30.0, 900.0)[()] == pytest.approx(math.erf(0.1 / (0.3 * math.sqrt(2))))
    # five traversals 27, 29, 30, 31, 33 s: cv = sd/mean
    t = np.array([27.0, 29, 30, 31, 33])
    cv = t.std(ddof=1) / t.mean()
    want = math.erf(0.1 / (cv / math.sqrt(5) * math.sqrt(2)))
    assert tsp.confidence(5, t.sum(), (t * t).sum())[()] == pytest.approx(want)
    spread = np.array([10.0, 20, 30, 40, 50])
    assert tsp.confidence(5, spread.sum(), (spread**2).sum()) < want
    assert tsp.confidence(2, 60.0, 1800.0)[()] == 1.0  # two equal times: no spread


def test_accumulate_and_split_closed_are_exact():
    a = tsp.bin_traversals([0, 1], [T + 10, T + 20], [T + 40, T + 70], LENGTH_M)
    b = tsp.bin_traversals([0, 0], [T + 100, T + 300], [T + 160, T + 320], LENGTH_M)
    both = tsp.accumulate([a, tsp.empty_bins(), b])
    whole = tsp.bin_traversals([0, 1, 0, 0], [T + 10, T + 20, T + 100, T + 300], [T + 40, T + 70, T + 160, T + 320],
                               LENGTH_M)
    for f in tsp.TraversalBins.__dataclass_fields__:
        np.testing.assert_array_equal(getattr(both, f), getattr(whole, f))
    closed, still = tsp.split_closed(both, T + 300)
    assert closed.bin_start_ts.tolist() == [T, T] and still.bin_start_ts.tolist() == [T + 300]
    assert len(tsp.accumulate([])) == 0


def test_records_are_taxi_link_speeds_and_merge_keeps_sources_apart():
    bins = tsp.bin_traversals([0, 0], [T + 10, T + 100], [T + 40, T + 160], LENGTH_M)
    (rec,) = tsp.to_link_speeds(bins, ["A", "B"])
    assert (rec.link_id, rec.source, rec.n_probes, rec.dist_m, rec.time_s) == ("A", "taxi", 2, 600.0, 90.0)
    assert rec.speed_kph == pytest.approx(24.0) and 0 < rec.confidence < 1
    half = [tsp.to_link_speeds(tsp.bin_traversals([0], [T + s], [T + e], LENGTH_M), ["A", "B"])[0]
            for s, e in ((10, 40), (100, 160))]
    bus = LinkSpeed("A", T, 30.0, 1, 300.0, 36.0)
    merged = ls.merge(half + [bus])
    assert [(m.source, m.n_probes) for m in merged] == [("bus", 1), ("taxi", 2)]
    assert merged[1].speed_kph == pytest.approx(24.0) and merged[1].confidence == pytest.approx(rec.confidence)
    assert merged[0].confidence is None


def test_old_link_speed_messages_decode_as_bus():
    old = b'[{"link_id":"L1","bin_start_ts":600.0,"speed_kph":20.0,"n_probes":2,"dist_m":100.0,"time_s":18.0}]'
    (s,) = msgspec.json.decode(old, type=list[LinkSpeed])
    assert s.source == "bus" and s.confidence is None and s.time_sq_s2 == 0.0


def test_matched_synthetic_traces_give_link_speeds_near_the_truth():
    net = grid_network(3, 300.0)
    truth_kph = np.random.default_rng(0).uniform(20, 50, len(net.link_ids))
    tr = drive(net, truth_kph, 40, 1800, seed=4, vehicle_factor=0.0)
    _, trav = mm.match_trace(net, tr.vehicle_id, tr.ts_s, tr.x_m, tr.y_m)
    bins = tsp.bin_traversals(trav.link, trav.entry_ts_s, trav.exit_ts_s, net.length_m)
    many = bins.n >= 5
    assert many.sum() >= 10
    err = np.abs(bins.speed_kph[many] / truth_kph[bins.link[many]] - 1)
    assert err.mean() <= 0.10


def test_fold_keeps_bins_open_until_the_watermark_passes_them():
    open_bins, closed = tsp.fold(tsp.empty_bins(), [0], [T + 10], [T + 40], LENGTH_M, watermark_ts=T + 200)
    assert len(closed) == 0 and open_bins.n.tolist() == [1]
    open_bins, closed = tsp.fold(open_bins, [0, 1], [T + 100, T + 400], [T + 160, T + 450], LENGTH_M,
                                 watermark_ts=T + 320)
    assert closed.link.tolist() == [0] and closed.n.tolist() == [2]
    assert open_bins.link.tolist() == [1] and open_bins.bin_start_ts.tolist() == [T + 300]

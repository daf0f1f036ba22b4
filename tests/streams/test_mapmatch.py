"""Map matching on hand-made road networks whose answer is known: a grid, a parallel road 30 m
away, a U-turn at a dead end, gaps, duplicates, and incremental against whole-trace matching."""

from __future__ import annotations

import numpy as np
import pytest
from probe_traces import drive, grid_network, two_way

from streams.traffic import mapmatch as mm


def straight_drive(points, speed_mps, period_s=10.0, t0=0.0, offset_s=5.0):
    """Fixes every ``period_s`` along a polyline driven at constant speed (no noise)."""
    pts = np.asarray(points, dtype=float)
    cum = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(pts, axis=0).T))])
    ts = np.arange(offset_s, cum[-1] / speed_mps, period_s)
    s = ts * speed_mps
    return t0 + ts, np.interp(s, cum, pts[:, 0]), np.interp(s, cum, pts[:, 1])


@pytest.fixture(scope="module")
def grid():
    return grid_network(4, 200.0)


def test_grid_without_noise_gives_links_offsets_and_traversal_times(grid):
    # east along y=0 from (0,0) to (400,0), then north to (400,400), at 10 m/s
    ts, x, y = straight_drive([(0, 0), (400, 0), (400, 400)], 10.0)
    fixes, trav = mm.match_trace(grid, ["v"] * len(ts), ts, x, y)
    want = ["0,0>1,0"] * 2 + ["1,0>2,0"] * 2 + ["2,0>2,1"] * 2 + ["2,1>2,2"] * 2
    assert fixes.link_id.tolist() == want
    np.testing.assert_allclose(fixes.along_m, [50, 150] * 4, atol=1e-9)
    assert (fixes.status == mm.MATCHED).all()
    # the vehicle entered 1,0>2,0 at t=20 and 2,0>2,1 at t=40, left it at t=60
    assert trav.link_id.tolist() == ["1,0>2,0", "2,0>2,1"]
    np.testing.assert_allclose(trav.entry_ts_s, [20.0, 40.0])
    np.testing.assert_allclose(trav.traversal_s, [20.0, 20.0])


def test_noisy_grid_trace_is_mostly_on_its_true_link(grid):
    rng = np.random.default_rng(0)
    tr = drive(grid, rng.uniform(20, 50, len(grid.link_ids)), 10, 1800, seed=1, sigma_m=8.0)
    fixes, _ = mm.match_trace(grid, tr.vehicle_id, tr.ts_s, tr.x_m, tr.y_m)
    assert np.mean(fixes.link == tr.true_link) >= 0.95


def parallel_roads():
    """Two straight two-way roads 30 m apart, 1 km long, joined only at their west ends."""
    roads = [("A0", "A1", [(0, 0), (1000, 0)]), ("B0", "B1", [(0, 30), (1000, 30)]),
             ("A0", "B0", [(0, 0), (0, 30)])]
    return mm.build_network(*two_way(roads))


def test_parallel_road_30_m_away_is_not_taken():
    net = parallel_roads()
    ts, x, y = straight_drive([(0, 0), (1000, 0)], 12.0, period_s=5.0)
    rng = np.random.default_rng(3)
    xn, yn = x + rng.normal(0, 8, len(x)), y + rng.normal(0, 8, len(y))
    fixes, _ = mm.match_trace(net, ["v"] * len(ts), ts, xn, yn)
    assert np.mean(fixes.link_id == "A0>A1") >= 0.95
    # nearest-link snapping alone takes the wrong road more often
    nearest_b = np.abs(yn - 30) < np.abs(yn)
    assert np.sum(fixes.link_id == "B0>B1") < max(nearest_b.sum(), 1)


def test_u_turn_at_a_dead_end():
    net = mm.build_network(*two_way([("A", "B", [(0, 0), (300, 0)]), ("A", "C", [(0, 0), (-300, 0)])]))
    # C → A → B (dead end), turn, B → A → C at 10 m/s: fixes 30 m and 70 m from the nodes
    ts, x, y = straight_drive([(-300, 0), (300, 0), (-300, 0)], 10.0, offset_s=3.0)
    fixes, trav = mm.match_trace(net, ["v"] * len(ts), ts, x, y)
    want = np.array(["C>A"] * 3 + ["A>B"] * 3 + ["B>A"] * 3 + ["A>C"] * 3)
    # 30 m past the turn is where a fix 30 m before it would be: distances alone cannot tell
    clear = np.abs(x - 300) > 50
    assert clear.sum() == len(x) - 1
    assert fixes.link_id[clear].tolist() == want[clear].tolist()
    assert fixes.link_id[~clear][0] in ("A>B", "B>A")
    assert trav.link_id.tolist() == ["A>B", "B>A"]
    assert trav.entry_ts_s[0] == pytest.approx(30.0) and trav.exit_ts_s[1] == pytest.approx(90.0)


def test_gap_is_bridged_by_the_shortest_path_and_long_gaps_break_the_chain(grid):
    ts, x, y = straight_drive([(0, 0), (600, 0)], 10.0)
    keep = (ts < 20) | (ts > 40)  # no fixes on 1,0>2,0 at all
    fixes, trav = mm.match_trace(grid, ["v"] * keep.sum(), ts[keep], x[keep], y[keep])
    assert fixes.link_id.tolist() == ["0,0>1,0"] * 2 + ["2,0>3,0"] * 2
    assert trav.link_id.tolist() == ["1,0>2,0"]
    np.testing.assert_allclose([trav.entry_ts_s[0], trav.exit_ts_s[0]], [20.0, 40.0])
    rules = mm.MatchRules(max_gap_s=20.0)
    fixes, trav = mm.match_trace(grid, ["v"] * keep.sum(), ts[keep], x[keep], y[keep], rules=rules)
    assert fixes.link_id.tolist() == ["0,0>1,0"] * 2 + ["2,0>3,0"] * 2
    assert len(trav.link) == 0


def test_duplicates_late_fixes_and_off_network_fixes(grid):
    ts, x, y = straight_drive([(0, 0), (600, 0)], 10.0)
    x = x.copy()
    x[3] += 400.0  # far off: no candidate, the chain goes on around it
    v = ["v"] * len(ts)
    state = mm.new_state()
    first, _ = mm.advance(state, grid, v[:4] + ["v"], np.append(ts[:4], ts[1]), np.append(x[:4], x[1]),
                          np.append(y[:4], y[1]))
    second, trav = mm.advance(state, grid, v[4:] + ["v"], np.append(ts[4:], ts[2]), np.append(x[4:], x[2]),
                              np.append(y[4:], y[2]))
    rest, trav2 = mm.flush(state, grid)
    fixes = mm.concat_fixes([first, second, rest])
    by_seq = dict(zip(fixes.seq.tolist(), fixes.status.tolist()))
    assert by_seq[3] == mm.NO_CANDIDATE
    assert by_seq[4] == mm.DROPPED  # duplicate of fix 1 in the same batch
    assert by_seq[len(ts) + 1] == mm.DROPPED  # fix 2 again, a batch later
    assert sorted(by_seq) == list(range(len(ts) + 2))
    assert mm.concat_traversals([trav, trav2]).link_id.tolist() == ["1,0>2,0"]


def test_incremental_matching_equals_whole_trace(grid):
    rng = np.random.default_rng(4)
    tr = drive(grid, rng.uniform(20, 50, len(grid.link_ids)), 5, 900, seed=2)
    whole, whole_trav = mm.match_trace(grid, tr.vehicle_id, tr.ts_s, tr.x_m, tr.y_m)
    state = mm.new_state()
    order = np.argsort(tr.ts_s, kind="stable")
    parts = [mm.advance(state, grid, tr.vehicle_id[s], tr.ts_s[s], tr.x_m[s], tr.y_m[s])
             for s in np.array_split(order, 40)] + [mm.flush(state, grid)]
    inc = mm.concat_fixes([p[0] for p in parts])
    inc_trav = mm.concat_traversals([p[1] for p in parts])
    assert np.array_equal(whole.link, inc.link[np.argsort(order[inc.seq])])
    assert sorted(whole_trav.entry_ts_s.tolist()) == sorted(inc_trav.entry_ts_s.tolist())


def _fold(state, net, vehicle_id, ts_s, x_m, y_m, rules, n_batches=60):
    order = np.argsort(ts_s, kind="stable")
    parts, slots = [], []
    for s in np.array_split(order, n_batches):
        parts.append(mm.advance(state, net, vehicle_id[s], ts_s[s], x_m[s], y_m[s], rules=rules))
        slots.append(len(state.st[0]))
    fixes, trav = mm.concat_fixes([p[0] for p in parts]), mm.concat_traversals([p[1] for p in parts])
    return fixes, trav, slots


def test_vehicles_gone_quiet_give_up_their_slots_and_come_back_as_if_kept(grid):
    """A taxi that left the cell frees its slot; nothing it decided or will decide changes."""
    rng = np.random.default_rng(5)
    speeds = rng.uniform(20, 50, len(grid.link_ids))
    start = 1_800_000_000.0
    before = drive(grid, speeds, 6, 900, seed=2, start_ts=start)
    others = drive(grid, speeds, 3, 3600, seed=3, start_ts=start)
    back = drive(grid, speeds, 6, 600, seed=4, start_ts=start + 2400)  # the same ids T0000.. again
    others_ids = np.array([f"W{v}" for v in others.vehicle_id], dtype=object)
    cols = [np.concatenate(c) for c in zip((before.vehicle_id, before.ts_s, before.x_m, before.y_m),
                                           (others_ids, others.ts_s, others.x_m, others.y_m),
                                           (back.vehicle_id, back.ts_s, back.x_m, back.y_m))]
    kept, forgetting = mm.new_state(), mm.new_state()
    keep_all = mm.MatchRules(forget_s=1e12)
    fixes_kept, trav_kept, slots_kept = _fold(kept, grid, *cols, rules=keep_all)
    fixes_forgot, trav_forgot, slots_forgot = _fold(forgetting, grid, *cols, rules=mm.MatchRules())
    assert min(slots_kept[10:]) >= 9  # never fewer slots than vehicles seen
    assert min(slots_forgot[10:]) == 3  # while the six were away, only the three others held slots
    assert len(forgetting.vehicle_of) == len(kept.vehicle_of) == 9  # and the six came back
    rest_kept, rest_forgot = mm.flush(kept, grid, keep_all), mm.flush(forgetting, grid)
    fixes_kept, fixes_forgot = mm.concat_fixes([fixes_kept, rest_kept[0]]), mm.concat_fixes([fixes_forgot, rest_forgot[0]])
    by_seq = lambda f: sorted(zip(f.seq.tolist(), f.vehicle_id.tolist(), f.link.tolist(), f.status.tolist()))
    assert by_seq(fixes_forgot) == by_seq(fixes_kept) and len(fixes_kept.seq) == len(cols[1])
    by_entry = lambda t: sorted(zip(t.vehicle_id.tolist(), t.link.tolist(), t.entry_ts_s.tolist(), t.exit_ts_s.tolist()))
    trav_kept = mm.concat_traversals([trav_kept, rest_kept[1]])
    trav_forgot = mm.concat_traversals([trav_forgot, rest_forgot[1]])
    assert by_entry(trav_forgot) == by_entry(trav_kept) and len(trav_kept.link) > 0


def test_forgetting_changes_nothing_for_a_backlog_uploaded_far_behind_the_cell(grid):
    """A taxi sending fixes 40 min old, batch after batch: forgetting changes none of its traversals.

    (The idle flush already decides its window every batch, since it is ``idle_s`` behind the
    cell; so it has nothing pending, and forgetting it between batches loses nothing more.)
    """
    rng = np.random.default_rng(6)
    speeds = rng.uniform(20, 50, len(grid.link_ids))
    start = 1_800_000_000.0
    live = drive(grid, speeds, 2, 1200, seed=7, start_ts=start + 2400)
    late = drive(grid, speeds, 1, 1200, seed=8, start_ts=start)
    late_ids = np.array([f"L{v}" for v in late.vehicle_id], dtype=object)
    n_batches = 30
    cols = [[], [], [], []]
    for part_live, part_late in zip(np.array_split(np.arange(len(live.ts_s)), n_batches),
                                    np.array_split(np.argsort(late.ts_s, kind="stable"), n_batches)):
        for c, a, b in zip(cols, (live.vehicle_id, live.ts_s, live.x_m, live.y_m),
                           (late_ids, late.ts_s, late.x_m, late.y_m)):
            c.append(np.concatenate([a[part_live], b[part_late]]))
    outs = []
    for rules in (mm.MatchRules(forget_s=1e12), mm.MatchRules()):
        state = mm.new_state(rules)
        parts = [mm.advance(state, grid, *(c[i] for c in cols), rules=rules) for i in range(n_batches)]
        parts.append(mm.flush(state, grid, rules))
        trav = mm.concat_traversals([p[1] for p in parts])
        outs.append(sorted(zip(trav.vehicle_id.tolist(), trav.link.tolist(), trav.entry_ts_s.tolist())))
    assert outs[1] == outs[0] and any(v.startswith("L") for v, _, _ in outs[0])


def test_forgetting_before_a_chain_can_end_is_refused():
    with pytest.raises(ValueError, match="forget_s"):
        mm.MatchRules(forget_s=100.0)


def test_heading_picks_the_direction_of_a_lone_fix(grid):
    fixes, _ = mm.match_trace(grid, ["v", "w"], [0.0, 0.0], [100.0, 100.0], [2.0, 2.0], [270.0, 90.0])
    assert fixes.link_id.tolist() == ["1,0>0,0", "0,0>1,0"]


def test_network_from_the_demo_city():
    from topis.city.generate import generate_city

    city = generate_city(seed=1, scale=0.3)
    net = mm.network_from_city(city, max_route_m=1500.0)
    assert sorted(net.link_ids.tolist()) == sorted(d["link_id"] for _, _, d in city.graph.edges(data=True))
    u, v = city.link(net.link_ids[0])
    a, b = city.graph.nodes[u], city.graph.nodes[v]
    x, y = net.proj.to_xy((a["lat"] + b["lat"]) / 2, (a["lon"] + b["lon"]) / 2)
    fixes, _ = mm.match_trace(net, ["v"], [0.0], [x], [y], [np.degrees(np.arctan2(b["x_m"] - a["x_m"], b["y_m"] - a["y_m"]))])
    assert fixes.link_id[0] == net.link_ids[0]
    np.testing.assert_allclose(fixes.along_m[0], net.length_m[0] / 2, atol=0.5)


def test_bad_input_is_refused(grid):
    with pytest.raises(ValueError, match="one value per fix"):
        mm.advance(mm.new_state(), grid, ["v"], [0.0, 1.0], [0.0], [0.0])
    with pytest.raises(ValueError, match="finite"):
        mm.advance(mm.new_state(), grid, ["v"], [np.nan], [0.0], [0.0])
    with pytest.raises(ValueError, match="lag_fixes"):
        mm.MatchRules(lag_fixes=0)
    with pytest.raises(ValueError, match="empty"):
        mm.build_network([], [], [], [])


def test_state_survives_a_json_checkpoint(grid):
    import msgspec

    rng = np.random.default_rng(6)
    tr = drive(grid, rng.uniform(20, 50, len(grid.link_ids)), 4, 600, seed=6)
    half = tr.ts_s < tr.ts_s.min() + 300
    cols = (tr.vehicle_id, tr.ts_s, tr.x_m, tr.y_m)
    straight = mm.new_state()
    mm.advance(straight, grid, *(c[half] for c in cols))
    saved = msgspec.json.encode(mm.snapshot(straight))
    resumed = mm.restore(msgspec.json.decode(saved, type=mm.MatchSnapshot))
    want = mm.advance(straight, grid, *(c[~half] for c in cols)), mm.flush(straight, grid)
    got = mm.advance(resumed, grid, *(c[~half] for c in cols)), mm.flush(resumed, grid)
    for (wf, wt), (gf, gt) in zip(want, got):
        assert np.array_equal(wf.seq, gf.seq) and np.array_equal(wf.link, gf.link)
        assert np.array_equal(wt.entry_ts_s, gt.entry_ts_s) and np.array_equal(wt.vehicle_id, gt.vehicle_id)
    assert len(want[0][1].link) > 0

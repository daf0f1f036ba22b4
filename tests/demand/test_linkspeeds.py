"""Link speeds on a two-link toy network, speeds worked out by hand.

L1 runs east from P0 (37.50, 127.00) to P1 (37.50, 127.01), official length
900 m; L2 runs north from P1 to P2 (37.51, 127.01), 1100 m. A fix at fraction
f of a link (linear in lat/lon, hence in the local projection) is f × length_m
along it. A bus stop sits at L2 f=0.5.
"""

from __future__ import annotations

import math
from pathlib import Path

import msgspec
import numpy as np
import pytest

from streams.traffic import linkspeeds as ls
from topis.schemas.inputs import BusPosition

T = 1_800_000_000.0  # a multiple of 300 s


def net():
    links = [
        ls.Link("L1", [(37.50, 127.00), (37.50, 127.01)], 900.0),
        ls.Link("L2", [(37.50, 127.01), (37.51, 127.01)], 1100.0),
    ]
    return ls.build_network(links, stops_lat_lon=[(37.505, 127.01)])


def on_l1(f):
    return 37.50, 127.00 + 0.01 * f


def on_l2(f):
    return 37.50 + 0.01 * f, 127.01


def fix(v, ts, ll):
    return BusPosition(vehicle_id=v, route_id="R", ts=ts, lat=ll[0], lon=ll[1])


def toy_fixes():
    return [
        # v1: 270 m, 360 m on L1, then 180 m on L1 + 220 m on L2 in 30 s (13.5 s / 16.5 s)
        fix("v1", T, on_l1(0.1)), fix("v1", T + 30, on_l1(0.4)), fix("v1", T + 60, on_l1(0.8)),
        fix("v1", T + 90, on_l2(0.2)),
        # two teleports: back to P0 in 5 s (1120 m), then to L2 f=0.5 in 25 s (1450 m)
        fix("v1", T + 95, on_l1(0.0)), fix("v1", T + 120, on_l2(0.5)),
        # v2: dwell at the stop (0.9 m sideways GPS wobble, dropped), then 220 m in 30 s on L2
        fix("v2", T, on_l2(0.5)), fix("v2", T + 30, (37.505, 127.01001)), fix("v2", T + 60, on_l2(0.7)),
        # v3: stands still mid-L1, away from any stop, for 60 s (0.9 m jitter): kept (queueing)
        fix("v3", T, on_l1(0.5)), fix("v3", T + 60, (37.50001, 127.005)),
        # v6: a frozen receiver repeating one position: dropped
        fix("v6", T, on_l1(0.7)), fix("v6", T + 30, on_l1(0.7)),
        # v4: 450 m on L1 with midpoint at T+305: next bin
        fix("v4", T + 290, on_l1(0.0)), fix("v4", T + 320, on_l1(0.5)),
        # v5: a fix 5 km away maps to no link
        fix("v5", T, on_l1(0.5)), fix("v5", T + 30, (37.55, 127.0)),
    ]


def by_key(speeds):
    return {(s.link_id, s.bin_start_ts): s for s in speeds}


def test_map_fixes_along_scaled_to_length():
    n = net()
    x, y = n.to_xy([on_l1(0.25)[0], on_l2(0.5)[0], 37.55], [on_l1(0.25)[1], on_l2(0.5)[1], 127.0])
    link, along = ls.map_fixes(n, x, y, 30.0)
    assert link.tolist() == [0, 1, -1]
    assert along[:2] == pytest.approx([225.0, 550.0], abs=0.01)
    assert math.isnan(along[2])


def test_hand_computed_speeds():
    n = net()
    state, out = ls.advance(ls.LinkSpeedState(), toy_fixes(), n)
    got = by_key(out + ls.flush(state, n))
    assert set(got) == {("L1", T), ("L2", T), ("L1", T + 300)}
    l1 = got[("L1", T)]
    # L1: (270 + 360 + 180) m over (30 + 30 + 13.5) s from v1, plus 0 m in 60 s from v3
    assert l1.speed_kph == pytest.approx(810 / 133.5 * 3.6, rel=1e-4)
    assert l1.n_probes == 2
    l2 = got[("L2", T)]
    # L2: 220 m in 16.5 s (v1) + 220 m in 30 s (v2)
    assert l2.speed_kph == pytest.approx(440 / 46.5 * 3.6, rel=1e-4)
    assert l2.n_probes == 2
    assert got[("L1", T + 300)].speed_kph == pytest.approx(450 / 30 * 3.6, rel=1e-4)
    assert state.pairs_dropped == {"teleport": 2, "dwell_at_stop": 1, "unmapped": 1, "frozen_position": 1}
    assert state.pairs_used == 6  # v1: 3, v2: 1, v3: 1, v4: 1


def test_streaming_matches_batch_and_waits_for_watermark():
    n = net()
    fixes = sorted(toy_fixes(), key=lambda f: f.ts)
    whole = ls.link_speeds(fixes, n)
    state = ls.LinkSpeedState()
    emitted = []
    for i in range(0, len(fixes), 4):
        state, out = ls.advance(state, fixes[i:i + 4], n)
        # a bin is only emitted once fixes 120 s past its end have arrived
        assert all(s.bin_start_ts + 300 + 120 <= state.watermark_ts for s in out)
        emitted += out
        state = msgspec.json.decode(msgspec.json.encode(state), type=ls.LinkSpeedState)
    emitted += ls.flush(state, n)
    assert by_key(emitted).keys() == by_key(whole).keys()
    for k, s in by_key(whole).items():
        assert by_key(emitted)[k].speed_kph == pytest.approx(s.speed_kph)


def test_merge_partitions():
    n = net()
    fixes = toy_fixes()
    a = ls.link_speeds([f for f in fixes if f.vehicle_id in ("v1", "v4")], n)
    b = ls.link_speeds([f for f in fixes if f.vehicle_id not in ("v1", "v4")], n)
    merged = by_key(ls.merge(a + b))
    whole = by_key(ls.link_speeds(fixes, n))
    assert merged.keys() == whole.keys()
    for k in whole:
        assert merged[k].speed_kph == pytest.approx(whole[k].speed_kph)
        assert merged[k].n_probes == whole[k].n_probes


def test_gap_and_duplicates_dropped():
    n = net()
    fixes = [fix("v", T, on_l1(0.1)), fix("v", T, on_l1(0.1)), fix("v", T + 400, on_l1(0.9))]
    state, _ = ls.advance(ls.LinkSpeedState(), fixes, n)
    assert state.pairs_dropped == {"time_gap": 2} and state.pairs_used == 0


def test_pair_distances_not_adjacent_is_nan():
    links = [
        ls.Link("a", [(37.5, 127.0), (37.5, 127.01)], 900.0),
        ls.Link("b", [(37.5, 127.01), (37.5, 127.02)], 900.0),
        ls.Link("c", [(37.5, 127.02), (37.5, 127.03)], 900.0),
    ]
    n = ls.build_network(links)
    d, first = ls.pair_distances(n, np.array([0, 0, 1]), np.array([800.0, 800.0, 100.0]),
                                 np.array([2, 1, 0]), np.array([100.0, 100.0, 800.0]))
    assert math.isnan(d[0])
    assert d[1] == pytest.approx(200.0) and first[1] == pytest.approx(100.0)
    assert d[2] == pytest.approx(200.0) and first[2] == pytest.approx(100.0)


def test_bad_link_table():
    with pytest.raises(ValueError, match="needs >= 2 vertices"):
        ls.build_network([ls.Link("x", [(37.5, 127.0)], 10.0)])


def test_two_way_road_tie_broken_by_heading():
    fwd = ls.Link("east", [(37.50, 127.00), (37.50, 127.01)], 900.0)
    back = ls.Link("west", [(37.50, 127.01), (37.50, 127.00)], 900.0)
    n = ls.build_network([fwd, back])
    x, y = n.to_xy([37.50, 37.50, 37.50], [127.002, 127.002, 127.002])
    link, along = ls.map_fixes(n, x, y, 30.0, np.array([88.0, 268.0, np.nan]))
    assert link.tolist() == [0, 1, 0]
    assert along.tolist() == pytest.approx([180.0, 720.0, 180.0], abs=0.01)
    # driving west at 36 km/h: 300 m in 30 s lands on the "west" link
    fixes = [BusPosition("w", "R", T, 37.5, 127.008, heading_deg=270.0),
             BusPosition("w", "R", T + 30, 37.5, 127.008 - 300 / 900 * 0.01, heading_deg=270.0)]
    (s,) = ls.link_speeds(fixes, n)
    assert s.link_id == "west" and s.speed_kph == pytest.approx(36.0, rel=1e-3)


def test_dwell_by_reported_speed_near_stop():
    n = net()
    # at the stop (L2 f=0.5) the bus reports 0 km/h while GPS noise moves it 22 m: dwell, dropped
    fixes = [BusPosition("d", "R", T, *on_l2(0.49), speed_kph=0.0),
             BusPosition("d", "R", T + 10, *on_l2(0.51), speed_kph=0.0),
             BusPosition("d", "R", T + 40, *on_l2(0.81), speed_kph=40.0)]
    state, _ = ls.advance(ls.LinkSpeedState(), fixes, n)
    # the departure pair also touches the dwelling fix: dropped too
    assert state.pairs_dropped == {"dwell_at_stop": 2} and state.pairs_used == 0
    # the same 0 km/h far from any stop is traffic: kept
    far = [BusPosition("q", "R", T, *on_l1(0.49), speed_kph=0.0), BusPosition("q", "R", T + 10, *on_l1(0.51), speed_kph=0.0)]
    state, _ = ls.advance(ls.LinkSpeedState(), far, n)
    assert state.pairs_used == 1


WMATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "avl" / "wmata_transitclock_2016"


@pytest.mark.parametrize("route, trace", [("5A", "5A_8062"), ("S2", "S2_2113")])
def test_real_trace_speeds_agree_with_straight_line_speeds(route, trace):
    """A real WMATA trace on stop-to-stop links from its GTFS shapes.

    Independent figure: straight-line distance over time of the trace's own
    consecutive fixes that are both within 30 m of a shape, 0 < gap <= 180 s,
    and at least 10 m apart. Along the road a bus covers a little more than
    the straight line, so the link speeds' overall space-mean speed must be
    at least that and not much more (5A express: 59 vs 53 km/h, S2: 15 vs 14).
    """
    if not WMATA.is_dir():
        pytest.skip(f"reference data absent: {WMATA}")
    import shapely

    from streams.bus.avl_files import read_avl
    from streams.bus.gtfs import load_feed
    from topis.geo import haversine_m

    feed = load_feed(WMATA / "gtfs" / route)
    fixes = read_avl(WMATA / "traces" / f"{trace}.csv", feed.tz)
    net = ls.build_network(ls.links_from_feed(feed), [(s.lat, s.lon) for s in feed.stops.values()])
    got = ls.link_speeds(fixes, net)
    overall_kph = sum(s.dist_m for s in got) / sum(s.time_s for s in got) * 3.6
    assert all(0 <= s.speed_kph < 130 and s.n_probes == 1 for s in got)

    shapes = [shapely.LineString(list(zip(sh.lon, sh.lat))) for sh in feed.shapes.values()]

    def on_route(f):
        pt = shapely.Point(f.lon, f.lat)
        return min(haversine_m(f.lat, f.lon, *reversed(line.interpolate(line.project(pt)).coords[0]))
                   for line in shapes) <= 30.0

    dist_m = time_s = 0.0
    fixes = sorted(fixes, key=lambda f: f.ts)
    for a, b in zip(fixes, fixes[1:]):
        d, dt = haversine_m(a.lat, a.lon, b.lat, b.lon), b.ts - a.ts
        if 0 < dt <= 180 and d >= 10 and on_route(a) and on_route(b):
            dist_m, time_s = dist_m + d, time_s + dt
    straight_kph = dist_m / time_s * 3.6
    assert straight_kph <= overall_kph <= 1.2 * straight_kph


def test_linkspeeds_command(tmp_path):
    from click.testing import CliRunner

    from streams.traffic.cli import linkspeeds

    links = tmp_path / "links.csv"
    links.write_text("link_id,length_m,wkt\n"
                     'L1,900,"LINESTRING (127.00 37.50, 127.01 37.50)"\n'
                     'L2,1100,"LINESTRING (127.01 37.50, 127.01 37.51)"\n')
    avl = tmp_path / "fixes.csv"
    rows = [f for f in toy_fixes() if f.vehicle_id in ("v1", "v4")]
    avl.write_text("vehicle_id,timestamp,lat,lon\n" + "".join(f"{f.vehicle_id},{f.ts},{f.lat},{f.lon}\n" for f in rows))
    out = tmp_path / "speeds.csv"
    res = CliRunner().invoke(linkspeeds, ["--avl", str(avl), "--links", str(links), "--out", str(out)])
    assert res.exit_code == 0, res.output
    import csv

    with out.open(newline="") as fh:
        got = {(r["link_id"], int(r["bin_start_ts"])): float(r["speed_kph"]) for r in csv.DictReader(fh)}
    # v1 alone on L1: 810 m in 73.5 s; on L2: 220 m in 16.5 s; v4 in the next bin: 450 m in 30 s
    assert got == pytest.approx({("L1", T): 810 / 73.5 * 3.6, ("L2", T): 48.0, ("L1", T + 300): 54.0}, abs=0.01)
    assert "teleport 2" in res.output
    bad = CliRunner().invoke(linkspeeds, ["--avl", str(avl), "--out", str(out)])
    assert bad.exit_code == 2 and "exactly one link source" in bad.output
    links.write_text("link_id,length_m,wkt\nL1,900,POINT (1 2)\n")
    bad = CliRunner().invoke(linkspeeds, ["--avl", str(avl), "--links", str(links), "--out", str(out)])
    assert bad.exit_code == 2 and "links.csv:2: wkt must be a LINESTRING" in bad.output


def test_linkspeeds_command_on_real_gtfs(tmp_path):
    if not WMATA.is_dir():
        pytest.skip(f"reference data absent: {WMATA}")
    from click.testing import CliRunner

    from streams.traffic.cli import linkspeeds

    out = tmp_path / "s.csv"
    res = CliRunner().invoke(linkspeeds, ["--avl", str(WMATA / "traces" / "5A_8062.csv"),
                                          "--gtfs", str(WMATA / "gtfs" / "5A"), "--out", str(out)])
    assert res.exit_code == 0, res.output
    first = out.read_text().splitlines()[1].split(",")
    # the trace starts 2016-05-05 10:45:09 Washington time: first bin 10:45 EDT
    assert first[1] == "2016-05-05T10:45:00-04:00" and first[2] == "1462459500"


def test_measure_link_speeds_agent_publishes_the_closed_bins_of_known_routes(tmp_path):
    from agent_fixtures import capture, run_agent, stream_app

    from streams.demand.taps import Pattern, RoutePatterns
    from streams.runtime.decode import DeadLetters
    from streams.traffic.agents import TrafficAgents
    from topis import wire
    from topis.schemas.inputs import PositionBatch
    from topis.schemas.traffic import LinkSpeed

    fixes = sorted(toy_fixes(), key=lambda f: f.ts) + [fix("v1", T + 800, on_l2(0.9))]  # watermark past bin T
    with stream_app(tmp_path) as (app, streams):
        agents = TrafficAgents(app, streams, RoutePatterns((Pattern("R", 0, ("S1",)),), {"S1": (37.5, 127.0)}), net(),
                               DeadLetters(app))
        sent = capture(agents.speeds)
        run_agent(app, "streams.traffic.agents.measure_link_speeds",
                  [(b"X", wire.encode(PositionBatch(fixes))), (b"R", b"garbage"), (b"R", wire.encode(PositionBatch(fixes)))])
    ((key, value),) = sent  # the unknown route X is skipped, the garbage batch too
    _, whole = ls.advance(ls.LinkSpeedState(), fixes, net())
    assert key == b"R" and wire.decode(value, list[LinkSpeed]) == whole and whole

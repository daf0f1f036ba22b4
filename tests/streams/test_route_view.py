"""The route read model: folding pipeline events, bus status, snapshots."""

import msgspec

from streams.bus import route_view
from streams.bus.headways import HeadwayParams
from streams.bus.matching import VehicleState
from streams.bus.pipeline import RouteState
from topis import wire
from topis.schemas.bus import BunchingAlert, HeadwayObservation, MatchedPosition
from topis.schemas.inputs import BusPosition

PARAMS = HeadwayParams(bunching_ratio=0.5, gapping_ratio=1.5)


def fix(vid, ts):
    return BusPosition(vid, "r", ts, 37.5, 127.0)


def matched(vid, ts, dist):
    return MatchedPosition(vid, "r", f"t-{vid}", 0, ts, dist, 37.5, 127.0, 3.0, 0.0)


def headway(vid, ratio):
    return HeadwayObservation("r", 0, "s1", vid, f"t-{vid}", "lead", "t-lead", 100.0, 600 * ratio, 600.0, ratio)


def live_with(vehicles):
    pipeline = RouteState("r")
    for vid, trip, off in vehicles:
        pipeline.vehicles[vid] = VehicleState(vid, trip_id=trip, off_route=off)
    return route_view.LiveRoute(pipeline)


def test_fold_keeps_newest_fix_and_marey_points_by_trip():
    view = route_view.RouteView()
    route_view.fold(view, [fix("a", 10), fix("a", 5)],
                    [matched("a", 10, 100.4), matched("a", 20, 180.0), matched("a", 40, 250.6)])
    assert view.last_fix["a"][0] == 10
    assert view.marey == {"t-a": [(10, 100), (40, 251)]}  # 20 s is within MAREY_STEP_S of 10 s
    assert view.clock_ts == 10


def test_marey_points_older_than_the_window_are_dropped():
    view = route_view.RouteView()
    route_view.fold(view, [fix("a", 0)], [matched("a", 0, 0)])
    later = route_view.MAREY_WINDOW_S + 1
    route_view.fold(view, [fix("a", later)], [matched("a", later, 10)])
    assert view.marey == {"t-a": [(round(later), 10)]}


def test_the_window_cut_matches_a_full_filter_on_many_trips_and_after_a_checkpoint():
    """The bisection cut keeps exactly the points a filter of every point keeps (tuples, or lists from JSON)."""
    import random

    import msgspec

    rng = random.Random(5)
    marey = {f"t{i}": [(ts, ts // 10) for ts in sorted(rng.sample(range(0, 20_000, 30), rng.randint(0, 40)))]
             for i in range(60)}
    for oldest in (-1, 0, 5_000, 12_345, 19_990, 30_000):
        want = {t: [p for p in pts if p[0] >= oldest] for t, pts in marey.items()}
        want = {t: pts for t, pts in want.items() if pts}
        for copy in ({t: list(pts) for t, pts in marey.items()}, msgspec.json.decode(msgspec.json.encode(marey))):
            route_view._trim_marey(copy, oldest)
            assert {t: [tuple(p) for p in pts] for t, pts in copy.items()} == want


def test_alerts_are_capped_newest_kept():
    view = route_view.RouteView()
    alerts = [BunchingAlert(headway(f"v{i}", 0.2), 0.5, False, None) for i in range(route_view.MAX_ALERTS + 5)]
    route_view.fold(view, [], alerts)
    assert len(view.alerts) == route_view.MAX_ALERTS
    assert view.alerts[-1].observation.vehicle_id == f"v{route_view.MAX_ALERTS + 4}"


def test_status_of_each_kind():
    live = live_with([("ok", "t", 0), ("bun", "t", 0), ("gap", "t", 0), ("off", "t", 2), ("none", None, 0),
                      ("old", "t", 0)])
    now = 1000.0
    fixes = [fix(v, now) for v in ("ok", "bun", "gap", "off", "none")] + [fix("old", now - route_view.STALE_GPS_S - 1)]
    route_view.fold(live.view, fixes, [headway("ok", 1.0), headway("bun", 0.3), headway("gap", 1.8)])
    got = {v: route_view.status_of(v, live.view, live.pipeline, PARAMS) for v in live.view.last_fix}
    assert got == {"ok": "on_headway", "bun": "bunched", "gap": "gapped", "off": "off_route", "none": "unassigned",
                   "old": "stale_gps"}


def test_snapshot_is_json_ready_and_next_arrivals_sorted():
    live = live_with([("a", "t", 0), ("b", "t", 0)])
    route_view.fold(live.view, [fix("a", 100), fix("b", 100)], [matched("a", 100, 5)])
    live.pipeline.predicted = {"a": {"0|s2": 400.0, "0|s1": 50.0}, "b": {"0|s2": 300.0}}
    snap = route_view.snapshot("r", live, PARAMS, published_ts=1.0)
    assert [v.vehicle_id for v in snap.vehicles] == ["a", "b"]
    assert snap.vehicles[0].dist_m == 5
    assert snap.next_arrivals == {"0|s2": [("b", 300.0), ("a", 400.0)]}  # s1 at 50 s is in the past
    as_json = msgspec.json.decode(wire.encode(snap))  # what the dashboard reads
    assert [v["vehicle_id"] for v in as_json["vehicles"]] == ["a", "b"] and as_json["vehicles"][0]["dist_m"] == 5
    assert as_json["next_arrivals"] == {"0|s2": [["b", 300.0], ["a", 400.0]]}


def test_next_arrivals_keep_the_soonest_few_per_stop_in_whole_seconds():
    route = RouteState("r")
    route.predicted = {f"v{i}": {"0|s": 1000.0 + 60 * (5 - i) + 0.4} for i in range(5)}
    got = route_view.next_arrivals(route, now_ts=0.0, per_stop=3)
    assert got == {"0|s": [("v4", 1060), ("v3", 1120), ("v2", 1180)]}


def test_marey_update_sends_all_points_then_only_the_new_ones():
    live = live_with([("a", "t-a", 0), ("b", "t-b", 0)])
    route_view.fold(live.view, [], [matched("a", 0, 0), matched("b", 0, 10), matched("a", 60, 300)])
    full, sent = route_view.marey_update(live.view.marey, None)
    assert full == {"t-a": [(0, 0), (60, 300)], "t-b": [(0, 10)]} and sent == {"t-a": 60, "t-b": 0}
    route_view.fold(live.view, [], [matched("a", 120, 600), matched("c", 120, 5)])
    added, sent = route_view.marey_update(live.view.marey, sent)
    assert added == {"t-a": [(120, 600)], "t-c": [(120, 5)]} and sent == {"t-a": 120, "t-b": 0, "t-c": 120}
    assert route_view.marey_update(live.view.marey, sent)[0] == {}  # nothing new: nothing sent
    snap = route_view.snapshot("r", live, PARAMS, 1.0, marey=added, marey_full=False)
    assert snap.marey == added and snap.marey_full is False


def test_emitted_splits_predictions_into_rounds_and_drops_matched_positions():
    from topis.schemas.bus import Prediction, predictions_of

    p = Prediction("a", "r", "t", "s", 1, 0.0, 60.0)
    published, rounds = route_view.emitted([matched("a", 1, 1), headway("a", 1.0), p])
    assert predictions_of(rounds) == [p] and len(published) == 1


def test_blocks_of_fixes_that_say_their_block():
    assert route_view.blocks_of([fix("a", 1)]) is None
    with_block = msgspec.structs.replace(fix("b", 1), block_id="B7")
    assert route_view.blocks_of([fix("a", 1), with_block]) == {"b": "B7"}

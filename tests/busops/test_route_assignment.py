"""Route assignment of fixes with no route, on a hand-made three-route feed.

Geometry (metres east/north of stop A, as in busops_fixtures):

* R1 ("east"): y = 0 from x = -100 to 2100; trip E1 leaves A at 08:00, 5 m/s.
* R2 ("north"): along R1 from x = 0 to 1000, then north along x = 1000 up to y = 1500;
  trip N1 leaves A at 08:00, 5 m/s (so on the shared part it runs exactly like E1).
* R3 ("par"): a road parallel to R1, 70 m north of it; trip P1 leaves at 08:00.
Service WK runs Monday-Friday of 2026; DAY (2026-03-02) is a Monday.
"""

from __future__ import annotations

import msgspec
import pytest
from busops_fixtures import at, fix, lonlat

from streams.bus.gtfs import load_feed
from streams.bus.route_assignment import (
    AssignmentState,
    VehicleRoute,
    assign_route,
    assign_routes,
    declared_route,
    forget_vehicles,
    place_fixes,
    route_index,
    unrouted_counter,
)


def _write(folder, name, header, rows):
    (folder / name).write_text("\n".join([header, *rows]) + "\n")


@pytest.fixture(scope="module")
def feed(tmp_path_factory):
    d = tmp_path_factory.mktemp("three_routes")
    _write(d, "agency.txt", "agency_id,agency_name,agency_url,agency_timezone", ["1,T,http://example.org,Asia/Seoul"])
    stops = {"A": (0, 5), "C": (1000, 5), "E": (2000, 5), "N1": (1005, 750), "N2": (1005, 1500),
             "PA": (0, 75), "PE": (2000, 75)}
    _write(d, "stops.txt", "stop_id,stop_name,stop_lat,stop_lon",
           [f"{s},{s},{lonlat(x, y)[0]:.7f},{lonlat(x, y)[1]:.7f}" for s, (x, y) in stops.items()])
    _write(d, "routes.txt", "route_id,route_short_name,route_long_name,route_type",
           ["R1,1,East,3", "R2,2,North,3", "R3,3,Parallel,3"])
    _write(d, "calendar.txt", "service_id,monday,tuesday,wednesday,thursday,friday,saturday,sunday,start_date,end_date",
           ["WK,1,1,1,1,1,0,0,20260101,20261231"])
    _write(d, "trips.txt", "route_id,service_id,trip_id,direction_id,block_id,shape_id",
           ["R1,WK,E1,0,BE,east", "R2,WK,N1,0,BN,north", "R3,WK,P1,0,BP,par", "R1,WK,E9,0,BX,east",
            "R3,WK,P9,0,BX,par"])
    times = {"E1": [("A", 0), ("C", 200), ("E", 400)], "N1": [("A", 0), ("C", 200), ("N1", 350), ("N2", 500)],
             "P1": [("PA", 0), ("PE", 400)], "E9": [("A", 3600), ("E", 4000)], "P9": [("PA", 7200), ("PE", 7600)]}
    rows = []
    for trip, seq in times.items():
        for k, (stop, s) in enumerate(seq):
            t = 8 * 3600 + s
            hms = f"{t // 3600:02d}:{t % 3600 // 60:02d}:{t % 60:02d}"
            rows.append(f"{trip},{hms},{hms},{stop},{k + 1}")
    _write(d, "stop_times.txt", "trip_id,arrival_time,departure_time,stop_id,stop_sequence", rows)
    pts = {"east": [(x, 0) for x in range(-100, 2101, 100)],
           "north": [(x, 0) for x in range(0, 1001, 100)] + [(1000, y) for y in range(100, 1501, 100)],
           "par": [(x, 70) for x in range(-100, 2101, 100)]}
    shape_rows = [f"{name},{lonlat(x, y)[0]:.7f},{lonlat(x, y)[1]:.7f},{k}"
                  for name, xy in pts.items() for k, (x, y) in enumerate(xy)]
    _write(d, "shapes.txt", "shape_id,shape_pt_lat,shape_pt_lon,shape_pt_sequence", shape_rows)
    return load_feed(d)


@pytest.fixture(scope="module")
def index(feed):
    return route_index(feed)


def test_index_maps_routes_and_shapes(index):
    assert index.shapes_by_route == {"R1": ("east",), "R2": ("north",), "R3": ("par",)}
    assert index.routes_by_shape["east"] == ("R1",)


def test_declared_route_trip_and_block(feed):
    assert declared_route(feed, fix(0, at(8, 0), route="R2")) == "R2"
    assert declared_route(feed, fix(0, at(8, 0), route="", trip="N1")) == "R2"
    block = msgspec.structs.replace(fix(0, at(8, 0), route=""), block_id="BP")
    assert declared_route(feed, block) == "R3"
    assert declared_route(feed, fix(0, at(8, 0), route="", vehicle="v7"), blocks={"v7": "BE"}) == "R1"
    shared = msgspec.structs.replace(fix(0, at(8, 0), route=""), block_id="BX")  # a block over two routes
    assert declared_route(feed, shared) is None
    assert declared_route(feed, fix(0, at(8, 0), route="999")) is None


def test_shared_corridor_then_the_split_decides(feed, index):
    """On the shared part R1 and R2 tie (same offsets, same schedule): R1 by name; after the turn north
    only R2 is near, and the bus is placed there."""
    state = AssignmentState()
    path = [(250, 0, at(8, 0, 50)), (750, 0, at(8, 2, 30)), (1000, 200, at(8, 4, 0)), (1000, 450, at(8, 4, 50)),
            (1000, 700, at(8, 5, 40))]
    got = [assign_route(feed, index, state, fix(x, ts, route="", y_m=y)) for x, y, ts in path]
    assert got == ["R1", "R1", "R2", "R2", "R2"]
    assert (state.routed, state.unmatched) == (5, 0)


def test_nearest_over_recent_fixes_not_the_last_fix_alone(feed, index):
    """A bus 10 m north of R1 (R3 is 60 m away); one noisy fix 45 m north is nearer R3 (25 m) than R1 (45 m),
    but the mean over its recent fixes (R1 18.75 m, R3 51.25 m) keeps it on R1."""
    state = AssignmentState()
    ys = [10, 10, 10, 45]
    got = [assign_route(feed, index, state, fix(200 + 150 * k, at(8, 0, 40 + 30 * k), route="", y_m=y))
           for k, y in enumerate(ys)]
    assert got == ["R1"] * 4
    alone = AssignmentState()  # the same noisy fix with no history goes to R3
    assert assign_route(feed, index, alone, fix(650, at(8, 2, 10), route="", y_m=45)) == "R3"


def test_tie_keeps_the_vehicles_route(feed, index):
    """35 m north of R1 (and of R2 on the shared part), 35 m south of R3: all three tie, and a vehicle
    keeps the route it had, whichever it is; a vehicle with none gets one of them."""
    fresh = AssignmentState()
    assert assign_route(feed, index, fresh, fix(400, at(8, 1, 20), route="", y_m=35)) in {"R1", "R2", "R3"}
    for route in ("R1", "R2", "R3"):
        state = AssignmentState(vehicles={"v1": VehicleRoute(route_id=route)})
        assert assign_route(feed, index, state, fix(400, at(8, 1, 20), route="", y_m=35)) == route
    far = AssignmentState(vehicles={"v1": VehicleRoute(route_id="R3")})  # 10 m north of R1: R3 (60 m) is out
    assert assign_route(feed, index, far, fix(400, at(8, 1, 20), route="", y_m=10)) in {"R1", "R2"}


def test_unmatched_fixes_are_counted(feed, index):
    state = AssignmentState()
    assert assign_route(feed, index, state, fix(500, at(8, 1), route="", y_m=900)) is None  # far from every shape
    assert assign_route(feed, index, state, fix(500, at(3, 0), route="", vehicle="v2")) is None  # no trip at 03:00
    assert (state.routed, state.unmatched) == (0, 2)


def test_out_of_order_fix_keeps_the_route_and_memory(feed, index):
    state = AssignmentState()
    assert assign_route(feed, index, state, fix(1000, at(8, 4, 0), route="", y_m=200)) == "R2"
    memory = list(state.vehicles["v1"].recent)
    assert assign_route(feed, index, state, fix(250, at(8, 0, 50), route="")) == "R2"  # older: not re-judged
    assert state.vehicles["v1"].recent == memory


def test_batch_is_rekeyed_by_route(feed, index):
    state = AssignmentState()
    fixes = [fix(1000, at(8, 4, 0), route="", y_m=200, vehicle="a"), fix(300, at(8, 1, 0), route="", vehicle="b",
                                                                        trip="P1"),
             fix(0, at(8, 0), route="", y_m=900, vehicle="c")]
    routed, unmatched = assign_routes(feed, index, state, fixes, blocks={"a": "BN"})
    assert {r: [(f.vehicle_id, f.route_id, f.block_id) for f in fs] for r, fs in routed.items()} == {
        "R3": [("b", "R3", None)], "R2": [("a", "R2", "BN")]}
    assert [f.vehicle_id for f in unmatched] == ["c"]
    assert forget_vehicles(state, at(8, 2)) == ["c"]  # a, b placed by block / trip: nothing remembered


def test_place_fixes_counts_the_unmatched_per_minute(feed, index):
    state = AssignmentState()
    fixes = [fix(250, at(8, 0, 50), route="", vehicle="a"), fix(0, at(8, 0, 10), route="", y_m=900, vehicle="c"),
             fix(0, at(8, 1, 10), route="", y_m=900, vehicle="c")]
    placed = place_fixes(feed, index, state, fixes)
    assert {r: [f.vehicle_id for f in fs] for r, fs in placed.items()} in ({"R1": ["a"]}, {"R2": ["a"]})
    minute = int(at(8, 0) // 60 * 60)
    assert state.unmatched_per_minute == {str(minute): 1, str(minute + 60): 1}
    assert (state.routed, state.unmatched) == (1, 2)


def test_unrouted_counter_is_the_read_model_json_and_forgets_silent_vehicles(feed, index):
    from topis import wire

    state = AssignmentState()
    place_fixes(feed, index, state, [fix(0, at(8, 0), route="", y_m=900, vehicle="c"),
                                     fix(250, at(9, 0), route="", vehicle="a")])
    message = unrouted_counter("", state, forget_s=1800, received_ts=5.0)
    assert set(state.vehicles) == {"a"}  # c was last heard an hour before the newest fix
    assert msgspec.json.decode(wire.encode(message)) == {"snapshots": [
        {"kind": "unrouted", "key": "", "per_minute": {str(int(at(8, 0))): 1}, "last_event_ts": at(9, 0),
         "received_ts": 5.0, "dead_letters": 0, "routed": 1, "unmatched": 1}]}


@pytest.mark.parametrize("route,trace", [("S2", "S2_2113"), ("5A", "5A_8062"), ("3T", "3T_3757")])
def test_real_trace_without_block_is_placed_by_geometry(wmata, route, trace):
    """WMATA fixes stripped of their block: every fix the block-aware matcher put on a trip is placed on the
    trace's route by geometry alone, and no fix on another route; with the blocks, every fix is placed."""
    from streams.bus import replay
    from streams.bus.avl_files import block_assignments, read_transitclock_csv
    from streams.bus.pipeline import run
    from topis.schemas.bus import MatchedPosition

    feed = load_feed(wmata / "gtfs" / route)
    path = wmata / "traces" / f"{trace}.csv"
    fixes = read_transitclock_csv(path, feed.tz)
    on_trip = {e.ts for e in run(feed, fixes).of(MatchedPosition)}
    bare = [msgspec.structs.replace(f, block_id=None, route_id="", trip_id=None) for f in fixes]
    placed = replay.assign_routes(feed, bare, None)
    assert {f.route_id for f in placed.fixes} == {route}
    assert on_trip <= {f.ts for f in placed.fixes} and len(on_trip) >= 30
    assert placed.unrouted == len(fixes) - len(placed.fixes)
    with_blocks = replay.assign_routes(feed, fixes, block_assignments(path))
    assert (len(with_blocks.fixes), with_blocks.unrouted) == (len(fixes), 0)


def test_shape_offsets_by_hand():
    """An L-shaped polyline (0,0) → (100,0) → (100,100); a one-point shape at (0,0)."""
    import numpy as np

    from streams.bus.gtfs import Shape
    from streams.bus.route_assignment import shape_offsets_m

    ell = Shape("L", np.array([0.0, 100.0, 100.0]), np.array([0.0, 0.0, 100.0]), np.array([0.0, 100.0, 200.0]),
                np.zeros(3), np.zeros(3))
    got = shape_offsets_m(ell, np.array([50.0, 150.0, -30.0, 100.0]), np.array([10.0, 50.0, -40.0, 100.0]))
    assert got == pytest.approx([10.0, 50.0, 50.0, 0.0])
    dot = Shape("P", np.zeros(1), np.zeros(1), np.zeros(1), np.zeros(1), np.zeros(1))
    assert shape_offsets_m(dot, np.array([3.0]), np.array([4.0])) == pytest.approx([5.0])

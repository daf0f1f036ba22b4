import numpy as np
import pytest
from busops_fixtures import at, fix

from streams.bus.matching import VehicleState, match_fix
from streams.bus.pipeline import run
from topis.schemas.bus import MatchedPosition, StopArrival, StopDeparture


def eastbound(noise_m: float = 0.0, seed: int = 0, stop_at_end: bool = False):
    """Bus waits at A 07:58-08:00, then runs east at 5 m/s; a fix every 30 s until 08:07."""
    rng = np.random.default_rng(seed)
    out = []
    for k in range(19):
        ts = at(7, 58) + 30 * k
        x = max(0.0, 5.0 * (ts - at(8, 0)))
        if stop_at_end:
            x = min(x, 2000.0)
        out.append(fix(x + rng.normal(0, noise_m) if noise_m else x, ts,
                       y_m=rng.normal(0, noise_m) if noise_m else 0.0))
    return out


def replay(feed, fixes, state=None):
    state = state or VehicleState("v1")
    events = []
    for f in fixes:
        events.extend(match_fix(feed, state, f))
    return state, events


def arrivals(events):
    return {(e.trip_id, e.stop_id): e.ts for e in events if isinstance(e, StopArrival)}


def test_arrivals_interpolated_between_fixes(tiny_feed):
    state, events = replay(tiny_feed, eastbound())
    got = arrivals(events)
    # A: waiting there from 07:58 (layover), in service from its scheduled 08:00 departure;
    # B..E reached at 5 m/s from 08:00, i.e. every 100 s
    assert got[("E1", "A")] == at(8, 0)
    for k, stop in enumerate("BCDE", start=1):
        assert got[("E1", stop)] == pytest.approx(at(8, 0) + 100 * k, abs=0.01)
    deps = {e.stop_id: e for e in events if isinstance(e, StopDeparture)}
    # leaving A = passing 60 m beyond it (layover jitter margin): 08:00:12; dwell = 12 s
    assert deps["A"].ts == pytest.approx(at(8, 0, 12)) and deps["A"].dwell_s == pytest.approx(12)
    assert deps["B"].ts == pytest.approx(at(8, 1, 45))  # 25 m past B
    assert state.trip_id is None  # completed at E
    assert all(e.layover for e in events if isinstance(e, MatchedPosition) and e.ts < at(8, 0))


def test_noise_keeps_arrivals_close(tiny_feed):
    _, events = replay(tiny_feed, eastbound(noise_m=10.0, seed=3))
    got = arrivals(events)
    for k, stop in enumerate("BCDE", start=1):
        assert abs(got[("E1", stop)] - (at(8, 0) + 100 * k)) < 8.0  # 10 m noise at 5 m/s


def test_duplicates_and_out_of_order_are_dropped(tiny_feed):
    clean = eastbound()
    messy = clean[:8] + [clean[7], clean[5]] + clean[8:12] + [clean[3]] + clean[12:]
    state, events = replay(tiny_feed, messy)
    assert arrivals(events) == arrivals(replay(tiny_feed, clean)[1])
    assert state.dropped_stale == 3
    assert len([e for e in events if isinstance(e, StopArrival)]) == 5  # no stop twice


def test_gps_spike_is_ignored(tiny_feed):
    clean = eastbound()
    spiked = clean[:10] + [fix(1900.0, clean[10].ts - 15)] + clean[10:]
    state, events = replay(tiny_feed, spiked)
    assert state.dropped_outlier == 1
    assert arrivals(events) == arrivals(replay(tiny_feed, clean)[1])


@pytest.mark.parametrize("heading,trip", [(270.0, "W1"), (90.0, "E2")])
def test_heading_picks_direction(tiny_feed, heading, trip):
    # at C at 08:13:20 both E2 (eastbound) and W1 (westbound) are due: the heading decides
    state, events = replay(tiny_feed, [fix(1000.0, at(8, 13, 20), heading=heading)])
    assert state.trip_id == trip


def test_motion_picks_direction_when_heading_missing(tiny_feed):
    # first seen at E before W1 leaves (layover), then moving west
    fixes = [fix(2000.0, at(8, 9)), fix(2000.0, at(8, 10)), fix(1850.0, at(8, 10, 30))]
    state, events = replay(tiny_feed, fixes)
    assert state.trip_id == "W1"


def test_off_route_fix_matches_nothing(tiny_feed):
    state, events = replay(tiny_feed, [fix(800.0, at(8, 2), y_m=500.0)])
    assert events == [] and state.trip_id is None


def test_block_continues_on_next_trip_after_layover(tiny_feed):
    fixes = eastbound(stop_at_end=True)
    fixes += [fix(2000.0, at(8, 7, 30) + 30 * k) for k in range(5)]  # layover at E
    fixes += [fix(2000.0 - 5.0 * (at(8, 10) + 30 * k - at(8, 10)), at(8, 10) + 30 * k) for k in range(1, 8)]
    state = VehicleState("v1", block_id="B1")
    _, events = replay(tiny_feed, fixes, state)
    got = arrivals(events)
    assert got[("E1", "E")] == pytest.approx(at(8, 7))  # the bus stopped at E: reached it at 08:07:00
    assert got[("W1", "D")] == pytest.approx(at(8, 11, 40))
    assert got[("W1", "C")] == pytest.approx(at(8, 13, 20))
    assert state.trip_id == "W1"


def test_unassigned_fixes_are_routed_and_matched(tiny_feed):
    fixes = [f.__class__(**{**{k: getattr(f, k) for k in f.__struct_fields__}, "route_id": ""})
             for f in eastbound()]
    res = run(tiny_feed, fixes)
    assert res.unrouted == 0
    got = arrivals(res.events)
    assert got[("E1", "C")] == pytest.approx(at(8, 3, 20))


@pytest.mark.parametrize("speed_mps", [2.0, 5.0])
def test_wrong_direction_is_corrected(tiny_feed, speed_mps):
    # first seen at C with no heading: E2 and W1 are both due there and E2 wins the tie; the bus
    # then drives west, so the matcher must switch to W1 and report W1's stops
    fixes = [fix(1000.0 - speed_mps * 30 * k, at(8, 13, 20) + 30 * k) for k in range(int(700 // (speed_mps * 30)) + 1)]
    state, events = replay(tiny_feed, fixes)
    assert state.trip_id == "W1"
    got = arrivals(events)
    assert got[("W1", "B")] == pytest.approx(at(8, 13, 20) + 500 / speed_mps, abs=0.01)
    assert not any(trip == "E2" and stop in "DE" for trip, stop in got)


def test_signed_on_trip_is_preferred_but_not_blindly(tiny_feed):
    # at C at 08:13:20 with no heading, E2 and W1 tie: the unit's own trip W1 wins
    state, _ = replay(tiny_feed, [fix(1000.0, at(8, 13, 20), trip="W1")])
    assert state.trip_id == "W1"
    # signed on to E3 (due at C at 08:23:20) while the bus is at C at 08:03:20: E1 fits far better
    state, _ = replay(tiny_feed, [fix(1000.0, at(8, 3, 20), trip="E3", heading=90.0)])
    assert state.trip_id == "E1"


def test_unit_signing_on_to_the_next_trip_is_followed(tiny_feed):
    # mid-route on E2 the unit signs on to E3 (a later trip on the same road): the bus follows the sign
    fixes = [fix(500.0 + 50.0 * k, at(8, 11, 40) + 10 * k, trip="E2") for k in range(3)]
    fixes.append(fix(700.0, at(8, 12, 20), trip="E3"))
    state, _ = replay(tiny_feed, fixes)
    assert state.trip_id == "E3"
    # signed on to a trip that cannot be where the bus is (W1 has not left E yet): ignored
    state, _ = replay(tiny_feed, fixes[:3] + [fix(700.0, at(8, 12, 20), trip="W1", heading=90.0)])
    assert state.trip_id == "E2"


def test_after_a_trip_the_next_of_its_block_is_preferred(tiny_feed):
    # E1 (block B1) ends at E at 08:06:40; at E from 08:07 the bus could start W1 (B1, 08:10)
    fixes = eastbound(stop_at_end=True) + [fix(2000.0, at(8, 7, 30) + 30 * k) for k in range(3)]
    state, _ = replay(tiny_feed, fixes)
    assert state.last_block == "B1" and state.trip_id == "W1"


def test_late_bus_at_first_stop_is_in_service_when_it_shows_up(tiny_feed):
    # E2 is due to leave A at 08:10; the bus shows up there at 08:12 and leaves at once
    fixes = [fix(0.0, at(8, 12)), fix(150.0, at(8, 12, 30))]
    _, events = replay(tiny_feed, fixes)
    assert arrivals(events)[("E2", "A")] == at(8, 12)
    # one that leaves early (08:09:00) is in service from when it left, not from 08:10
    fixes = [fix(0.0, at(8, 5)), fix(0.0, at(8, 8, 30)), fix(150.0, at(8, 9, 0))]
    _, events = replay(tiny_feed, fixes)
    assert arrivals(events)[("E2", "A")] == pytest.approx(at(8, 8, 42))  # passes 60 m at 08:08:42


def test_bus_pulling_in_to_the_first_stop_is_in_service_at_departure_time(tiny_feed):
    # E1's shape starts 100 m before A: the bus pulls in at 07:58, waits, and is in service from 08:00
    fixes = [fix(-80.0, at(7, 57, 30)), fix(0.0, at(7, 58)), fix(0.0, at(7, 59)), fix(0.0, at(8, 0, 30)),
             fix(150.0, at(8, 1))]
    _, events = replay(tiny_feed, fixes)
    arr = [e for e in events if isinstance(e, StopArrival) and e.stop_id == "A"]
    assert len(arr) == 1 and arr[0].ts == at(8, 0)

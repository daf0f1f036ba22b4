"""Replay real WMATA traces through the offline pipeline; check against figures computed here
from the raw files (csv + haversine), independently of the code under test."""

import csv
import datetime as dt
import math
from zoneinfo import ZoneInfo

import pytest

from streams.bus.accuracy import ground_truth, read_transitclock_predictions, score
from streams.bus.avl_files import read_transitclock_csv
from streams.bus.cli import common_pairs
from streams.bus.gtfs import load_feed
from streams.bus.pipeline import run
from topis.schemas.bus import Prediction, StopArrival

NY = ZoneInfo("America/New_York")


def _rows(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def _haversine_m(lat1, lon1, lat2, lon2):
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    return 2 * 6_371_000 * math.asin(math.sqrt(a))


def _local(text):
    return dt.datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=NY).timestamp()


def _schedule(gtfs, trip_id, day):
    base = dt.datetime(day.year, day.month, day.day, 12, tzinfo=NY).timestamp() - 43200
    out = {}
    for r in _rows(gtfs / "stop_times.txt"):
        if r["trip_id"] == trip_id:
            h, m, s = map(int, r["arrival_time"].split(":"))
            out[int(r["stop_sequence"])] = (r["stop_id"], base + h * 3600 + m * 60 + s)
    return out


@pytest.fixture(scope="module")
def s2(wmata):
    feed = load_feed(wmata / "gtfs" / "S2")
    trace = wmata / "traces" / "S2_2113.csv"
    return wmata, feed, run(feed, read_transitclock_csv(trace, feed.tz))  # blocks ride on the fixes


def test_s2_trip_and_stop_visits_match_the_schedule(s2):
    wmata, feed, res = s2
    gtfs = wmata / "gtfs" / "S2"
    raw = _rows(wmata / "traces" / "S2_2113.csv")
    first_ts, last_ts = _local(raw[0]["time"]), _local(raw[-1]["time"])
    # independently: block NS-26 trips whose service runs on 2016-04-29 (calendar_dates) and whose
    # scheduled span overlaps the trace: exactly one, 877611130
    services = {r["service_id"] for r in _rows(gtfs / "calendar_dates.txt")
                if r["date"] == "20160429" and r["exception_type"] == "1"}
    block_trips = [r["trip_id"] for r in _rows(gtfs / "trips.txt")
                   if r["block_id"] == raw[0]["assignmentId"] and r["service_id"] in services]
    day = dt.date(2016, 4, 29)
    overlapping = [t for t in block_trips
                   if min(v[1] for v in _schedule(gtfs, t, day).values()) <= last_ts
                   and max(v[1] for v in _schedule(gtfs, t, day).values()) >= first_ts]
    assert overlapping == ["877611130"]
    sched = _schedule(gtfs, "877611130", day)
    arrivals = res.of(StopArrival)
    assert {a.trip_id for a in arrivals} == {"877611130"}
    # the bus is seen from 08:23:52: it visits every stop scheduled from then on, through the last one
    expected = sorted(seq for seq, (_, t) in sched.items() if t >= first_ts)
    assert [a.stop_sequence for a in arrivals] == expected and len(expected) == 27
    for a in arrivals:
        assert a.stop_id == sched[a.stop_sequence][0]
        assert abs(a.ts - sched[a.stop_sequence][1]) < 300  # this bus ran within 5 min of its timetable
    assert all(b.ts >= a.ts for a, b in zip(arrivals, arrivals[1:]))


def test_s2_last_stop_arrival_matches_the_raw_fixes(s2):
    wmata, feed, res = s2
    stop = next(r for r in _rows(wmata / "gtfs" / "S2" / "stops.txt") if r["stop_id"] == "5932")
    raw = _rows(wmata / "traces" / "S2_2113.csv")
    near = [_local(r["time"]) for r in raw
            if _haversine_m(float(r["latitude"]), float(r["longitude"]),
                            float(stop["stop_lat"]), float(stop["stop_lon"])) < 40]
    last = next(a for a in res.of(StopArrival) if a.stop_id == "5932")
    assert near and abs(last.ts - near[0]) <= 40


def test_s2_topis_at_least_as_accurate_as_transitclock(s2):
    wmata, feed, res = s2
    truth = ground_truth(res.of(StopArrival))
    theirs = read_transitclock_predictions(wmata / "transitclock_predictions" / "S2_2113.csv", feed.tz)
    raw_ts = [_local(r["time"]) for r in _rows(wmata / "traces" / "S2_2113.csv")]
    theirs, ours = common_pairs(theirs, res.of(Prediction), raw_ts)
    assert len(theirs) == len(ours) > 400
    assert score(ours, truth).score >= score(theirs, truth).score


@pytest.mark.parametrize("route,trace", [("3T", "3T_3757"), ("5A", "5A_8062")])
def test_other_traces_arrive_near_schedule(wmata, route, trace):
    feed = load_feed(wmata / "gtfs" / route)
    path = wmata / "traces" / f"{trace}.csv"
    res = run(feed, read_transitclock_csv(path, feed.tz))
    arrivals = res.of(StopArrival)
    assert len(arrivals) >= 5
    block = _rows(path)[0]["assignmentId"]
    trips = {r["trip_id"]: r["block_id"] for r in _rows(wmata / "gtfs" / route / "trips.txt")}
    assert {trips[a.trip_id] for a in arrivals} == {block}
    assert all(abs(a.ts - a.scheduled_ts) < 900 for a in arrivals)

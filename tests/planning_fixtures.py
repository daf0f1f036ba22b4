"""A hand-made network and demand for the live-planning tests (optimizer_plans, streams).

Stops A, B, C on a line ~880 m apart. LP1 runs A-B-C and back (20 min a trip),
LP2 A-B and back (15 min), both every 10 min in the hours given; N9 runs A-C and
back at 01:00 and 01:30 (20 min). ``SQUIRREL`` and ``OWL`` are the demand
aggregates the tests publish, with numbers small enough to check by hand.
"""

from __future__ import annotations

from topis.schemas.demand import ODMatrix, OwlInput, SegmentLoads, SquirrelInput

PEAK_HOURS = range(7 * 3600, 9 * 3600, 600)  #: departures every 10 min, 07:00-08:50


def write_gtfs(folder, lp1_starts_s=PEAK_HOURS, lp2_starts_s=PEAK_HOURS):
    """Write the feed into ``folder`` (created); LP1/LP2 leave both ends at ``*_starts_s`` (seconds of the day)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "agency.txt").write_text("agency_id,agency_name,agency_url,agency_timezone\nT,T,http://x,Asia/Seoul\n")
    (folder / "stops.txt").write_text("stop_id,stop_name,stop_lat,stop_lon\n"
                                      "A,A,37.5,127.0\nB,B,37.5,127.01\nC,C,37.5,127.02\n")
    (folder / "routes.txt").write_text("route_id,route_short_name,route_type\nLP1,LP1,3\nLP2,LP2,3\nN9,N9,3\n")
    (folder / "calendar.txt").write_text("service_id,monday,tuesday,wednesday,thursday,friday,saturday,sunday,"
                                         "start_date,end_date\nALL,1,1,1,1,1,1,1,20200101,20351231\n")
    trips, times = ["route_id,service_id,trip_id,direction_id"], ["trip_id,arrival_time,departure_time,stop_id,stop_sequence"]

    def add(route, direction, start_s, stops, step_s):
        tid = f"{route}-{direction}-{start_s}"
        trips.append(f"{route},ALL,{tid},{direction}")
        for k, stop in enumerate(stops):
            t = start_s + k * step_s
            hms = f"{t // 3600:02d}:{t % 3600 // 60:02d}:{t % 60:02d}"
            times.append(f"{tid},{hms},{hms},{stop},{k + 1}")

    for start in lp1_starts_s:
        add("LP1", 0, start, "ABC", 600)
        add("LP1", 1, start, "CBA", 600)
    for start in lp2_starts_s:
        add("LP2", 0, start, "AB", 900)
        add("LP2", 1, start, "BA", 900)
    for start in (25 * 3600, 25 * 3600 + 1800):
        add("N9", 0, start, "AC", 1200)
        add("N9", 1, start, "CA", 1200)
    (folder / "trips.txt").write_text("\n".join(trips) + "\n")
    (folder / "stop_times.txt").write_text("\n".join(times) + "\n")
    return folder


def loads(route, direction, hour, stops, passengers, passes):
    """Segment loads of one route direction and hour: ``passengers`` per segment over ``passes`` bus runs."""
    return SegmentLoads(route, direction, hour, [f"{a}>{b}" for a, b in zip(stops, stops[1:])], list(stops[:-1]),
                        list(stops[1:]), [p / 6 for p in passengers], list(passengers), list(passes))


# hour 8, all 6 runs an hour seen: boardings = rides; LP1 1200/h, peak 900/h over 6 x 60 = 360/h; LP2 120/h, peak 60/h
SQUIRREL = [SquirrelInput("LP1", 0.0, [loads("LP1", 0, 8, "ABC", [600.0, 900.0], [6, 6]),
                                       loads("LP1", 1, 8, "CBA", [300.0, 300.0], [6, 6])], 1200, 0.1),
            SquirrelInput("LP2", 0.0, [loads("LP2", 0, 8, "AB", [60.0], [6]),
                                       loads("LP2", 1, 8, "BA", [60.0], [6])], 120, 0.1)]
OWL = OwlInput(0.0, ODMatrix("stop", [0, 1, 2, 3, 4], ["A", "B"], [0, 1], [1, 0], [30.0, 10.0]), None, 40, 0.0)

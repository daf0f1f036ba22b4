import numpy as np
import pytest
from busops_fixtures import DAY, at, lonlat, write_feed

from streams.bus.gtfs import GtfsError, load_feed, parse_gtfs_time, project_to_shape


def test_stop_distances_along_shape(tiny_feed):
    trip = tiny_feed.trips["E1"]
    # the east shape starts 100 m before A; stops stand 5 m off the road
    np.testing.assert_allclose(trip.dist_m, [100, 600, 1100, 1600, 2100], atol=0.5)
    west = tiny_feed.trips["W1"]
    np.testing.assert_allclose(west.dist_m, [100, 600, 1100, 1600, 2100], atol=0.5)
    assert west.stop_ids == ("E", "D", "C", "B", "A")


def test_times_calendar_and_indexes(tiny_feed):
    trip = tiny_feed.trips["E2"]
    assert trip.start_s == 8 * 3600 + 600 and trip.end_s == 8 * 3600 + 1000
    assert tiny_feed.service_day_start_ts(DAY) + trip.start_s == at(8, 10)
    assert tiny_feed.calendar.active(DAY) == {"WK"}
    assert tiny_feed.calendar.active(DAY.replace(day=7)) == set()  # a Saturday
    assert tiny_feed.trips_by_block["B1"] == ["E1", "W1"]
    assert trip.scheduled_s_at(850.0) == pytest.approx(8 * 3600 + 600 + 150)


def test_after_midnight_times():
    assert parse_gtfs_time("25:10:05") == 25 * 3600 + 10 * 60 + 5
    with pytest.raises(ValueError):
        parse_gtfs_time("8:10")


def test_shapes_built_from_stops_when_absent(tmp_path):
    feed = load_feed(write_feed(tmp_path / "noshape", shapes=False))
    trip = feed.trips["E1"]
    np.testing.assert_allclose(trip.dist_m, [0, 500, 1000, 1500, 2000], atol=0.5)
    assert trip.shape_id.startswith("stops:")


def test_projection_window(tiny_feed):
    shape = tiny_feed.shapes["east"]
    x, y = tiny_feed.project(*lonlat(700.0, 20.0))
    dist, off = project_to_shape(shape, x, y)
    assert dist == pytest.approx(800.0, abs=0.5) and off == pytest.approx(20.0, abs=0.5)
    dist, off = project_to_shape(shape, x, y, lo_m=1000.0)
    assert dist == pytest.approx(1000.0, abs=0.5) and off > 150


@pytest.mark.parametrize("drop,needle", [("stop_times.txt", "stop_times.txt: missing"),
                                        ("trips.txt", "trips.txt: missing")])
def test_missing_file_is_named(tmp_path, drop, needle):
    folder = write_feed(tmp_path / "f")
    (folder / drop).unlink()
    with pytest.raises(GtfsError, match=needle):
        load_feed(folder)


def test_missing_column_and_bad_row_are_named(tmp_path):
    folder = write_feed(tmp_path / "f")
    text = (folder / "stops.txt").read_text().replace("stop_lat", "latitude")
    (folder / "stops.txt").write_text(text)
    with pytest.raises(GtfsError, match="missing column.*stop_lat"):
        load_feed(folder)
    folder = write_feed(tmp_path / "g")
    lines = (folder / "stop_times.txt").read_text().splitlines()
    lines[3] = lines[3].replace("08:", "8h")
    (folder / "stop_times.txt").write_text("\n".join(lines) + "\n")
    with pytest.raises(GtfsError, match=r"stop_times.txt:4"):
        load_feed(folder)


def test_wmata_feeds_load(wmata):
    for route in ("3T", "5A", "S2"):
        feed = load_feed(wmata / "gtfs" / route)
        assert feed.timezone == "America/New_York"
        for trip in feed.trips.values():
            assert np.all(np.diff(trip.dist_m) >= 0)
            assert trip.dist_m[-1] <= feed.shapes[trip.shape_id].length_m + 1e-6


def test_blank_times_interpolated_on_distance(tmp_path):
    folder = write_feed(tmp_path / "blank")
    lines = (folder / "stop_times.txt").read_text().splitlines()
    # E1's stops B, C, D (rows 3-5) lose their times: they are not timepoints
    for i in (2, 3, 4):
        trip, _, _, stop, seq, _ = lines[i].split(",")
        lines[i] = f"{trip},,,{stop},{seq},0"
    (folder / "stop_times.txt").write_text("\n".join(lines) + "\n")
    trip = load_feed(folder).trips["E1"]
    np.testing.assert_allclose(trip.arrival_s - trip.arrival_s[0], [0, 100, 200, 300, 400], atol=0.2)
    assert list(trip.timepoint) == [True, False, False, False, True]


def test_trips_that_stop_alike_share_their_stops(tiny_feed):
    # a city has ~135,000 trips on ~800 stop patterns: one tuple per pattern, and stop ids are the stops' own strings
    e1, e2, e3, w1 = (tiny_feed.trips[t] for t in ("E1", "E2", "E3", "W1"))
    assert e1.stop_ids is e2.stop_ids is e3.stop_ids
    assert w1.stop_ids is not e1.stop_ids and w1.stop_ids != e1.stop_ids
    assert all(sid is tiny_feed.stops[sid].stop_id for sid in e1.stop_ids)

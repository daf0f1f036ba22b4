"""Edges of every enforcement rule, on hand-made times (Asia/Seoul = UTC+9, no DST)."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from shapely.geometry import Polygon

from enforcement import rules as R
from topis.settings import FineTable

SEOUL = ZoneInfo("Asia/Seoul")
WED = (2026, 3, 4)  # an ordinary Wednesday
SAT = (2026, 3, 7)
SUN = (2026, 3, 8)
SUBSTITUTE_MON = (2026, 3, 2)  # substitute holiday for 1 March (a Sunday)
CAR = R.Vehicle("12가3456", "car", 3)
G5 = R.Vehicle("34나5678", "truck", 5)


def local(day, h, m=0, s=0):
    return dt.datetime(*day, h, m, s, tzinfo=SEOUL)


def test_local_time_converts_epoch_to_seoul():
    ts = dt.datetime(2026, 3, 3, 22, 0, tzinfo=dt.timezone.utc).timestamp()  # 07:00 next day in Seoul
    assert R.local_time(ts, SEOUL) == local(WED, 7)


@pytest.mark.parametrize(
    ("hms", "expected"),
    [((6, 59, 59), False), ((7, 0, 0), True), ((20, 59, 59), True), ((21, 0, 0), False), ((0, 0, 0), False)],
)
def test_roadside_full_weekday_hours(hms, expected):
    assert R.bus_lane_enforced("roadside_full", local(WED, *hms), R.KOREAN_HOLIDAYS) is expected


@pytest.mark.parametrize(
    ("hms", "expected"),
    [((6, 59), False), ((7, 0), True), ((9, 59), True), ((10, 0), False), ((12, 0), False),
     ((16, 59), False), ((17, 0), True), ((20, 59), True), ((21, 0), False)],
)  # fmt: skip
def test_roadside_part_weekday_windows(hms, expected):
    assert R.bus_lane_enforced("roadside_part", local(WED, *hms), R.KOREAN_HOLIDAYS) is expected


@pytest.mark.parametrize("day", [SAT, SUN, SUBSTITUTE_MON])
@pytest.mark.parametrize("lane", ["roadside_full", "roadside_part"])
def test_roadside_not_enforced_on_weekends_and_holidays(day, lane):
    assert not R.bus_lane_enforced(lane, local(day, 8), R.KOREAN_HOLIDAYS)


@pytest.mark.parametrize("day", [WED, SAT, SUN, SUBSTITUTE_MON])
@pytest.mark.parametrize("hms", [(0, 0), (3, 0), (23, 59)])
def test_median_lane_enforced_around_the_clock(day, hms):
    assert R.bus_lane_enforced("median", local(day, *hms), R.KOREAN_HOLIDAYS)


def test_none_lane_never_enforced():
    assert not R.bus_lane_enforced("none", local(WED, 8), R.KOREAN_HOLIDAYS)


def test_holiday_calendar_is_what_decides_a_weekday():
    # the same Monday is enforced when the calendar does not know the holiday
    assert R.bus_lane_enforced("roadside_full", local(SUBSTITUTE_MON, 8), frozenset())


def test_midnight_belongs_to_the_new_day():
    # Friday 23:59:59 is a weekday but outside 07-21; Saturday 00:00 is a weekend
    friday = (2026, 3, 6)
    assert local(friday, 23, 59, 59).weekday() == 4
    assert not R.bus_lane_enforced("roadside_full", local(friday, 23, 59, 59), frozenset())
    assert R.bus_lane_enforced("median", local(SAT, 0, 0, 0), frozenset())
    assert R.is_day_off(local(SAT, 0).date(), frozenset())
    assert not R.is_day_off(local(friday, 23, 59, 59).date(), frozenset())


@pytest.mark.parametrize(
    ("vehicle", "seen", "exempt"),
    [
        (CAR, None, False),
        (R.Vehicle("70바1234", "bus", 3), None, True),
        (R.Vehicle("99허0001", "emergency", 2), None, True),
        (R.Vehicle("12가0001", "car", 2, exempt=True), None, True),
        (R.Vehicle("12가0002", "taxi", 2), None, False),
        (None, None, False),
        (None, "bus", True),
        (CAR, "bus", False),  # the registry wins over what the camera saw
    ],
)
def test_bus_lane_exemptions(vehicle, seen, exempt):
    assert R.bus_lane_exempt(vehicle, seen) is exempt


@pytest.mark.parametrize(
    ("hms", "expected"), [((5, 59, 59), False), ((6, 0, 0), True), ((20, 59, 59), True), ((21, 0, 0), False)]
)
@pytest.mark.parametrize("day", [WED, SUN, SUBSTITUTE_MON])
def test_green_zone_hours_any_day(day, hms, expected):
    assert R.green_zone_violation(G5, local(day, *hms)) is expected


@pytest.mark.parametrize(
    "vehicle",
    [CAR, None, R.Vehicle("1", "truck", 5, exempt=True), R.Vehicle("2", "emergency", 5), R.Vehicle("3", "car", 4)],
)
def test_green_zone_only_non_exempt_grade_5(vehicle):
    assert not R.green_zone_violation(vehicle, local(WED, 12))


def test_average_speed_and_section_speeding():
    assert R.average_speed_kph(1000.0, 60.0) == pytest.approx(60.0)
    assert not R.section_speeding(1000.0, 60.0, 60.0)  # exactly at the limit: not above
    assert R.section_speeding(1000.0, 59.0, 60.0)  # 61.0 km/h
    assert not R.section_speeding(1000.0, 59.0, 60.0, tolerance_kph=5.0)
    assert R.section_speeding(1000.0, 50.0, 60.0, tolerance_kph=5.0)  # 72 km/h > 65
    assert not R.section_speeding(1000.0, 0.0, 60.0)
    with pytest.raises(ValueError):
        R.average_speed_kph(1000.0, 0.0)


def test_stopped_too_long_is_strict():
    assert not R.stopped_too_long(100.0, 400.0, 300.0)
    assert R.stopped_too_long(100.0, 400.5, 300.0)


def test_needs_plate_check_below_threshold_only():
    assert R.needs_plate_check(0.79, 0.8)
    assert not R.needs_plate_check(0.8, 0.8)


@pytest.mark.parametrize(
    ("text", "plate"),
    [("12가3456", "12가3456"), (" 123가 4567", "123가4567"), ("서울12가3456", "서울12가3456"), ("12-가-3456", "12가3456"),
     ("12A3456", None), ("1가3456", None), ("12가345", None), ("", None), ("12가34567", None)],
)  # fmt: skip
def test_normalise_plate(text, plate):
    assert R.normalise_plate(text) == plate


def test_case_id_is_deterministic_and_keyed():
    a = R.case_id("green_zone", "12가3456", "2026-03-04")
    assert a == R.case_id("green_zone", "12가3456", "2026-03-04")
    assert len(a) == 32 and int(a, 16) >= 0
    assert a != R.case_id("green_zone", "12가3456", "2026-03-05")
    assert a != R.case_id("bus_lane", "12가3456", "2026-03-04")


def test_fines_from_table():
    fines = FineTable()
    assert R.fine_krw("bus_lane", "car", fines) == 50_000
    assert R.fine_krw("bus_lane", "truck", fines) == 60_000
    assert R.fine_krw("bus_lane", None, fines) == 50_000
    assert R.fine_krw("green_zone", "truck", fines) == 250_000
    assert R.fine_krw("no_stopping", "car", fines) == 40_000
    assert R.fine_krw("section_speed", "car", fines, over_kph=20.0) == 40_000
    assert R.fine_krw("section_speed", "car", fines, over_kph=20.1) == 70_000
    assert R.fine_krw("section_speed", "van", fines, over_kph=75.0) == 140_000
    assert R.fine_krw("green_zone", "car", FineTable(green_zone_day_krw=1)) == 1
    with pytest.raises(ValueError, match="unknown rule"):
        R.fine_krw("parking", "car", fines)


def test_holiday_parser_and_builtin_calendar(tmp_path):
    path = tmp_path / "h.txt"
    path.write_text("# demo\n2026-01-01\n\n2026-02-17  # Seollal\n", encoding="utf-8")
    assert R.load_holidays(path) == {dt.date(2026, 1, 1), dt.date(2026, 2, 17)}
    with pytest.raises(ValueError, match=r"h\.txt:2: not an ISO date"):
        R.parse_holidays(["2026-01-01", "2026-13-01"], source="h.txt")
    for day in ("2025-10-06", "2026-09-25", "2027-02-08", "2027-02-09", "2027-12-27"):
        assert dt.date.fromisoformat(day) in R.KOREAN_HOLIDAYS
    assert dt.date(2026, 3, 4) not in R.KOREAN_HOLIDAYS
    # Seollal 2027 is 6-8 February (7 Feb a Sunday, so 9 Feb is the substitute); the old table here had 5-8
    assert dt.date(2027, 2, 5) not in R.KOREAN_HOLIDAYS


def test_holiday_file_with_a_header_names_and_removals(tmp_path):
    path = tmp_path / "h.csv"
    path.write_text('\ufeffdate,name\n2026-01-01,New Year\n2026-02-17,"Seollal, day 2"  # lunar\n'
                    "2026-03-04\n-2026-03-04\n", encoding="utf-8")
    assert R.load_holidays(path) == {dt.date(2026, 1, 1), dt.date(2026, 2, 17)}  # a removal wins
    assert R.parse_holidays(["date", "2026-05-05"]) == {dt.date(2026, 5, 5)}


@pytest.mark.parametrize("lines, message", [
    (["date,name", "2026-01-01,a", "2026-02-30,b"], r"h\.csv:3: not an ISO date: '2026-02-30'"),
    (["2026-01-01", "date"], r"h\.csv:2: not an ISO date: 'date'"),  # a header only as the first line
    (["date,where"], r"h\.csv:1: header 'date,where': the columns are date\[,name\]"),
    (["2026-01-01,a,b"], r"h\.csv:1: 3 fields, expected date,name"),
])
def test_holiday_file_errors_name_the_line(lines, message):
    with pytest.raises(ValueError, match=message):
        R.parse_holidays(lines, source="h.csv")


def test_rulebook_default_is_the_one_calendar():
    from enforcement.engine import RuleBook
    from topis.holidays import korean_holidays

    assert RuleBook({}, {}).holidays is R.KOREAN_HOLIDAYS
    assert set(korean_holidays((2026, 2027))) == {d for d in R.KOREAN_HOLIDAYS if d.year in (2026, 2027)}


def test_geometry_cameras_in_polygon_and_areas():
    square = Polygon([(126.97, 37.56), (126.99, 37.56), (126.99, 37.58), (126.97, 37.58)])
    inside = R.Camera("in", 37.57, 126.98)
    edge = R.Camera("edge", 37.56, 126.98)
    outside = R.Camera("out", 37.50, 126.98)
    assert R.cameras_in_polygon([inside, edge, outside], square) == {"in", "edge"}
    assert R.cameras_in_polygon([], square) == set()
    assert R.area_of(inside, {"Jongno": square}) == "Jongno"
    assert R.area_of(outside, {"Jongno": square}) is None
    filled = R.with_areas({"in": inside, "out": outside}, {"Jongno": square})
    assert filled["in"].area == "Jongno" and filled["out"].area is None


def test_resolve_misread_needs_exactly_one_neighbour():
    index = R.one_off_index(["12가3456", "12가3457", "34나5678"])
    assert R.resolve_misread("34나5679", index) == "34나5678"  # one digit off
    assert R.resolve_misread("34너5678", index) == "34나5678"  # one syllable off
    assert R.resolve_misread("12가3458", index) is None  # two neighbours: ambiguous
    assert R.resolve_misread("34나5699", index) is None  # two characters off
    assert R.resolve_misread("34나56789", index) is None  # another length

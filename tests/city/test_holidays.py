"""The one holiday calendar (topis.holidays): the KR calendar of the holidays package plus holiday files."""

import datetime as dt

import pytest

from topis.holidays import YEARS, HolidayChanges, korean_holidays, parse_holiday_file, read_holiday_file

D = dt.date


def test_official_days_of_2026_and_2027():
    days = set(korean_holidays((2026, 2027)))
    # Seollal 2027: 6-8 Feb, 7 Feb is a Sunday so 9 Feb is the substitute; 5 Feb is a working day
    assert {D(2027, 2, 6), D(2027, 2, 7), D(2027, 2, 8), D(2027, 2, 9)} <= days and D(2027, 2, 5) not in days
    # Chuseok 2026 and the local election day; a substitute for Liberation Day on a Saturday
    assert {D(2026, 9, 24), D(2026, 9, 25), D(2026, 9, 26), D(2026, 6, 3), D(2026, 8, 17)} <= days
    assert D(2027, 12, 27) in days  # substitute for Christmas on a Saturday
    assert D(2026, 3, 4) not in days and D(2026, 11, 23) not in days


def test_result_is_sorted_and_limited_to_the_years():
    days = korean_holidays([2027, 2026, 2026])
    assert list(days) == sorted(days) and {d.year for d in days} == {2026, 2027}
    assert korean_holidays(()) == ()


def test_unknown_years_are_refused():
    with pytest.raises(ValueError, match=r"\[1947, 2101\].*1948-2100"):
        korean_holidays((1947, 2026, 2101))
    assert YEARS.start == 1948 and YEARS.stop == 2101


def test_overrides_add_and_remove_days_of_the_years_asked_for():
    changes = parse_holiday_file(["# a late election, and a day we do not close", "date,name",
                                  "2026-11-24,election", "-2026-12-25", "2031-01-02,another year"])
    assert changes == HolidayChanges({D(2026, 11, 24): "election", D(2031, 1, 2): "another year"},
                                     frozenset({D(2026, 12, 25)}))
    days = korean_holidays((2026,), changes)
    assert D(2026, 11, 24) in days and D(2026, 12, 25) not in days and D(2031, 1, 2) not in days
    assert set(days) ^ set(korean_holidays((2026,))) == {D(2026, 11, 24), D(2026, 12, 25)}


def test_holiday_file_without_header_and_with_quoted_names(tmp_path):
    path = tmp_path / "h.csv"
    path.write_text('\ufeff2026-11-24,"election, local"\n\n2026-11-25   # no name\n', encoding="utf-8")
    assert read_holiday_file(path).added == {D(2026, 11, 24): "election, local", D(2026, 11, 25): ""}


@pytest.mark.parametrize("lines, message", [
    (["date,name", "2026-11-24,a", "24/11/2026,b"], r"f\.csv:3: not an ISO date: '24/11/2026'"),
    (["-2026-02-30"], r"f\.csv:1: not an ISO date: '-2026-02-30'"),
    (["date,name,action"], r"f\.csv:1: header 'date,name,action'"),
    (["date,date"], r"f\.csv:1: header"),
    (["2026-11-24,a,b"], r"f\.csv:1: 3 fields"),
])
def test_bad_lines_are_named(lines, message):
    with pytest.raises(ValueError, match=message):
        parse_holiday_file(lines, source="f.csv")

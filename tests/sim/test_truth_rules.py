"""Ground-truth violations on a hand-made mini-city, checked against the issue-5 rules by hand."""

from __future__ import annotations

import datetime as dt

import networkx as nx
import numpy as np
import pytest
from shapely.geometry import Polygon

from topis.city.model import KST_OFFSET_S, Camera, City, Vehicle
from topis.sim.traffic import ViolationJudge, bus_lane_enforced, camera_arrays, green_zone_banned, misread_plate


def kst(y, mo, d, h=0, mi=0, s=0) -> float:
    """Epoch seconds of a local (KST) wall-clock time."""
    return dt.datetime(y, mo, d, h, mi, s, tzinfo=dt.timezone.utc).timestamp() - KST_OFFSET_S


def mini_city(cameras, registry, holidays=()) -> City:
    square = Polygon([(0, 0), (1, 0), (1, 1), (0, 1)])
    return City(seed=0, scale=0.01, center_lat=37.5, center_lon=127.0, graph=nx.DiGraph(), river=square,
                districts=(), green_zone=square, stops=(), routes=(), trips=(), buses=(), cameras=tuple(cameras),
                registry=tuple(registry), holidays=tuple(holidays), service_start=dt.date(2026, 1, 1),
                service_end=dt.date(2026, 12, 31))


CAMS = [
    Camera("MED", 37.5, 127.0, "L1", 0.0, lane_type="median"),
    Camera("FULL", 37.5, 127.0, "L2", 0.0, lane_type="roadside_full"),
    Camera("PART", 37.5, 127.0, "L3", 0.0, lane_type="roadside_part"),
    Camera("GZ1", 37.5, 127.0, "L4", 0.0, green_zone_entry=True),
    Camera("GZ2", 37.5, 127.0, "L5", 0.0, green_zone_entry=True),
    Camera("SIN", 37.5, 127.0, "L6", 0.0, section_id="S1", section_role="entry", section_length_m=1000.0,
           section_limit_kph=60.0),
    Camera("SOUT", 37.5, 127.0, "L7", 0.0, section_id="S1", section_role="exit", section_length_m=1000.0,
           section_limit_kph=60.0),
    Camera("NOSTOP", 37.5, 127.0, "L8", 0.0, no_stopping=True),
]
REG = [
    Vehicle("12가3456", "car", 2, False, False),
    Vehicle("70사1111", "bus", 1, False, False),
    Vehicle("34나5678", "emergency", 2, False, False),
    Vehicle("56다7890", "car", 3, True, False),  # permit holder
    Vehicle("78라1234", "truck", 5, False, False),  # grade 5
    Vehicle("90마4321", "van", 5, True, False),  # grade 5, exempt
    Vehicle("11바2222", "car", 2, False, True),  # stolen
]
MON = (2026, 11, 23)  # a Monday
SAT = (2026, 11, 21)
CHUSEOK = (2026, 9, 25)  # a Friday and a public holiday


@pytest.fixture
def judge():
    city = mini_city(CAMS, REG, holidays=[dt.date(*CHUSEOK)])
    return ViolationJudge(city, camera_arrays(city), tolerance_kph=10.0, no_stopping_limit_s=300.0)


def cam(name: str) -> int:
    return [c.camera_id for c in CAMS].index(name)


def rules(found) -> list[str]:
    return [v.rule for v in found]


@pytest.mark.parametrize("camera, when, expected", [
    ("MED", (*SAT, 3, 0, 0), True),  # median: 24 h every day
    ("FULL", (*MON, 6, 59, 59), False),
    ("FULL", (*MON, 7, 0, 0), True),
    ("FULL", (*MON, 20, 59, 59), True),
    ("FULL", (*MON, 21, 0, 0), False),
    ("FULL", (*SAT, 12, 0, 0), False),  # weekend
    ("FULL", (*CHUSEOK, 12, 0, 0), False),  # holiday
    ("PART", (*MON, 9, 59, 59), True),
    ("PART", (*MON, 10, 0, 0), False),
    ("PART", (*MON, 16, 59, 59), False),
    ("PART", (*MON, 17, 0, 0), True),
    ("MED", (*CHUSEOK, 12, 0, 0), True),
])
def test_bus_lane_hours(judge, camera, when, expected):
    found = judge.judge(cam(camera), "12가3456", "r1", "12가3456", kst(*when))
    assert rules(found) == (["bus_lane"] if expected else [])


@pytest.mark.parametrize("plate", ["70사1111", "34나5678", "56다7890"])
def test_bus_lane_exemptions(judge, plate):
    assert judge.judge(cam("MED"), plate, "r1", plate, kst(*MON, 8)) == []


def test_bus_lane_predicate_directly():
    mon8 = dt.datetime(*MON, 8)
    assert bus_lane_enforced("median", mon8, holiday=True)
    assert not bus_lane_enforced("roadside_full", mon8, holiday=True)
    assert not bus_lane_enforced("none", mon8, holiday=False)
    assert green_zone_banned(dt.datetime(*MON, 6)) and not green_zone_banned(dt.datetime(*MON, 21))


def test_green_zone_one_case_per_plate_per_day(judge):
    truck = "78라1234"
    assert judge.judge(cam("GZ1"), truck, "a", truck, kst(*MON, 5, 59, 59)) == []
    first = judge.judge(cam("GZ1"), truck, "b", truck, kst(*MON, 6, 0, 0))
    assert rules(first) == ["green_zone"]
    again = judge.judge(cam("GZ2"), truck, "c", "78라1235", kst(*MON, 15))
    assert again == []  # same plate, same day: the first record grows
    assert first[0].read_ids == ["b", "c"] and first[0].camera_ids == ["GZ1", "GZ2"] and first[0].misread
    assert judge.judge(cam("GZ1"), truck, "d", truck, kst(*MON, 21, 0, 0)) == []
    assert rules(judge.judge(cam("GZ1"), truck, "e", truck, kst(2026, 11, 24, 6, 30))) == ["green_zone"]
    assert judge.judge(cam("GZ1"), "90마4321", "f", "90마4321", kst(*MON, 12)) == []  # exempt
    assert judge.judge(cam("GZ1"), "12가3456", "g", "12가3456", kst(*MON, 12)) == []  # grade 2


def test_section_speed_from_entry_and_exit_times(judge):
    t0 = kst(*MON, 2)
    assert judge.judge(cam("SIN"), "12가3456", "e1", "12가3456", t0) == []
    found = judge.judge(cam("SOUT"), "12가3456", "x1", "12가3456", t0 + 50.0)  # 1000 m in 50 s = 72 km/h
    assert rules(found) == ["section_speed"]
    assert found[0].read_ids == ["e1", "x1"] and found[0].camera_ids == ["SIN", "SOUT"]
    assert found[0].speed_kph == pytest.approx(72.0)
    judge.judge(cam("SIN"), "12가3456", "e2", "12가3456", t0 + 100)
    assert judge.judge(cam("SOUT"), "12가3456", "x2", "12가3456", t0 + 160.0) == []  # exactly 60 km/h
    judge.judge(cam("SIN"), "12가3456", "e3", "12가3456", t0 + 200)
    assert judge.judge(cam("SOUT"), "12가3456", "x3", "12가3456", t0 + 200 + 1000 / (70.0 / 3.6)) == []  # limit + tol
    assert judge.judge(cam("SOUT"), "78라1234", "x4", "78라1234", t0 + 300) == []  # exit without entry


def test_no_stopping_longer_than_limit(judge):
    t0 = kst(*MON, 11)
    reads = [judge.judge(cam("NOSTOP"), "12가3456", f"n{j}", "12가3456", t0 + 60 * j, j == 6) for j in range(7)]
    assert all(r == [] for r in reads[:-1]) and rules(reads[-1]) == ["no_stopping"]
    assert reads[-1][0].duration_s == 360.0 and len(reads[-1][0].read_ids) == 7
    short = [judge.judge(cam("NOSTOP"), "12가3456", f"m{j}", "12가3456", t0 + 1000 + 60 * j, j == 5) for j in range(6)]
    assert all(r == [] for r in short)  # exactly 300 s is not longer than the limit
    assert judge.judge(cam("NOSTOP"), "12가3456", "p", "12가3456", t0, None) == []  # passing, not stopping
    t1 = t0 + 5000
    long = [judge.judge(cam("NOSTOP"), "34나5678", f"q{j}", "34나5678", t1 + 60 * j, j == 8) for j in range(9)]
    assert [len(r) for r in long] == [0] * 6 + [1, 0, 0]  # known at the first read past 300 s, reported once
    assert long[6][0].read_ids == [f"q{j}" for j in range(9)] and long[6][0].duration_s == 480.0


def test_watch_list_alert_on_any_camera(judge):
    found = judge.judge(cam("GZ1"), "11바2222", "w", "11바2222", kst(*MON, 23))
    assert rules(found) == ["watch"]
    assert judge.judge(cam("GZ1"), "99허9999", "u", "99허9999", kst(*MON, 12)) == []  # unregistered


def test_misread_changes_exactly_one_character():
    rng = np.random.default_rng(0)
    for plate in ("12가3456", "123나4567"):
        for _ in range(50):
            bad = misread_plate(plate, rng)
            assert len(bad) == len(plate) and sum(a != b for a, b in zip(bad, plate)) == 1

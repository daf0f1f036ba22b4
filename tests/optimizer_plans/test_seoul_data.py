"""The real Seoul month: facts computed independently of the loader, and stop-order checks."""

import zipfile
from pathlib import Path

import numpy as np
import pytest

from optimizer import loads, seoul, stop_order

DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "seoul"
pytestmark = pytest.mark.skipif(not (DATA / "2022_05.txt.zip").is_file(),
                                reason=f"Seoul reference data not found at {DATA}")


@pytest.fixture(scope="module")
def month():
    return seoul.load_month(DATA / "2022_05.txt.zip")


@pytest.fixture(scope="module")
def stops():
    return seoul.load_stops(DATA / "bus_stops.csv")


@pytest.fixture(scope="module")
def raw_lines():
    with zipfile.ZipFile(DATA / "2022_05.txt.zip") as z:
        return z.read("2022_05.txt").decode("utf-8").splitlines()[1:]


def test_totals_match_the_readme(month):
    assert len(month) == 40_328
    assert len(month.routes()) == 628
    assert len(set(month.ars_id.tolist()) - {"~"}) == 12_492
    assert month.board.sum() == 140_195_213  # "140.2 M boardings"


def test_route_boardings_equal_the_files_column_sums(month, raw_lines):
    # independent: route number is field 2, the 48 counts are the last fields; nothing else parsed
    for route in ["470", "N37", "8221", "1155", "702B"]:
        rows = [ln.split(",") for ln in raw_lines if ln.split(",")[1] == route]
        by_hour = np.array([[int(x) for x in f[-48:]] for f in rows]).sum(axis=0)
        sel = month.rows_of(route)
        assert month.board[sel].sum(axis=0).tolist() == by_hour[0::2].tolist()
        assert month.alight[sel].sum(axis=0).tolist() == by_hour[1::2].tolist()


def test_stop_names_with_commas_keep_the_ars_id(month):
    sel = month.rows_of("1155")
    assert {"49497", "49498"} <= set(month.ars_id[sel].tolist())
    assert "유승한내들2차,세종로묘원입구" in month.stop_name[sel].tolist()
    assert "702번(B,용두초교방향,서오릉~종로1가)" in month.route_name[month.rows_of("702B")].tolist()


def test_derived_files_are_subsets_of_the_month(month):
    for name, prefix in [("derived_owl_N_routes_2022_05_stop_hourly.csv", "N"),
                         ("derived_squirrel_8xxx_routes_2022_05_stop_hourly.csv", "8")]:
        derived = seoul.load_derived(DATA / name)
        for route in derived.routes():
            assert route.startswith(prefix)
            assert derived.board[derived.rows_of(route)].sum() == month.board[month.rows_of(route)].sum()
    owl_routes = seoul.load_derived(DATA / "derived_owl_N_routes_2022_05_stop_hourly.csv").routes()
    assert len(owl_routes) == 14


def test_stop_ids_keep_leading_zeros(stops):
    assert len(stops.ars_id) == 11_215
    assert stops.ars_id[0] == "01001"
    assert stops.district[0] == "종로구"


def test_file_is_not_in_route_order(month):
    # rows of route 470 are scattered through the file (sorted by stop, not by route)
    sel = month.rows_of("470")
    assert np.any(np.diff(sel) > 1)
    assert month.ars_id[sel][:3].tolist() == ["01001", "01004", "01123"]


def test_route_470_running_order_from_coordinates(month, stops):
    seq = stop_order.route_sequence(month, stops, "470")
    names = seq.stop_name.tolist()
    # 470 runs Sangam - Sinchon - Gwanghwamun - Namsan tunnel - Gangnam - Angol village and back
    order = [names.index(n) for n in ["디지털미디어시티역", "연세대앞", "광화문", "남산1호터널", "안골마을"]]
    assert order == sorted(order)
    assert seq.board.sum() + 0 == pytest.approx(month.board[month.rows_of("470")].sum() * (1 - seq.unlocated_board_share))
    load = loads.cyclic_link_loads(seq.board.sum(axis=1), seq.alight.sum(axis=1))
    assert load[0] > 0 and load.min() == 0 and load[-1] == pytest.approx(0, abs=1e-6)


def test_empty_bus_start_lies_near_a_terminal_for_most_routes(month, stops):
    # Independent check of the right-hand-traffic orientation. The cycle starts where the
    # load is lowest (the bus is empty): in the right direction that is at a terminal; in the
    # wrong one it is where the true load peaks, mid-route. Terminals here are the two stops
    # farthest apart (geometry only).
    near, near_reversed = [], []
    for route in month.routes()[::5]:
        try:
            seq = stop_order.route_sequence(month, stops, route)
        except KeyError:
            continue
        b, a, xy = seq.board.sum(axis=1), seq.alight.sum(axis=1), seq.xy_m
        n = len(b)
        if n < 10:
            continue
        d = stop_order.distance_matrix_m(xy)
        ends = np.unravel_index(np.argmax(d), d.shape)
        gap = lambda i: min(min(abs(i - e), n - abs(i - e)) for e in ends) / n  # noqa: E731
        near.append(gap(0) <= 0.1)
        near_reversed.append(gap(n - 1 - loads.start_index(b[::-1], a[::-1])) <= 0.1)
    assert len(near) > 100
    assert np.mean(near) > 0.7
    assert np.mean(near_reversed) < 0.5

"""Demo city generator: determinism, graph/route/camera invariants, exports, CLI."""

from __future__ import annotations

import csv
import datetime as dt
import re
from collections import Counter, defaultdict
from pathlib import Path

import networkx as nx
import numpy as np
import pytest
from click.testing import CliRunner
from shapely.geometry import LineString, Point

from topis.city.cli import city as city_cli
from topis.city.export import (
    CAMERA_COLUMNS,
    REGISTRY_COLUMNS,
    city_geojson,
    gtfs_time,
    write_all,
    write_cameras_csv,
    write_gtfs,
    write_registry_csv,
)
from topis.city.generate import generate_city
from topis.city.model import trip_stop_times_s
from topis.city.routes import start_times_s
from topis.geo import Projection
from topis.holidays import korean_holidays

SMALL = dict(seed=5, scale=0.3)


@pytest.fixture(scope="module")
def small():
    return generate_city(**SMALL)


@pytest.fixture(scope="module")
def small_export(small, tmp_path_factory):
    out = tmp_path_factory.mktemp("city")
    write_all(small, out)
    return out


def _read_csv(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_same_seed_gives_byte_identical_exports(small_export, tmp_path):
    write_all(generate_city(**SMALL), tmp_path)
    files = sorted(p.relative_to(small_export) for p in small_export.rglob("*") if p.is_file())
    assert len(files) == 13
    for rel in files:
        assert (tmp_path / rel).read_bytes() == (small_export / rel).read_bytes(), rel


def test_different_seed_gives_different_city(small, tmp_path):
    other = generate_city(seed=6, scale=0.3)
    write_cameras_csv(small, tmp_path / "a.csv")
    write_cameras_csv(other, tmp_path / "b.csv")
    assert (tmp_path / "a.csv").read_bytes() != (tmp_path / "b.csv").read_bytes()
    assert [s.lat for s in small.stops[:20]] != [s.lat for s in other.stops[:20]]


def test_graph_is_strongly_connected_with_link_attributes(small):
    g = small.graph
    assert nx.is_strongly_connected(g)
    ids = [d["link_id"] for _, _, d in g.edges(data=True)]
    assert len(ids) == len(set(ids))
    for u, v, d in g.edges(data=True):
        assert g.has_edge(v, u)
        assert d["length_m"] > 0 and d["speed_limit_kph"] in (50.0, 60.0)
        assert d["road_class"] in ("arterial", "collector", "bridge")
        assert d["lane_type"] in ("median", "roadside_full", "roadside_part", "none")
        assert abs(g.nodes[u]["lat"] - 37.5665) < 0.2 and abs(g.nodes[u]["lon"] - 126.978) < 0.25


def test_river_is_crossed_only_by_bridges(small):
    g = small.graph
    bridges = 0
    for u, v, d in g.edges(data=True):
        if d["geometry"].intersects(small.river):
            assert d["road_class"] == "bridge", d["link_id"]
            bridges += 1
        elif d["road_class"] == "bridge":
            pytest.fail(f"bridge {d['link_id']} does not cross the river")
    assert bridges >= 2
    assert not any(small.river.contains(Point(g.nodes[n]["lon"], g.nodes[n]["lat"])) for n in g)
    # without the bridges the two banks fall apart
    und = nx.Graph((u, v) for u, v, d in g.edges(data=True) if d["road_class"] != "bridge")
    assert nx.number_connected_components(und) >= 2


def test_route_stops_lie_on_their_links_in_order(small):
    proj = Projection(small.center_lat, small.center_lon)
    for route in small.routes:
        assert len(route.patterns) == 2
        for pat in route.patterns:
            assert len(pat.stop_ids) >= 2
            link_pos = {link: k for k, link in enumerate(pat.link_ids)}
            positions = [link_pos[small.stop(s).link_id] for s in pat.stop_ids]
            assert positions == sorted(positions) and len(set(positions)) == len(positions)
            assert list(pat.stop_dist_m) == sorted(pat.stop_dist_m) and pat.stop_dist_m[-1] < pat.length_m
            x, y = proj.to_xy(np.array(pat.shape_lat), np.array(pat.shape_lon))
            shape = LineString(np.column_stack([x, y]))
            for stop_id, d in zip(pat.stop_ids, pat.stop_dist_m):
                s = small.stop(stop_id)
                p = Point(*proj.to_xy(s.lat, s.lon))
                assert shape.distance(p) < 10.0
                assert abs(shape.project(p) - d) < 1.0
            for a, b in zip(pat.link_ids[:-1], pat.link_ids[1:]):
                assert small.link(a)[1] == small.link(b)[0]


def test_route_kinds_and_service_windows(small):
    kinds = Counter(r.kind for r in small.routes)
    assert kinds["squirrel"] == 3 and kinds["owl"] == 9 and kinds["regular"] >= 4
    regular = {r.route_id for r in small.routes if r.kind == "regular"}
    for r in small.routes:
        if r.kind == "squirrel":
            assert r.parent_route_id in regular
            parent = small.route(r.parent_route_id)
            assert set(r.patterns[0].link_ids) <= set(parent.patterns[0].link_ids)
        if r.kind == "owl":
            assert r.route_id.startswith("N")
    for t in small.trips:
        kind = small.route(t.route_id).kind
        if kind == "regular":
            assert 5 * 3600 <= t.start_s <= 23 * 3600 + 1800 and t.service_id in ("WD", "WE")
        elif kind == "squirrel":
            assert t.service_id == "WD"
            assert 7 * 3600 <= t.start_s < 9 * 3600 or 17 * 3600 <= t.start_s < 19 * 3600
        else:
            assert t.service_id == "ALL" and 24 * 3600 <= t.start_s <= 28 * 3600


def test_headways_have_peaks_and_blocks_do_not_overlap(small):
    r = next(r for r in small.routes if r.kind == "regular")
    assert r.headway_weekday_s[8] < r.headway_weekday_s[12] and r.headway_weekday_s[3] == 0
    blocks = defaultdict(list)
    for t in small.trips:
        pat = small.route(t.route_id).patterns[t.direction_id]
        times = trip_stop_times_s(t, pat)
        blocks[t.block_id].append((t.start_s, int(times[-1]), t.direction_id))
    for block, trips in blocks.items():
        trips.sort()
        for (s0, e0, d0), (s1, e1, d1) in zip(trips[:-1], trips[1:]):
            assert s1 >= e0, block
            assert d0 != d1, block  # the bus leaves from the terminal it reached


def test_start_times_follow_hourly_headways():
    heads = tuple([0] * 5 + [1200] + [600] * 18)
    assert start_times_s(heads, 5 * 3600, 6 * 3600 + 1200) == [18000, 19200, 20400, 21600, 22200, 22800]
    assert start_times_s(tuple([0] * 24), 0, 86400) == []


def test_cameras_section_pairs_and_green_zone_entries(small):
    proj = Projection(small.center_lat, small.center_lon)
    sections = defaultdict(dict)
    for c in small.cameras:
        assert c.lane_type in ("median", "roadside_full", "roadside_part", "none")
        if c.section_id:
            sections[c.section_id][c.section_role] = c
        if c.lane_type != "none":
            u, v = small.link(c.link_id)
            assert small.graph.edges[u, v]["lane_type"] == c.lane_type
    assert sections
    for sid, pair in sections.items():
        assert set(pair) == {"entry", "exit"}, sid
        e, x = pair["entry"], pair["exit"]
        assert e.section_length_m == x.section_length_m and e.section_limit_kph == x.section_limit_kph
        straight = float(np.hypot(*np.subtract(proj.to_xy(e.lat, e.lon), proj.to_xy(x.lat, x.lon))))
        assert straight <= e.section_length_m + 1.0 and e.section_length_m > 300
    zone = small.green_zone
    entry_links = {c.link_id for c in small.cameras if c.green_zone_entry}
    for u, v, d in small.graph.edges(data=True):
        a = Point(small.graph.nodes[u]["lon"], small.graph.nodes[u]["lat"])
        if not zone.contains(a) and d["geometry"].intersects(zone):
            assert d["link_id"] in entry_links, d["link_id"]
    for c in small.cameras:
        if c.green_zone_entry:
            assert zone.buffer(1e-4).contains(Point(c.lon, c.lat))


def test_registry_plates_classes_and_shares():
    c = generate_city(seed=2, scale=1.0)
    plates = [v.plate for v in c.registry]
    assert len(plates) == len(set(plates))
    assert all(re.fullmatch(r"\d{2,3}[가-힣]\d{4}", p) for p in plates)
    grade5 = sum(v.emission_grade == 5 for v in c.registry) / len(plates)
    assert 0.01 < grade5 < 0.06
    assert 5 <= sum(v.watch for v in c.registry) <= 20
    assert sum(v.exempt for v in c.registry) > 0
    classes = {v.plate: v.vehicle_class for v in c.registry}
    assert all(classes[b.plate] == "bus" for b in c.buses)
    assert set(classes.values()) == {"car", "bus", "truck", "taxi", "emergency", "van"}
    # scale 1 sizes from the brief
    assert 40 <= sum(r.kind == "regular" for r in c.routes) <= 45
    assert 600 <= len(c.stops) <= 900
    assert 350 <= len(c.buses) <= 500
    assert 50 <= len(c.cameras) <= 80


def test_korean_holidays():
    days = korean_holidays((2026,))
    assert dt.date(2026, 9, 25) in days and dt.date(2026, 1, 1) in days and dt.date(2026, 10, 9) in days
    assert dt.date(2026, 10, 5) in days  # substitute for National Foundation Day on a Saturday
    assert dt.date(2026, 11, 23) not in days
    with pytest.raises(ValueError, match="2101"):  # beyond the calendar (the holidays package's KR, to 2100)
        korean_holidays((2101,))


def test_gtfs_parses_and_stop_times_increase(small, small_export):
    gtfs = small_export / "gtfs"
    stops = {r["stop_id"] for r in _read_csv(gtfs / "stops.txt")}
    routes = _read_csv(gtfs / "routes.txt")
    assert {r["route_type"] for r in routes} == {"3"}
    trips = {r["trip_id"]: r for r in _read_csv(gtfs / "trips.txt")}
    assert len(trips) == len(small.trips)
    shapes = {r["shape_id"] for r in _read_csv(gtfs / "shapes.txt")}
    assert {t["shape_id"] for t in trips.values()} <= shapes
    last: dict[str, tuple[int, int]] = {}
    after_midnight = 0
    for row in _read_csv(gtfs / "stop_times.txt"):
        assert row["stop_id"] in stops and row["trip_id"] in trips
        h, m, s = (int(x) for x in row["arrival_time"].split(":"))
        t, seq = h * 3600 + m * 60 + s, int(row["stop_sequence"])
        after_midnight += h >= 24
        if row["trip_id"] in last:
            assert seq == last[row["trip_id"]][1] + 1 and t >= last[row["trip_id"]][0]
        last[row["trip_id"]] = (t, seq)
    assert set(last) == set(trips) and after_midnight > 0
    cal = {r["service_id"]: r for r in _read_csv(gtfs / "calendar.txt")}
    assert cal["WD"]["saturday"] == "0" and cal["WE"]["sunday"] == "1" and cal["ALL"]["monday"] == "1"
    exceptions = {(r["service_id"], r["date"]): r["exception_type"] for r in _read_csv(gtfs / "calendar_dates.txt")}
    assert exceptions[("WD", "20260925")] == "2" and exceptions[("WE", "20260925")] == "1"


def test_gtfs_time_goes_past_midnight():
    assert gtfs_time(0) == "00:00:00" and gtfs_time(25 * 3600 + 61) == "25:01:01"


def test_csv_columns_are_exact(small_export):
    with open(small_export / "CAMERAS.csv", encoding="utf-8") as fh:
        assert fh.readline().strip() == ",".join(CAMERA_COLUMNS)
    assert CAMERA_COLUMNS == ("camera_id", "lat", "lon", "lane_type", "green_zone_entry", "section_id", "section_role",
                              "section_length_m", "section_limit_kph", "no_stopping")
    with open(small_export / "REGISTRY.csv", encoding="utf-8") as fh:
        assert fh.readline().strip() == "plate,vehicle_class,emission_grade,exempt,watch"
    assert REGISTRY_COLUMNS == ("plate", "vehicle_class", "emission_grade", "exempt", "watch")
    for row in _read_csv(small_export / "CAMERAS.csv"):
        assert row["green_zone_entry"] in "01" and row["no_stopping"] in "01"
        if row["section_id"]:
            assert row["section_role"] in ("entry", "exit") and float(row["section_length_m"]) > 0
        else:
            assert row["section_role"] == row["section_length_m"] == row["section_limit_kph"] == ""
    lines = (small_export / "HOLIDAYS.txt").read_text().splitlines()
    assert lines == sorted(lines) and "2026-09-25" in lines


def test_geojson_has_every_layer(small):
    geo = city_geojson(small)
    layers = Counter(f["properties"]["layer"] for f in geo["features"])
    assert set(layers) == {"road", "river", "district", "green_zone", "stop", "camera"}
    assert layers["road"] == small.graph.number_of_edges() and layers["stop"] == len(small.stops)
    road = next(f for f in geo["features"] if f["properties"]["layer"] == "road")
    assert road["properties"]["link_id"].startswith("L") and road["geometry"]["type"] == "LineString"


def test_cli_export_and_errors(tmp_path):
    runner = CliRunner()
    (tmp_path / "extra.csv").write_text("date,name\n2026-11-24,late election\n-2026-12-25\n", encoding="utf-8")
    res = runner.invoke(city_cli, ["export", "--out", str(tmp_path / "c"), "--seed", "3", "--scale", "0.2",
                                   "--holiday-overrides", str(tmp_path / "extra.csv")])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "c" / "gtfs" / "stop_times.txt").exists() and (tmp_path / "c" / "city.geojson").exists()
    assert "routes" in res.output
    days = (tmp_path / "c" / "HOLIDAYS.txt").read_text(encoding="utf-8").split()
    assert "2026-11-24" in days and "2026-12-25" not in days and "2027-12-25" in days
    bad = runner.invoke(city_cli, ["export", "--out", str(tmp_path / "d"), "--scale", "-1"])
    assert bad.exit_code == 2 and "--scale" in bad.output
    (tmp_path / "extra.csv").write_text("date\n2026-11-31\n", encoding="utf-8")
    bad = runner.invoke(city_cli, ["export", "--out", str(tmp_path / "d"), "--holiday-overrides",
                                   str(tmp_path / "extra.csv")])
    assert bad.exit_code == 2 and "extra.csv:2: not an ISO date: '2026-11-31'" in bad.output
    assert "Example" in runner.invoke(city_cli, ["export", "--help"]).output


def test_write_functions_return_counts(small, tmp_path):
    assert write_registry_csv(small, tmp_path / "r.csv") == len(small.registry)
    counts = write_gtfs(small, tmp_path / "g")
    assert counts["trips.txt"] == len(small.trips) and counts["routes.txt"] == len(small.routes)


def test_cli_is_reachable_from_topis_and_refuses_foreign_folders(tmp_path):
    from topis.cli import main

    (tmp_path / "notes.txt").write_text("mine", encoding="utf-8")
    res = CliRunner().invoke(main, ["city", "export", "--out", str(tmp_path), "--scale", "0.2"])
    assert res.exit_code == 2 and "does not look like a city export" in res.output
    assert (tmp_path / "notes.txt").read_text(encoding="utf-8") == "mine"

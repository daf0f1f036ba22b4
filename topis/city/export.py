"""Deterministic exports of the demo city: GTFS static feed, CAMERAS.csv, REGISTRY.csv,
holidays, GeoJSON.

The CSV formats are contracts read by the enforcement batch mode and the
bus-operations GTFS loader; change them only together with those readers.
"""

from __future__ import annotations

import csv
import io
import json
import logging
from pathlib import Path

from shapely.geometry import mapping

from topis.city.model import (
    SERVICE_DAILY,
    SERVICE_WEEKDAY,
    SERVICE_WEEKEND,
    City,
    trip_stop_times_s,
)
from topis.city.routes import DWELL_ALLOWANCE_S

log = logging.getLogger(__name__)

CAMERA_COLUMNS = ("camera_id", "lat", "lon", "lane_type", "green_zone_entry", "section_id", "section_role",
                  "section_length_m", "section_limit_kph", "no_stopping")
REGISTRY_COLUMNS = ("plate", "vehicle_class", "emission_grade", "exempt", "watch")
AGENCY_ID = "TOPIS"
GTFS_FILES = ("agency.txt", "stops.txt", "routes.txt", "trips.txt", "stop_times.txt", "shapes.txt",
              "calendar.txt", "calendar_dates.txt", "feed_info.txt")


def gtfs_time(seconds: int) -> str:
    """GTFS HH:MM:SS; hours go past 24 for service after midnight (e.g. 25:10:00)."""
    s = int(seconds)
    return f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"


def _write_csv(path: Path, header: tuple[str, ...], rows) -> int:
    n = 0
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(header)
        for row in rows:
            writer.writerow(row)
            n += 1
    return n


def _write_stop_times(city: City, path: Path) -> int:
    """stop_times.txt, written line by line from per-pattern templates (no field needs quoting)."""
    hms = [gtfs_time(t) for t in range(48 * 3600)]
    templates: dict[tuple[str, int], list[tuple[str, str]]] = {}
    for r in city.routes:
        for p in r.patterns:
            templates[(r.route_id, p.direction_id)] = [
                (stop_id, f"{seq},{d:.1f}\n") for seq, (stop_id, d) in enumerate(zip(p.stop_ids, p.stop_dist_m), 1)]
    n = 0
    with open(path, "w", encoding="utf-8", newline="") as fh:
        fh.write("trip_id,arrival_time,departure_time,stop_id,stop_sequence,shape_dist_traveled\n")
        for trip in city.trips:
            pattern = city.route(trip.route_id).patterns[trip.direction_id]
            times = trip_stop_times_s(trip, pattern, DWELL_ALLOWANCE_S).tolist()
            tid = trip.trip_id
            fh.write("".join(f"{tid},{hms[t]},{hms[t]},{stop_id},{rest}"
                             for t, (stop_id, rest) in zip(times, templates[(trip.route_id, trip.direction_id)])))
            n += len(times)
    return n


def write_gtfs(city: City, out_dir: str | Path) -> dict[str, int]:
    """Write a GTFS static feed (route_type 3) to ``out_dir``; returns rows per file.

    Services: ``WD`` weekdays, ``WE`` weekends, ``ALL`` every day (Owl routes,
    whose trips start 24:00:00-28:00:00, i.e. 00:00-04:00 after the service day). Holidays on
    weekdays move from ``WD`` to ``WE`` in calendar_dates.txt.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    counts = {}
    counts["agency.txt"] = _write_csv(out / "agency.txt", ("agency_id", "agency_name", "agency_url", "agency_timezone", "agency_lang"),
                                      [(AGENCY_ID, "TOPIS demo city buses", "https://example.org/topis", "Asia/Seoul", "ko")])
    counts["stops.txt"] = _write_csv(out / "stops.txt", ("stop_id", "stop_code", "stop_name", "stop_lat", "stop_lon"),
                                     ((s.stop_id, s.stop_id, s.name, f"{s.lat:.7f}", f"{s.lon:.7f}") for s in city.stops))
    counts["routes.txt"] = _write_csv(
        out / "routes.txt",
        ("route_id", "agency_id", "route_short_name", "route_long_name", "route_type", "route_color", "route_text_color"),
        ((r.route_id, AGENCY_ID, r.short_name, f"{r.patterns[1].headsign} - {r.patterns[0].headsign}", 3, r.color, "FFFFFF")
         for r in city.routes))
    counts["trips.txt"] = _write_csv(
        out / "trips.txt",
        ("route_id", "service_id", "trip_id", "trip_headsign", "direction_id", "block_id", "shape_id"),
        ((t.route_id, t.service_id, t.trip_id, city.route(t.route_id).patterns[t.direction_id].headsign,
          t.direction_id, t.block_id, f"{t.route_id}-{t.direction_id}") for t in city.trips))
    counts["stop_times.txt"] = _write_stop_times(city, out / "stop_times.txt")
    counts["shapes.txt"] = _write_csv(
        out / "shapes.txt", ("shape_id", "shape_pt_lat", "shape_pt_lon", "shape_pt_sequence", "shape_dist_traveled"),
        ((f"{r.route_id}-{p.direction_id}", f"{lat:.7f}", f"{lon:.7f}", k + 1, f"{d:.1f}")
         for r in city.routes for p in r.patterns
         for k, (lat, lon, d) in enumerate(zip(p.shape_lat, p.shape_lon, p.shape_dist_m))))
    start, end = city.service_start.strftime("%Y%m%d"), city.service_end.strftime("%Y%m%d")
    counts["calendar.txt"] = _write_csv(
        out / "calendar.txt",
        ("service_id", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday", "start_date", "end_date"),
        [(SERVICE_WEEKDAY, 1, 1, 1, 1, 1, 0, 0, start, end), (SERVICE_WEEKEND, 0, 0, 0, 0, 0, 1, 1, start, end),
         (SERVICE_DAILY, 1, 1, 1, 1, 1, 1, 1, start, end)])
    weekday_holidays = [d for d in city.holidays if d.weekday() < 5 and city.service_start <= d <= city.service_end]
    counts["calendar_dates.txt"] = _write_csv(
        out / "calendar_dates.txt", ("service_id", "date", "exception_type"),
        [row for d in weekday_holidays for row in ((SERVICE_WEEKDAY, d.strftime("%Y%m%d"), 2),
                                                  (SERVICE_WEEKEND, d.strftime("%Y%m%d"), 1))])
    counts["feed_info.txt"] = _write_csv(
        out / "feed_info.txt", ("feed_publisher_name", "feed_publisher_url", "feed_lang", "feed_start_date", "feed_end_date", "feed_version"),
        [("topis demo city", "https://example.org/topis", "ko", start, end, f"seed{city.seed}-scale{city.scale:g}")])
    log.info("GTFS written to %s: %s", out, counts)
    return counts


def _flag(value: bool) -> int:
    return 1 if value else 0


def write_cameras_csv(city: City, path: str | Path) -> int:
    """Write CAMERAS.csv (columns ``CAMERA_COLUMNS``); returns the number of cameras."""
    def row(c):
        section = c.section_id is not None
        return (c.camera_id, f"{c.lat:.7f}", f"{c.lon:.7f}", c.lane_type, _flag(c.green_zone_entry),
                c.section_id or "", c.section_role or "", f"{c.section_length_m:.1f}" if section else "",
                f"{c.section_limit_kph:g}" if section else "", _flag(c.no_stopping))
    return _write_csv(Path(path), CAMERA_COLUMNS, (row(c) for c in city.cameras))


def write_registry_csv(city: City, path: str | Path) -> int:
    """Write REGISTRY.csv (columns ``REGISTRY_COLUMNS``); returns the number of vehicles."""
    return _write_csv(Path(path), REGISTRY_COLUMNS,
                      ((v.plate, v.vehicle_class, v.emission_grade, _flag(v.exempt), _flag(v.watch)) for v in city.registry))


def write_holidays(city: City, path: str | Path) -> int:
    """Write the public holidays, one ISO date per line; returns how many."""
    Path(path).write_text("".join(f"{d.isoformat()}\n" for d in city.holidays), encoding="utf-8")
    return len(city.holidays)


def _feature(geometry: dict, **props) -> dict:
    return {"type": "Feature", "geometry": geometry, "properties": props}


def _rounded(geom) -> dict:
    g = mapping(geom)
    return json.loads(json.dumps(g), parse_float=lambda s: round(float(s), 7))


def city_geojson(city: City) -> dict:
    """A GeoJSON FeatureCollection of roads, river, districts, green zone, stops and cameras.

    Every feature has a ``layer`` property (road, river, district, green_zone,
    stop, camera); roads carry ``link_id``, ``road_class``, ``lane_type``.
    """
    feats = [_feature(_rounded(city.river), layer="river", name="Han River")]
    feats += [_feature(_rounded(d.polygon), layer="district", name=d.name) for d in city.districts]
    feats.append(_feature(_rounded(city.green_zone), layer="green_zone", name="Green Transport Zone"))
    for u, v, d in sorted(city.graph.edges(data=True), key=lambda e: e[2]["link_id"]):
        feats.append(_feature(_rounded(d["geometry"]), layer="road", link_id=d["link_id"], road_class=d["road_class"],
                              lane_type=d["lane_type"], road_name=d["road_name"], speed_limit_kph=d["speed_limit_kph"]))
    feats += [_feature({"type": "Point", "coordinates": [s.lon, s.lat]}, layer="stop", stop_id=s.stop_id, name=s.name)
              for s in city.stops]
    feats += [_feature({"type": "Point", "coordinates": [c.lon, c.lat]}, layer="camera", camera_id=c.camera_id,
                       lane_type=c.lane_type, green_zone_entry=c.green_zone_entry, section_id=c.section_id,
                       no_stopping=c.no_stopping) for c in city.cameras]
    return {"type": "FeatureCollection", "features": feats}


def write_geojson(city: City, path: str | Path) -> int:
    """Write :func:`city_geojson` to ``path`` (compact UTF-8 JSON); returns the number of features."""
    geo = city_geojson(city)
    with io.open(path, "w", encoding="utf-8") as fh:
        json.dump(geo, fh, ensure_ascii=False, separators=(",", ":"))
    return len(geo["features"])


def write_all(city: City, out_dir: str | Path) -> dict[str, int]:
    """Write everything: ``gtfs/``, CAMERAS.csv, REGISTRY.csv, HOLIDAYS.txt, city.geojson."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    counts = {f"gtfs/{k}": v for k, v in write_gtfs(city, out / "gtfs").items()}
    counts["CAMERAS.csv"] = write_cameras_csv(city, out / "CAMERAS.csv")
    counts["REGISTRY.csv"] = write_registry_csv(city, out / "REGISTRY.csv")
    counts["HOLIDAYS.txt"] = write_holidays(city, out / "HOLIDAYS.txt")
    counts["city.geojson"] = write_geojson(city, out / "city.geojson")
    return counts

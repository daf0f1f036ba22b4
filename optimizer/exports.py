"""Plans as GeoJSON (for maps) and CSV rows (route, sequence, stop, headway).

Pure builders return plain dicts/lists; the writers only serialise them.
``to_lonlat`` maps (n, 2) planner metres to (n, 2) lon/lat (see
:meth:`topis.geo.Projection.to_lonlat`).
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Callable
from pathlib import Path

import numpy as np

from optimizer.headways import HeadwayPlan
from optimizer.owl import NightDemand, OwlPlan
from optimizer.squirrel import SquirrelPlan

ToLonLat = Callable[[np.ndarray], np.ndarray]


def _line(coords_lonlat: np.ndarray, props: dict) -> dict:
    return {"type": "Feature", "properties": props,
            "geometry": {"type": "LineString", "coordinates": [[round(x, 6), round(y, 6)] for x, y in coords_lonlat]}}


def _finite(x: float) -> float | None:
    return None if not math.isfinite(x) else round(float(x), 3)


def squirrel_geojson(plan: SquirrelPlan, to_lonlat: ToLonLat) -> dict:
    """Short-turn routes with buses > 0 as LineStrings with their figures."""
    feats = [_line(to_lonlat(st.xy_m), {
        "route": st.name, "parent": st.parent, "kind": "squirrel", "buses": st.buses,
        "headway_min": _finite(st.headway_min), "section_km": round(st.section_m / 1000, 3),
        "excess_pax_km_per_h_before": round(st.excess_before_pax_km_per_h, 1),
        "excess_pax_km_per_h_after": round(st.excess_after_pax_km_per_h, 1),
        "first_stop": st.stop_ids[0], "last_stop": st.stop_ids[-1]}) for st in plan.short_turns if st.buses > 0]
    return {"type": "FeatureCollection", "features": feats}


def squirrel_rows(plan: SquirrelPlan) -> list[dict]:
    """One row per stop of each short-turn route with buses > 0."""
    return [{"route": st.name, "sequence": k + 1, "stop": stop, "headway_min": _finite(st.headway_min),
             "parent": st.parent, "buses": st.buses}
            for st in plan.short_turns if st.buses > 0 for k, stop in enumerate(st.stop_ids)]


def owl_geojson(plan: OwlPlan, demand: NightDemand, to_lonlat: ToLonLat) -> dict:
    """Night routes as LineStrings (stop to stop) with buses and headways."""
    feats = [_line(to_lonlat(demand.xy_m[r.stops]), {
        "route": r.name, "kind": "owl", "buses": r.buses, "headway_min": _finite(r.headway_min),
        "one_way_min": round(r.one_way_min, 1), "served_per_night": round(r.served_per_night, 1),
        "stops": len(r.stops)}) for r in plan.routes]
    return {"type": "FeatureCollection", "features": feats}


def owl_rows(plan: OwlPlan, demand: NightDemand) -> list[dict]:
    """One row per stop of each night route."""
    return [{"route": r.name, "sequence": k + 1, "stop": str(demand.stop_ids[s]), "headway_min": _finite(r.headway_min),
             "buses": r.buses} for r in plan.routes for k, s in enumerate(r.stops)]


def headway_rows(plan: HeadwayPlan, boardings_per_h: np.ndarray, cycle_time_min: np.ndarray) -> list[dict]:
    """One row per route: buses and headway."""
    return [{"route": r, "buses": int(n), "headway_min": round(float(h), 3), "boardings_per_h": float(b),
             "cycle_time_min": float(c)}
            for r, n, h, b, c in zip(plan.route_ids, plan.buses, plan.headway_min, boardings_per_h, cycle_time_min)]


def write_csv(path: str | Path, rows: list[dict], columns: list[str]) -> None:
    """Write rows with a header (columns in the given order)."""
    with Path(path).open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


def write_geojson(path: str | Path, collection: dict) -> None:
    """Write a FeatureCollection as UTF-8 JSON."""
    Path(path).write_text(json.dumps(collection, ensure_ascii=False), encoding="utf-8")

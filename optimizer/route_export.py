"""Write route sets for people and maps: GeoJSON lines and a (route, sequence, stop, headway) CSV."""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path

from optimizer.evaluate import route_time_min
from optimizer.instance import Instance, InstanceError


def routes_geojson(
    instance: Instance,
    routes: Sequence[Sequence[int]],
    headway_min: Sequence[float | None] | None = None,
) -> dict:
    """A GeoJSON FeatureCollection: one LineString per route, one Point per node.

    Coordinates are the instance's own (x, y) or (lon, lat); stop ids are 1-based.

    Raises
    ------
    InstanceError
        If the instance has no coordinates.
    """
    if instance.coords is None:
        raise InstanceError(f"{instance.name} has no coordinates (no Coords/nodes file), so no GeoJSON")
    xy = instance.coords
    features = []
    for r, route in enumerate(routes):
        props = {
            "route": r + 1,
            "stops": [v + 1 for v in route],
            "time_min": route_time_min(instance, route),
            "headway_min": None if headway_min is None else headway_min[r],
        }
        line = {"type": "LineString", "coordinates": [[float(xy[v, 0]), float(xy[v, 1])] for v in route]}
        features.append({"type": "Feature", "geometry": line, "properties": props})
    for v in range(instance.n):
        point = {"type": "Point", "coordinates": [float(xy[v, 0]), float(xy[v, 1])]}
        features.append({"type": "Feature", "geometry": point, "properties": {"stop": v + 1}})
    return {"type": "FeatureCollection", "features": features}


def write_geojson(path: str | Path, instance: Instance, routes, headway_min=None) -> None:
    """Write :func:`routes_geojson` to ``path``."""
    Path(path).write_text(json.dumps(routes_geojson(instance, routes, headway_min)))


def write_routes_csv(
    path: str | Path,
    routes: Sequence[Sequence[int]],
    headway_min: Sequence[float | None] | None = None,
) -> None:
    """CSV ``route,sequence,stop,headway``: 1-based route, 1-based position, 1-based stop.

    ``headway`` (minutes) is left empty when not given.
    """
    with Path(path).open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["route", "sequence", "stop", "headway"])
        for r, route in enumerate(routes):
            headway = "" if headway_min is None or headway_min[r] is None else f"{headway_min[r]:g}"
            for k, v in enumerate(route):
                writer.writerow([r + 1, k + 1, v + 1, headway])

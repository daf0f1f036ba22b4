"""Fixtures of the dashboard tests: a hand-made mini city (see dashboard_fixtures for the messages)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# the test modules share plain helpers in dashboard_fixtures.py; with --import-mode=importlib
# pytest does not put this folder on sys.path, so do it here (conftest loads first)
sys.path.insert(0, str(Path(__file__).resolve().parent))

from dashboard_fixtures import CENTER, _line, _point  # noqa: E402

from topis.geo import Projection  # noqa: E402


@pytest.fixture(scope="session")
def mini_geojson() -> dict:
    """Two roads, an arterial, the river, a green zone, three stops and two cameras around CENTER."""
    river = [[126.95, 37.535], [127.01, 37.535], [127.01, 37.54], [126.95, 37.54], [126.95, 37.535]]
    zone = [[126.975, 37.555], [126.985, 37.555], [126.985, 37.56], [126.975, 37.56], [126.975, 37.555]]
    return {"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [river]},
         "properties": {"layer": "river", "name": "Han River"}},
        {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [zone]},
         "properties": {"layer": "green_zone", "name": "Green Transport Zone"}},
        _line("L1", [[126.97, 37.55], [126.98, 37.55]]),
        _line("L2", [[126.98, 37.55], [126.99, 37.55]]),
        _line("L3", [[126.98, 37.545], [126.98, 37.56]], "arterial"),
        _point("stop", "stop_id", "S1", 126.972, 37.55, name="First"),
        _point("stop", "stop_id", "S2", 126.98, 37.5505, name="Second"),
        _point("stop", "stop_id", "S3", 126.988, 37.55, name="Third"),
        _point("camera", "camera_id", "C1", 126.981, 37.556),
        _point("camera", "camera_id", "C2", 126.975, 37.55),
    ]}


@pytest.fixture(scope="session")
def proj() -> Projection:
    return Projection(*CENTER)



"""Local metric projection of WGS84 coordinates (equirectangular about an origin).

Accurate to well under 1 % within ~50 km of the origin, which is all a city
plan needs; planners work in metres, inputs and outputs are lon/lat.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

M_PER_DEG_LAT = 110_574.0
M_PER_DEG_LON_EQUATOR = 111_320.0


@dataclass(frozen=True)
class Projection:
    """Equirectangular projection about (``lon0``, ``lat0``)."""

    lon0: float
    lat0: float

    @classmethod
    def around(cls, lon: np.ndarray, lat: np.ndarray) -> "Projection":
        """Origin at the mean of the given points."""
        return cls(float(np.mean(lon)), float(np.mean(lat)))

    def to_metres(self, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        """(n, 2) metres east, north of the origin."""
        kx = M_PER_DEG_LON_EQUATOR * np.cos(np.radians(self.lat0))
        return np.column_stack([(np.asarray(lon, float) - self.lon0) * kx, (np.asarray(lat, float) - self.lat0) * M_PER_DEG_LAT])

    def to_lonlat(self, xy_m: np.ndarray) -> np.ndarray:
        """(n, 2) lon, lat of metric points."""
        kx = M_PER_DEG_LON_EQUATOR * np.cos(np.radians(self.lat0))
        xy_m = np.asarray(xy_m, dtype=float).reshape(-1, 2)
        return np.column_stack([xy_m[:, 0] / kx + self.lon0, xy_m[:, 1] / M_PER_DEG_LAT + self.lat0])

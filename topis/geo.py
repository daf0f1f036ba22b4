"""Local metric projection around the city centre (equirectangular, metres)."""

from __future__ import annotations

import math

import numpy as np

#: Seoul City Hall, the default centre of the demo city.
SEOUL_CENTER = (37.5665, 126.9780)
M_PER_DEG_LAT = 111_320.0


class Projection:
    """Equirectangular projection: ``x_m`` east and ``y_m`` north of a centre.

    Accurate to well under a metre over a 40 km city, which is all the demo needs.
    """

    def __init__(self, center_lat: float, center_lon: float):
        self.lat0 = center_lat
        self.lon0 = center_lon
        self.m_per_deg_lon = M_PER_DEG_LAT * math.cos(math.radians(center_lat))

    def to_latlon(self, x_m, y_m):
        """Metres east/north of the centre to (lat, lon) degrees; arrays or scalars."""
        return self.lat0 + np.asarray(y_m) / M_PER_DEG_LAT, self.lon0 + np.asarray(x_m) / self.m_per_deg_lon

    def to_xy(self, lat, lon):
        """(lat, lon) degrees to metres east/north of the centre; arrays or scalars."""
        return (np.asarray(lon) - self.lon0) * self.m_per_deg_lon, (np.asarray(lat) - self.lat0) * M_PER_DEG_LAT


def bearing_deg(dx_m, dy_m):
    """Compass bearing (degrees clockwise from north, 0..360) of a metric displacement.

    Parameters
    ----------
    dx_m, dy_m : array_like
        East and north components, metres.

    Returns
    -------
    numpy.ndarray
        Bearing in degrees in [0, 360).
    """
    return np.mod(np.degrees(np.arctan2(dx_m, dy_m)), 360.0)


def haversine_m(lat1, lon1, lat2, lon2):
    """Great-circle distance in metres between WGS84 points (arrays broadcast)."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dp = p2 - p1
    dl = np.radians(np.asarray(lon2) - np.asarray(lon1))
    a = np.sin(dp / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return 2 * 6_371_008.8 * np.arcsin(np.sqrt(a))

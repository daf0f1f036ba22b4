"""Degrees ↔ metres and distances on the earth: the one geo module.

Every conversion in the project uses the mean earth radius :data:`EARTH_RADIUS_M`
(IUGG, 6,371,008.8 m) on a sphere:

* :class:`Projection`, a local equirectangular projection (``x_m`` east, ``y_m``
  north of an origin), accurate to well under a metre over a 40 km city, and
  exactly invertible;
* :func:`haversine_m`, the great-circle distance;
* :func:`bearing_deg`, the compass bearing of a metric displacement.

Example
-------
>>> proj = Projection(37.5665, 126.9780)
>>> x_m, y_m = proj.to_xy(37.5665, 126.9780 + 0.01)
>>> round(x_m, 1), y_m
(881.4, 0.0)
>>> round(haversine_m(37.5665, 126.978, 37.5665, 126.988), 1)
881.4
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

#: Seoul City Hall (lat, lon), the default centre of the demo city.
SEOUL_CENTER = (37.5665, 126.9780)
#: mean earth radius (IUGG), metres
EARTH_RADIUS_M = 6_371_008.8
#: metres per degree of latitude (and of longitude on the equator) on that sphere
M_PER_DEG_LAT = EARTH_RADIUS_M * (math.pi / 180.0)


@dataclass(frozen=True)
class Projection:
    """Equirectangular projection about (``lat0``, ``lon0``): metres east and north of the origin.

    ``x_m = (lon - lon0) * M_PER_DEG_LAT * cos(lat0)`` and ``y_m = (lat - lat0) * M_PER_DEG_LAT``.
    The error against the great circle grows with the square of the distance from the origin:
    well under a metre over a 40 km city, under 0.3 % within ~50 km.

    Two shapes of the same conversion: :meth:`to_xy` / :meth:`to_latlon` take and give
    separate arrays in (lat, lon) order; :meth:`to_metres` / :meth:`to_lonlat` take and give
    ``(n, 2)`` arrays in (x, y) = (lon, lat) order, as planners and GeoJSON want.
    """

    lat0: float  #: origin latitude, WGS84 degrees
    lon0: float  #: origin longitude, WGS84 degrees
    m_per_deg_lon: float = field(init=False, repr=False)  #: metres per degree of longitude at ``lat0``

    def __post_init__(self) -> None:
        object.__setattr__(self, "m_per_deg_lon", M_PER_DEG_LAT * math.cos(math.radians(self.lat0)))

    @classmethod
    def around(cls, lat, lon) -> Projection:
        """Projection with its origin at the mean of the given points (degrees)."""
        return cls(float(np.mean(lat)), float(np.mean(lon)))

    def to_xy(self, lat, lon):
        """WGS84 degrees to metres east and north of the origin.

        Parameters
        ----------
        lat, lon : float or array_like
            Degrees; arrays broadcast.

        Returns
        -------
        x_m, y_m : float or numpy.ndarray
            Metres east and north; Python floats for scalar input.
        """
        x_m = (np.asarray(lon, dtype=float) - self.lon0) * self.m_per_deg_lon
        y_m = (np.asarray(lat, dtype=float) - self.lat0) * M_PER_DEG_LAT
        if np.ndim(x_m) == 0 and np.ndim(y_m) == 0:
            return float(x_m), float(y_m)
        return x_m, y_m

    def to_latlon(self, x_m, y_m):
        """Metres east and north of the origin to WGS84 degrees (the inverse of :meth:`to_xy`).

        Parameters
        ----------
        x_m, y_m : float or array_like
            Metres; arrays broadcast.

        Returns
        -------
        lat, lon : float or numpy.ndarray
            Degrees; Python floats for scalar input.
        """
        lat = self.lat0 + np.asarray(y_m, dtype=float) / M_PER_DEG_LAT
        lon = self.lon0 + np.asarray(x_m, dtype=float) / self.m_per_deg_lon
        if np.ndim(lat) == 0 and np.ndim(lon) == 0:
            return float(lat), float(lon)
        return lat, lon

    def to_metres(self, lon, lat) -> np.ndarray:
        """WGS84 degrees to an ``(n, 2)`` array of metres (east, north); see :meth:`to_xy`."""
        x_m, y_m = self.to_xy(lat, lon)
        return np.column_stack([np.atleast_1d(x_m), np.atleast_1d(y_m)])

    def to_lonlat(self, xy_m) -> np.ndarray:
        """``(n, 2)`` metres (east, north) to an ``(n, 2)`` array of (lon, lat) degrees; see :meth:`to_latlon`."""
        xy_m = np.asarray(xy_m, dtype=float).reshape(-1, 2)
        lat, lon = self.to_latlon(xy_m[:, 0], xy_m[:, 1])
        return np.column_stack([lon, lat])


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
    """Great-circle distance between WGS84 points on the sphere of :data:`EARTH_RADIUS_M`.

    Parameters
    ----------
    lat1, lon1, lat2, lon2 : float or array_like
        Degrees; arrays broadcast.

    Returns
    -------
    float or numpy.ndarray
        Metres; a Python float when all four are Python numbers (a fast scalar path, for
        per-stop loops), else an array.
    """
    if all(isinstance(v, (int, float)) for v in (lat1, lon1, lat2, lon2)):
        p1, p2 = math.radians(lat1), math.radians(lat2)
        a = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
        return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dl = np.radians(np.asarray(lon2, dtype=float) - np.asarray(lon1, dtype=float))
    a = np.sin((p2 - p1) / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * np.arcsin(np.minimum(1.0, np.sqrt(a)))


# --- probe cells: the partition key of taxi.positions -------------------------------------------

#: edge of a probe cell, metres: a few blocks (the demo grid is 350 m), ~170 cells over Seoul
PROBE_CELL_M = 2000.0


def grid_cell(lat, lon, cell_m: float = PROBE_CELL_M) -> tuple[np.ndarray, np.ndarray]:
    """The probe cell of WGS84 points: a world grid of squares ``cell_m`` on a side.

    Rows are bands of latitude ``cell_m`` metres tall, counted from the equator:
    ``row = floor(lat * M_PER_DEG_LAT / cell_m)``. Each row is cut into columns
    ``cell_m`` metres wide at the row's middle latitude, counted from the prime
    meridian: ``col = floor(lon / width_deg(row))``. The grid depends on nothing
    but ``cell_m``, so every producer (the simulator, ``topis traffic probes``)
    and every consumer computes the same cell for the same point; cells are
    ``cell_m`` square to within 0.3 % at Seoul's latitude.

    A road link lies in the cells its geometry touches: one for most links,
    two for a link that crosses a cell edge (15 % of the demo city's 350 m
    links with 2 km cells; the demo city at scale 1 spans 12 cells). The fixes
    of such a link arrive under both keys, so a consumer keeps per-link sums
    that add up across partitions (as ``traffic.link_speeds`` does with
    ``dist_m``/``time_s``); and a taxi's consecutive fixes either side of a
    cell edge are in different partitions. Use :func:`cell_bounds` to select
    the links of a cell with a margin for GPS noise.

    Parameters
    ----------
    lat, lon : float or array_like
        Degrees; arrays broadcast.
    cell_m : float
        Cell edge, metres.

    Returns
    -------
    row, col : numpy.ndarray of int64
        Cell indices (0-d arrays for scalar input); :func:`cell_key` names the cell.

    Examples
    --------
    >>> row, col = grid_cell(37.5665, 126.9780)
    >>> cell_key(row, col)
    '2088:5595'
    """
    lat = np.asarray(lat, dtype=float)
    row = np.floor(lat * M_PER_DEG_LAT / cell_m).astype(np.int64)
    col = np.floor(np.asarray(lon, dtype=float) / _col_width_deg(row, cell_m)).astype(np.int64)
    return row, col


def _col_width_deg(row, cell_m: float) -> np.ndarray:
    mid_lat = (np.asarray(row) + 0.5) * cell_m / M_PER_DEG_LAT
    return cell_m / (M_PER_DEG_LAT * np.maximum(np.cos(np.radians(mid_lat)), 1e-9))


def cell_key(row, col) -> str:
    """Message key of a probe cell: ``"row:col"`` of :func:`grid_cell` (e.g. ``"2088:5595"``)."""
    return f"{int(row)}:{int(col)}"


def parse_cell_key(key: str) -> tuple[int, int]:
    """``(row, col)`` of a :func:`cell_key`; ValueError for any other text."""
    row, sep, col = key.partition(":")
    if not sep:
        raise ValueError(f"not a probe cell key: {key!r}")
    return int(row), int(col)


def cell_bounds(row: int, col: int, cell_m: float = PROBE_CELL_M) -> tuple[float, float, float, float]:
    """``(lat_min, lat_max, lon_min, lon_max)`` of a :func:`grid_cell` cell, degrees (min inclusive)."""
    lat_min, lat_max = row * cell_m / M_PER_DEG_LAT, (row + 1) * cell_m / M_PER_DEG_LAT
    width = float(_col_width_deg(row, cell_m))
    return lat_min, lat_max, col * width, (col + 1) * width

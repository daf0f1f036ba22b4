"""Flat numpy arrays of every route pattern, for vectorised bus movement."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from topis.city.model import City
from topis.geo import Projection, bearing_deg

#: pattern index multiplier in the sorted shape key (patterns are far shorter than 1,000 km)
_KEY_STRIDE_M = 1e6


@dataclass(frozen=True)
class PatternArrays:
    """All patterns' shapes and stops, concatenated; pattern ``p`` owns ``off[p]:off[p]+n[p]``."""

    route_ids: tuple[str, ...]  #: per pattern
    direction_ids: np.ndarray  #: per pattern
    index: dict  #: (route_id, direction_id) -> pattern
    shape_key: np.ndarray  #: p * stride + dist, sorted
    shape_dist_m: np.ndarray
    shape_lat: np.ndarray
    shape_lon: np.ndarray
    shape_heading_deg: np.ndarray  #: bearing of the segment starting at each point
    shape_off: np.ndarray
    shape_n: np.ndarray
    stop_off: np.ndarray  #: first stop of each pattern in the stop arrays
    stop_n: np.ndarray
    stop_dist_m: np.ndarray  #: distance along the shape of each pattern stop
    stop_ids: tuple[str, ...]  #: per pattern stop
    seg_speed_mps: np.ndarray  #: free-flow speed from each pattern stop to the next (0 at last)
    #: per pattern: sorted camera crossing distances and camera indices
    camera_dist_m: tuple[np.ndarray, ...]
    camera_idx: tuple[np.ndarray, ...]

    def position(self, p: np.ndarray, dist_m: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Interpolated (lat, lon, heading_deg) at ``dist_m`` along patterns ``p`` (arrays)."""
        i = np.searchsorted(self.shape_key, p * _KEY_STRIDE_M + dist_m, side="right") - 1
        i = np.clip(i, self.shape_off[p], self.shape_off[p] + self.shape_n[p] - 2)
        d0, d1 = self.shape_dist_m[i], self.shape_dist_m[i + 1]
        f = np.clip((dist_m - d0) / np.maximum(d1 - d0, 1e-9), 0.0, 1.0)
        lat = self.shape_lat[i] + f * (self.shape_lat[i + 1] - self.shape_lat[i])
        lon = self.shape_lon[i] + f * (self.shape_lon[i + 1] - self.shape_lon[i])
        return lat, lon, self.shape_heading_deg[i]


def pattern_arrays(city: City) -> PatternArrays:
    """Flatten the city's patterns (in route order, direction order) into :class:`PatternArrays`."""
    proj = Projection(city.center_lat, city.center_lon)
    cams_by_link: dict[str, list[tuple[float, int]]] = {}
    for k, cam in enumerate(city.cameras):
        cams_by_link.setdefault(cam.link_id, []).append((cam.offset_m, k))
    link_len = {d["link_id"]: d["length_m"] for _, _, d in city.graph.edges(data=True)}
    route_ids, dirs, index = [], [], {}
    keys, dist, lat, lon, head, shape_off, shape_n = [], [], [], [], [], [], []
    stop_off, stop_n, stop_d, stop_ids, seg_speed, cam_d, cam_i = [], [], [], [], [], [], []
    n_shape = n_stop = 0
    for route in city.routes:
        for pat in route.patterns:
            p = len(route_ids)
            index[(route.route_id, pat.direction_id)] = p
            route_ids.append(route.route_id)
            dirs.append(pat.direction_id)
            d = np.asarray(pat.shape_dist_m)
            la, lo = np.asarray(pat.shape_lat), np.asarray(pat.shape_lon)
            x, y = proj.to_xy(la, lo)
            h = bearing_deg(np.diff(x), np.diff(y))
            keys.append(p * _KEY_STRIDE_M + d)
            dist.append(d), lat.append(la), lon.append(lo), head.append(np.append(h, h[-1]))
            shape_off.append(n_shape), shape_n.append(len(d))
            n_shape += len(d)
            sd = np.asarray(pat.stop_dist_m)
            stop_off.append(n_stop), stop_n.append(len(sd))
            n_stop += len(sd)
            stop_d.append(sd)
            stop_ids.extend(pat.stop_ids)
            run = np.asarray(pat.segment_run_s)
            seg_speed.append(np.append(np.diff(sd) / np.maximum(run, 1e-6), 0.0))
            crossings = []
            start = 0.0
            for link_id in pat.link_ids:
                crossings += [(start + off, k) for off, k in cams_by_link.get(link_id, [])]
                start += link_len[link_id]
            crossings.sort()
            cam_d.append(np.array([c[0] for c in crossings], dtype=float))
            cam_i.append(np.array([c[1] for c in crossings], dtype=np.int64))
    cat = np.concatenate
    return PatternArrays(
        route_ids=tuple(route_ids), direction_ids=np.array(dirs), index=index,
        shape_key=cat(keys), shape_dist_m=cat(dist), shape_lat=cat(lat), shape_lon=cat(lon),
        shape_heading_deg=cat(head), shape_off=np.array(shape_off), shape_n=np.array(shape_n),
        stop_off=np.array(stop_off), stop_n=np.array(stop_n), stop_dist_m=cat(stop_d), stop_ids=tuple(stop_ids),
        seg_speed_mps=cat(seg_speed), camera_dist_m=tuple(cam_d), camera_idx=tuple(cam_i),
    )

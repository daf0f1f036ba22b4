"""The bus link-speed streaming step as it was before its per-message overhead was cut, for tests only.

A frozen copy of :func:`streams.traffic.linkspeeds.advance` and its helpers at commit
1abba0a (vectorised over the batch with shapely and numpy, no shortcuts): the readable
spec the fast step is compared against, to the last bit, on simulated batches. It uses
the module's own network, state and output types, so both run on the same objects.
"""

from __future__ import annotations

import math

import numpy as np
import shapely

from streams.traffic.linkspeeds import LinkSpeedState, SpeedRules, _Fix
from topis.schemas.traffic import LinkSpeed


def advance(state: LinkSpeedState, positions, net, rules: SpeedRules = SpeedRules()):
    fixes = sorted(positions, key=lambda p: (p.vehicle_id, p.ts))
    if fixes:
        _fold(state, fixes, net, rules)
        state.watermark_ts = max(state.watermark_ts, max(p.ts for p in fixes) - rules.lateness_s)
    return state, _emit(state, net, rules, state.watermark_ts)


def flush(state: LinkSpeedState, net, rules: SpeedRules = SpeedRules()):
    return _emit(state, net, rules, math.inf)


def map_fixes(net, x_m, y_m, max_snap_m, heading_deg=None, tie_m=2.0):
    n = len(x_m)
    link = np.full(n, -1, dtype=np.int64)
    along = np.full(n, np.nan)
    if n == 0:
        return link, along
    pts = shapely.points(x_m, y_m)
    pt_idx, ln_idx = net.tree.query(pts, predicate="dwithin", distance=max_snap_m)
    if len(pt_idx) == 0:
        return link, along
    dist = shapely.distance(pts[pt_idx], net.lines[ln_idx])
    best = np.full(n, np.inf)
    np.minimum.at(best, pt_idx, dist)
    keep = dist <= best[pt_idx] + tie_m
    pt_idx, ln_idx, dist = pt_idx[keep], ln_idx[keep], dist[keep]
    pos = shapely.line_locate_point(net.lines[ln_idx], pts[pt_idx])
    cost = ln_idx.astype(float) * 1e-9
    if heading_deg is not None:
        head = np.asarray(heading_deg, dtype=float)[pt_idx]
        diff = _angle_diff_deg(_line_bearing_deg(net.lines[ln_idx], pos), head)
        cost = cost + np.where(np.isnan(diff), 0.0, diff)
    order = np.lexsort((cost, pt_idx))
    first = np.ones(len(order), dtype=bool)
    first[1:] = pt_idx[order][1:] != pt_idx[order][:-1]
    sel = order[first]
    link[pt_idx[sel]] = ln_idx[sel]
    along[pt_idx[sel]] = pos[sel] * net.scale[ln_idx[sel]]
    return link, along


def _line_bearing_deg(lines, pos_m):
    length = shapely.length(lines)
    a = shapely.line_interpolate_point(lines, np.clip(pos_m - 1.0, 0.0, length))
    b = shapely.line_interpolate_point(lines, np.clip(pos_m + 1.0, 0.0, length))
    return np.degrees(np.arctan2(shapely.get_x(b) - shapely.get_x(a), shapely.get_y(b) - shapely.get_y(a))) % 360.0


def _angle_diff_deg(a, b):
    return np.abs((a - b + 180.0) % 360.0 - 180.0)


def pair_distances(net, l1, s1, l2, s2):
    dist = np.full(len(l1), np.nan)
    first = np.full(len(l1), np.nan)
    same = l1 == l2
    dist[same] = np.abs(s2[same] - s1[same])
    first[same] = dist[same]
    len1, len2 = net.length_m[l1], net.length_m[l2]
    for end1, end2 in ((0, 0), (0, 1), (1, 0), (1, 1)):
        n1 = net.start_node[l1] if end1 == 0 else net.end_node[l1]
        n2 = net.start_node[l2] if end2 == 0 else net.end_node[l2]
        part1 = s1 if end1 == 0 else len1 - s1
        part2 = s2 if end2 == 0 else len2 - s2
        cand = (~same) & (n1 == n2)
        better = cand & ~(part1 + part2 >= dist)
        dist[better] = part1[better] + part2[better]
        first[better] = part1[better]
    return dist, first


def _fold(state, fixes, net, rules):
    veh = [p.vehicle_id for p in fixes]
    ts = np.array([p.ts for p in fixes])
    x, y = net.to_xy([p.lat for p in fixes], [p.lon for p in fixes])
    heading = np.array([np.nan if p.heading_deg is None else p.heading_deg for p in fixes])
    speed = np.array([-1.0 if p.speed_kph is None else p.speed_kph for p in fixes])
    link, along = map_fixes(net, x, y, rules.max_snap_m, heading)
    prev = [state.last_fix.get(v) if i == 0 or veh[i - 1] != v else None for i, v in enumerate(veh)]
    has_prev = np.array([i > 0 and veh[i - 1] == v or prev[i] is not None for i, v in enumerate(veh)])
    p_ts, p_x, p_y, p_l, p_s, p_v = (np.roll(a, 1) for a in (ts, x, y, link, along, speed))
    for i, f in enumerate(prev):
        if f is not None:
            p_ts[i], p_x[i], p_y[i], p_l[i], p_s[i], p_v[i] = f.ts, f.x_m, f.y_m, f.link, f.along_m, f.speed_kph
    for i, v in enumerate(veh):
        old = state.last_fix.get(v)
        if (i + 1 == len(veh) or veh[i + 1] != v) and (old is None or ts[i] >= old.ts):
            s_m = float(along[i]) if link[i] >= 0 else 0.0
            state.last_fix[v] = _Fix(float(ts[i]), float(x[i]), float(y[i]), int(link[i]), s_m, float(speed[i]))
    i = np.flatnonzero(has_prev)
    _pairs(state, [veh[k] for k in i], (p_ts[i], p_x[i], p_y[i], p_l[i], p_s[i], p_v[i]),
           (ts[i], x[i], y[i], link[i], along[i], speed[i]), net, rules)


def _drop(state, reason, n):
    if n:
        state.pairs_dropped[reason] = state.pairs_dropped.get(reason, 0) + int(n)


def _pairs(state, veh, first_fix, second_fix, net, rules):
    t1, x1, y1, l1, s1, v1 = first_fix
    t2, x2, y2, l2, s2, v2 = second_fix
    dt = t2 - t1
    ok = (l1 >= 0) & (l2 >= 0)
    _drop(state, "unmapped", np.sum(~ok))
    bad_dt = ok & ((dt <= 0) | (dt > rules.max_gap_s))
    _drop(state, "time_gap", np.sum(bad_dt))
    ok &= ~bad_dt
    dist, first = pair_distances(net, np.where(ok, l1, 0), s1, np.where(ok, l2, 0), s2)
    far = ok & np.isnan(dist)
    _drop(state, "not_adjacent", np.sum(far))
    ok &= ~far
    jump_m = np.hypot(x2 - x1, y2 - y1)
    with np.errstate(invalid="ignore", divide="ignore"):
        fast = ok & ((dist / dt * 3.6 > rules.max_speed_kph) | (jump_m > dist + 2 * rules.max_snap_m))
    _drop(state, "teleport", np.sum(fast))
    ok &= ~fast
    frozen = ok & (x1 == x2) & (y1 == y2)
    _drop(state, "frozen_position", np.sum(frozen))
    ok &= ~frozen
    slow1 = (v1 >= 0) & (v1 < rules.dwell_speed_kph)
    slow2 = (v2 >= 0) & (v2 < rules.dwell_speed_kph)
    still = dist < rules.dwell_move_m
    cand = np.flatnonzero(ok & (still | slow1 | slow2))
    near1 = _near_stop(net, x1[cand], y1[cand], rules)
    near2 = _near_stop(net, x2[cand], y2[cand], rules)
    dwell = np.zeros(len(ok), dtype=bool)
    dwell[cand] = (near1 & (slow1[cand] | still[cand])) | (near2 & (slow2[cand] | still[cand]))
    _drop(state, "dwell_at_stop", np.sum(dwell))
    ok &= ~dwell
    state.pairs_used += int(ok.sum())
    for i in np.flatnonzero(ok):
        d, d1, tt = float(dist[i]), float(first[i]), float(dt[i])
        t_first = tt * d1 / d if d > 0 else tt
        _add(state, int(l1[i]), float(t1[i]) + t_first / 2, d1, t_first, veh[i], rules)
        if l2[i] != l1[i]:
            _add(state, int(l2[i]), float(t1[i]) + t_first + (tt - t_first) / 2, d - d1, tt - t_first, veh[i], rules)


def _near_stop(net, x, y, rules):
    near = np.zeros(len(x), dtype=bool)
    if len(x):
        pt_idx, _ = net.stop_tree.query(shapely.points(x, y), predicate="dwithin", distance=rules.stop_radius_m)
        near[pt_idx] = True
    return near


def _add(state, link, mid_ts, dist_m, time_s, vehicle, rules):
    start = int(math.floor(mid_ts / rules.bin_s) * rules.bin_s)
    acc = state.open_bins.setdefault(link, {}).setdefault(start, [0.0, 0.0])
    acc[0] += dist_m
    acc[1] += time_s
    if vehicle not in acc[2:]:
        acc.append(vehicle)


def _emit(state, net, rules, watermark_ts):
    out = []
    for link in sorted(state.open_bins):
        bins = state.open_bins[link]
        for start in sorted(b for b in bins if b + rules.bin_s <= watermark_ts):
            d, t, *vehicles = bins.pop(start)
            if t > 0:
                out.append(LinkSpeed(net.link_ids[link], float(start), d / t * 3.6, len(vehicles), d, t))
        if not bins:
            del state.open_bins[link]
    return out

"""Plain-Python twin of the map matcher's kernels (``streams/traffic/_kernels.py``), for tests only.

The readable spec: candidates by brute force over every link (no grid), the Viterbi window
as a list of columns per vehicle, the shortest-path table as a dict. Same arithmetic in the
same order as the kernels, so results agree to the last bit on the same inputs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

MATCHED, DROPPED, NO_CANDIDATE = 0, 1, 2


def project(net, link, px, py):
    """(distance, along_m, bearing_deg) of a point to a link: the nearest point of its polyline."""
    vert_ptr, vx, vy, valong = net.geo
    best = (math.inf, 0.0, 0.0)
    for j in range(vert_ptr[link], vert_ptr[link + 1] - 1):
        ax, ay = float(vx[j]), float(vy[j])
        dx, dy = float(vx[j + 1]) - ax, float(vy[j + 1]) - ay
        seg2 = dx * dx + dy * dy
        t = min(1.0, max(0.0, ((px - ax) * dx + (py - ay) * dy) / seg2)) if seg2 > 0.0 else 0.0
        ex, ey = ax + t * dx - px, ay + t * dy - py
        d2 = ex * ex + ey * ey
        if d2 < best[0]:
            best = (d2, float(valong[j]) + t * (float(valong[j + 1]) - float(valong[j])),
                    math.degrees(math.atan2(dx, dy)) % 360.0)
    return math.sqrt(best[0]), best[1], best[2]


def candidates(net, px, py, radius_m, k_max):
    """[(link, along, dist, bearing)] of the k nearest links within the radius, by (dist, link)."""
    if not (math.isfinite(px) and math.isfinite(py)):
        return []
    found = []
    for link in range(len(net.link_ids)):
        d, along, bear = project(net, link, px, py)
        if d <= radius_m:
            found.append((d, link, along, bear))
    found.sort()
    return [(link, along, d, bear) for d, link, along, bear in found[:k_max]]


def od_table(net):
    """{(u, w): (dist_m, first_link)} of the kernels' bounded shortest-path table."""
    od_ptr, od_node, od_dist, od_first = net.od
    return {(u, int(od_node[j])): (float(od_dist[j]), int(od_first[j]))
            for u in range(len(od_ptr) - 1) for j in range(od_ptr[u], od_ptr[u + 1])}


def route_m(net, od, la, sa, lb, sb, tol):
    if la == lb and sb >= sa - tol:
        return max(sb - sa, 0.0)
    u, w = int(net.end_node[la]), int(net.start_node[lb])
    if u == w:
        return (float(net.length_m[la]) - sa) + sb
    if (u, w) not in od:
        return math.inf
    return (float(net.length_m[la]) - sa) + od[(u, w)][0] + sb


@dataclass
class Column:
    start: bool
    seq: int
    ts: float
    x: float
    y: float
    cands: list  #: [(link, along)]
    back: list  #: index into the previous column, -1 at a chain start


@dataclass
class Vehicle:
    window: list = field(default_factory=list)  #: of Column, oldest first
    score: list = field(default_factory=list)  #: of the newest column
    last_ts: float = -math.inf
    decided: tuple | None = None  #: (ts, link, along) of the last decided fix
    entry_ts: float = math.nan


class Twin:
    """The matcher over many batches: ``advance`` then ``flush``; records as tuples."""

    def __init__(self, net, rules):
        self.net, self.rules, self.od = net, rules, od_table(net)
        self.vehicles: dict[str, Vehicle] = {}
        self.n_seen = 0

    def advance(self, vehicle_id, ts_s, x_m, y_m, heading_deg):
        """(fixes [(seq, vehicle, ts, link, along, status)], traversals [(vehicle, link, entry, exit)])."""
        r = self.rules
        fixes, trav = [], []
        rows = sorted(range(len(ts_s)), key=lambda i: (vehicle_id[i], float(ts_s[i]), i))
        for i in rows:
            vid, ts, x, y, h = vehicle_id[i], float(ts_s[i]), float(x_m[i]), float(y_m[i]), float(heading_deg[i])
            veh = self.vehicles.setdefault(vid, Vehicle())
            seq = self.n_seen + i
            if not ts > veh.last_ts:
                fixes.append((seq, vid, ts, -1, math.nan, DROPPED))
                continue
            veh.last_ts = ts
            cands = candidates(self.net, x, y, r.radius_m, r.max_candidates)
            if not cands:
                fixes.append((seq, vid, ts, -1, math.nan, NO_CANDIDATE))
                continue
            emission = []
            for _, _, d, bear in cands:
                em = -0.5 * (d / r.sigma_m) ** 2
                if math.isfinite(h):
                    em -= 0.5 * (abs((h - bear + 180.0) % 360.0 - 180.0) / r.heading_sigma_deg) ** 2
                emission.append(em)
            score, back = [-math.inf] * len(cands), [-1] * len(cands)
            if veh.window and ts - veh.window[-1].ts <= r.max_gap_s:
                prev = veh.window[-1]
                dt = ts - prev.ts
                gc = math.hypot(x - prev.x, y - prev.y)
                for b, (lb, sb, _, _) in enumerate(cands):
                    for a, (la, sa) in enumerate(prev.cands):
                        if veh.score[a] == -math.inf:
                            continue
                        rm = route_m(self.net, self.od, la, sa, lb, sb, r.reverse_tolerance_m)
                        if rm > r.max_speed_kph / 3.6 * dt + r.radius_m:
                            continue
                        s = veh.score[a] - abs(rm - gc) / r.beta_m
                        if s > score[b]:
                            score[b], back[b] = s, a
            broken = all(a < 0 for a in back)
            if broken:
                self._flush(vid, veh, fixes, trav)
                score = emission
            else:
                score = [s + em for s, em in zip(score, emission)]
            top = max(score)
            veh.score = [s - top for s in score]
            veh.window.append(Column(broken, seq, ts, x, y, [(c[0], c[1]) for c in cands], back))
            while len(veh.window) > r.lag_fixes:
                self._decide_oldest(vid, veh, fixes, trav)
        self.n_seen += len(ts_s)
        if len(ts_s):
            newest = max(float(t) for t in ts_s)
            for vid, veh in self.vehicles.items():
                if veh.window and veh.last_ts < newest - r.idle_s:
                    self._flush(vid, veh, fixes, trav)
        return fixes, trav

    def flush(self):
        fixes, trav = [], []
        for vid, veh in self.vehicles.items():
            self._flush(vid, veh, fixes, trav)
        return fixes, trav

    def _flush(self, vid, veh, fixes, trav):
        while veh.window:
            self._decide_oldest(vid, veh, fixes, trav)

    def _root(self, veh, b):
        for col in reversed(veh.window[1:]):
            b = col.back[b]
        return b

    def _decide_oldest(self, vid, veh, fixes, trav):
        best = max(range(len(veh.score)), key=lambda b: (veh.score[b], -b))
        choice = self._root(veh, best)
        if len(veh.window) > 1:
            veh.score = [s if s == -math.inf or self._root(veh, b) == choice else -math.inf
                         for b, s in enumerate(veh.score)]
        col = veh.window.pop(0)
        if veh.window:
            veh.window[0].back = [-1] * len(veh.window[0].back)
        lb, sb = col.cands[choice]
        fixes.append((col.seq, vid, col.ts, lb, sb, MATCHED))
        self._traverse(vid, veh, col.start, col.ts, lb, sb, trav)

    def _traverse(self, vid, veh, start, tb, lb, sb, trav):
        net, tol = self.net, self.rules.reverse_tolerance_m
        previous, veh.decided = veh.decided, (tb, lb, sb)
        if start:
            veh.entry_ts = math.nan
            return
        ta, la, sa = previous
        if la == lb and sb >= sa - tol:
            return
        total = route_m(net, self.od, la, sa, lb, sb, tol)
        if not math.isfinite(total):
            veh.entry_ts = math.nan
            return

        def at(done):
            return ta + (tb - ta) * done / total if total > 0.0 else ta

        done = float(net.length_m[la]) - sa
        path = [(la, veh.entry_ts, at(done))]
        node, target = int(net.end_node[la]), int(net.start_node[lb])
        while node != target:
            e = self.od[(node, target)][1]
            entry = at(done)
            done += float(net.length_m[e])
            path.append((e, entry, at(done)))
            node = int(net.end_node[e])
        trav += [(vid, e, t0, t1) for e, t0, t1 in path if math.isfinite(t0)]
        veh.entry_ts = at(done)

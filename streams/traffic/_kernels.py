"""Numba kernels of the probe map matcher (:mod:`streams.traffic.mapmatch`). Arrays in, arrays out.

Each kernel has a plain-Python twin in ``tests/streams/mapmatch_twins.py``; the tests
compare them on seeded random batches (noise, duplicates, out-of-order fixes, gaps).
The public wrappers in :mod:`streams.traffic.mapmatch` validate and convert; these trust
their inputs.

Array groups passed as tuples (all indexed by link ``l``, node ``u`` or vehicle slot ``v``):

``geo``   ``(vert_ptr, vert_x, vert_y, vert_along_m)``: link ``l``'s polyline is vertices
          ``vert_ptr[l]:vert_ptr[l + 1]`` in local metres, ``vert_along_m`` the distance of each
          vertex from the link's start (scaled to the link's ``length_m``).
``grid``  ``(x0_m, y0_m, cell_m, n_x, n_y, cell_ptr, cell_links)``: links touching cell
          ``cx * n_y + cy`` are ``cell_links[cell_ptr[c]:cell_ptr[c + 1]]``.
``net``   ``(start_node, end_node, length_m, od_ptr, od_node, od_dist_m, od_first_link)``: the
          bounded shortest-path table; from node ``u`` the reachable nodes (sorted) are
          ``od_node[od_ptr[u]:od_ptr[u + 1]]``, with the distance and the first link of the path.
``st``    the per-vehicle window (see :class:`streams.traffic.mapmatch.MatchState`), changed in place.
``out``   preallocated output columns; ``count[0]`` finalized fixes, ``count[1]`` traversals.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

#: status of a fix in the output
MATCHED, DROPPED, NO_CANDIDATE = 0, 1, 2


@njit(cache=True)
def _project(l, px, py, vert_ptr, vert_x, vert_y, vert_along_m):
    """Distance from (px, py) to link ``l``, the distance along it, and its bearing there (degrees)."""
    best_d2 = np.inf
    best_along = 0.0
    best_bearing = 0.0
    for j in range(vert_ptr[l], vert_ptr[l + 1] - 1):
        ax, ay = vert_x[j], vert_y[j]
        dx, dy = vert_x[j + 1] - ax, vert_y[j + 1] - ay
        seg2 = dx * dx + dy * dy
        t = 0.0
        if seg2 > 0.0:
            t = min(1.0, max(0.0, ((px - ax) * dx + (py - ay) * dy) / seg2))
        ex, ey = ax + t * dx - px, ay + t * dy - py
        d2 = ex * ex + ey * ey
        if d2 < best_d2:
            best_d2 = d2
            best_along = vert_along_m[j] + t * (vert_along_m[j + 1] - vert_along_m[j])
            best_bearing = math.degrees(math.atan2(dx, dy)) % 360.0
    return math.sqrt(best_d2), best_along, best_bearing


@njit(cache=True)
def candidates(x_m, y_m, geo, grid, radius_m, k_max):
    """The ``k_max`` nearest links within ``radius_m`` of each point, nearest first (ties: lower link).

    Cost per point: the links of the grid cells within ``radius_m``, each projected once.

    Returns
    -------
    (link int64[n, k], along_m float64[n, k], dist_m float64[n, k], bearing_deg float64[n, k], n_cand int64[n])
        Unused slots hold -1 / NaN / inf / NaN.
    """
    vert_ptr, vert_x, vert_y, vert_along_m = geo
    x0, y0, cell_m, n_x, n_y, cell_ptr, cell_links = grid
    n = len(x_m)
    c_link = np.full((n, k_max), -1, dtype=np.int64)
    c_along = np.full((n, k_max), np.nan)
    c_dist = np.full((n, k_max), np.inf)
    c_bear = np.full((n, k_max), np.nan)
    c_n = np.zeros(n, dtype=np.int64)
    seen = np.full(len(vert_ptr) - 1, -1, dtype=np.int64)
    for i in range(n):
        px, py = x_m[i], y_m[i]
        if not (np.isfinite(px) and np.isfinite(py)):
            continue
        cx0 = int(math.floor((px - radius_m - x0) / cell_m))
        cx1 = int(math.floor((px + radius_m - x0) / cell_m))
        cy0 = int(math.floor((py - radius_m - y0) / cell_m))
        cy1 = int(math.floor((py + radius_m - y0) / cell_m))
        if cx1 < 0 or cy1 < 0 or cx0 >= n_x or cy0 >= n_y:
            continue
        for cx in range(max(cx0, 0), min(cx1, n_x - 1) + 1):
            for cy in range(max(cy0, 0), min(cy1, n_y - 1) + 1):
                c = cx * n_y + cy
                for j in range(cell_ptr[c], cell_ptr[c + 1]):
                    l = cell_links[j]
                    if seen[l] == i:
                        continue
                    seen[l] = i
                    d, along, bear = _project(l, px, py, vert_ptr, vert_x, vert_y, vert_along_m)
                    if d > radius_m:
                        continue
                    _insert(i, l, d, along, bear, c_link, c_along, c_dist, c_bear, c_n, k_max)
    return c_link, c_along, c_dist, c_bear, c_n


@njit(cache=True)
def _insert(i, l, d, along, bear, c_link, c_along, c_dist, c_bear, c_n, k_max):
    """Insert a candidate into row ``i`` kept sorted by (distance, link)."""
    m = c_n[i]
    pos = m
    while pos > 0 and (d < c_dist[i, pos - 1] or (d == c_dist[i, pos - 1] and l < c_link[i, pos - 1])):
        pos -= 1
    if pos >= k_max:
        return
    last = min(m, k_max - 1)
    for q in range(last, pos, -1):
        c_link[i, q], c_along[i, q] = c_link[i, q - 1], c_along[i, q - 1]
        c_dist[i, q], c_bear[i, q] = c_dist[i, q - 1], c_bear[i, q - 1]
    c_link[i, pos], c_along[i, pos], c_dist[i, pos], c_bear[i, pos] = l, along, d, bear
    c_n[i] = min(m + 1, k_max)


@njit(cache=True)
def _od_row(u, target, od_ptr, od_node):
    """Position of ``target`` in node ``u``'s row of the shortest-path table, -1 beyond its bound."""
    lo, hi = od_ptr[u], od_ptr[u + 1]
    while lo < hi:
        mid = (lo + hi) // 2
        if od_node[mid] < target:
            lo = mid + 1
        else:
            hi = mid
    if lo < od_ptr[u + 1] and od_node[lo] == target:
        return lo
    return -1


@njit(cache=True)
def route_m(la, sa, lb, sb, net, reverse_tolerance_m):
    """Driving distance from ``sa`` along link ``la`` to ``sb`` along ``lb``; inf beyond the table's bound.

    On one link, going back by up to ``reverse_tolerance_m`` is GPS noise (distance 0);
    further back means leaving the link and coming round to it again.
    """
    start_node, end_node, length_m, od_ptr, od_node, od_dist_m, od_first_link = net
    if la == lb and sb >= sa - reverse_tolerance_m:
        return max(sb - sa, 0.0)
    u, w = end_node[la], start_node[lb]
    if u == w:
        return (length_m[la] - sa) + sb
    k = _od_row(u, w, od_ptr, od_node)
    if k < 0:
        return np.inf
    return (length_m[la] - sa) + od_dist_m[k] + sb


@njit(cache=True)
def advance(order, slot, seq, ts_s, x_m, y_m, heading_deg, cand, net, st, out, count, params):
    """Fold fixes into the per-vehicle Viterbi windows; finalize fixes ``lag`` fixes old.

    ``order`` sorts the fixes by (slot, ts, seq). A fix no later than the vehicle's previous
    one (duplicate, late) is DROPPED; one with no candidate link is NO_CANDIDATE and leaves
    the chain as it was. ``params = (sigma_m, beta_m, heading_sigma_deg, max_speed_mps,
    radius_m, max_gap_s, reverse_tolerance_m, lag)``.

    Cost per fix: k² route lookups (each a binary search) plus, when a fix is finalized,
    k · lag backpointer steps and one table lookup per link crossed.
    """
    c_link, c_along, c_dist, c_bear, c_n = cand
    w_n, w_start, w_seq, w_ts, w_x, w_y, w_nc, w_link, w_along, w_back, score = st[:11]
    last_ts = st[15]
    sigma_m, beta_m, heading_sigma_deg, max_speed_mps, radius_m, max_gap_s, reverse_tolerance_m, lag = params
    k_max = c_link.shape[1]
    new_score = np.empty(k_max)
    new_back = np.empty(k_max, dtype=np.int64)
    emission = np.empty(k_max)
    for r in range(len(order)):
        i = order[r]
        v = slot[i]
        if not ts_s[i] > last_ts[v]:
            _emit_fix(out, count, seq[i], v, ts_s[i], -1, np.nan, DROPPED)
            continue
        last_ts[v] = ts_s[i]
        nc = c_n[i]
        if nc == 0:
            _emit_fix(out, count, seq[i], v, ts_s[i], -1, np.nan, NO_CANDIDATE)
            continue
        for b in range(nc):
            emission[b] = _emission(c_dist[i, b], c_bear[i, b], heading_deg[i], sigma_m, heading_sigma_deg)
            new_score[b] = -np.inf
            new_back[b] = -1
        broken = True
        n = w_n[v]
        if n > 0 and ts_s[i] - w_ts[v, n - 1] <= max_gap_s:
            j = n - 1
            dt = ts_s[i] - w_ts[v, j]
            gc = math.hypot(x_m[i] - w_x[v, j], y_m[i] - w_y[v, j])
            reach = max_speed_mps * dt + radius_m
            for b in range(nc):
                new_back[b], new_score[b] = _best_previous(v, j, c_link[i, b], c_along[i, b], gc, reach, st, net,
                                                           beta_m, reverse_tolerance_m)
                if new_back[b] >= 0:
                    broken = False
        if broken:
            flush_slot(v, net, st, out, count, reverse_tolerance_m)
        for b in range(nc):
            new_score[b] = emission[b] if broken else new_score[b] + emission[b]
        n = w_n[v]
        top = -np.inf
        for b in range(nc):
            top = max(top, new_score[b])
        for b in range(k_max):
            if b < nc:
                score[v, b] = new_score[b] - top  # keeps scores near 0 over long chains
                w_link[v, n, b], w_along[v, n, b], w_back[v, n, b] = c_link[i, b], c_along[i, b], new_back[b]
            else:
                score[v, b] = -np.inf
                w_link[v, n, b], w_along[v, n, b], w_back[v, n, b] = -1, np.nan, -1
        w_start[v, n] = broken
        w_seq[v, n], w_ts[v, n], w_x[v, n], w_y[v, n], w_nc[v, n] = seq[i], ts_s[i], x_m[i], y_m[i], nc
        w_n[v] = n + 1
        while w_n[v] > lag:
            finalize_oldest(v, net, st, out, count, reverse_tolerance_m)


@njit(cache=True)
def _emission(dist_m, bearing_deg, heading_deg, sigma_m, heading_sigma_deg):
    """Log-likelihood of a candidate, less constants: Gaussian distance, Gaussian heading difference if known."""
    em = -0.5 * (dist_m / sigma_m) ** 2
    if np.isfinite(heading_deg):
        diff = abs((heading_deg - bearing_deg + 180.0) % 360.0 - 180.0)
        em -= 0.5 * (diff / heading_sigma_deg) ** 2
    return em


@njit(cache=True)
def _best_previous(v, j, lb, sb, gc_m, reach_m, st, net, beta_m, reverse_tolerance_m):
    """(index, score) of the best candidate of column ``j`` of slot ``v`` to come from to (lb, sb); -1, -inf if none.

    Transition log-likelihood less constants: ``-|route - great circle| / beta``; routes
    longer than ``reach_m`` are impossible. Ties go to the lower index.
    """
    w_nc, w_link, w_along, score = st[6], st[7], st[8], st[10]
    best_a, best = -1, -np.inf
    for a in range(w_nc[v, j]):
        if score[v, a] == -np.inf:
            continue
        rm = route_m(w_link[v, j, a], w_along[v, j, a], lb, sb, net, reverse_tolerance_m)
        if rm > reach_m:
            continue
        s = score[v, a] - abs(rm - gc_m) / beta_m
        if s > best:
            best_a, best = a, s
    return best_a, best


@njit(cache=True)
def flush_slot(v, net, st, out, count, reverse_tolerance_m):
    """Finalize every pending fix of slot ``v`` along its best path."""
    w_n = st[0]
    while w_n[v] > 0:
        finalize_oldest(v, net, st, out, count, reverse_tolerance_m)


@njit(cache=True)
def flush(slots, net, st, out, count, reverse_tolerance_m):
    """Finalize every pending fix of the given slots (end of a replay, idle vehicles)."""
    for v in slots:
        flush_slot(v, net, st, out, count, reverse_tolerance_m)


@njit(cache=True)
def finalize_oldest(v, net, st, out, count, reverse_tolerance_m):
    """Decide the oldest pending fix of slot ``v`` from the best path now, and keep only paths through it.

    The decision is the oldest fix on the best path ending at the newest fix; newest-column
    candidates whose paths pass elsewhere are dropped, so later decisions stay one path.
    """
    w_n, w_start, w_seq, w_ts, w_x, w_y, w_nc, w_link, w_along, w_back, score = st[:11]
    n = w_n[v]
    j = n - 1
    best = 0
    for b in range(1, w_nc[v, j]):
        if score[v, b] > score[v, best]:
            best = b
    choice = _root(v, best, n, w_back)
    if n > 1:
        for b in range(w_nc[v, j]):
            if score[v, b] > -np.inf and _root(v, b, n, w_back) != choice:
                score[v, b] = -np.inf
    lb, sb = w_link[v, 0, choice], w_along[v, 0, choice]
    _emit_fix(out, count, w_seq[v, 0], v, w_ts[v, 0], lb, sb, MATCHED)
    _advance_traversal(v, lb, sb, w_ts[v, 0], w_start[v, 0], net, st, out, count, reverse_tolerance_m)
    for c in range(1, n):
        w_start[v, c - 1], w_seq[v, c - 1], w_ts[v, c - 1] = w_start[v, c], w_seq[v, c], w_ts[v, c]
        w_x[v, c - 1], w_y[v, c - 1], w_nc[v, c - 1] = w_x[v, c], w_y[v, c], w_nc[v, c]
        for b in range(w_link.shape[2]):
            w_link[v, c - 1, b], w_along[v, c - 1, b] = w_link[v, c, b], w_along[v, c, b]
            w_back[v, c - 1, b] = -1 if c == 1 else w_back[v, c, b]
    w_n[v] = n - 1


@njit(cache=True)
def _root(v, b, n, w_back):
    """Candidate index in column 0 of the path that ends at candidate ``b`` of column ``n - 1``."""
    idx = b
    for c in range(n - 1, 0, -1):
        idx = w_back[v, c, idx]
    return idx


@njit(cache=True)
def _advance_traversal(v, lb, sb, tb, chain_start, net, st, out, count, reverse_tolerance_m):
    """Emit the links completed between the previous finalized fix of ``v`` and this one (lb, sb at tb).

    Time along the driven path is interpolated linearly in distance between the two fixes.
    A link counts as traversed when both its entry and its exit fall between finalized fixes of
    one chain; the first link of a chain was entered at an unknown time.
    """
    start_node, end_node, length_m, od_ptr, od_node, od_dist_m, od_first_link = net
    f_ts, f_link, f_along, entry_ts = st[11], st[12], st[13], st[14]
    if chain_start:
        f_ts[v], f_link[v], f_along[v], entry_ts[v] = tb, lb, sb, np.nan
        return
    la, sa, ta = f_link[v], f_along[v], f_ts[v]
    f_ts[v], f_link[v], f_along[v] = tb, lb, sb
    total = route_m(la, sa, lb, sb, net, reverse_tolerance_m)
    if la == lb and sb >= sa - reverse_tolerance_m:
        return
    if not np.isfinite(total):
        entry_ts[v] = np.nan
        return
    done = length_m[la] - sa
    t_exit = _time_at(ta, tb, done, total)
    _emit_traversal(out, count, v, la, entry_ts[v], t_exit)
    node, target = end_node[la], start_node[lb]
    while node != target:
        e = od_first_link[_od_row(node, target, od_ptr, od_node)]
        t_entry = _time_at(ta, tb, done, total)
        done += length_m[e]
        _emit_traversal(out, count, v, e, t_entry, _time_at(ta, tb, done, total))
        node = end_node[e]
    entry_ts[v] = _time_at(ta, tb, done, total)


@njit(cache=True)
def _time_at(ta, tb, done_m, total_m):
    if total_m > 0.0:
        return ta + (tb - ta) * done_m / total_m
    return ta


@njit(cache=True)
def _emit_fix(out, count, seq, v, ts, link, along, status):
    m_seq, m_slot, m_ts, m_link, m_along, m_status = out[:6]
    k = count[0]
    m_seq[k], m_slot[k], m_ts[k], m_link[k], m_along[k], m_status[k] = seq, v, ts, link, along, status
    count[0] = k + 1


@njit(cache=True)
def _emit_traversal(out, count, v, link, entry_ts, exit_ts):
    if not np.isfinite(entry_ts):
        return
    t_slot, t_link, t_entry, t_exit = out[6:]
    k = count[1]
    t_slot[k], t_link[k], t_entry[k], t_exit[k] = v, link, entry_ts, exit_ts
    count[1] = k + 1

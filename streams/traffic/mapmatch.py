"""Map matching of probe GPS fixes to road links, and the link traversals they imply.

The matcher is the hidden Markov model of Newson & Krumm (2009), "Hidden Markov map
matching through noise and sparseness":

* **candidates** of a fix: the ``max_candidates`` nearest directed links within
  ``radius_m`` (a numpy grid of cells over the links; the two directions of a two-way
  road are two candidates at the same distance);
* **emission**: Gaussian in the distance to the candidate, ``sigma_m`` (the GPS noise),
  times a Gaussian in the difference between the fix's heading (when given) and the
  link's bearing, ``heading_sigma_deg``;
* **transition**: exponential in ``|route distance - great-circle distance|`` with scale
  ``beta_m``. Route distances come from a shortest-path table over the road graph
  precomputed once (networkx Dijkstra from every node, cut off at ``max_route_m``), so a
  transition is a binary search, never a search of the graph. Routes longer than the
  vehicle could drive at ``max_speed_kph`` are impossible;
* **Viterbi**, incrementally with a bounded lag: each vehicle keeps a window of its last
  ``lag_fixes`` fixes with their candidates, scores and backpointers
  (:class:`MatchState`, carried between batches). When a fix is ``lag_fixes`` old it is
  decided from the best path ending at the newest fix, and the paths that do not pass
  through that decision are dropped, so the decided fixes always form one path. A fix
  with no transition from any previous candidate (a jump, or a gap over ``max_gap_s``)
  starts a new chain; a fix with no candidate link is reported unmatched and skipped.

From consecutive decided fixes the driven path is rebuilt from the table, and time along
it is interpolated linearly in distance; each link whose entry and exit both fall inside
one chain is a **traversal** (entry and exit times). :mod:`streams.traffic.traversal_speeds`
turns traversals into link speeds per time bin.

The hot loop is in :mod:`streams.traffic._kernels` (Numba), its plain-Python twin in
``tests/streams/mapmatch_twins.py``.

Choice of matcher
-----------------
``benchmarks/mapmatch.py`` matches the same synthetic taxi traces with this kernel and with
``fastmm`` 0.3.2 (PyPI wheel; a C++ port of FMM, Yang & Gidófalvi 2018, with a UBODT), same
radius, candidates, GPS error, route bound and reverse tolerance. Demo city seed 1 scale 1
(978 links), 300 taxis × 60 min, 109,731 fixes (one per 10 s, noise N(0, 8 m) per axis,
5 % dropped); one thread, best of 3 runs on a shared 2-CPU machine:

=========================================  =========  ============
matcher                                     fixes/s    on true link
=========================================  =========  ============
this kernel, whole trace in one batch       145,974    97.91 %
this kernel, stream of 30 s batches         108,927    97.91 %
this kernel, stream, with headings          110,394    98.87 %
fastmm, match() and reading its results      30,030    97.79 %
fastmm, its match() calls alone              79,834    97.79 %
plain-Python twin (10 taxis)                    116    97.95 %
=========================================  =========  ============

With one fix per 30 s and 15 m noise: kernel 95.96 %, fastmm 95.32 % on the true link.

Decision: this kernel. It is as accurate as fastmm and faster (about 5× counting the
reading of fastmm's per-point Python objects, 1.8× against its bare ``match()``), and it is
incremental: fastmm matches whole trajectories and keeps no state between calls, so a
stream would have to re-match an overlapping window per batch, and its results would still
have to be turned into traversals. It also adds no run-time dependency (fastmm is the
optional ``bench`` extra, for the benchmark). Link speeds from the kernel's traversals:
MAPE 3.3 % over the 2,004 link-bins with >= 5 traversals (3.6 % over all 9,537); 8.7 %
with one fix per 30 s and 15 m noise.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import msgspec
import networkx as nx
import numpy as np

from streams.traffic import _kernels as k
from topis.geo import Projection

log = logging.getLogger(__name__)

#: status of a fix in :class:`MatchedFixes`
MATCHED, DROPPED, NO_CANDIDATE = k.MATCHED, k.DROPPED, k.NO_CANDIDATE


class MatchRules(msgspec.Struct, frozen=True):
    """Parameters of the matcher."""

    sigma_m: float = 8.0  #: GPS noise (emission standard deviation), metres
    beta_m: float = 20.0  #: scale of |route - great-circle| in the transition, metres
    radius_m: float = 50.0  #: candidate links within this distance of a fix
    max_candidates: int = 8  #: at most this many candidates per fix (nearest first)
    heading_sigma_deg: float = 45.0  #: spread of heading vs link bearing, degrees
    max_speed_kph: float = 150.0  #: routes needing more speed than this are impossible
    max_gap_s: float = 180.0  #: a longer gap between fixes starts a new chain
    reverse_tolerance_m: float = 15.0  #: backward movement along one link read as noise
    lag_fixes: int = 5  #: a fix is decided once this many newer fixes of its vehicle arrived (>= 1)
    idle_s: float = 300.0  #: a vehicle silent this long (against the newest fix) has its window flushed
    #: a vehicle silent this long, its window flushed, gives up its slot (a taxi that left the cell or
    #: ended its shift); must be at least ``idle_s`` and ``max_gap_s``, so that forgetting loses nothing
    forget_s: float = 900.0

    def __post_init__(self) -> None:
        if self.lag_fixes < 1 or self.max_candidates < 1:
            raise ValueError("lag_fixes and max_candidates must be >= 1")
        if self.forget_s < max(self.idle_s, self.max_gap_s):
            raise ValueError("forget_s must be at least idle_s and max_gap_s")
        if not (self.sigma_m > 0 and self.beta_m > 0 and self.radius_m > 0 and self.heading_sigma_deg > 0):
            raise ValueError("sigma_m, beta_m, radius_m and heading_sigma_deg must be positive")

    def kernel_params(self) -> tuple:
        return (self.sigma_m, self.beta_m, self.heading_sigma_deg, self.max_speed_kph / 3.6, self.radius_m,
                self.max_gap_s, self.reverse_tolerance_m, self.lag_fixes)


@dataclass(frozen=True)
class MatchNetwork:
    """Directed road links in local metres, their grid index and the bounded shortest-path table."""

    link_ids: np.ndarray  #: str per link
    start_node: np.ndarray  #: int64 node index per link
    end_node: np.ndarray
    length_m: np.ndarray  #: float64 per link
    geo: tuple = field(repr=False)  #: (vert_ptr, vert_x, vert_y, vert_along_m), see _kernels
    grid: tuple = field(repr=False)  #: (x0_m, y0_m, cell_m, n_x, n_y, cell_ptr, cell_links)
    od: tuple = field(repr=False)  #: (od_ptr, od_node, od_dist_m, od_first_link)
    max_route_m: float
    max_hops: int  #: most links on one path of the table
    proj: Projection | None = None  #: WGS84 ↔ the network's metres, when built from degrees

    @property
    def net(self) -> tuple:
        """The ``net`` tuple of the kernels."""
        return (self.start_node, self.end_node, self.length_m) + self.od

    def index_of(self) -> dict[str, int]:
        """Link id → link index."""
        return {lid: i for i, lid in enumerate(self.link_ids.tolist())}


def build_network(link_ids: Sequence[str], start_node: Sequence, end_node: Sequence, lines_xy: Sequence,
                  length_m: Sequence[float] | None = None, max_route_m: float = 3000.0, cell_m: float = 100.0,
                  proj: Projection | None = None) -> MatchNetwork:
    """Index directed links for matching.

    Parameters
    ----------
    link_ids, start_node, end_node : sequences, one per link
        Node ids are any hashable; a link runs from ``start_node`` to ``end_node``.
    lines_xy : sequence of (m, 2) arrays
        Each link's polyline in local metres (east, north), from its start node to its end node.
    length_m : sequence of float, optional
        Official lengths; distances along a link are scaled to them. Default: the polyline lengths.
    max_route_m : float
        Shortest paths are tabled up to this length; longer transitions are impossible.
    cell_m : float
        Grid cell size of the candidate index.

    Raises
    ------
    ValueError
        On an empty table, a polyline of fewer than two vertices or a non-positive length.
    """
    n_links = len(link_ids)
    if n_links == 0:
        raise ValueError("link table is empty")
    lines = [np.asarray(xy, dtype=float).reshape(-1, 2) for xy in lines_xy]
    if any(len(xy) < 2 for xy in lines):
        raise ValueError("every link needs >= 2 vertices")
    seg_len = [np.hypot(*np.diff(xy, axis=0).T) for xy in lines]
    geom_len = np.array([s.sum() for s in seg_len])
    length = geom_len.copy() if length_m is None else np.asarray(length_m, dtype=float)
    if not np.all(length > 0) or not np.all(geom_len > 0):
        raise ValueError("every link needs a positive length")
    nodes = {n: i for i, n in enumerate(dict.fromkeys(list(start_node) + list(end_node)))}
    start = np.array([nodes[n] for n in start_node], dtype=np.int64)
    end = np.array([nodes[n] for n in end_node], dtype=np.int64)
    vert_ptr = np.concatenate([[0], np.cumsum([len(xy) for xy in lines])]).astype(np.int64)
    allxy = np.vstack(lines)
    along = np.concatenate([np.concatenate([[0.0], np.cumsum(s)]) * (length[i] / geom_len[i])
                            for i, s in enumerate(seg_len)])
    geo = (vert_ptr, np.ascontiguousarray(allxy[:, 0]), np.ascontiguousarray(allxy[:, 1]), along)
    grid = _grid(lines, cell_m)
    od, max_hops = _shortest_path_table(start, end, length, len(nodes), max_route_m)
    return MatchNetwork(np.array(list(link_ids), dtype=object), start, end, length, geo, grid, od,
                        float(max_route_m), max_hops, proj)


def network_from_city(city, max_route_m: float = 3000.0) -> MatchNetwork:
    """The demo city's directed road links (:class:`topis.city.model.City`), in metres about its centre."""
    proj = Projection(city.center_lat, city.center_lon)
    ids, us, vs, lines, lengths = [], [], [], [], []
    for u, v, d in city.graph.edges(data=True):
        lon, lat = (np.asarray(a) for a in d["geometry"].xy)
        x, y = proj.to_xy(lat, lon)
        ids.append(d["link_id"])
        us.append(u)
        vs.append(v)
        lines.append(np.column_stack([x, y]))
        lengths.append(float(d["length_m"]))
    return build_network(ids, us, vs, lines, lengths, max_route_m=max_route_m, proj=proj)


def _grid(lines: list[np.ndarray], cell_m: float) -> tuple:
    """Cells of ``cell_m`` over the links' extent; each link listed in every cell its segments' boxes touch."""
    allxy = np.vstack(lines)
    x0, y0 = allxy.min(axis=0) - cell_m
    n_x = int((allxy[:, 0].max() + cell_m - x0) // cell_m) + 1
    n_y = int((allxy[:, 1].max() + cell_m - y0) // cell_m) + 1
    cells, owners = [], []
    for l, xy in enumerate(lines):
        for a, b in zip(xy[:-1], xy[1:]):
            cx = np.arange(int((min(a[0], b[0]) - x0) // cell_m), int((max(a[0], b[0]) - x0) // cell_m) + 1)
            cy = np.arange(int((min(a[1], b[1]) - y0) // cell_m), int((max(a[1], b[1]) - y0) // cell_m) + 1)
            c = (cx[:, None] * n_y + cy[None, :]).ravel()
            cells.append(c)
            owners.append(np.full(len(c), l))
    cells, owners = np.concatenate(cells), np.concatenate(owners)
    pairs = np.unique(np.column_stack([cells, owners]), axis=0)
    cell_ptr = np.searchsorted(pairs[:, 0], np.arange(n_x * n_y + 1)).astype(np.int64)
    return (float(x0), float(y0), float(cell_m), n_x, n_y, cell_ptr, pairs[:, 1].astype(np.int64))


def _shortest_path_table(start: np.ndarray, end: np.ndarray, length_m: np.ndarray, n_nodes: int,
                         max_route_m: float) -> tuple[tuple, int]:
    """From every node, the nodes within ``max_route_m``: distance and the first link of the path."""
    g = nx.DiGraph()
    g.add_nodes_from(range(n_nodes))
    first_of: dict[tuple[int, int], int] = {}
    for l in np.argsort(length_m, kind="stable")[::-1]:  # the shortest link of parallel ones wins
        g.add_edge(int(start[l]), int(end[l]), weight=float(length_m[l]))
        first_of[(int(start[l]), int(end[l]))] = int(l)
    ptr, node, dist, first = [0], [], [], []
    max_hops = 1
    for u in range(n_nodes):
        d, paths = nx.single_source_dijkstra(g, u, cutoff=max_route_m, weight="weight")
        targets = sorted(t for t in d if t != u)
        node += targets
        dist += [d[t] for t in targets]
        first += [first_of[(u, paths[t][1])] for t in targets]
        max_hops = max([max_hops] + [len(paths[t]) - 1 for t in targets])
        ptr.append(len(node))
    return (np.array(ptr, dtype=np.int64), np.array(node, dtype=np.int64), np.array(dist, dtype=float),
            np.array(first, dtype=np.int64)), max_hops


@dataclass
class MatchState:
    """Each vehicle's Viterbi window and last decided fix, as columns by vehicle slot.

    ``st`` (the kernels' tuple): ``w_n`` pending fixes; per pending fix ``w_start`` (starts a
    chain), ``w_seq``, ``w_ts``, ``w_x``, ``w_y``, ``w_nc`` (candidates) and per candidate
    ``w_link``, ``w_along``, ``w_back``; ``score`` of the newest fix's candidates; the last
    decided fix ``f_ts``, ``f_link``, ``f_along`` and the entry time of its link ``entry_ts``;
    ``last_ts`` the newest accepted fix.
    """

    lag: int
    k_max: int
    slot_of: dict[str, int] = field(default_factory=dict)
    vehicle_of: list[str] = field(default_factory=list)
    n_seen: int = 0  #: fixes given so far; a fix's ``seq`` is its position in that count
    st: tuple = ()

    def __post_init__(self) -> None:
        if not self.st:
            self.st = _new_columns(0, self.lag + 1, self.k_max)

    def slots(self, vehicle_id: np.ndarray) -> np.ndarray:
        """Slot of each vehicle id, adding new vehicles (grows the columns)."""
        uniq, inverse = np.unique(np.asarray(vehicle_id, dtype=str), return_inverse=True)
        for v in uniq.tolist():
            if v not in self.slot_of:
                self.slot_of[v] = len(self.vehicle_of)
                self.vehicle_of.append(v)
        have = len(self.st[0])
        if len(self.vehicle_of) > have:
            grown = _new_columns(max(len(self.vehicle_of), 2 * have), self.lag + 1, self.k_max)
            for old, new in zip(self.st, grown):
                new[:have] = old
            self.st = grown
        return np.array([self.slot_of[v] for v in uniq.tolist()], dtype=np.int64)[inverse]

    def forget_idle(self, older_than_ts: float, min_share: float = 0.125) -> int:
        """Free the slots of vehicles with nothing pending and no fix since ``older_than_ts``.

        Their chains are over (the gap is longer than ``max_gap_s``), so a vehicle that comes
        back starts afresh exactly as if it had kept its slot. The columns are compacted only
        when at least ``min_share`` of the slots are free, so copying stays rare; the state
        then holds slots for at most that share more vehicles than are active (its capacity
        can still be up to twice that, as :meth:`slots` doubles it when it grows).
        Returns how many vehicles were forgotten.
        """
        n = len(self.vehicle_of)
        gone = (self.st[0][:n] == 0) & (self.st[15][:n] < older_than_ts)
        n_gone = int(gone.sum())
        if n_gone == 0 or n_gone < min_share * n:
            return 0
        keep = np.flatnonzero(~gone)
        self.st = tuple(np.ascontiguousarray(col[keep]) for col in self.st)
        self.vehicle_of = [self.vehicle_of[i] for i in keep.tolist()]
        self.slot_of = {v: i for i, v in enumerate(self.vehicle_of)}
        return n_gone


class MatchSnapshot(msgspec.Struct, frozen=True):
    """A :class:`MatchState` as a JSON-safe record (for a checkpoint table): columns as raw bytes."""

    lag: int
    k_max: int
    vehicles: list[str]  #: vehicle id of each slot
    n_seen: int
    columns: list[bytes]  #: each column of ``st``, C-order raw bytes (base64 in JSON)
    dtypes: list[str]
    shapes: list[list[int]]


def snapshot(state: MatchState) -> MatchSnapshot:
    """The state as a record; :func:`restore` gives it back exactly (NaN and inf included)."""
    n = len(state.vehicle_of)
    cols = [np.ascontiguousarray(c[:n]) for c in state.st]
    return MatchSnapshot(state.lag, state.k_max, list(state.vehicle_of), state.n_seen, [c.tobytes() for c in cols],
                         [c.dtype.str for c in cols], [list(c.shape) for c in cols])


def restore(snap: MatchSnapshot) -> MatchState:
    """The state of a :func:`snapshot`."""
    st = tuple(np.frombuffer(b, dtype=np.dtype(d)).reshape(shape).copy()
               for b, d, shape in zip(snap.columns, snap.dtypes, snap.shapes))
    return MatchState(snap.lag, snap.k_max, {v: i for i, v in enumerate(snap.vehicles)}, list(snap.vehicles),
                      snap.n_seen, st)


def new_state(rules: MatchRules = MatchRules()) -> MatchState:
    """An empty matcher state for ``rules``."""
    return MatchState(rules.lag_fixes, rules.max_candidates)


def _new_columns(n: int, w: int, kk: int) -> tuple:
    return (
        np.zeros(n, np.int64), np.zeros((n, w), np.bool_), np.zeros((n, w), np.int64),
        np.zeros((n, w)), np.zeros((n, w)), np.zeros((n, w)), np.zeros((n, w), np.int64),
        np.full((n, w, kk), -1, np.int64), np.full((n, w, kk), np.nan), np.full((n, w, kk), -1, np.int64),
        np.full((n, kk), -np.inf),
        np.full(n, np.nan), np.full(n, -1, np.int64), np.full(n, np.nan), np.full(n, np.nan),
        np.full(n, -np.inf),
    )


@dataclass(frozen=True)
class MatchedFixes:
    """Decided fixes (columns). ``seq`` is the fix's position among all fixes given to the state."""

    seq: np.ndarray  #: int64
    vehicle_id: np.ndarray  #: str
    ts_s: np.ndarray  #: epoch seconds
    link: np.ndarray  #: int64 link index, -1 unmatched
    link_id: np.ndarray  #: str, "" unmatched
    along_m: np.ndarray  #: distance from the link's start, NaN unmatched
    status: np.ndarray  #: MATCHED, DROPPED (duplicate or late) or NO_CANDIDATE


@dataclass(frozen=True)
class Traversals:
    """Complete link traversals (columns): the vehicle entered and left the link within one chain."""

    vehicle_id: np.ndarray  #: str
    link: np.ndarray  #: int64 link index
    link_id: np.ndarray  #: str
    entry_ts_s: np.ndarray  #: epoch seconds
    exit_ts_s: np.ndarray

    @property
    def traversal_s(self) -> np.ndarray:
        """Time on the link, seconds."""
        return self.exit_ts_s - self.entry_ts_s


def advance(state: MatchState, net: MatchNetwork, vehicle_id, ts_s, x_m, y_m, heading_deg=None,
            rules: MatchRules = MatchRules()) -> tuple[MatchedFixes, Traversals]:
    """Fold one batch of fixes (any vehicles, any order) into ``state``.

    Parameters
    ----------
    state : MatchState
        From :func:`new_state` with the same ``rules``; changed in place.
    net : MatchNetwork
    vehicle_id, ts_s, x_m, y_m : array_like, one per fix
        Epoch seconds and local metres of ``net`` (``net.proj.to_xy(lat, lon)``).
    heading_deg : array_like, optional
        Clockwise from north; NaN where unknown.

    Returns
    -------
    (MatchedFixes, Traversals)
        The fixes decided in this call (``lag_fixes`` behind the newest of each vehicle,
        and every pending fix of vehicles idle for ``idle_s``) and the traversals they complete.
    """
    ts = np.asarray(ts_s, dtype=float)
    n = len(ts)
    x, y = np.asarray(x_m, dtype=float), np.asarray(y_m, dtype=float)
    head = np.full(n, np.nan) if heading_deg is None else np.asarray(heading_deg, dtype=float)
    if not (len(x) == len(y) == len(head) == len(vehicle_id) == n):
        raise ValueError("vehicle_id, ts_s, x_m, y_m and heading_deg must have one value per fix")
    if not np.all(np.isfinite(ts)):
        raise ValueError("ts_s must be finite")
    slot = state.slots(vehicle_id) if n else np.zeros(0, np.int64)
    seq = state.n_seen + np.arange(n, dtype=np.int64)
    state.n_seen += n
    cand = k.candidates(x, y, net.geo, net.grid, rules.radius_m, rules.max_candidates)
    order = np.lexsort((seq, ts, slot))
    out, count = _outputs(n + int(state.st[0].sum()), net)
    k.advance(order, slot, seq, ts, x, y, head, cand, net.net, state.st, out, count, rules.kernel_params())
    if n:
        last_ts = state.st[15]
        idle = np.flatnonzero((state.st[0] > 0) & (last_ts < ts.max() - rules.idle_s))
        k.flush(idle, net.net, state.st, out, count, rules.reverse_tolerance_m)
    results = _results(state, net, out, count)  # before forgetting: the outputs name vehicles by slot
    if n:
        state.forget_idle(ts.max() - rules.forget_s)
    return results


def flush(state: MatchState, net: MatchNetwork, rules: MatchRules = MatchRules()) -> tuple[MatchedFixes, Traversals]:
    """Decide every pending fix (end of a replay)."""
    out, count = _outputs(int(state.st[0].sum()), net)
    k.flush(np.flatnonzero(state.st[0] > 0), net.net, state.st, out, count, rules.reverse_tolerance_m)
    return _results(state, net, out, count)


def match_trace(net: MatchNetwork, vehicle_id, ts_s, x_m, y_m, heading_deg=None,
                rules: MatchRules = MatchRules()) -> tuple[MatchedFixes, Traversals]:
    """Match a whole batch at once; the fixes come back in input order (``seq`` = input row)."""
    state = new_state(rules)
    fixes, trav = advance(state, net, vehicle_id, ts_s, x_m, y_m, heading_deg, rules)
    rest, trav2 = flush(state, net, rules)
    fixes = concat_fixes([fixes, rest])
    return take_fixes(fixes, np.argsort(fixes.seq, kind="stable")), concat_traversals([trav, trav2])


def _outputs(n_fix: int, net: MatchNetwork) -> tuple[tuple, np.ndarray]:
    n_trav = n_fix * (net.max_hops + 1)
    out = (np.empty(n_fix, np.int64), np.empty(n_fix, np.int64), np.empty(n_fix), np.empty(n_fix, np.int64),
           np.empty(n_fix), np.empty(n_fix, np.int64),
           np.empty(n_trav, np.int64), np.empty(n_trav, np.int64), np.empty(n_trav), np.empty(n_trav))
    return out, np.zeros(2, np.int64)


def _results(state: MatchState, net: MatchNetwork, out: tuple, count: np.ndarray) -> tuple[MatchedFixes, Traversals]:
    m, t = int(count[0]), int(count[1])
    vehicles = np.array(state.vehicle_of + [""], dtype=object)
    link_ids = np.append(net.link_ids, "")  # index -1 → ""
    m_seq, m_slot, m_ts, m_link, m_along, m_status, t_slot, t_link, t_entry, t_exit = out
    fixes = MatchedFixes(m_seq[:m].copy(), vehicles[m_slot[:m]], m_ts[:m].copy(), m_link[:m].copy(),
                         link_ids[m_link[:m]], m_along[:m].copy(), m_status[:m].copy())
    trav = Traversals(vehicles[t_slot[:t]], t_link[:t].copy(), link_ids[t_link[:t]], t_entry[:t].copy(),
                      t_exit[:t].copy())
    return fixes, trav


def concat_fixes(parts: Sequence[MatchedFixes]) -> MatchedFixes:
    """One :class:`MatchedFixes` of several, in order."""
    return MatchedFixes(*(np.concatenate([getattr(p, f) for p in parts]) for f in MatchedFixes.__dataclass_fields__))


def take_fixes(fixes: MatchedFixes, idx: np.ndarray) -> MatchedFixes:
    """The rows ``idx`` of ``fixes``."""
    return MatchedFixes(*(getattr(fixes, f)[idx] for f in MatchedFixes.__dataclass_fields__))


def concat_traversals(parts: Sequence[Traversals]) -> Traversals:
    """One :class:`Traversals` of several, in order."""
    return Traversals(*(np.concatenate([getattr(p, f) for p in parts]) for f in Traversals.__dataclass_fields__))

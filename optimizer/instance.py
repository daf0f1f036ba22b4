"""Transit route network design instances: road travel times and OD demand.

Two on-disk formats are read, both addressed as ``DIR/NAME``:

* Mumford's format: ``DIR/NAMETravelTimes.txt`` and ``DIR/NAMEDemand.txt`` (n x n
  whitespace-separated matrices, ``Inf`` where there is no road link) and an optional
  ``DIR/NAMECoords.txt`` (first line n, then n lines ``x y``).
* CSV edge lists: ``DIR/NAME_links.txt`` (``from,to,travel_time``), ``DIR/NAME_demand.txt``
  (``from,to,demand``, non-zero pairs) and optional ``DIR/NAME_nodes.txt``
  (``id,lat,lon,terminal``), node ids 1-based.

Every problem with an instance raises :class:`InstanceError`, whose message is written
for the person who typed the path (the CLI turns it into a click error).
"""

from __future__ import annotations

import csv
import logging
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)

#: minutes added per transfer under the Mumford (2013) rules.
TRANSFER_PENALTY_MIN = 5.0


class InstanceError(ValueError):
    """An instance or its route limits cannot be used; the message says why."""


@dataclass(frozen=True)
class Instance:
    """A road network with travel times and an origin-destination demand matrix.

    Attributes
    ----------
    name : str
        Short name, e.g. ``"Mandl"``.
    travel_time_min : numpy.ndarray
        (n, n) float64 road travel times in minutes; ``inf`` where no direct road link,
        0 on the diagonal; symmetric.
    demand : numpy.ndarray
        (n, n) float64 trips from row node to column node; non-negative, zero diagonal.
    coords : numpy.ndarray or None
        (n, 2) float64 drawing coordinates (x, y) or (lon, lat) when known.
    """

    name: str
    travel_time_min: np.ndarray
    demand: np.ndarray
    coords: np.ndarray | None = None

    @property
    def n(self) -> int:
        """Number of nodes."""
        return int(self.travel_time_min.shape[0])

    def neighbours(self, node: int) -> np.ndarray:
        """0-based nodes linked to ``node`` by a road."""
        row = self.travel_time_min[node]
        return np.flatnonzero(np.isfinite(row) & (np.arange(self.n) != node))


def load_instance(path: str | Path) -> Instance:
    """Load ``DIR/NAME`` in Mumford's format or as CSV edge lists, whichever exists.

    Parameters
    ----------
    path : str or pathlib.Path
        ``DIR/NAME`` prefix, e.g. ``../shared/data/trndp/mumford_format/Mandl`` or
        ``../shared/data/trndp/csv/mandl1``.

    Returns
    -------
    Instance
        Validated instance.

    Raises
    ------
    InstanceError
        Missing files, malformed or inconsistent matrices, or a disconnected road graph.
    """
    prefix = Path(path)
    if Path(f"{prefix}_links.txt").exists():
        return load_csv(prefix)
    if Path(f"{prefix}TravelTimes.txt").exists():
        return load_mumford(prefix)
    raise InstanceError(
        f"no instance at {prefix}: expected {prefix}TravelTimes.txt + {prefix}Demand.txt "
        f"(Mumford format) or {prefix}_links.txt + {prefix}_demand.txt (CSV edge lists)"
    )


def load_mumford(prefix: str | Path) -> Instance:
    """Load ``PREFIX{TravelTimes,Demand}.txt`` (+ optional ``PREFIXCoords.txt``).

    Parameters
    ----------
    prefix : str or pathlib.Path
        ``DIR/NAME``.

    Returns
    -------
    Instance
    """
    prefix = Path(prefix)
    times_path = Path(f"{prefix}TravelTimes.txt")
    demand_path = Path(f"{prefix}Demand.txt")
    travel = _read_matrix(times_path)
    demand = _read_matrix(demand_path)
    coords_path = Path(f"{prefix}Coords.txt")
    coords = _read_coords(coords_path) if coords_path.exists() else None
    return make_instance(prefix.name, travel, demand, coords, source=str(prefix))


def load_csv(prefix: str | Path) -> Instance:
    """Load CSV edge lists ``PREFIX_{links,demand}.txt`` (+ optional ``PREFIX_nodes.txt``).

    Links given in one direction only are taken as two-way roads; a link given in both
    directions with different times is an error.

    Parameters
    ----------
    prefix : str or pathlib.Path
        ``DIR/NAME``.

    Returns
    -------
    Instance
    """
    prefix = Path(prefix)
    links = _read_csv_rows(Path(f"{prefix}_links.txt"), ("from", "to", "travel_time"))
    demand_rows = _read_csv_rows(Path(f"{prefix}_demand.txt"), ("from", "to", "demand"))
    nodes_path = Path(f"{prefix}_nodes.txt")
    node_rows = _read_csv_rows(nodes_path, ("id", "lat", "lon")) if nodes_path.exists() else []
    ids = [int(r[0]) for r in node_rows] + [int(r[i]) for r in links + demand_rows for i in (0, 1)]
    if not ids:
        raise InstanceError(f"{prefix}_links.txt has no links")
    if min(ids) < 1:
        raise InstanceError(f"{prefix}: node ids must be 1-based, found {min(ids)}")
    n = max(ids)
    if node_rows and n > len(node_rows):
        listed = {int(r[0]) for r in node_rows}
        stray = sorted(set(ids) - listed)
        raise InstanceError(
            f"{prefix}: size mismatch: links/demand mention node(s) {stray[:10]} missing from "
            f"{nodes_path.name} ({len(node_rows)} nodes)"
        )
    travel = np.full((n, n), np.inf)
    np.fill_diagonal(travel, 0.0)
    for a, b, t in links:
        i, j, t_min = int(a) - 1, int(b) - 1, float(t)
        other = travel[j, i]
        if i != j and math.isfinite(other) and other != t_min:
            raise InstanceError(
                f"{prefix}_links.txt: link {a}->{b} takes {t_min} min but {b}->{a} takes {other}"
            )
        travel[i, j] = travel[j, i] = t_min
    demand = np.zeros((n, n))
    for a, b, d in demand_rows:
        demand[int(a) - 1, int(b) - 1] += float(d)
    coords = None
    if node_rows:
        coords = np.zeros((n, 2))
        for row in node_rows:
            coords[int(row[0]) - 1] = (float(row[2]), float(row[1]))  # (lon, lat) as (x, y)
    return make_instance(prefix.name, travel, demand, coords, source=str(prefix))


def make_instance(
    name: str,
    travel_time_min: np.ndarray,
    demand: np.ndarray,
    coords: np.ndarray | None = None,
    *,
    source: str = "",
) -> Instance:
    """Validate arrays and build an :class:`Instance`.

    Raises
    ------
    InstanceError
        Not square, size mismatch, NaN, negative values, asymmetric travel times,
        non-zero diagonal or a disconnected road graph.
    """
    where = source or name
    travel = np.array(travel_time_min, dtype=np.float64)
    demand = np.array(demand, dtype=np.float64)
    for label, m in (("travel times", travel), ("demand", demand)):
        if m.ndim != 2 or m.shape[0] != m.shape[1]:
            raise InstanceError(f"{where}: {label} matrix is not square (shape {m.shape})")
        if np.isnan(m).any():
            raise InstanceError(f"{where}: {label} matrix contains NaN")
        if (m < 0).any():
            i, j = np.argwhere(m < 0)[0]
            raise InstanceError(f"{where}: negative {label} value {m[i, j]} at ({i + 1}, {j + 1})")
    n = travel.shape[0]
    if n < 2:
        raise InstanceError(f"{where}: an instance needs at least 2 nodes, got {n}")
    if demand.shape != travel.shape:
        raise InstanceError(
            f"{where}: size mismatch: travel times are {n}x{n} but demand is "
            f"{demand.shape[0]}x{demand.shape[1]}"
        )
    if np.isinf(demand).any():
        raise InstanceError(f"{where}: demand matrix contains Inf")
    if (np.diag(travel) != 0).any():
        raise InstanceError(f"{where}: travel times must be 0 on the diagonal")
    asym = np.argwhere(~((travel == travel.T) | (np.isinf(travel) & np.isinf(travel.T))))
    if len(asym):
        i, j = asym[0]
        raise InstanceError(
            f"{where}: travel times are asymmetric: {i + 1}->{j + 1} is {travel[i, j]} "
            f"but {j + 1}->{i + 1} is {travel[j, i]}"
        )
    off_diag = ~np.eye(n, dtype=bool)
    if (travel[off_diag] == 0).any():
        i, j = np.argwhere((travel == 0) & off_diag)[0]
        raise InstanceError(f"{where}: zero travel time between distinct nodes {i + 1} and {j + 1}")
    if coords is not None:
        coords = np.asarray(coords, dtype=np.float64)
        if coords.shape != (n, 2):
            raise InstanceError(f"{where}: coordinates have shape {coords.shape}, expected ({n}, 2)")
    unreached = _unreached_nodes(travel)
    if unreached:
        shown = ", ".join(str(v + 1) for v in unreached[:10])
        raise InstanceError(f"{where}: road graph is disconnected; nodes not reachable from node 1: {shown}")
    np.fill_diagonal(demand, 0.0)
    return Instance(name=name, travel_time_min=travel, demand=demand, coords=coords)


def check_limits(instance: Instance, n_routes: int, min_nodes: int, max_nodes: int) -> None:
    """Raise :class:`InstanceError` when no route set can meet the limits.

    A connected set of ``n_routes`` routes covering all n nodes needs
    ``n_routes * max_nodes >= n + n_routes - 1`` (each route after the first shares
    at least one node with an earlier one).
    """
    n = instance.n
    if n_routes < 1:
        raise InstanceError(f"--routes must be at least 1, got {n_routes}")
    if min_nodes < 2:
        raise InstanceError(f"--min-nodes must be at least 2 (a route links two stops), got {min_nodes}")
    if max_nodes < min_nodes:
        raise InstanceError(f"--max-nodes ({max_nodes}) is below --min-nodes ({min_nodes})")
    if min_nodes > n:
        raise InstanceError(f"--min-nodes ({min_nodes}) exceeds the {n} nodes of {instance.name}")
    if n_routes * max_nodes < n + n_routes - 1:
        raise InstanceError(
            f"limits cannot be met: {n_routes} routes of at most {max_nodes} nodes cannot cover "
            f"all {n} nodes of {instance.name} and stay connected "
            f"(need routes x max-nodes >= {n + n_routes - 1})"
        )


def _read_matrix(path: Path) -> np.ndarray:
    if not path.exists():
        raise InstanceError(f"missing file: {path}")
    rows = []
    for lineno, line in enumerate(path.read_text().splitlines(), start=1):
        tokens = line.split()
        if not tokens:
            continue
        try:
            rows.append([float(tok) for tok in tokens])  # float() reads "Inf"
        except ValueError as exc:
            raise InstanceError(f"{path}:{lineno}: not a number ({exc})") from None
    if not rows:
        raise InstanceError(f"{path} is empty")
    widths = {len(r) for r in rows}
    if widths != {len(rows)}:
        raise InstanceError(
            f"{path}: matrix is not square: {len(rows)} rows with {sorted(widths)} values per row"
        )
    return np.array(rows, dtype=np.float64)


def _read_coords(path: Path) -> np.ndarray:
    lines = [ln.split() for ln in path.read_text().splitlines() if ln.strip()]
    try:
        n = int(lines[0][0])
        coords = np.array([[float(v) for v in ln[:2]] for ln in lines[1 : n + 1]])
    except (IndexError, ValueError) as exc:
        raise InstanceError(f"{path}: malformed coordinates ({exc})") from None
    if coords.shape != (n, 2):
        raise InstanceError(f"{path}: expected {n} lines of 'x y' after the count")
    return coords


def _read_csv_rows(path: Path, columns: tuple[str, ...]) -> list[list[str]]:
    if not path.exists():
        raise InstanceError(f"missing file: {path}")
    with path.open(newline="") as fh:
        reader = csv.reader(fh)
        header = [h.strip().lower() for h in next(reader, [])]
        missing = [c for c in columns if c not in header]
        if missing:
            raise InstanceError(f"{path}: header {header} lacks column(s) {missing}")
        idx = [header.index(c) for c in columns]
        rows = []
        for lineno, row in enumerate(reader, start=2):
            if not row or not "".join(row).strip():
                continue
            try:
                values = [row[i].strip() for i in idx]
                [float(v) for v in values]
            except (IndexError, ValueError):
                raise InstanceError(f"{path}:{lineno}: malformed row {row}") from None
            rows.append(values)
    return rows


def _unreached_nodes(travel: np.ndarray) -> list[int]:
    n = travel.shape[0]
    adjacent = np.isfinite(travel)
    seen = np.zeros(n, dtype=bool)
    seen[0] = True
    frontier = [0]
    while frontier:
        node = frontier.pop()
        for nxt in np.flatnonzero(adjacent[node] & ~seen):
            seen[nxt] = True
            frontier.append(int(nxt))
    return [int(v) for v in np.flatnonzero(~seen)]

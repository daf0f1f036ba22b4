"""Taxi probes: GPS fixes of taxis, one batch of columns per road cell per message.

``taxi.positions`` carries :class:`TaxiPositionBatch` values keyed by the probe
cell of their fixes (:func:`topis.geo.grid_cell`, named by
:func:`topis.geo.cell_key`), so the fixes on one road link meet in one
partition. A batch is a *struct of arrays*: one column per field, each the
little-endian bytes of a numpy array, so a consumer turns a message into
arrays with one ``numpy.frombuffer`` per column (:meth:`TaxiPositionBatch.arrays`)
and works on whole columns from there.

The envelope is the project's JSON (:mod:`topis.wire`): tagged and versioned
like every other schema, the columns base64 text in it. CPU time per fix,
encode from arrays + decode to arrays, msgspec 0.23 on the project's 2-core
machine (``python -m benchmarks.probe_codec``; repeated runs on the busy
machine varied by about ±30 %):

===============  ===============  ===============  ===============  ==============
fixes per batch  JSON rows        JSON lists       **this**         msgpack
===============  ===============  ===============  ===============  ==============
25               900 + 1,930 ns   640 + 1,150 ns   450 + 580 ns     340 + 540 ns
250              630 + 1,260 ns   400 + 530 ns     85 + 105 ns      33 + 47 ns
2,500            780 + 1,200 ns   490 + 540 ns     58 + 80 ns       13 + 10 ns
bytes per fix    159              93               55               41
===============  ===============  ===============  ===============  ==============

"JSON rows" is a list of one Struct per fix, as ``bus.positions`` sends;
"JSON lists" one JSON list per field. Base64 columns cost a tenth of rows at
250 fixes a batch (a third at 25, where the per-message cost dominates).
A msgpack envelope would be 2–7× cheaper again but the one topic outside the
shared codec; at Seoul's ~7,000 fixes/s the JSON envelope costs ~2 ms of CPU
per second, so the codec stays one.

Ids are pseudonyms: :func:`taxi_pseudonym` is a keyed BLAKE2b of the
operator's vehicle id, the same construction as card ids (8-byte digest, as an
unsigned 64-bit integer), so a taxi can be followed without being named.
"""

from __future__ import annotations

import hashlib
from typing import NamedTuple

import msgspec
import numpy as np

from topis.geo import PROBE_CELL_M, cell_key, grid_cell

#: column -> numpy dtype on the wire (explicit little-endian)
DTYPES: dict[str, str] = {
    "taxi_id": "<u8", "ts": "<f8", "lat": "<f8", "lon": "<f8",
    "speed_kph": "<f4", "heading_deg": "<f4", "occupied": "u1",
}

_SIZES = {name: np.dtype(dtype).itemsize for name, dtype in DTYPES.items()}


class TaxiFixes(NamedTuple):
    """The fixes of a batch as numpy arrays, one per field, all the same length."""

    taxi_id: np.ndarray  #: uint64 pseudonym (:func:`taxi_pseudonym`)
    ts: np.ndarray  #: float64 time of the fix, epoch seconds UTC
    lat: np.ndarray  #: float64 latitude, WGS84 degrees
    lon: np.ndarray  #: float64 longitude, WGS84 degrees
    speed_kph: np.ndarray  #: float32 ground speed, km/h; NaN = not reported
    heading_deg: np.ndarray  #: float32 bearing, degrees clockwise from north; NaN = not reported
    occupied: np.ndarray  #: bool, a fare on board (the meter is running)

    def take(self, index) -> TaxiFixes:
        """The fixes at ``index`` (an integer array, a slice or a boolean mask)."""
        return TaxiFixes(*(col[index] for col in self))

    def to_batch(self) -> TaxiPositionBatch:
        """These fixes as one wire batch."""
        return TaxiPositionBatch(**{name: np.ascontiguousarray(col, dtype=DTYPES[name]).tobytes()
                                    for name, col in zip(self._fields, self)})

    @classmethod
    def empty(cls) -> TaxiFixes:
        """No fixes (columns of length 0 with the wire dtypes)."""
        return cls(*(np.empty(0, dtype=bool if name == "occupied" else DTYPES[name]) for name in cls._fields))

    @classmethod
    def concat(cls, parts: list[TaxiFixes]) -> TaxiFixes:
        """One set of fixes from several, in order."""
        return cls(*(np.concatenate(cols) for cols in zip(*parts))) if parts else cls.empty()


class TaxiPositionBatch(msgspec.Struct, frozen=True, tag="taxi.position/1", tag_field="schema"):
    """Fixes of taxis in one probe cell as columns; key = :func:`topis.geo.cell_key` of the cell.

    Each field is the little-endian bytes of one column (dtype in :data:`DTYPES`);
    all columns hold the same number of fixes, which decoding checks. Missing
    speed or heading is NaN (a column has no ``None``).
    """

    taxi_id: bytes  #: uint64 pseudonyms of the taxis (:func:`taxi_pseudonym`)
    ts: bytes  #: float64 epoch seconds UTC of each fix
    lat: bytes  #: float64 WGS84 degrees
    lon: bytes  #: float64 WGS84 degrees
    speed_kph: bytes  #: float32 km/h, NaN = not reported
    heading_deg: bytes  #: float32 degrees clockwise from north, NaN = not reported
    occupied: bytes  #: uint8, 1 = occupied (fare on board), 0 = vacant

    def __post_init__(self) -> None:
        n = len(self.taxi_id) / 8
        for name, size in _SIZES.items():
            if len(getattr(self, name)) != n * size:
                raise ValueError(f"column {name} has {len(getattr(self, name)) / size:g} values, taxi_id has {n:g}")
        if self.occupied.translate(None, b"\x00\x01"):
            raise ValueError("column occupied must hold 0 or 1")

    def __len__(self) -> int:
        return len(self.taxi_id) // 8

    def arrays(self) -> TaxiFixes:
        """The columns as numpy arrays (read-only views of the message bytes; ``occupied`` as bool)."""
        cols = {name: np.frombuffer(getattr(self, name), dtype=dtype) for name, dtype in DTYPES.items()}
        return TaxiFixes(**{**cols, "occupied": cols["occupied"].view(bool)})

    def latest_ts(self) -> float:
        """Time of the newest fix, epoch seconds UTC (NaN for an empty batch)."""
        ts = np.frombuffer(self.ts, dtype=DTYPES["ts"])
        return float(ts.max()) if len(ts) else float("nan")


def by_cell(fixes: TaxiFixes, cell_m: float = PROBE_CELL_M) -> dict[str, TaxiFixes]:
    """Fixes grouped under their ``taxi.positions`` key: the probe cell of each reported position.

    Within a cell the fixes keep their order. Cells come in key order.
    """
    if not len(fixes.ts):
        return {}
    row, col = grid_cell(fixes.lat, fixes.lon, cell_m)
    code = (row << 32) + col  # rows and columns of a world grid of >= 1 m cells are far below 2**31
    cells, first, inverse = np.unique(code, return_index=True, return_inverse=True)
    order = np.argsort(inverse, kind="stable")
    bounds = np.cumsum(np.bincount(inverse, minlength=len(cells)))[:-1]
    groups = {cell_key(row[i], col[i]): fixes.take(idx) for i, idx in zip(first, np.split(order, bounds))}
    return dict(sorted(groups.items()))


def taxi_pseudonym(key: bytes, vehicle_id: str) -> int:
    """Pseudonym of a taxi: BLAKE2b keyed with ``key``, 8-byte digest, as a little-endian uint64.

    Stable for one key, useless without it (like card ids,
    :func:`topis.sim.passengers.card_hash`); 64 bits leave a 1-in-10⁹ chance
    of any two of 200,000 taxis sharing one.
    """
    digest = hashlib.blake2b(vehicle_id.encode("utf-8"), key=key, digest_size=8).digest()
    return int.from_bytes(digest, "little")


def taxi_pseudonyms(key: bytes, vehicle_ids) -> np.ndarray:
    """:func:`taxi_pseudonym` of many ids (each distinct id hashed once), as a uint64 array."""
    unique, inverse = np.unique(np.asarray(vehicle_ids, dtype=str), return_inverse=True)
    hashed = np.array([taxi_pseudonym(key, str(v)) for v in unique], dtype=np.uint64)
    return hashed[inverse.reshape(-1)] if len(unique) else np.empty(0, dtype=np.uint64)

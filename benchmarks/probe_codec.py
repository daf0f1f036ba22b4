"""Encode and decode cost per fix of taxi.positions batches, against the alternatives it was chosen over.

Every variant starts from numpy columns (what the simulator and the CSV reader
hold) and ends with numpy columns (what the map matcher wants), so the figures
include building and reading the Python objects of each format:

* ``JSON rows``: one Struct per fix in a list (as ``bus.positions`` sends);
* ``JSON lists``: one JSON list per field;
* ``JSON base64 columns``: :class:`topis.schemas.probes.TaxiPositionBatch`
  through :mod:`topis.wire` (the chosen format);
* ``msgpack columns``: the same Struct in msgpack (raw bytes, no base64).

Times are CPU time of this process per fix.

Run::

    .venv/bin/python -m benchmarks.probe_codec
    .venv/bin/python -m benchmarks.probe_codec --sizes 25,250 --seconds 2
"""

from __future__ import annotations

import argparse
import time

import msgspec
import numpy as np

from topis import wire
from topis.schemas.probes import DTYPES, TaxiFixes, TaxiPositionBatch


class Row(msgspec.Struct, frozen=True):
    taxi_id: int
    ts: float
    lat: float
    lon: float
    speed_kph: float
    heading_deg: float
    occupied: bool


class RowBatch(msgspec.Struct, frozen=True, tag="rows/1", tag_field="schema"):
    events: list[Row]


class ListBatch(msgspec.Struct, frozen=True, tag="lists/1", tag_field="schema"):
    taxi_id: list[int]
    ts: list[float]
    lat: list[float]
    lon: list[float]
    speed_kph: list[float]
    heading_deg: list[float]
    occupied: list[bool]


def sample(n: int, seed: int = 1) -> TaxiFixes:
    rng = np.random.default_rng(seed)
    return TaxiFixes(
        taxi_id=rng.integers(0, 2**63, n, dtype=np.uint64), ts=1.79e9 + rng.uniform(0, 10, n).round(3),
        lat=37.5 + rng.uniform(0, 0.02, n).round(6), lon=127.0 + rng.uniform(0, 0.02, n).round(6),
        speed_kph=rng.uniform(0, 60, n).round(1).astype(np.float32),
        heading_deg=rng.uniform(0, 360, n).round(1).astype(np.float32), occupied=rng.random(n) < 0.5)


def variants():
    """name -> (encode(fixes) -> bytes, decode(bytes) -> TaxiFixes)."""
    rows_dec, lists_dec = msgspec.json.Decoder(RowBatch), msgspec.json.Decoder(ListBatch)
    mp_enc, mp_dec = msgspec.msgpack.Encoder(), msgspec.msgpack.Decoder(TaxiPositionBatch)

    def rows_encode(f: TaxiFixes) -> bytes:
        return wire.encode(RowBatch([Row(*r) for r in zip(*(c.tolist() for c in f))]))

    def rows_decode(data: bytes) -> TaxiFixes:
        events = rows_dec.decode(data).events
        return TaxiFixes(*(np.array([getattr(e, name) for e in events], dtype=bool if name == "occupied" else dtype)
                           for name, dtype in DTYPES.items()))

    def lists_decode(data: bytes) -> TaxiFixes:
        m = lists_dec.decode(data)
        return TaxiFixes(*(np.asarray(getattr(m, name), dtype=bool if name == "occupied" else dtype)
                           for name, dtype in DTYPES.items()))

    return {
        "JSON rows": (rows_encode, rows_decode),
        "JSON lists": (lambda f: wire.encode(ListBatch(*(c.tolist() for c in f))), lists_decode),
        "JSON base64 columns": (lambda f: wire.encode(f.to_batch()),
                                lambda data: wire.decode(data, TaxiPositionBatch).arrays()),
        "msgpack columns": (lambda f: mp_enc.encode(f.to_batch()), lambda data: mp_dec.decode(data).arrays()),
    }


def per_fix_ns(fn, arg, n: int, seconds: float) -> float:
    """CPU nanoseconds per fix (process time: steadier than wall time on a shared machine)."""
    reps, t0 = 0, time.process_time()
    while time.process_time() - t0 < seconds:
        fn(arg)
        reps += 1
    return (time.process_time() - t0) / reps / n * 1e9


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="25,250,2500", help="fixes per batch, comma-separated")
    ap.add_argument("--seconds", type=float, default=1.0, help="time per measurement")
    args = ap.parse_args()
    print("fixes/batch | format | encode ns/fix | decode ns/fix | bytes/fix")
    print("--- | --- | --- | --- | ---")
    for n in (int(s) for s in args.sizes.split(",")):
        fixes = sample(n)
        for name, (enc, dec) in variants().items():
            data = enc(fixes)
            back = dec(data)
            if not all(a.tobytes() == b.tobytes() for a, b in zip(fixes, back)):
                raise SystemExit(f"{name} does not round-trip")
            print(f"{n:,} | {name} | {per_fix_ns(enc, fixes, n, args.seconds):,.0f} | "
                  f"{per_fix_ns(dec, data, n, args.seconds):,.0f} | {len(data) / n:.1f}")


if __name__ == "__main__":
    main()

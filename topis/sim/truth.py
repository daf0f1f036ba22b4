"""Ground truth recorded by the simulator: stop visits (with loads) and violations.

Violation semantics follow the enforcement rules (issue 5), in local time (KST):

* ``bus_lane`` - one per read of a non-exempt vehicle (not bus, not emergency,
  no permit) by a bus-lane camera while its lane is enforced: median 24 h
  every day; roadside_full weekdays 07-21; roadside_part weekdays 07-10 and
  17-21; roadside lanes not on weekends or public holidays. Hours are
  half-open: 07:00:00 <= t < 21:00:00.
* ``green_zone`` - one per plate per local day: an emission-grade-5 vehicle
  without exemption read by a zone-entry camera 06:00 <= t < 21:00; every
  such read of the day is listed.
* ``section_speed`` - one per passage: entry and exit reads of a section
  whose average speed exceeds the limit plus the tolerance.
* ``no_stopping`` - one per stop: reads of the same plate by one
  no-stopping camera spanning longer than the limit. The record appears with
  the first read past the limit; later reads of the same stop join it.
* ``watch`` - one per read of a watch-list plate (an alert, not a case).

``plate`` is always the true plate; ``misread`` says whether any listed read
carries a different (misread, low-confidence) plate text.

Taxi fixes (:class:`TaxiFixTruth`) are kept as columns, one chunk per tick:
every fix that fell due, whether delivered or lost, with the link it was
really on and that link's true speed, for scoring map matching and link
speeds. At Seoul scale that is ~7,000 rows (~50 bytes each) per simulated second.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import NamedTuple

import msgspec
import numpy as np


class StopVisit(msgspec.Struct):
    """A bus's true arrival at and departure from a stop, with the load it carried away."""

    vehicle_id: str
    trip_id: str
    route_id: str
    stop_id: str
    stop_sequence: int  #: 1-based, as in GTFS
    arrival_ts: float  #: epoch seconds UTC
    departure_ts: float | None = None  #: epoch seconds UTC; None until the bus leaves
    boardings: int = 0
    alightings: int = 0
    load: int = 0  #: passengers on board when leaving


class Violation(msgspec.Struct):
    """A true violation (or watch-list sighting) and the reads that show it."""

    rule: str  #: bus_lane, green_zone, section_speed, no_stopping, watch
    plate: str  #: true plate
    ts: float  #: time of the first read, epoch seconds UTC
    camera_ids: list[str]
    read_ids: list[str]
    misread: bool = False  #: some listed read has the wrong plate text
    speed_kph: float | None = None  #: section_speed: true average speed
    duration_s: float | None = None  #: no_stopping: time between first and last read


class TaxiFixTruth(NamedTuple):
    """The truth of the taxi fixes due in one tick, as columns of equal length."""

    taxi_id: np.ndarray  #: uint64 pseudonym, as on the wire
    ts: np.ndarray  #: epoch seconds UTC of the fix
    link: np.ndarray  #: int32 index of the true link in ``Truth.taxi_link_ids``
    offset_m: np.ndarray  #: distance along the link from its start node
    lat: np.ndarray  #: true (noise-free) position, WGS84 degrees
    lon: np.ndarray
    speed_kph: np.ndarray  #: the taxi's true speed (0 while stopped)
    link_speed_kph: np.ndarray  #: the link's true mean speed at that time
    occupied: np.ndarray  #: bool
    delivered: np.ndarray  #: bool: False for a fix lost to a drop or a gap


#: columns of taxi_fixes.csv
TAXI_FIX_COLUMNS = ("taxi_id", "ts", "link_id", "offset_m", "lat", "lon", "speed_kph", "link_speed_kph", "occupied",
                    "delivered")


class Truth:
    """Lists of ground-truth records collected during a run."""

    def __init__(self) -> None:
        self.stop_visits: list[StopVisit] = []
        self.violations: list[Violation] = []
        self.taxi_fixes: list[TaxiFixTruth] = []
        self.taxi_link_ids: tuple[str, ...] = ()  #: link ids by index, for ``TaxiFixTruth.link``

    def clear(self) -> None:
        """Forget the records collected so far (long runs: write, then clear)."""
        self.stop_visits.clear()
        self.violations.clear()
        self.taxi_fixes.clear()

    def taxi_fix_columns(self) -> TaxiFixTruth:
        """Every taxi fix truth so far in one set of columns."""
        if not self.taxi_fixes:
            return TaxiFixTruth(*(np.empty(0) for _ in TaxiFixTruth._fields))
        return TaxiFixTruth(*(np.concatenate(cols) for cols in zip(*self.taxi_fixes)))

    def write(self, out_dir: str | Path) -> dict[str, int]:
        """Write ``stop_visits.csv`` and ``violations.csv`` (read ids and cameras space-separated)."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        fields = list(StopVisit.__struct_fields__)
        with open(out / "stop_visits.csv", "w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh, lineterminator="\n")
            w.writerow(fields)
            for v in self.stop_visits:
                w.writerow(["" if x is None else (f"{x:.3f}" if isinstance(x, float) else x)
                            for x in (getattr(v, f) for f in fields)])
        vfields = list(Violation.__struct_fields__)
        with open(out / "violations.csv", "w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh, lineterminator="\n")
            w.writerow(vfields)
            for v in self.violations:
                row = []
                for f in vfields:
                    x = getattr(v, f)
                    row.append(" ".join(x) if isinstance(x, list) else "" if x is None else
                               int(x) if isinstance(x, bool) else f"{x:.3f}" if isinstance(x, float) else x)
                w.writerow(row)
        n_taxi = self._write_taxi_fixes(out / "taxi_fixes.csv")
        return {"stop_visits.csv": len(self.stop_visits), "violations.csv": len(self.violations),
                "taxi_fixes.csv": n_taxi}

    def _write_taxi_fixes(self, path: Path) -> int:
        """``taxi_fixes.csv``: taxi_id as 16 hex digits, link_id as in the road graph, booleans 0/1."""
        link_ids = np.asarray(self.taxi_link_ids or ("",), dtype=object)
        n = 0
        with open(path, "w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh, lineterminator="\n")
            w.writerow(TAXI_FIX_COLUMNS)
            for c in self.taxi_fixes:
                w.writerows(zip([f"{v:016x}" for v in c.taxi_id.tolist()], np.round(c.ts, 3).tolist(),
                                link_ids[c.link].tolist(), np.round(c.offset_m, 2).tolist(),
                                np.round(c.lat, 7).tolist(), np.round(c.lon, 7).tolist(),
                                np.round(c.speed_kph, 2).tolist(), np.round(c.link_speed_kph, 2).tolist(),
                                c.occupied.astype(int).tolist(), c.delivered.astype(int).tolist()))
                n += len(c.ts)
        return n

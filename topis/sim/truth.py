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
"""

from __future__ import annotations

import csv
from pathlib import Path

import msgspec


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


class Truth:
    """Lists of ground-truth records collected during a run."""

    def __init__(self) -> None:
        self.stop_visits: list[StopVisit] = []
        self.violations: list[Violation] = []

    def clear(self) -> None:
        """Forget the records collected so far (long runs: write, then clear)."""
        self.stop_visits.clear()
        self.violations.clear()

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
        return {"stop_visits.csv": len(self.stop_visits), "violations.csv": len(self.violations)}

"""A whole batch of card taps through the three demand stages, for files and replays.

The live path runs :mod:`streams.demand.boardings`, :mod:`streams.demand.od` and
:mod:`streams.demand.loads` in three keyed agents; :func:`run_batch` chains the same
pure functions in one process over a list of taps (a day from a file, a test,
a benchmark) and returns everything the agents would publish.
:func:`read_taps_csv` reads taps from CSV.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np

from streams.demand import boardings, loads, od
from streams.demand.taps import Journey, RoutePatterns
from topis.schemas.demand import LocatedTap, OwlInput, Ride, SquirrelInput
from topis.schemas.inputs import CardTap

TAP_COLUMNS = ("card_hash", "direction", "route_id", "vehicle_id", "stop_id", "ts")


class TapFileError(ValueError):
    """A taps CSV that cannot be read; the message names the file, line and field."""


@dataclass
class DemandResult:
    """Everything the demand stages produce for one batch of taps."""

    route_states: dict[str, boardings.RouteTapState]
    card_state: od.CardLinkState
    load_states: dict[str, loads.RouteLoadState]
    located: list[LocatedTap]
    rides: list[Ride]
    journeys: list[Journey]
    od_counts: od.ODCounts
    squirrel: dict[str, SquirrelInput] = field(default_factory=dict)
    owl: OwlInput | None = None


def run_batch(
    taps: Iterable[CardTap],
    patterns: RoutePatterns,
    now_ts: float,
    *,
    alighting_model: od.AlightingModel | None = None,
    config: od.ODConfig = od.ODConfig(),
    stop_zone: Mapping[str, str] | None = None,
    progress: Callable[[int], object] | None = None,
) -> DemandResult:
    """Run taps through route stage, card stage and load stage; build the aggregates.

    When ``alighting_model`` is None it is built from the batch's own tapped
    alightings (the usual choice for a day of data). ``progress(n)`` is called
    as taps are done, twice per tap in all (route stage, card stage).
    """
    tick = progress or (lambda n: None)
    taps = sorted(taps, key=lambda t: t.ts)
    by_route: dict[str, list[CardTap]] = {}
    for t in taps:
        by_route.setdefault(t.route_id, []).append(t)
    route_states, located = {}, []
    for route_id, rt in sorted(by_route.items()):
        st, lt = boardings.advance(boardings.RouteTapState(route_id), rt, patterns)
        route_states[route_id] = st
        located += lt
        tick(len(rt))
    if alighting_model is None:
        alighting_model = od.alighting_model_from_counts(patterns, {
            (route_id, c.stop_id): c.alightings_tapped_pax
            for route_id, st in route_states.items() for c in boardings.stop_hour_counts(st)
        })
    card_state = od.CardLinkState()
    rides: list[Ride] = []
    journeys: list[Journey] = []
    located.sort(key=lambda lt: lt.tap.ts)
    for i in range(0, len(located), 10_000):
        out = od.advance(card_state, located[i:i + 10_000], patterns, alighting_model, config)[1]
        rides += out.rides
        journeys += out.journeys
        tick(len(located[i:i + 10_000]))
    tail = od.expire(card_state, math.inf, patterns, alighting_model, config)[1]
    rides += tail.rides
    journeys += tail.journeys
    rides_by_route: dict[str, list[Ride]] = {}
    for r in rides:
        rides_by_route.setdefault(r.route_id, []).append(r)
    load_states = {
        route_id: loads.advance(loads.RouteLoadState(route_id), rs, patterns)[0]
        for route_id, rs in sorted(rides_by_route.items())
    }
    counts = od.accumulate(od.ODCounts(), journeys)
    return DemandResult(
        route_states=route_states, card_state=card_state, load_states=load_states,
        located=located, rides=rides, journeys=journeys, od_counts=counts,
        squirrel={rid: loads.squirrel_input(st, patterns, now_ts) for rid, st in load_states.items()},
        owl=od.owl_input(counts, now_ts, stop_zone),
    )


def run_windows(located: Iterable[LocatedTap]) -> dict[str, tuple[float, float]]:
    """First and last tap time of each bus run, keyed ``"vehicle|run_no|pattern"``."""
    win: dict[str, tuple[float, float]] = {}
    for lt in located:
        key = f"{lt.tap.vehicle_id}|{lt.run_no}|{lt.pattern_index}"
        a, b = win.get(key, (math.inf, -math.inf))
        win[key] = (min(a, lt.tap.ts), max(b, lt.tap.ts))
    return win


def load_errors(result: DemandResult, visits: Iterable, patterns: RoutePatterns, slack_s: float = 60.0) -> tuple[np.ndarray, int]:
    """Inferred minus true load on each segment of each fully observed trip.

    ``visits`` are true stop visits (``topis.sim.truth.StopVisit``-like: ``vehicle_id,
    trip_id, route_id, stop_id, stop_sequence`` 1-based, ``arrival_ts``, ``load``
    leaving the stop). A trip counts when its visits cover a whole pattern and
    exactly one bus run of the vehicle has its taps inside the trip's time
    span (± ``slack_s``).

    Returns
    -------
    (ndarray of float, int)
        Errors in passengers (one per segment visit) and the number of trips compared.
    """
    win = run_windows(result.located)
    pattern_of = {(p.route_id, p.stop_ids): i for i, p in enumerate(patterns.patterns)}
    by_trip: dict[str, list] = {}
    for v in visits:
        by_trip.setdefault(v.trip_id, []).append(v)
    err: list[float] = []
    n_trips = 0
    for vs in by_trip.values():
        vs.sort(key=lambda v: v.stop_sequence)
        p_idx = pattern_of.get((vs[0].route_id, tuple(v.stop_id for v in vs)))
        state = result.load_states.get(vs[0].route_id)
        if p_idx is None or vs[0].stop_sequence != 1 or state is None:
            continue
        t0, t1 = vs[0].arrival_ts - slack_s, vs[-1].arrival_ts + slack_s
        runs = [run for key, run in state.runs.items()
                if key.startswith(f"{vs[0].vehicle_id}|") and key.endswith(f"|{p_idx}")
                and t0 <= win[key][0] and win[key][1] <= t1]
        if len(runs) != 1:
            continue
        n_trips += 1
        err += [runs[0].load_pax[v.stop_sequence - 1] - v.load for v in vs[:-1]]
    return np.asarray(err, dtype=float), n_trips


def _parse_ts(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        pass
    when = datetime.fromisoformat(text)
    if when.tzinfo is None:
        raise ValueError(f"timestamp {text!r} has no UTC offset")
    return when.timestamp()


def read_recorded(path: str | Path, topic: str, kind: type) -> list:
    """Events of one topic from a ``topis simulate --record`` recording (JSON lines of wire batches).

    Raises
    ------
    TapFileError
        A line that is not a recorded message, or a value that is not a ``kind`` batch.
    """
    from topis.sim.recording import RecordingError, read
    from topis.wire import WireError, decode

    out: list = []
    try:
        for m in read(path):
            if m.topic == topic:
                out += decode(m.value, kind).events
    except (RecordingError, WireError) as exc:
        raise TapFileError(f"{path}: {exc}") from exc
    return out


def is_recording(path: str | Path) -> bool:
    """Whether a file is a JSON-lines recording (its first non-blank byte is ``{``); any file type may be asked."""
    with open(path, "rb") as fh:
        head = fh.read(4096).removeprefix(b"\xef\xbb\xbf").lstrip()
    return head.startswith(b"{")


def read_taps(path: str | Path) -> list[CardTap]:
    """Taps from a CSV (:func:`read_taps_csv`) or a simulator recording (its ``card.taps`` topic)."""
    from topis.schemas.inputs import TapBatch

    path = Path(path)
    if not path.is_file():
        raise TapFileError(f"{path}: no such file")
    if is_recording(path):
        return read_recorded(path, "card.taps", TapBatch)
    return read_taps_csv(path)


def read_taps_csv(path: str | Path) -> list[CardTap]:
    """Read taps from CSV with columns ``card_hash, direction, route_id, vehicle_id, stop_id, ts``.

    ``ts`` is epoch seconds or ISO 8601 with an offset; an optional
    ``fare_class`` column is used when present.

    Raises
    ------
    TapFileError
        Missing file or column, or a bad value (the message says where).
    """
    path = Path(path)
    if not path.is_file():
        raise TapFileError(f"{path}: no such file")
    out = []
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        missing = set(TAP_COLUMNS) - set(reader.fieldnames or [])
        if missing:
            raise TapFileError(f"{path}: missing columns {sorted(missing)}")
        for line, row in enumerate(reader, start=2):
            if row["direction"] not in ("on", "off"):
                raise TapFileError(f"{path}:{line}: direction must be 'on' or 'off', got {row['direction']!r}")
            try:
                ts = _parse_ts(row["ts"])
            except ValueError as exc:
                raise TapFileError(f"{path}:{line}: ts: {exc}") from exc
            extra = {"fare_class": row["fare_class"]} if row.get("fare_class") else {}
            if extra and extra["fare_class"] not in ("adult", "youth", "child", "senior", "free"):
                raise TapFileError(f"{path}:{line}: unknown fare_class {extra['fare_class']!r}")
            out.append(CardTap(row["card_hash"], row["direction"], row["route_id"], row["vehicle_id"],
                               row["stop_id"], ts, **extra))
    return out

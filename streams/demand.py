"""A whole batch of card taps through the three demand stages, for files and replays.

The live path runs :mod:`streams.boardings`, :mod:`streams.od` and
:mod:`streams.loads` in three keyed agents; :func:`run_batch` chains the same
pure functions in one process over a list of taps (a day from a file, a test,
a benchmark) and returns everything the agents would publish.
:func:`read_taps_csv` reads taps from CSV.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from streams import boardings, loads, od
from streams.aggregates import OwlInput, SquirrelInput
from streams.taps import Journey, Ride, RoutePatterns
from topis.wire import CardTap

TAP_COLUMNS = ("card_hash", "direction", "route_id", "vehicle_id", "stop_id", "ts")


class TapFileError(ValueError):
    """A taps CSV that cannot be read; the message names the file, line and field."""


@dataclass
class DemandResult:
    """Everything the demand stages produce for one batch of taps."""

    route_states: dict[str, boardings.RouteTapState]
    card_state: od.CardLinkState
    load_states: dict[str, loads.RouteLoadState]
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
) -> DemandResult:
    """Run taps through route stage, card stage and load stage; build the aggregates.

    When ``alighting_model`` is None it is built from the batch's own tapped
    alightings (the usual choice for a day of data).
    """
    taps = sorted(taps, key=lambda t: t.ts)
    by_route: dict[str, list[CardTap]] = {}
    for t in taps:
        by_route.setdefault(t.route_id, []).append(t)
    route_states, located = {}, []
    for route_id, rt in sorted(by_route.items()):
        st, lt = boardings.advance(boardings.RouteTapState(route_id), rt, patterns)
        route_states[route_id] = st
        located += lt
    if alighting_model is None:
        alighting_model = od.alighting_model_from_counts(patterns, {
            (route_id, c.stop_id): c.alightings_tapped_pax
            for route_id, st in route_states.items() for c in boardings.stop_hour_counts(st)
        })
    card_state = od.CardLinkState()
    out = od.advance(card_state, located, patterns, alighting_model, config)[1]
    tail = od.expire(card_state, math.inf, patterns, alighting_model, config)[1]
    rides, journeys = out.rides + tail.rides, out.journeys + tail.journeys
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
        rides=rides, journeys=journeys, od_counts=counts,
        squirrel={rid: loads.squirrel_input(st, patterns, now_ts) for rid, st in load_states.items()},
        owl=od.owl_input(counts, now_ts, stop_zone),
    )


def _parse_ts(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        pass
    when = datetime.fromisoformat(text)
    if when.tzinfo is None:
        raise ValueError(f"timestamp {text!r} has no UTC offset")
    return when.timestamp()


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

"""KPI tiles of the wall: pure functions of the read-model state."""

from __future__ import annotations

from dataclasses import dataclass

from dashboard.readmodel import CityState

FEEDS = ("positions", "taps", "reads")


@dataclass(frozen=True)
class Kpis:
    buses_in_service: int  #: vehicles with a fix in the live state
    taps_per_min: int  #: card taps in the last complete minute (event time)
    reads_per_min: int  #: plate reads in the last complete minute (event time)
    feed_age_s: dict[str, float | None]  #: wall seconds since each feed last reached a worker
    dead_letters: int  #: rejected messages so far
    clock_ts: float | None  #: newest event time seen (the simulated clock in the demo)


def _last_complete_minute(counters: dict, kind: str) -> int:
    per_key = [snap for (k, _), snap in counters.items() if k == kind]
    newest = max((int(m) for snap in per_key for m in snap["per_minute"]), default=None)
    if newest is None:
        return 0
    minute = str(newest - 60)
    return sum(snap["per_minute"].get(minute, 0) for snap in per_key)


def _age(received: list[float | None], now_wall_ts: float) -> float | None:
    seen = [r for r in received if r is not None]
    return round(now_wall_ts - max(seen), 1) if seen else None


def compute(state: CityState, now_wall_ts: float) -> Kpis:
    """Headline numbers from ``state`` at wall time ``now_wall_ts``."""
    vehicles = [v for snap in state.vehicles_by_route.values() for v in snap["vehicles"]]
    counters = state.counters
    ages = {
        "positions": _age([s.get("received_ts") for s in state.vehicles_by_route.values()], now_wall_ts),
        "taps": _age([s["received_ts"] for (k, _), s in counters.items() if k == "taps"], now_wall_ts),
        "reads": _age([s["received_ts"] for (k, _), s in counters.items() if k == "reads"], now_wall_ts),
    }
    dead = sum(s.get("dead_letters", 0) for s in state.vehicles_by_route.values())
    dead += sum(s.get("dead_letters", 0) for s in counters.values())
    return Kpis(
        buses_in_service=len(vehicles),
        taps_per_min=_last_complete_minute(counters, "taps"),
        reads_per_min=_last_complete_minute(counters, "reads"),
        feed_age_s=ages,
        dead_letters=dead,
        clock_ts=max((v["ts"] for v in vehicles), default=None),
    )

"""KPI tiles: pure functions of the read-model state."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from dashboard.readmodel import STATUSES, CityState, fleet_arrays
from topis import topics

#: feeds whose freshness the wall shows, and the read-model topic or counter kind each is judged by.
FEEDS = ("positions", "taps", "reads", "routes", "link_speeds")
#: the states (input topics, or streams.runtime.health.DERIVED_STATES keys) whose lag each feed has
FEED_INPUTS = {"positions": ("bus.positions",), "taps": ("card.taps",), "reads": ("plate.reads",),
               "routes": ("bus.positions",), "link_speeds": ("bus.positions>link_speeds", "taxi.positions")}
#: a worker report older than this (wall seconds) is from a worker that is gone
WORKER_REPORT_FRESH_S = 30.0
#: the input topics whose rejected messages the wall counts, and the short name the tile gives each.
REJECTED_TOPICS = {topics.BUS_POSITIONS.name: "positions", topics.CARD_TAPS.name: "taps",
                   topics.PLATE_READS.name: "reads", topics.TAXI_POSITIONS.name: "taxis"}


@dataclass(frozen=True)
class Kpis:
    buses_in_service: int  #: buses with a fix in the live state
    status_counts: dict[str, int]  #: buses per status
    on_headway_share: float | None  #: on_headway / buses judged on headway (bunched + gapped + on_headway)
    bunching_events: int  #: bunching alerts among the recent alerts
    network_speed_kph: float | None  #: probe-weighted mean of the newest link speeds
    taps_per_min: int  #: card taps in the last complete minute (event time)
    reads_per_min: int  #: plate reads in the last complete minute (event time)
    feed_age_s: dict[str, float | None]  #: wall seconds since each feed last reached the dashboard
    dead_letters: int  #: rejected messages so far (dead letters of the input topics)
    clock_ts: float | None  #: newest event time seen (the simulated clock in the demo)
    #: per feed, the worst p99 of produce → processed lag of its inputs over the live workers, seconds
    state_lag_s: dict[str, float | None] = field(default_factory=dict)
    backlog_messages: int = 0  #: input messages the live workers have not committed
    agent_crashes: dict[str, int] = field(default_factory=dict)  #: agent -> crashes in the live workers
    components: tuple = ()  #: (name, state, since_ts, restarts) of each supervised process
    #: input topic → dead letters so far (every input topic, 0 when none)
    dead_letters_by_topic: dict[str, int] = field(default_factory=dict)
    #: input topic → reason code → rejections (a whole message 1, each bad row of a batch 1)
    rejected_reasons: dict[str, dict[str, int]] = field(default_factory=dict)


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


def network_speed_kph(link_speeds: dict[str, dict]) -> float | None:
    """Mean of the newest link speeds weighted by probes (each link at least 1); None without data."""
    rows = [(s["speed_kph"], max(int(s.get("n_probes") or 1), 1)) for s in link_speeds.values()
            if s.get("speed_kph") is not None]
    total = sum(w for _, w in rows)
    return sum(v * w for v, w in rows) / total if total else None


def feed_ages(state: CityState, now_wall_ts: float) -> dict[str, float | None]:
    """Wall seconds since each feed was last seen (None: never)."""
    counters = state.counters
    return {
        "positions": _age([s.get("received_ts") for s in state.vehicles_by_route.values()], now_wall_ts),
        "taps": _age([s.get("received_ts") for (k, _), s in counters.items() if k == "taps"], now_wall_ts),
        "reads": _age([s.get("received_ts") for (k, _), s in counters.items() if k == "reads"], now_wall_ts),
        "routes": _age([state.received_by_topic.get(topics.STATE_ROUTES.name)], now_wall_ts),
        "link_speeds": _age([state.received_by_topic.get(topics.LINK_SPEEDS.name)], now_wall_ts),
    }


def state_lags(state: CityState, now_wall_ts: float) -> tuple[dict[str, float | None], int]:
    """Per feed the worst state lag p99 of the live workers (None: no report), and their total backlog."""
    live = [w for w in state.workers.values() if now_wall_ts - float(w.get("published_ts", 0)) <= WORKER_REPORT_FRESH_S]
    lags = {}
    for feed, inputs in FEED_INPUTS.items():
        seen = [w["state_lag_p99_s"][t] for w in live for t in inputs if t in w.get("state_lag_p99_s", {})]
        lags[feed] = max(seen) if seen else None
    backlog = sum(n for w in live for t, n in w.get("lag_messages", {}).items()
                  if any(t in inputs for inputs in FEED_INPUTS.values()))
    return lags, backlog


def agent_crashes(state: CityState, now_wall_ts: float) -> dict[str, int]:
    """Agent (short name) -> crashes reported by the live workers since they started."""
    out: dict[str, int] = {}
    for w in state.workers.values():
        if now_wall_ts - float(w.get("published_ts", 0)) <= WORKER_REPORT_FRESH_S:
            for name, n in (w.get("agent_crashes") or {}).items():
                short = name.rsplit(".", 1)[-1]
                out[short] = out.get(short, 0) + int(n)
    return out


def components(state: CityState) -> tuple:
    """(name, state, since_ts, restarts) of each component the supervisor watches."""
    status = state.supervisor or {}
    return tuple((c["name"], c["state"], c["since_ts"], c["restarts"]) for c in status.get("components", []))
def rejected(state: CityState) -> tuple[dict[str, int], dict[str, dict[str, int]]]:
    """Dead letters per input topic, and rejections per topic and reason, from ``state.counters``.

    Workers publish one ``rejected`` counter per source partition (and per agent
    for processing errors); older workers counted per key in their ``taps`` /
    ``reads`` counters and ``state.vehicles`` snapshots, which are added too.
    """
    letters = dict.fromkeys(REJECTED_TOPICS, 0)
    reasons: dict[str, dict[str, int]] = {name: {} for name in REJECTED_TOPICS}
    for (kind, _), snap in state.counters.items():
        if kind == "rejected" and snap.get("source") in letters:
            letters[snap["source"]] += snap.get("dead_letters", 0)
            for reason, n in (snap.get("reasons") or {}).items():
                reasons[snap["source"]][reason] = reasons[snap["source"]].get(reason, 0) + n
        elif kind in ("taps", "reads"):
            letters[topics.CARD_TAPS.name if kind == "taps" else topics.PLATE_READS.name] += snap.get("dead_letters", 0)
    letters[topics.BUS_POSITIONS.name] += sum(s.get("dead_letters", 0) for s in state.vehicles_by_route.values())
    return letters, reasons


#: the rejected tile's label: its value lists the input topics' dead letters in this order
REJECTED_LABEL = "rejected: " + " · ".join(REJECTED_TOPICS.values())


def rejected_text(k: Kpis) -> str:
    """The rejected tile's value: each input topic's dead letters, as its label orders them, e.g. ``"9 · 3 · 0"``."""
    return " · ".join(f"{k.dead_letters_by_topic.get(name, 0):,}" for name in REJECTED_TOPICS)


def compute(state: CityState, now_wall_ts: float, stale_after_s: float = 120.0) -> Kpis:
    """Headline numbers from ``state`` at wall time ``now_wall_ts``."""
    clock = state.clock_ts()
    buses = fleet_arrays(state, clock, stale_after_s)
    per_code = np.bincount(buses.status, minlength=len(STATUSES))
    counts = {s: int(per_code[k]) for k, s in enumerate(STATUSES)}
    judged = counts["on_headway"] + counts["bunched"] + counts["gapped"]
    lags, backlog = state_lags(state, now_wall_ts)
    by_topic, reasons = rejected(state)
    return Kpis(
        buses_in_service=len(buses),
        status_counts=counts,
        on_headway_share=counts["on_headway"] / judged if judged else None,
        bunching_events=sum(a.get("schema") == "bus.bunching/1" for a in state.bus_alerts.values()),
        network_speed_kph=network_speed_kph(state.link_speeds),
        taps_per_min=_last_complete_minute(state.counters, "taps"),
        reads_per_min=_last_complete_minute(state.counters, "reads"),
        feed_age_s=feed_ages(state, now_wall_ts),
        dead_letters=sum(by_topic.values()),
        clock_ts=clock,
        state_lag_s=lags,
        backlog_messages=backlog,
        agent_crashes=agent_crashes(state, now_wall_ts),
        components=components(state),
        dead_letters_by_topic=by_topic,
        rejected_reasons=reasons,
    )

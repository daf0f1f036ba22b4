"""The city's simple live state: pure functions the agents call.

* latest position of each vehicle, per route (out-of-order fixes never move a
  vehicle back in time);
* events per minute, per route (taps) or per camera (reads), kept for the
  last hour;
* the read-model payloads the dashboard consumes.
"""

from __future__ import annotations

from collections.abc import Iterable

import msgspec

from topis.wire import BusPosition

#: how many minutes of per-minute counts are kept.
KEEP_MINUTES = 60


def latest_positions(vehicles: dict[str, dict], fixes: Iterable[BusPosition]) -> dict[str, dict]:
    """Merge ``fixes`` into ``vehicles`` (vehicle_id -> position as a dict), newest fix wins.

    A fix older than or as old as the one held is ignored (duplicates and
    out-of-order delivery are normal on AVL feeds). Returns a new dict.
    """
    merged = dict(vehicles)
    for fix in fixes:
        held = merged.get(fix.vehicle_id)
        if held is None or fix.ts > held["ts"]:
            merged[fix.vehicle_id] = msgspec.to_builtins(fix)
    return merged


def minute_of(ts: float) -> int:
    """Start of the UTC minute containing ``ts``, epoch seconds."""
    return int(ts // 60) * 60


def count_per_minute(counts: dict[str, int], event_ts: Iterable[float], now_ts: float) -> dict[str, int]:
    """Add one per event to its minute's count; drop minutes older than KEEP_MINUTES before ``now_ts``.

    Keys are minute starts as decimal strings (JSON object keys). Returns a new dict.
    """
    merged = dict(counts)
    for ts in event_ts:
        key = str(minute_of(ts))
        merged[key] = merged.get(key, 0) + 1
    oldest = minute_of(now_ts) - KEEP_MINUTES * 60
    return {k: v for k, v in merged.items() if int(k) >= oldest}


def already_counted(counted_at: list[int] | None, partition: int, offset: int) -> bool:
    """True if the Kafka message at ``partition``/``offset`` was counted before.

    ``counted_at`` is the ``[partition, offset]`` of the last message a counter
    took in. A key's messages share a partition and arrive in offset order, so a
    redelivered message (after a restart or a re-read) is one at or before it.
    """
    return counted_at is not None and counted_at[0] == partition and offset <= counted_at[1]


def drop_stale(vehicles: dict[str, dict], now_ts: float, max_age_s: float) -> dict[str, dict]:
    """Vehicles whose last fix is at most ``max_age_s`` older than ``now_ts``."""
    return {vid: pos for vid, pos in vehicles.items() if now_ts - pos["ts"] <= max_age_s}


def vehicles_snapshot(route_id: str, vehicles: dict[str, dict], published_ts: float) -> dict:
    """Read-model message for the ``state.vehicles`` topic."""
    return {"route_id": route_id, "published_ts": published_ts, "vehicles": list(vehicles.values())}


def counter_snapshot(kind: str, key: str, counts: dict[str, int], last_event_ts: float | None) -> dict:
    """Read-model message for the ``state.counters`` topic (kind = 'taps' or 'reads')."""
    return {"kind": kind, "key": key, "per_minute": counts, "last_event_ts": last_event_ts}


def chunks(items: list, size: int) -> list[list]:
    """``items`` cut into consecutive lists of at most ``size``."""
    return [items[i : i + size] for i in range(0, len(items), size)]


def group_by(events: Iterable, key) -> dict[str, list]:
    """``events`` grouped by ``key(event)``, keeping their order."""
    groups: dict[str, list] = {}
    for event in events:
        groups.setdefault(key(event), []).append(event)
    return groups

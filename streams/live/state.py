"""The city's simple live state: pure functions the agents call.

* latest position of each vehicle, per route (out-of-order fixes never move a
  vehicle back in time; vehicles silent for the timeout leave);
* events per minute, per route (taps) or per camera (reads), kept for the
  last hour, each Kafka message counted once;
* the read-model messages the dashboard consumes
  (:class:`topis.schemas.state.VehiclesMessage`, :class:`~topis.schemas.state.CountersMessage`).

The agents keep one *entry* per key in a Faust table (plain JSON):

* a route's vehicles: ``{"vehicles": {vehicle_id: position}, "received_ts", "dead_letters"}``
  (positions as :class:`~topis.schemas.inputs.BusPosition` fields, see :func:`track`);
* a counter: ``{"per_minute", "last_event_ts", "received_ts", "dead_letters", "counted_at"}``
  (see :func:`counted`).

``dead_letters`` in these entries stays 0: rejected messages are counted per
source partition and reason by :class:`streams.runtime.decode.DeadLetters`
and published beside these counters (kind ``rejected``).

``received_ts`` is wall clock (when the key's last valid message arrived); every
other time is event time.
"""

from __future__ import annotations

from collections.abc import Iterable

import msgspec

from topis.schemas.inputs import BusPosition
from topis.schemas.state import CountersMessage, CounterSnapshot, RouteVehicles, VehiclesMessage

#: how many minutes of per-minute counts are kept.
KEEP_MINUTES = 60
#: most vehicles a route's entry keeps (the newest): no route runs this many buses, and an entry must fit in one
#: Kafka message (its table's changelog) however many vehicle ids a feed invents
MAX_VEHICLES = 1000


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


# --- table entries -----------------------------------------------------------------------------


def empty_vehicles() -> dict:
    """The vehicles entry of a route not heard from yet."""
    return {"vehicles": {}, "dead_letters": 0}


def empty_counter() -> dict:
    """The entry of a counter that has counted nothing yet."""
    return {"per_minute": {}, "last_event_ts": None, "received_ts": None, "dead_letters": 0}


def track(entry: dict | None, fixes: Iterable[BusPosition], received_ts: float, timeout_s: float) -> dict:
    """A route's vehicles entry with a batch of fixes folded in (a new dict).

    The newest fix of each vehicle is kept (:func:`latest_positions`); a vehicle
    whose last fix is more than ``timeout_s`` older than the route's newest fix
    (event time) leaves, and beyond :data:`MAX_VEHICLES` the vehicles heard
    from least recently leave.
    """
    entry = entry or empty_vehicles()
    vehicles = latest_positions(entry.get("vehicles", {}), fixes)
    newest_ts = max((v["ts"] for v in vehicles.values()), default=0.0)
    vehicles = drop_stale(vehicles, newest_ts, timeout_s)
    if len(vehicles) > MAX_VEHICLES:
        vehicles = dict(sorted(vehicles.items(), key=lambda kv: kv[1]["ts"])[-MAX_VEHICLES:])
    return {**entry, "vehicles": vehicles, "received_ts": received_ts}


def counted(entry: dict | None, event_ts: list[float], partition: int, offset: int,
            received_ts: float) -> dict | None:
    """A counter's entry with the events of the message at ``partition``/``offset`` counted (a new dict).

    None when that message was counted before (:func:`already_counted`): a
    redelivery changes nothing. Minutes older than KEEP_MINUTES before the
    newest event counted are dropped.
    """
    entry = entry or empty_counter()
    if already_counted(entry.get("counted_at"), partition, offset):
        return None
    last_ts = max([*event_ts, entry["last_event_ts"] or 0.0])
    return {**entry, "per_minute": count_per_minute(entry["per_minute"], event_ts, last_ts), "last_event_ts": last_ts,
            "received_ts": received_ts, "counted_at": [partition, offset]}


def count_batch(held: dict[str, dict], events: list, by, partition: int, offset: int,
                received_ts: float) -> dict[str, dict]:
    """The counters of one message's events, grouped by ``by(event)``: the new entries of the keys that changed.

    ``held`` maps each key of the batch to its current entry (``{}`` or None
    when new). A key whose counter took in this message before (a redelivery)
    is left out (:func:`counted`).
    """
    out = {}
    for key, grouped in group_by(events, by).items():
        entry = counted(held.get(key) or None, [e.ts for e in grouped], partition, offset, received_ts)
        if entry is not None:
            out[key] = entry
    return out


# --- read model --------------------------------------------------------------------------------


def vehicles_snapshot(route_id: str, entry: dict, published_ts: float) -> RouteVehicles:
    """The ``state.vehicles`` snapshot of one route's entry."""
    vehicles = msgspec.convert(list(entry.get("vehicles", {}).values()), list[BusPosition])
    return RouteVehicles(route_id, published_ts, vehicles, entry.get("received_ts"), entry.get("dead_letters", 0))


def counter_snapshot(kind: str, key: str, entry: dict) -> CounterSnapshot:
    """The ``state.counters`` snapshot of one counter's entry (kind = 'taps', 'reads' or 'rejected').

    A ``rejected`` entry is one source partition's dead letters
    (:func:`streams.runtime.decode.counted`), keyed ``topic/partition[/agent]``.
    """
    if kind == "rejected":
        return CounterSnapshot(kind, key, {}, None, entry["received_ts"], entry["dead_letters"],
                               source=key.split("/", 1)[0], reasons=dict(entry["reasons"]))
    return CounterSnapshot(kind, key, entry["per_minute"], entry["last_event_ts"], entry["received_ts"],
                           entry["dead_letters"])


def vehicles_messages(entries: Iterable[tuple[str, dict]], published_ts: float,
                      per_message: int) -> list[tuple[str, VehiclesMessage]]:
    """``(key, message)`` for ``state.vehicles``: the routes' snapshots, ``per_message`` to a message.

    The key is the first route of the message.
    """
    snapshots = [vehicles_snapshot(route_id, entry, published_ts) for route_id, entry in entries]
    return [(chunk[0].route_id, VehiclesMessage(chunk)) for chunk in chunks(snapshots, per_message)]


def counters_messages(entries: Iterable[tuple[str, str, dict]], per_message: int) -> list[tuple[str, CountersMessage]]:
    """``(key, message)`` for ``state.counters`` from ``(kind, key, entry)``, ``per_message`` snapshots to a message.

    The key is the first counter's key of the message.
    """
    snapshots = [counter_snapshot(kind, key, entry) for kind, key, entry in entries]
    return [(chunk[0].key, CountersMessage(chunk)) for chunk in chunks(snapshots, per_message)]


def chunks(items: list, size: int) -> list[list]:
    """``items`` cut into consecutive lists of at most ``size``."""
    return [items[i : i + size] for i in range(0, len(items), size)]


def group_by(events: Iterable, key) -> dict[str, list]:
    """``events`` grouped by ``key(event)``, keeping their order."""
    groups: dict[str, list] = {}
    for event in events:
        groups.setdefault(key(event), []).append(event)
    return groups

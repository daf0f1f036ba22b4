"""The alerts feed: pure functions from the read-model state to a list of alerts, newest first.

Kinds: ``bunching`` and ``gapping`` (with the even-spacing holding advice),
``stale_feed`` (a feed silent for longer than the stale limit), ``health``
(read model silent, messages dead-lettered) and ``watch_list`` (a stolen or
wanted plate read by a camera). Each alert has a stable id so an
acknowledgement (:class:`dashboard.store.AckRow`) stays attached to it.
"""

from __future__ import annotations

from dataclasses import dataclass

from dashboard.kpis import Kpis
from dashboard.readmodel import CityState, alert_id, watch_hit_id
from enforcement.privacy import mask_plate

KINDS = ("bunching", "gapping", "stale_feed", "health", "watch_list")


@dataclass(frozen=True)
class AlertItem:
    alert_id: str
    kind: str  #: one of KINDS
    ts: float | None  #: event time (bus and camera alerts) or wall time (feed health)
    text: str
    advice: str = ""  #: what to do, e.g. "hold 90 s at the control stop"


def _bus_alert(a: dict) -> AlertItem:
    obs = a.get("observation", {})
    kind = "bunching" if a.get("schema") == "bus.bunching/1" else "gapping"
    sched = obs.get("scheduled_headway_s")
    text = (f"route {obs.get('route_id')}: bus {obs.get('vehicle_id')} {kind} at stop {obs.get('stop_id')} — "
            f"headway {obs.get('headway_s', 0):.0f} s" + (f" vs {sched:.0f} s planned" if sched else ""))
    hold = a.get("hold_s")
    if hold:
        advice = f"hold {hold:.0f} s at {'control stop' if a.get('control_stop') else 'the stop'} {obs.get('stop_id')}"
    elif kind == "gapping":
        advice = "no holding: go now; consider a standby bus"
    else:
        advice = "no holding advice (not a control stop)"
    return AlertItem(alert_id(a), kind, obs.get("ts"), text, advice)


def feed(state: CityState, k: Kpis, now_wall_ts: float, stale_after_s: float, *, full_plates: bool) -> list[AlertItem]:
    """Every current alert, newest first; plates masked unless ``full_plates``."""
    items = [_bus_alert(a) for a in state.bus_alerts.values()]
    for name, age in k.feed_age_s.items():
        if age is not None and age > stale_after_s:
            since = int(now_wall_ts - age)
            items.append(AlertItem(f"stale|{name}|{since}", "stale_feed", now_wall_ts - age,
                                   f"{name} feed silent for {age:.0f} s", "check the feed and its worker"))
    if state.received_wall_ts is not None and now_wall_ts - state.received_wall_ts > stale_after_s:
        items.append(AlertItem(f"health|readmodel|{int(state.received_wall_ts)}", "health", state.received_wall_ts,
                               f"no read-model message for {now_wall_ts - state.received_wall_ts:.0f} s",
                               "check the broker and the workers (topis up output)"))
    if k.dead_letters:
        items.append(AlertItem(f"health|dead|{k.dead_letters}", "health", now_wall_ts,
                               f"{k.dead_letters} messages rejected to the dead-letter topic",
                               "inspect the deadletter topic for the reasons"))
    for hit in state.watch_hits.values():
        plate = hit.get("plate", "?")
        shown = plate if full_plates else mask_plate(plate)
        items.append(AlertItem(watch_hit_id(hit), "watch_list", hit.get("ts"),
                               f"watch list ({hit.get('reason', 'watch')}): {shown} at camera {hit.get('camera_id')}",
                               "inform the police desk"))
    return sorted(items, key=lambda a: -(a.ts or 0.0))

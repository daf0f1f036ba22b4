"""The dashboard's read model: the latest state the workers publish.

A background thread consumes the read-model topics (every partition, no
consumer group, from the newest messages) and folds each message into a
:class:`CityState` with :meth:`CityState.apply`. The Dash callbacks read
copies; they never touch Kafka or the workers' agents.

Topics and what is kept:

* ``state.vehicles`` / ``state.counters`` — newest snapshot per route / counter key;
* ``state.routes`` — newest route view per route (buses with status, Marey
  points, alerts, headways, next arrivals);
* ``bus.events`` — the last :data:`MAX_ALERTS` bunching/gapping alerts;
* ``traffic.link_speeds`` — newest bin per link;
* ``enforcement.alerts`` — the last :data:`MAX_ALERTS` watch-list hits;
* ``plans.proposed`` — every proposal by ``plan_id``;
* ``state.health`` — the supervisor's status of every component, and each
  worker's newest report (backlog and state lag per topic);
* ``bus.predictions`` — each vehicle's newest round of arrival predictions
  (:class:`topis.schemas.bus.PredictionRound`)
  (what the open feed's TripUpdates and stop arrivals serve, see
  :meth:`ReadModel.open_feed_state`).

For playback the state keeps a down-sampled history of every bus
(:class:`Frame`, one per :attr:`CityState.frame_every_s` of city clock, for
:attr:`CityState.history_s`). A :class:`ReadModel` can also be fed directly
(:meth:`ReadModel.feed`), without Kafka, for tests and replays.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, field, fields, replace

import msgspec
import numpy as np

from streams.bus.gtfs_rt import OpenFeedState
from topis import topics
from topis.schemas.bus import Prediction, PredictionRound
from topis.schemas.inputs import BusPosition
from topis.schemas.state import STATUSES

log = logging.getLogger(__name__)

#: alerts and watch-list hits kept for the alerts feed.
MAX_ALERTS = 300
#: the codes of :class:`Frame` index :data:`topis.schemas.state.STATUSES` (legend order).
STATUS_CODE = {s: i for i, s in enumerate(STATUSES)}
#: the topics the read model consumes.
TOPICS = (topics.STATE_VEHICLES.name, topics.STATE_COUNTERS.name, topics.STATE_ROUTES.name, topics.BUS_EVENTS.name,
          topics.LINK_SPEEDS.name, topics.ENFORCEMENT_ALERTS.name, topics.PLANS.name, topics.BUS_PREDICTIONS.name,
          topics.STATE_HEALTH.name)
#: a vehicle's predictions are forgotten this long (city clock) after its newest round, seconds.
PREDICTIONS_KEEP_S = 900.0
#: the matched trip of a bus (state.routes) is given to its raw fix (state.vehicles) when at most this much older, s.
MATCH_FRESH_S = 120.0
_ALERT_SCHEMAS = ("bus.bunching/1", "bus.gapping/1")


@dataclass(frozen=True)
class Frame:
    """Every bus at one moment of the city clock (for playback)."""

    clock_ts: float  #: city clock of the frame, epoch seconds
    keys: tuple[str, ...]  #: "route|vehicle" per bus
    lat: np.ndarray  #: float32 degrees
    lon: np.ndarray  #: float32 degrees
    status: np.ndarray  #: uint8 index into STATUSES


@dataclass(frozen=True)
class Fleet:
    """Buses as parallel arrays (what the map draws); built per route when a snapshot arrives."""

    keys: list[str]  #: "route|vehicle"
    lat: np.ndarray  #: float64 degrees
    lon: np.ndarray  #: float64 degrees
    ts: np.ndarray  #: float64 epoch seconds of each bus's last fix
    status: np.ndarray  #: uint8 index into STATUSES; UNKNOWN when the snapshot has no status

    def __len__(self) -> int:
        return len(self.keys)


#: status code of a bus whose snapshot gives no status (state.vehicles): decided by :func:`fleet_arrays`.
UNKNOWN = 255


def _fleet_of(route_id: str, rows: list[dict]) -> Fleet:
    n = len(rows)
    return Fleet([f"{route_id}|{v['vehicle_id']}" for v in rows],
                 np.fromiter((v["lat"] for v in rows), float, n), np.fromiter((v["lon"] for v in rows), float, n),
                 np.fromiter((v["ts"] for v in rows), float, n),
                 np.fromiter((STATUS_CODE.get(v.get("status"), UNKNOWN) for v in rows), np.uint8, n))


@dataclass(frozen=True)
class Bus:
    """One bus as the map shows it."""

    key: str  #: "route|vehicle"
    route_id: str
    vehicle_id: str
    ts: float
    lat: float
    lon: float
    status: str
    row: dict  #: the published row (trip, headway, deviation, hold advice when known)


class _RouteHead(msgspec.Struct):
    """A state.routes message without its Marey points, which are most of its bytes (kept raw, decoded on demand)."""

    route_id: str
    published_ts: float | None = None
    clock_ts: float | None = None
    vehicles: list[dict] = []
    alerts: list[dict] = []
    headways: dict = {}
    next_arrivals: dict = {}
    marey_full: bool = True


class _RouteMarey(msgspec.Struct):
    marey: dict[str, list[list[float]]] = {}


_decode_route_head = msgspec.json.Decoder(_RouteHead).decode
_decode_route_marey = msgspec.json.Decoder(_RouteMarey).decode
_decode_predictions = msgspec.json.Decoder(list[PredictionRound]).decode


def decode_message(topic: str, value: bytes) -> tuple[object, bytes | None]:
    """A read-model message as JSON values; state.routes skips a full set of Marey points and also returns the raw
    bytes (the few points a message adds to the full set are decoded)."""
    if topic == topics.STATE_ROUTES.name:
        head = msgspec.structs.asdict(_decode_route_head(value))
        if not head["marey_full"]:
            head["marey"] = _decode_route_marey(value).marey
        return head, value
    if topic == topics.BUS_PREDICTIONS.name:
        return _decode_predictions(value), None
    return msgspec.json.decode(value), None


def _add_marey(into: dict[str, list], points: dict[str, list]) -> None:
    """Add each trip's new Marey points to ``into`` (in place), skipping those not after its newest."""
    for trip, new in points.items():
        held = into.setdefault(trip, [])
        newest = held[-1][0] if held else float("-inf")
        held.extend(p for p in new if p[0] > newest)


def alert_id(alert: dict) -> str:
    """A stable id of a bunching/gapping alert: schema, route, vehicle, stop, time."""
    obs = alert.get("observation", {})
    return "|".join(str(x) for x in (alert.get("schema"), obs.get("route_id"), obs.get("vehicle_id"),
                                     obs.get("stop_id"), obs.get("ts")))


def watch_hit_id(hit: dict) -> str:
    """A stable id of a watch-list hit (its ``alert_id`` when the producer gave one).

    Without one, a digest of plate, camera and time: the id travels to the
    browser (it names the acknowledge button), so it must not carry the plate.
    """
    if hit.get("alert_id"):
        return str(hit["alert_id"])
    key = f"{hit.get('plate')}|{hit.get('camera_id')}|{hit.get('ts')}".encode()
    return f"watch|{hashlib.sha256(key).hexdigest()[:20]}"


def _as_list(message, wrapper: str) -> list:
    """A message's items: a JSON list, ``{wrapper: [...]}``, or one object."""
    if isinstance(message, list):
        return message
    if isinstance(message, dict) and isinstance(message.get(wrapper), list):
        return message[wrapper]
    return [message]


@dataclass
class CityState:
    """What the pages show, folded from the read-model topics."""

    vehicles_by_route: dict[str, dict] = field(default_factory=dict)
    counters: dict[tuple[str, str], dict] = field(default_factory=dict)  #: (kind, key) -> snapshot
    routes: dict[str, dict] = field(default_factory=dict)  #: route_id -> state.routes snapshot
    bus_alerts: dict[str, dict] = field(default_factory=dict)  #: alert id -> bunching/gapping alert (insertion order)
    link_speeds: dict[str, dict] = field(default_factory=dict)  #: link_id -> newest bin
    watch_hits: dict[str, dict] = field(default_factory=dict)  #: hit id -> watch-list hit
    plans: dict[str, dict] = field(default_factory=dict)  #: plan_id -> proposal
    #: vehicle_id -> its newest round of predictions (all made at the same fix)
    predictions_by_vehicle: dict[str, list[Prediction]] = field(default_factory=dict)
    supervisor: dict | None = None  #: the newest state.health supervisor status (None: not under topis up)
    workers: dict[str, dict] = field(default_factory=dict)  #: worker_id -> its newest state.health report
    received_by_topic: dict[str, float] = field(default_factory=dict)  #: topic -> wall ts of its last message
    received_wall_ts: float | None = None  #: when the last read-model message arrived
    #: route_id -> its newest state.routes message with a full set of Marey points, undecoded (when fed bytes)
    route_raw: dict[str, bytes] = field(default_factory=dict)
    marey_base: dict[str, dict] = field(default_factory=dict)  #: route_id -> the newest full set (when fed JSON)
    marey_added: dict[str, dict] = field(default_factory=dict)  #: route_id -> Marey points added since that set
    route_fleets: dict[str, Fleet] = field(default_factory=dict)  #: route_id -> its buses from state.routes
    vehicle_fleets: dict[str, Fleet] = field(default_factory=dict)  #: route_id -> its buses from state.vehicles
    history: deque = field(default_factory=deque)  #: Frames, oldest first
    frame_every_s: float = 10.0  #: city seconds between playback frames
    history_s: float = 3 * 3600.0  #: city seconds of playback kept

    def apply(self, topic: str, message, wall_ts: float, raw: bytes | None = None) -> None:
        """Fold one read-model message (decoded JSON; ``raw``: its bytes, for state.routes) into the state."""
        if topic == topics.STATE_VEHICLES.name:
            for snap in _as_list(message, "snapshots"):
                self.vehicles_by_route[snap["route_id"]] = snap
                self.vehicle_fleets[snap["route_id"]] = _fleet_of(snap["route_id"], snap["vehicles"])
        elif topic == topics.STATE_COUNTERS.name:
            for snap in _as_list(message, "snapshots"):
                self.counters[(snap["kind"], snap["key"])] = snap
        elif topic == topics.STATE_ROUTES.name:
            for snap in _as_list(message, "snapshots"):
                self._add_route(snap, raw)
                self.route_fleets[snap["route_id"]] = _fleet_of(snap["route_id"], snap["vehicles"])
                self._add_alerts(snap.get("alerts") or [])
        elif topic == topics.BUS_EVENTS.name:
            self._add_alerts(_as_list(message, "events"))
        elif topic == topics.LINK_SPEEDS.name:
            for s in _as_list(message, "speeds"):
                held = self.link_speeds.get(s["link_id"])
                if held is None or s["bin_start_ts"] >= held["bin_start_ts"]:
                    self.link_speeds[s["link_id"]] = s
        elif topic == topics.ENFORCEMENT_ALERTS.name:
            for hit in _as_list(message, "alerts"):
                self.watch_hits[watch_hit_id(hit)] = hit
            _trim(self.watch_hits)
        elif topic == topics.PLANS.name:
            for plan in _as_list(message, "plans"):
                self.plans[str(plan["plan_id"])] = plan
        elif topic == topics.BUS_PREDICTIONS.name:
            self._add_predictions(_as_list(message, "predictions"))
        elif topic == topics.STATE_HEALTH.name and isinstance(message, dict):
            if message.get("type") == "supervisor.status/1":
                self.supervisor = message
            elif message.get("type") == "worker.health/1":
                self.workers[str(message.get("worker_id"))] = message
        self.received_by_topic[topic] = wall_ts
        self.received_wall_ts = wall_ts

    def _add_route(self, snap: dict, raw: bytes | None) -> None:
        route_id, points = snap["route_id"], snap.get("marey")
        if snap.get("marey_full", True):
            self.marey_added[route_id] = {}
            if raw is not None and points is None:
                self.route_raw[route_id] = raw
                self.marey_base.pop(route_id, None)
            else:
                self.route_raw.pop(route_id, None)
                self.marey_base[route_id] = points or {}
        else:
            _add_marey(self.marey_added.setdefault(route_id, {}), points or {})
        self.routes[route_id] = {k: v for k, v in snap.items() if k != "marey"}

    def route(self, route_id: str) -> dict | None:
        """The newest state.routes snapshot of a route with all its Marey points: the newest full set (decoded now
        when kept raw) and the points added since."""
        snap = self.routes.get(route_id)
        if snap is None:
            return None
        raw = self.route_raw.get(route_id)
        base = msgspec.json.decode(raw).get("marey", {}) if raw is not None else self.marey_base.get(route_id, {})
        marey = {trip: list(points) for trip, points in base.items()}
        _add_marey(marey, self.marey_added.get(route_id, {}))
        return {**snap, "marey": marey}

    def _add_predictions(self, rounds: list) -> None:
        """Keep each vehicle's newest round (a message carries the rounds of a batch of fixes, oldest first)."""
        newest: dict[str, PredictionRound] = {}
        for r in rounds:
            if isinstance(r, dict):
                r = msgspec.convert(r, PredictionRound)
            held = newest.get(r.vehicle_id)
            if held is None or r.made_at_ts >= held.made_at_ts:
                newest[r.vehicle_id] = r
        for vehicle_id, r in newest.items():
            held = self.predictions_by_vehicle.get(vehicle_id)
            if r.stop_ids and (held is None or r.made_at_ts >= held[0].made_at_ts):
                self.predictions_by_vehicle[vehicle_id] = r.predictions()

    def _forget_predictions(self, clock_ts: float) -> None:
        old = [v for v, preds in self.predictions_by_vehicle.items() if clock_ts - preds[0].made_at_ts > PREDICTIONS_KEEP_S]
        for vehicle_id in old:
            del self.predictions_by_vehicle[vehicle_id]

    def _add_alerts(self, events: list) -> None:
        for ev in events:
            if isinstance(ev, dict) and ev.get("schema") in _ALERT_SCHEMAS:
                self.bus_alerts.setdefault(alert_id(ev), ev)
        _trim(self.bus_alerts)

    def clock_ts(self) -> float | None:
        """Newest event time seen (the simulated clock in the demo)."""
        ts = [s.get("clock_ts") or 0.0 for s in self.routes.values()]
        ts += [float(f.ts.max()) for f in self.vehicle_fleets.values() if len(f)]
        return max(ts) if ts else None

    def record_frame(self) -> bool:
        """Append a playback frame when ``frame_every_s`` of city clock has passed; True when one was added."""
        clock = self.clock_ts()
        if clock is None or (self.history and clock - self.history[-1].clock_ts < self.frame_every_s):
            return False
        buses = fleet_arrays(self, clock)
        keys = tuple(buses.keys)
        if self.history and self.history[-1].keys == keys:
            keys = self.history[-1].keys  # one tuple shared while the set of buses stays the same
        # float32 degrees (~0.4 m) keep 3 h of 7,400 buses every 10 s in ~70 MB
        self.history.append(Frame(clock, keys, buses.lat.astype(np.float32), buses.lon.astype(np.float32),
                                  buses.status))
        while self.history and clock - self.history[0].clock_ts > self.history_s:
            self.history.popleft()
        self._forget_predictions(clock)
        return True

    def copy(self) -> CityState:
        """A shallow copy whose dictionaries can be read while the consumer thread writes the original."""
        copied = {f.name: dict(getattr(self, f.name)) for f in fields(self) if isinstance(getattr(self, f.name), dict)}
        return replace(self, history=deque(self.history), **copied)


def feed_positions(routes: dict[str, dict], vehicles_by_route: dict[str, dict]) -> list[BusPosition]:
    """The newest fix of every bus, by vehicle id, for the open feed's VehiclePositions.

    The raw fixes of ``state.vehicles`` (with speed and heading) are given the
    route and trip the bus pipeline matched them to (``state.routes``) when
    that match is at most :data:`MATCH_FRESH_S` older; a bus only in
    ``state.routes`` is taken from there. A bus seen under two routes (a fix
    with no route, published again by the worker on the route it found) is
    served once, on its matched route.
    """
    matched: dict[str, tuple[str, dict]] = {}
    for route_id, snap in routes.items():
        for row in snap["vehicles"]:
            held = matched.get(row["vehicle_id"])
            if held is None or row["ts"] > held[1]["ts"]:
                matched[row["vehicle_id"]] = (route_id, row)
    raw: dict[str, BusPosition] = {}
    for route_id, snap in vehicles_by_route.items():
        for row in snap["vehicles"]:
            p = msgspec.convert({"route_id": route_id, **row}, BusPosition)
            held = raw.get(p.vehicle_id)
            if held is None or p.ts > held.ts or (p.ts == held.ts and p.route_id and not held.route_id):
                raw[p.vehicle_id] = p
    out = []
    for vehicle_id in sorted(set(matched) | set(raw)):
        m, p = matched.get(vehicle_id), raw.get(vehicle_id)
        if p is None or (m is not None and m[1]["ts"] > p.ts):
            p = BusPosition(vehicle_id, m[0], m[1]["ts"], m[1]["lat"], m[1]["lon"])
        if m is not None and m[1].get("trip_id") and p.ts - m[1]["ts"] <= MATCH_FRESH_S:
            p = msgspec.structs.replace(p, route_id=m[0], trip_id=m[1]["trip_id"])
        out.append(p)
    return out


def _trim(items: dict, keep: int = MAX_ALERTS) -> None:
    for key in list(items)[:-keep] if len(items) > keep else ():
        del items[key]


def _placed_elsewhere(state: CityState) -> set[str]:
    """Vehicle ids shown on a route with a ``state.routes`` snapshot, when some route has none.

    A fix sent with no route (or an unknown one) is kept by the worker under that key in
    ``state.vehicles`` and also republished on the route it was placed on: such a bus is
    shown once, on its route.
    """
    if all(r in state.routes for r in state.vehicles_by_route):
        return set()
    return {v["vehicle_id"] for snap in state.routes.values() for v in snap["vehicles"]}


def fleet(state: CityState, clock_ts: float | None, stale_after_s: float = 120.0) -> list[Bus]:
    """Every bus in a stable (route, vehicle) order, with its status.

    Routes with a ``state.routes`` snapshot give each bus the bus pipeline's
    status; other routes fall back to ``state.vehicles`` (``unassigned``, or
    ``stale_gps`` when the fix is older than ``stale_after_s`` on the city clock),
    less the buses placed on a route (see :func:`_placed_elsewhere`).
    """
    out = []
    placed = _placed_elsewhere(state)
    for route_id in sorted(set(state.routes) | set(state.vehicles_by_route)):
        snap = state.routes.get(route_id)
        rows = snap["vehicles"] if snap is not None else [
            v for v in state.vehicles_by_route[route_id]["vehicles"] if v["vehicle_id"] not in placed]
        for v in rows:
            status = v.get("status")
            if status not in STATUS_CODE:
                stale = clock_ts is not None and clock_ts - v["ts"] > stale_after_s
                status = "stale_gps" if stale else "unassigned"
            out.append(Bus(f"{route_id}|{v['vehicle_id']}", route_id, v["vehicle_id"], v["ts"], v["lat"], v["lon"],
                           status, v))
    return out


def fleet_arrays(state: CityState, clock_ts: float | None, stale_after_s: float = 120.0) -> Fleet:
    """:func:`fleet` as arrays, by concatenating the per-route arrays kept by :meth:`CityState.apply`."""
    # not `get(r) or ...`: an empty Fleet is falsy, and a route with no bus left has no state.vehicles fleet
    placed = _placed_elsewhere(state)
    parts = [state.route_fleets[r] if r in state.route_fleets else _without(state.vehicle_fleets[r], placed)
             for r in sorted(set(state.route_fleets) | set(state.vehicle_fleets))]
    if not parts:
        return Fleet([], np.zeros(0), np.zeros(0), np.zeros(0), np.zeros(0, np.uint8))
    ts = np.concatenate([p.ts for p in parts])
    status = np.concatenate([p.status for p in parts])
    unknown = status == UNKNOWN
    if unknown.any():
        stale = (clock_ts - ts > stale_after_s) if clock_ts is not None else np.zeros(len(ts), bool)
        status = np.where(unknown, np.where(stale, STATUS_CODE["stale_gps"], STATUS_CODE["unassigned"]),
                          status).astype(np.uint8)
    return Fleet([k for p in parts for k in p.keys], np.concatenate([p.lat for p in parts]),
                 np.concatenate([p.lon for p in parts]), ts, status)


def _without(fleet: Fleet, vehicle_ids: set[str]) -> Fleet:
    if not vehicle_ids:
        return fleet
    keep = np.fromiter((k.split("|", 1)[1] not in vehicle_ids for k in fleet.keys), bool, len(fleet))
    if keep.all():
        return fleet
    return Fleet([k for k, kept in zip(fleet.keys, keep) if kept], fleet.lat[keep], fleet.lon[keep], fleet.ts[keep],
                 fleet.status[keep])


class ReadModel:
    """Keeps a :class:`CityState` up to date from Kafka in a daemon thread (or from :meth:`feed`)."""

    def __init__(self, bootstrap_servers: list[str] | None = None, fetch_max_wait_ms: int = 250,
                 fetch_min_bytes: int = 256 * 1024):
        """Fetches wait up to ``fetch_max_wait_ms`` for ``fetch_min_bytes``: a few fetches a second at
        most, each costing the embedded broker per batch its partitions hold (:mod:`topis.broker`)."""
        self._servers = bootstrap_servers or []
        self._fetch_max_wait_ms, self._fetch_min_bytes = fetch_max_wait_ms, fetch_min_bytes
        self._state = CityState()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="topis-readmodel", daemon=True)
        self.error: str | None = None  #: last consumer error, shown on the wall

    def start(self) -> ReadModel:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def state(self) -> CityState:
        """A consistent copy of the current state."""
        with self._lock:
            return self._state.copy()

    def open_feed_state(self) -> OpenFeedState:
        """What the open feed serves now: every bus's newest fix, every vehicle's newest predictions, and
        the city clock as the feed time (the simulated clock in the demo; wall clock before any message)."""
        with self._lock:
            state = self._state
            routes, vehicles = dict(state.routes), dict(state.vehicles_by_route)
            rounds = list(state.predictions_by_vehicle.values())
            clock_ts = state.clock_ts()
        return OpenFeedState(feed_positions(routes, vehicles), [p for preds in rounds for p in preds], clock_ts)

    def feed(self, topic: str, message, wall_ts: float | None = None) -> None:
        """Apply one message directly (tests, replays): decoded JSON, or its bytes as on the topic."""
        if isinstance(message, bytes):
            message, raw = decode_message(topic, message)
        else:
            raw = None
        with self._lock:
            self._state.apply(topic, message, time.time() if wall_ts is None else wall_ts, raw)
            self._state.record_frame()

    def _run(self) -> None:
        from kafka import KafkaConsumer
        from kafka.errors import KafkaError

        while not self._stop.is_set():
            try:
                consumer = KafkaConsumer(
                    *TOPICS,
                    bootstrap_servers=self._servers,
                    group_id=None,
                    auto_offset_reset="latest",
                    fetch_max_wait_ms=self._fetch_max_wait_ms,
                    fetch_min_bytes=self._fetch_min_bytes,
                    enable_auto_commit=False,
                )
                self._consume(consumer)
            except KafkaError as exc:
                self.error = f"read model: {exc}"
                log.warning("read model consumer failed, retrying: %s", exc)
                time.sleep(1.0)

    def _consume(self, consumer) -> None:
        self.error = None
        try:
            while not self._stop.is_set():
                polled = consumer.poll(timeout_ms=200)
                now = time.time()
                with self._lock:
                    for tp, records in polled.items():
                        for record in records:
                            try:
                                message, raw = decode_message(tp.topic, record.value)
                                self._state.apply(tp.topic, message, now, raw)
                            except (msgspec.DecodeError, KeyError, TypeError, AttributeError) as exc:
                                log.warning("unreadable %s message skipped: %s", tp.topic, exc)
                    self._state.record_frame()
        finally:
            consumer.close()

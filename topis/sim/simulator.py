"""The simulator: buses running the timetables, passengers tapping cards, cars passing cameras, taxis.

Pure: no Kafka, no wall clock. ``Simulator.step(dt_s)`` advances simulated
time in ticks of ``SimConfig.tick_s`` and returns the wire events of the step
(:class:`StepOutput`) plus the ground truth they came from.

Bus movement is vectorised over the fleet (numpy); only discrete events
(a bus reaching a stop, leaving it, passing a camera) run per object. Taxis
(:mod:`topis.sim.taxis`) are vectorised throughout and leave as columns.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import heapq
import logging
from dataclasses import dataclass, field

import numpy as np

from topis.city.model import City, local_hour, local_midnight_ts
from topis.city.profiles import congestion_factor
from topis.geo import M_PER_DEG_LAT
from topis.schemas.inputs import BusPosition, CardTap, PlateRead
from topis.schemas.probes import TaxiFixes, TaxiPositionBatch, by_cell
from topis.settings import TAXI_FIX_INTERVAL_S, TAXIS_PER_SCALE
from topis.sim.network import pattern_arrays
from topis.sim.passengers import FARE_CLASSES, Demand, card_hash
from topis.sim.taxis import TaxiFleet
from topis.sim.traffic import CarTraffic, ViolationJudge, camera_arrays, local_datetime, misread_plate
from topis.sim.truth import StopVisit, Truth, Violation

log = logging.getLogger(__name__)

OFF, WAITING, RUNNING, DWELLING = 0, 1, 2, 3


@dataclass(frozen=True)
class SimConfig:
    """Simulation settings; rates are probabilities per GPS fix unless named otherwise."""

    tick_s: float = 1.0  #: internal time step, seconds
    gps_interval_s: float = 7.0  #: time between fixes of one bus, seconds
    gps_noise_m: float = 8.0  #: standard deviation of position noise per axis, metres
    gap_fraction: float = 0.02  #: share of fixes lost in gaps
    gap_mean_s: float = 60.0  #: mean length of a gap, seconds
    duplicate_rate: float = 0.01  #: fixes delivered twice
    out_of_order_rate: float = 0.01  #: fixes delivered after the bus's next fix
    missing_trip_rate: float = 0.01  #: fixes without trip_id
    frozen_units: int = 1  #: buses whose GPS repeats one position
    daily_boardings_per_scale: float = 243_000.0  #: Seoul: ~4.5 M a day at scale 18.5
    mean_ride_stops: float = 10.0  #: mean ride length before folding onto the stops left
    no_tap_off_rate: float = 0.05  #: alighting passengers who never tap off
    transfer_rate: float = 0.15  #: alighting passengers who transfer to another route
    max_wait_s: float = 2400.0  #: waiting passengers give up after this
    dwell_fixed_s: float = 6.0  #: door open/close time at every stop, seconds
    board_s: float = 2.5  #: seconds per boarding (front door, card tap)
    alight_s: float = 1.5  #: seconds per alighting (rear door, in parallel with boarding)
    run_noise_sigma: float = 0.15  #: log-normal sigma of each segment's running time
    min_layover_s: float = 60.0  #: shortest turnaround of a late bus at a terminal
    pull_out_s: float = 120.0  #: a bus appears at its first stop this long before departure
    car_volume_scale: float = 1.0  #: multiplier of camera traffic
    misread_rate: float = 0.03  #: reads with one wrong plate character, at low confidence
    garbled_rate: float = 0.002  #: reads whose text is no plate at all ("?" for the syllable)
    section_tolerance_kph: float = 10.0  #: truth: section speed above limit + tolerance
    no_stopping_limit_s: float = 300.0  #: truth: stopped longer than this
    taxis_per_scale: float = TAXIS_PER_SCALE  #: taxis per unit of city scale; 0 = none
    taxi_fix_interval_s: float = TAXI_FIX_INTERVAL_S  #: time between fixes of one taxi, seconds
    taxi_gps_noise_m: float = 5.0  #: standard deviation of taxi position noise per axis (median error ~6 m)
    taxi_drop_rate: float = 0.03  #: taxi fixes lost one at a time
    taxi_gap_fraction: float = 0.02  #: share of taxi fixes lost in gaps (tunnels, receiver off)
    taxi_gap_mean_s: float = 60.0  #: mean length of a taxi gap, seconds
    taxi_trip_mean_s: float = 720.0  #: mean length of a fare, seconds
    taxi_stop_s: float = 30.0  #: standstill at a pick-up or drop-off, seconds
    taxi_vacant_speed_factor: float = 0.8  #: vacant taxis cruise this much slower than traffic
    taxi_stand_every_s: float = 1800.0  #: a vacant taxi stops to wait at a stand about this often
    taxi_stand_mean_s: float = 300.0  #: mean wait at a stand, seconds
    record_truth: bool = True

    def __post_init__(self) -> None:
        for name in ("gap_fraction", "duplicate_rate", "out_of_order_rate", "missing_trip_rate", "no_tap_off_rate",
                     "transfer_rate", "misread_rate", "garbled_rate", "taxi_drop_rate", "taxi_gap_fraction",
                     "taxi_vacant_speed_factor"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"SimConfig.{name} must be within [0, 1], got {getattr(self, name)}")
        if not self.taxis_per_scale >= 0 or not self.taxi_gps_noise_m >= 0 or not self.taxi_stop_s >= 0:
            raise ValueError("SimConfig.taxis_per_scale, taxi_gps_noise_m and taxi_stop_s must not be negative")
        for name in ("tick_s", "gps_interval_s", "gap_mean_s", "mean_ride_stops", "taxi_fix_interval_s",
                     "taxi_gap_mean_s", "taxi_trip_mean_s", "taxi_stand_every_s", "taxi_stand_mean_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"SimConfig.{name} must be positive, got {getattr(self, name)}")


@dataclass
class StepOutput:
    """Events of one step, grouped by wire key, plus the truth that became known in it."""

    t0: float
    t1: float
    positions: dict[str, list[BusPosition]] = field(default_factory=dict)  #: by route_id
    taps: dict[str, list[CardTap]] = field(default_factory=dict)  #: by route_id
    reads: dict[str, list[PlateRead]] = field(default_factory=dict)  #: by camera_id
    stop_visits: list[StopVisit] = field(default_factory=list)  #: completed in this step
    violations: list[Violation] = field(default_factory=list)  #: new in this step
    taxis: dict[str, TaxiPositionBatch] = field(default_factory=dict)  #: by probe cell (topis.geo.cell_key)

    def counts(self) -> dict[str, int]:
        """Number of events of each kind."""
        return {k: sum(len(v) for v in getattr(self, k).values()) for k in ("positions", "taps", "reads", "taxis")}


class Simulator:
    """Simulate the city from ``start_ts`` (epoch seconds UTC); see module docs."""

    def __init__(self, city: City, seed: int, start_ts: float, config: SimConfig | None = None):
        self.city, self.cfg = city, config or SimConfig()
        self.now = float(start_ts)
        ss = np.random.SeedSequence([seed, 7])
        r_bus, r_pax, r_car, r_gps, r_taxi = (np.random.default_rng(s) for s in ss.spawn(5))
        self.rng, self.gps_rng = r_bus, r_gps
        self._key = hashlib.blake2b(f"topis-sim-{seed}".encode(), digest_size=16).digest()
        self.pa = pattern_arrays(city)
        self.demand = Demand(city, self.pa, self.cfg.daily_boardings_per_scale * city.scale, self.cfg.mean_ride_stops, r_pax)
        cams = camera_arrays(city)
        self.cams = cams
        self.traffic = CarTraffic(city, cams, r_car, self.cfg.car_volume_scale)
        self.judge = ViolationJudge(city, cams, self.cfg.section_tolerance_kph, self.cfg.no_stopping_limit_s)
        self.truth = Truth()
        self._read_seq: dict[int, int] = {}
        self._pending: list[tuple] = []
        self._seq = 0
        self._init_fleet()
        self.taxis = self._init_taxis(r_taxi)
        self._loaded_days: set[dt.date] = set()
        self._ensure_days(self.now)
        self._warm_start()
        # riders already waiting when the run starts (a quarter hour of arrivals)
        local = local_datetime(self.now)
        self.demand.arrive(self.now - 900.0, self.now, local.hour, self.city.services_on(local.date())[0] == "WE")

    @property
    def now_ts(self) -> float:
        """Simulated clock, epoch seconds UTC."""
        return self.now

    def write_truth(self, out_dir) -> dict[str, int]:
        """Write the ground truth so far as CSV files (see :meth:`topis.sim.truth.Truth.write`)."""
        return self.truth.write(out_dir)

    # ---- fleet and schedules -------------------------------------------------
    def _init_fleet(self) -> None:
        buses = self.city.buses
        n = len(buses)
        self.vehicle_ids = tuple(b.vehicle_id for b in buses)
        self.vehicle_routes = tuple(b.route_id for b in buses)
        self.plates = tuple(b.plate for b in buses)
        self.capacity = np.array([b.capacity for b in buses])
        self._vidx = {b.vehicle_id: k for k, b in enumerate(buses)}
        self.state = np.zeros(n, dtype=np.int8)
        self.pat = np.zeros(n, dtype=np.int64)
        self.dist = np.zeros(n)
        self.speed = np.zeros(n)
        self.next_k = np.zeros(n, dtype=np.int64)
        self.next_stop_d = np.full(n, np.inf)
        self.next_cam_d = np.full(n, np.inf)
        self.cam_i = np.zeros(n, dtype=np.int64)
        self.t_dep = np.full(n, np.inf)
        self.next_start = np.full(n, np.inf)
        self.load = np.zeros(n, dtype=np.int64)
        self.onboard: list[list] = [[] for _ in range(n)]
        self.trip = [None] * n
        self.visit: list[StopVisit | None] = [None] * n
        self.schedule: list[list[tuple[float, int]]] = [[] for _ in range(n)]
        self.next_fix = self.now + self.gps_rng.uniform(0, self.cfg.gps_interval_s, n)
        self.gap_until = np.full(n, -np.inf)
        self.frozen: dict[int, tuple | None] = {}
        self._trip_pattern = [self.pa.index[(t.route_id, t.direction_id)] for t in self.city.trips]
        self._trips_by_service: dict[str, list[tuple[int, int, int]]] = {}
        for k, t in enumerate(self.city.trips):
            self._trips_by_service.setdefault(t.service_id, []).append((self._vidx[t.vehicle_id], t.start_s, k))

    def _init_taxis(self, rng: np.random.Generator) -> TaxiFleet | None:
        n = int(round(self.cfg.taxis_per_scale * self.city.scale))
        if n == 0 or self.city.graph.number_of_edges() == 0:
            return None
        hour_f, weekend = self._clock(self.now)
        fleet = TaxiFleet(self.city, n, self.now, self.cfg, rng, self._key, hour_f, weekend)
        self.truth.taxi_link_ids = fleet.roads.link_ids
        return fleet

    def _clock(self, ts: float) -> tuple[float, bool]:
        """Local hour of day with its fraction, and whether the day runs the weekend service."""
        local = local_datetime(ts)
        hour_f = local.hour + local.minute / 60 + (local.second + local.microsecond / 1e6) / 3600
        return hour_f, self.city.services_on(local.date())[0] == "WE"

    def _ensure_days(self, ts: float) -> None:
        """Load the trips of the service days around ``ts`` (yesterday's run past midnight)."""
        today = local_datetime(ts).date()
        touched: set[int] = set()
        for day in (today - dt.timedelta(days=1), today, today + dt.timedelta(days=1)):
            if day in self._loaded_days:
                continue
            self._loaded_days.add(day)
            midnight = local_midnight_ts(day)
            for service in self.city.services_on(day):
                for v, start_s, k in self._trips_by_service.get(service, ()):
                    self.schedule[v].append((midnight + start_s, k))
                    touched.add(v)
        for v in touched:
            self.schedule[v].sort()
            self.next_start[v] = self.schedule[v][0][0] if self.schedule[v] else np.inf

    def _scheduled_end(self, start: float, trip_k: int) -> float:
        trip = self.city.trips[trip_k]
        pat = self.city.route(trip.route_id).patterns[trip.direction_id]
        return start + sum(pat.segment_run_s) * trip.run_factor + 20.0 * (len(pat.stop_ids) - 1)

    def _warm_start(self) -> None:
        """Drop trips already over; put buses whose trip is under way at their scheduled stop."""
        for v, sched in enumerate(self.schedule):
            while sched and self._scheduled_end(*sched[0]) < self.now:
                sched.pop(0)
            if sched and sched[0][0] < self.now:
                start, k = sched.pop(0)
                trip = self.city.trips[k]
                pat = self.city.route(trip.route_id).patterns[trip.direction_id]
                seg = np.asarray(pat.segment_run_s) * trip.run_factor + 20.0
                times = start + np.concatenate(([0.0], np.cumsum(seg)))
                at = min(int(np.searchsorted(times, self.now, side="right") - 1), len(pat.stop_ids) - 2)
                self._begin_trip(v, start, k, at)
                self._depart(v, self.now)
                # part-way along the segment, as the timetable says, so buses do not move in lockstep
                frac = min(max((self.now - times[at]) / max(times[at + 1] - times[at], 1.0), 0.0), 0.95)
                self.dist[v] = pat.stop_dist_m[at] + frac * (pat.stop_dist_m[at + 1] - pat.stop_dist_m[at])
                cams = self.pa.camera_dist_m[self.pat[v]]
                self.cam_i[v] = int(np.searchsorted(cams, self.dist[v], side="right"))
                self.next_cam_d[v] = cams[self.cam_i[v]] if self.cam_i[v] < len(cams) else np.inf
            self.next_start[v] = sched[0][0] if sched else np.inf
        n_frozen = min(self.cfg.frozen_units, len(self.vehicle_ids))
        active = np.flatnonzero(self.state != OFF)
        pool = active if len(active) >= n_frozen else np.arange(len(self.vehicle_ids))
        for v in self.gps_rng.choice(pool, size=n_frozen, replace=False).tolist():
            self.frozen[int(v)] = None

    def _begin_trip(self, v: int, start: float, trip_k: int, at_stop: int = 0) -> None:
        p = self._trip_pattern[trip_k]
        self.trip[v] = self.city.trips[trip_k]
        self.pat[v] = p
        off = self.pa.stop_off[p]
        self.next_k[v] = at_stop
        self.dist[v] = self.pa.stop_dist_m[off + at_stop]
        self.next_stop_d[v] = self.dist[v]
        cams = self.pa.camera_dist_m[p]
        self.cam_i[v] = int(np.searchsorted(cams, self.dist[v], side="right"))
        self.next_cam_d[v] = cams[self.cam_i[v]] if self.cam_i[v] < len(cams) else np.inf
        self.state[v] = DWELLING if at_stop else WAITING
        self.t_dep[v] = start

    # ---- events ----------------------------------------------------------------
    def _push(self, ts: float, kind: str, key: str, event) -> None:
        heapq.heappush(self._pending, (ts, self._seq, kind, key, event))
        self._seq += 1

    def _arrive(self, v: int, ta: float, out: StepOutput) -> None:
        """Bus ``v`` reaches stop ``next_k`` at ``ta``: alighting, boarding, taps, dwell."""
        p, k = int(self.pat[v]), int(self.next_k[v])
        trip, cfg = self.trip[v], self.cfg
        g = self.demand.pattern_stop(p, k)
        stop_id = self.pa.stop_ids[g]
        last = k == self.pa.stop_n[p] - 1
        staying, leaving = [], []
        for pax in self.onboard[v]:
            (leaving if last or pax[1] == k else staying).append(pax)
        room = int(self.capacity[v]) - len(staying)
        boarding = [] if last else self.demand.board(g, room, ta, cfg.max_wait_s)
        rid, vid = trip.route_id, self.vehicle_ids[v]
        for j, (card, _, fare, _, transfers) in enumerate(leaving):
            r = self.rng.random()
            if r >= cfg.no_tap_off_rate:
                self._push(ta + 1.0 + cfg.alight_s * j, "tap", rid,
                           CardTap(card_hash(self._key, card), "off", rid, vid, stop_id, ta + 1.0 + cfg.alight_s * j,
                                   FARE_CLASSES[fare]))
            if transfers == 0 and self.rng.random() < cfg.transfer_rate:
                self.demand.add_transfer(stop_id, p, card, fare, ta + float(self.rng.uniform(30, 240)))
        for j, (card, _, fare, _, _) in enumerate(boarding):
            ts = ta + 1.0 + cfg.board_s * j
            self._push(ts, "tap", rid, CardTap(card_hash(self._key, card), "on", rid, vid, stop_id, ts, FARE_CLASSES[fare]))
        self.onboard[v] = staying + boarding
        self.load[v] = len(self.onboard[v])
        dwell = cfg.dwell_fixed_s + max(cfg.board_s * len(boarding), cfg.alight_s * len(leaving))
        self.state[v], self.t_dep[v], self.dist[v] = DWELLING, ta + dwell, self.pa.stop_dist_m[g]
        if cfg.record_truth:
            self.visit[v] = StopVisit(vid, trip.trip_id, rid, stop_id, k + 1, round(ta, 3), None,
                                      len(boarding), len(leaving), int(self.load[v]))

    def _depart(self, v: int, td: float, out: StepOutput | None = None) -> None:
        """Bus ``v`` leaves stop ``next_k`` at ``td``; at the last stop it ends the trip."""
        p, k = int(self.pat[v]), int(self.next_k[v])
        visit = self.visit[v]
        if visit is not None:
            visit.departure_ts = round(td, 3)
            self.truth.stop_visits.append(visit)
            if out is not None:
                out.stop_visits.append(visit)
            self.visit[v] = None
        if k >= self.pa.stop_n[p] - 1:
            self._end_trip(v, td)
            return
        g = self.pa.stop_off[p] + k
        hour = local_hour(td)
        weekend = self.trip[v].service_id == "WE"
        noise = float(self.rng.lognormal(0.0, self.cfg.run_noise_sigma))
        self.speed[v] = self.pa.seg_speed_mps[g] / (congestion_factor(hour, weekend) * noise)
        self.next_k[v] = k + 1
        self.next_stop_d[v] = self.pa.stop_dist_m[g + 1]
        self.state[v] = RUNNING

    def _end_trip(self, v: int, t: float) -> None:
        self.onboard[v], self.load[v], self.speed[v] = [], 0, 0.0
        sched = self.schedule[v]
        if sched and sched[0][0] - t < 3600:
            start, k = sched.pop(0)
            self._begin_trip(v, start, k)
            self.t_dep[v] = max(start, t + self.cfg.min_layover_s)
        else:
            self.state[v], self.trip[v], self.next_stop_d[v], self.next_cam_d[v] = OFF, None, np.inf, np.inf
        self.next_start[v] = sched[0][0] if sched else np.inf

    def _read(self, cam: int, ts: float, plate: str, vclass: str | None, episode, out: StepOutput) -> None:
        """Make a plate read (maybe misread) and judge it against the rules for the truth."""
        n = self._read_seq.get(cam, 0) + 1
        self._read_seq[cam] = n
        cam_id = self.cams.ids[cam]
        read_id = f"{cam_id}-{n:08d}"
        rng = self.traffic.rng
        u = rng.random()
        if u < self.cfg.garbled_rate:
            text, conf = "".join("?" if not ch.isdigit() else ch for ch in plate), float(rng.uniform(0.05, 0.30))
        elif u < self.cfg.garbled_rate + self.cfg.misread_rate:
            text, conf = misread_plate(plate, rng), float(rng.uniform(0.30, 0.70))
        else:
            text, conf = plate, float(rng.uniform(0.80, 0.995))
        lane = "bus" if self.cams.lane_type[cam] != "none" else "1"
        read = PlateRead(read_id, cam_id, round(ts, 3), text, round(conf, 3), lane,
                         vclass if rng.random() < 0.9 else None, f"img://{cam_id}/{read_id}.jpg")
        out.reads.setdefault(cam_id, []).append(read)
        if self.cfg.record_truth:
            found = self.judge.judge(cam, plate, read_id, text, ts, episode)
            self.truth.violations += found
            out.violations += found

    # ---- the step ------------------------------------------------------------------
    def step(self, dt_s: float) -> StepOutput:
        """Advance ``dt_s`` simulated seconds; return the events with ts in (now, now + dt_s]."""
        if not dt_s > 0:
            raise ValueError(f"dt_s must be positive, got {dt_s}")
        out = StepOutput(self.now, self.now + dt_s)
        end = self.now + dt_s
        taxi_fixes: list[TaxiFixes] = []
        while self.now < end - 1e-9:
            self._tick(min(self.cfg.tick_s, end - self.now), out, taxi_fixes)
        if taxi_fixes:
            out.taxis = {cell: fixes.to_batch() for cell, fixes in by_cell(TaxiFixes.concat(taxi_fixes)).items()}
        return out

    def _tick(self, dt_s: float, out: StepOutput, taxi_fixes: list[TaxiFixes]) -> None:
        t0, t1 = self.now, self.now + dt_s
        local = local_datetime(t1)
        if local.date() not in self._loaded_days or (local + dt.timedelta(days=1)).date() not in self._loaded_days:
            self._ensure_days(t1)
        for v in np.flatnonzero((self.state == OFF) & (self.next_start - self.cfg.pull_out_s <= t1)).tolist():
            start, k = self.schedule[v].pop(0)
            self._begin_trip(v, start, k)
            self.next_start[v] = self.schedule[v][0][0] if self.schedule[v] else np.inf
        for v in np.flatnonzero((self.state == WAITING) & (self.t_dep <= t1)).tolist():
            self._arrive(v, float(self.t_dep[v]), out)
        self._move(t0, dt_s, out)
        for v in np.flatnonzero((self.state == DWELLING) & (self.t_dep <= t1)).tolist():
            self._depart(v, float(self.t_dep[v]), out)
        self.demand.arrive(t0, t1, local.hour, self.city.services_on(local.date())[0] == "WE")
        for ts, cam, veh, episode in self.traffic.passages(t0, t1, local):
            v = self.city.registry[veh]
            self._read(cam, ts, v.plate, v.vehicle_class, episode, out)
        self._fixes(t1, out)
        if self.taxis is not None:
            hour_f, weekend = self._clock(t1)
            taxi_truth = self.truth.taxi_fixes if self.cfg.record_truth else None
            taxi_fixes.append(self.taxis.tick(t0, t1, hour_f, weekend, taxi_truth))
        while self._pending and self._pending[0][0] <= t1:
            _, _, kind, key, event = heapq.heappop(self._pending)
            (out.taps if kind == "tap" else out.positions).setdefault(key, []).append(event)
        self.now = t1

    def _move(self, t0: float, dt_s: float, out: StepOutput) -> None:
        running = self.state == RUNNING
        new_d = np.where(running, self.dist + self.speed * dt_s, self.dist)
        for v in np.flatnonzero(running & (new_d >= self.next_cam_d)).tolist():
            p, cams = int(self.pat[v]), self.pa.camera_dist_m[int(self.pat[v])]
            while self.cam_i[v] < len(cams) and cams[self.cam_i[v]] <= min(new_d[v], self.next_stop_d[v]):
                ts = t0 + (cams[self.cam_i[v]] - self.dist[v]) / max(self.speed[v], 1e-6)
                self._read(int(self.pa.camera_idx[p][self.cam_i[v]]), ts, self.plates[v], "bus", None, out)
                self.cam_i[v] += 1
            self.next_cam_d[v] = cams[self.cam_i[v]] if self.cam_i[v] < len(cams) else np.inf
        arriving = running & (new_d >= self.next_stop_d)
        self.dist = np.where(running & ~arriving, new_d, self.dist)
        for v in np.flatnonzero(arriving).tolist():
            ta = t0 + (self.next_stop_d[v] - self.dist[v]) / max(self.speed[v], 1e-6)
            self._arrive(v, ta, out)

    def _fixes(self, t1: float, out: StepOutput) -> None:
        """GPS fixes of every bus in service whose fix is due, with noise and feed faults."""
        cfg, rng = self.cfg, self.gps_rng
        due = np.flatnonzero((self.state != OFF) & (self.next_fix <= t1))
        if not len(due):
            return
        self.next_fix[due] = t1 + cfg.gps_interval_s
        lat, lon, head = self.pa.position(self.pat[due], self.dist[due])
        n = len(due)
        lat = lat + rng.normal(0.0, cfg.gps_noise_m, n) / M_PER_DEG_LAT
        lon = lon + rng.normal(0.0, cfg.gps_noise_m, n) / (M_PER_DEG_LAT * np.cos(np.radians(lat)))
        moving = self.state[due] == RUNNING
        speed = np.where(moving, np.maximum(self.speed[due] * 3.6 + rng.normal(0.0, 1.5, n), 0.0), 0.0)
        u = rng.random((5, n))
        gap_start = u[0] < cfg.gap_fraction / max(cfg.gap_mean_s / cfg.gps_interval_s, 1.0)
        self.gap_until[due[gap_start]] = t1 + rng.exponential(cfg.gap_mean_s, int(gap_start.sum()))
        lat_l, lon_l = np.round(lat, 6).tolist(), np.round(lon, 6).tolist()
        head_l, speed_l = np.round(head, 1).tolist(), np.round(speed, 1).tolist()
        no_trip, late, dup = (u[1] < cfg.missing_trip_rate).tolist(), (u[2] < cfg.out_of_order_rate).tolist(), \
            (u[3] < cfg.duplicate_rate).tolist()
        in_gap = (self.gap_until[due] >= t1).tolist()
        ts = round(t1, 3)
        for j, v in enumerate(due.tolist()):
            if in_gap[j]:
                continue
            trip = self.trip[v]
            fix_lat, fix_lon, fix_head, fix_speed = lat_l[j], lon_l[j], head_l[j], speed_l[j]
            if v in self.frozen:
                if self.frozen[v] is None:
                    self.frozen[v] = (fix_lat, fix_lon, fix_head)
                fix_lat, fix_lon, fix_head = self.frozen[v]
                fix_speed = 0.0
            fix = BusPosition(self.vehicle_ids[v], trip.route_id, ts, fix_lat, fix_lon,
                              None if no_trip[j] else trip.trip_id, fix_speed, fix_head, int(self.load[v]))
            copies = 2 if dup[j] else 1
            if late[j]:
                for _ in range(copies):
                    self._push(t1 + cfg.gps_interval_s + 0.5, "pos", trip.route_id, fix)
            else:
                bucket = out.positions.setdefault(trip.route_id, [])
                bucket.extend([fix] * copies)

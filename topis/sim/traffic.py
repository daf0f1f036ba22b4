"""Cars past the ANPR cameras, plate reads with misreads, and the true violations they make."""

from __future__ import annotations

import datetime as dt
import heapq
from dataclasses import dataclass

import numpy as np

from topis.city.model import KST_OFFSET_S, City
from topis.city.profiles import CAR_VOLUME_BY_HOUR, congestion_factor
from topis.city.registry import HANGUL_SYLLABLES
from topis.sim.truth import Violation

ROADSIDE = ("roadside_full", "roadside_part")


def local_datetime(ts: float) -> dt.datetime:
    """Naive local (KST) datetime of an epoch timestamp."""
    return dt.datetime.fromtimestamp(ts + KST_OFFSET_S, dt.timezone.utc).replace(tzinfo=None)


def bus_lane_enforced(lane_type: str, local: dt.datetime, holiday: bool) -> bool:
    """Whether a bus lane of ``lane_type`` is enforced at local time ``local``.

    Median lanes: always. Roadside full-time: weekdays 07-21. Roadside
    part-time: weekdays 07-10 and 17-21. Roadside lanes are not enforced on
    weekends and public holidays. Hours are half-open ([07:00, 21:00)).
    """
    if lane_type == "median":
        return True
    if lane_type not in ROADSIDE or holiday or local.weekday() >= 5:
        return False
    h = local.hour
    if lane_type == "roadside_full":
        return 7 <= h < 21
    return 7 <= h < 10 or 17 <= h < 21


def green_zone_banned(local: dt.datetime) -> bool:
    """Grade-5 vehicles are banned from the green zone 06:00 <= t < 21:00, every day."""
    return 6 <= local.hour < 21


def misread_plate(plate: str, rng: np.random.Generator) -> str:
    """The plate with one character read wrong (a digit for a digit, a syllable for a syllable)."""
    k = int(rng.integers(len(plate)))
    ch = plate[k]
    if ch.isdigit():
        new = str((int(ch) + int(rng.integers(1, 10))) % 10)
    else:
        choices = [s for s in HANGUL_SYLLABLES if s != ch]
        new = choices[int(rng.integers(len(choices)))]
    return plate[:k] + new + plate[k + 1:]


@dataclass(frozen=True)
class CameraArrays:
    """Camera attributes as arrays, index = position in ``city.cameras``."""

    ids: tuple[str, ...]
    lane_type: tuple[str, ...]
    green: np.ndarray
    section_id: tuple[str | None, ...]
    section_role: tuple[str | None, ...]
    section_length_m: np.ndarray
    section_limit_kph: np.ndarray
    no_stopping: np.ndarray
    exit_of_section: dict  #: section id -> index of its exit camera


def camera_arrays(city: City) -> CameraArrays:
    """Array view of the city's cameras."""
    cams = city.cameras
    return CameraArrays(
        ids=tuple(c.camera_id for c in cams), lane_type=tuple(c.lane_type for c in cams),
        green=np.array([c.green_zone_entry for c in cams], dtype=bool),
        section_id=tuple(c.section_id for c in cams), section_role=tuple(c.section_role for c in cams),
        section_length_m=np.array([c.section_length_m or 0.0 for c in cams]),
        section_limit_kph=np.array([c.section_limit_kph or 0.0 for c in cams]),
        no_stopping=np.array([c.no_stopping for c in cams], dtype=bool),
        exit_of_section={c.section_id: k for k, c in enumerate(cams) if c.section_role == "exit"},
    )


class ViolationJudge:
    """Turns each true passage read into ground-truth violations (see :mod:`topis.sim.truth`)."""

    def __init__(self, city: City, cams: CameraArrays, tolerance_kph: float, no_stopping_limit_s: float):
        self.city, self.cams = city, cams
        self.tolerance_kph, self.no_stopping_limit_s = tolerance_kph, no_stopping_limit_s
        self._by_plate = {v.plate: v for v in city.registry}
        self._green: dict[tuple[str, dt.date], Violation] = {}
        self._entries: dict[tuple[str, str], tuple[str, float, bool]] = {}
        self._stops: dict[tuple[int, str], tuple[Violation, list[bool]]] = {}

    def judge(self, cam: int, plate: str, read_id: str, read_plate: str, ts: float,
              stop_episode_end: bool | None = None) -> list[Violation]:
        """New violations made by this read (records already returned may grow their read lists).

        ``stop_episode_end`` is None for a passing vehicle, False for a read
        of a stopped vehicle that stays, True for the last read before it leaves.
        """
        out: list[Violation] = []
        v = self._by_plate.get(plate)
        if v is None:
            return out
        wrong = read_plate != plate
        local = local_datetime(ts)
        cam_id = self.cams.ids[cam]
        if v.watch:
            out.append(Violation("watch", plate, ts, [cam_id], [read_id], wrong))
        lane = self.cams.lane_type[cam]
        if lane != "none" and v.vehicle_class not in ("bus", "emergency") and not v.exempt \
                and bus_lane_enforced(lane, local, self.city.is_holiday(local.date())):
            out.append(Violation("bus_lane", plate, ts, [cam_id], [read_id], wrong))
        if self.cams.green[cam] and v.emission_grade == 5 and not v.exempt and green_zone_banned(local):
            key = (plate, local.date())
            rec = self._green.get(key)
            if rec is None:
                rec = self._green[key] = Violation("green_zone", plate, ts, [], [], False)
                out.append(rec)
            rec.camera_ids.append(cam_id)
            rec.read_ids.append(read_id)
            rec.misread |= wrong
        section = self.cams.section_id[cam]
        if section is not None:
            out += self._section(cam, section, plate, read_id, ts, wrong)
        if self.cams.no_stopping[cam] and stop_episode_end is not None:
            out += self._stopping(cam, plate, read_id, ts, wrong, stop_episode_end)
        return out

    def _section(self, cam: int, section: str, plate: str, read_id: str, ts: float, wrong: bool) -> list[Violation]:
        if self.cams.section_role[cam] == "entry":
            self._entries[(section, plate)] = (read_id, ts, wrong)
            return []
        entry = self._entries.pop((section, plate), None)
        if entry is None or ts <= entry[1]:
            return []
        speed = self.cams.section_length_m[cam] / (ts - entry[1]) * 3.6
        if speed <= self.cams.section_limit_kph[cam] + self.tolerance_kph:
            return []
        entry_cam = next(k for k, s in enumerate(self.cams.section_id) if s == section and self.cams.section_role[k] == "entry")
        return [Violation("section_speed", plate, entry[1], [self.cams.ids[entry_cam], self.cams.ids[cam]],
                          [entry[0], read_id], entry[2] or wrong, speed_kph=round(speed, 2))]

    def _stopping(self, cam: int, plate: str, read_id: str, ts: float, wrong: bool, last: bool) -> list[Violation]:
        """A stop becomes a violation at its first read past the limit; later reads join the record."""
        key = (cam, plate)
        if key not in self._stops:
            self._stops[key] = (Violation("no_stopping", plate, ts, [], [], False), [False])
        rec, emitted = self._stops[key]
        rec.camera_ids.append(self.cams.ids[cam])
        rec.read_ids.append(read_id)
        rec.misread |= wrong
        rec.duration_s = round(ts - rec.ts, 3)
        out = []
        if rec.duration_s > self.no_stopping_limit_s and not emitted[0]:
            emitted[0] = True
            out.append(rec)
        if last:
            del self._stops[key]
        return out


class CarTraffic:
    """Poisson car passages at every camera, by hour, with scheduled follow-up reads.

    ``passages(t0, t1, local)`` returns (ts, camera index, registry index,
    stop-episode flag) for reads due in (t0, t1], sorted by time.
    """

    def __init__(self, city: City, cams: CameraArrays, rng: np.random.Generator, volume_scale: float = 1.0):
        self.city, self.cams, self.rng = city, cams, rng
        self.volume_scale = volume_scale
        reg = city.registry
        self.plates = tuple(v.plate for v in reg)
        self.grade = np.array([v.emission_grade for v in reg])
        self.exempt = np.array([v.exempt for v in reg], dtype=bool)
        self.cars = np.flatnonzero(np.array([v.vehicle_class != "bus" for v in reg]))
        self.privileged = np.flatnonzero(np.array([v.exempt or v.vehicle_class == "emergency" for v in reg]))
        self._pending: list[tuple[float, int, int, int, object]] = []
        self._seq = 0
        self._rates_key: tuple | None = None
        self._rates = np.zeros(len(cams.ids))
        self._stop_rates = np.zeros(len(cams.ids))

    def _hour_rates(self, local: dt.datetime) -> None:
        key = (local.date(), local.hour)
        if key == self._rates_key:
            return
        self._rates_key = key
        holiday = self.city.is_holiday(local.date())
        prof = CAR_VOLUME_BY_HOUR[local.hour] * self.volume_scale
        rates = np.zeros(len(self.cams.ids))
        for k, lane in enumerate(self.cams.lane_type):
            if lane == "median":
                rates[k] = 2.0
            elif lane in ROADSIDE:
                rates[k] = 3.0 if bus_lane_enforced(lane, local, holiday) else 150.0
            elif self.cams.green[k]:
                rates[k] = 300.0
            elif self.cams.section_role[k] == "entry":
                rates[k] = 400.0
            elif self.cams.no_stopping[k]:
                rates[k] = 40.0
        self._rates = rates * prof / 3600.0
        self._stop_rates = np.where(self.cams.no_stopping, 1.2 * prof / 3600.0, 0.0)

    def _push(self, ts: float, cam: int, veh: int, episode: object) -> None:
        heapq.heappush(self._pending, (ts, self._seq, cam, veh, episode))
        self._seq += 1

    def _draw_vehicle(self, green: bool, banned: bool, lane: bool = False) -> int:
        if lane and len(self.privileged) and self.rng.random() < 0.25:
            return int(self.privileged[self.rng.integers(len(self.privileged))])  # permit holders, ambulances
        veh = int(self.cars[self.rng.integers(len(self.cars))])
        if green and banned and self.grade[veh] == 5 and not self.exempt[veh] and self.rng.random() < 0.75:
            veh = int(self.cars[self.rng.integers(len(self.cars))])  # most grade-5 drivers avoid the zone
        return veh

    def passages(self, t0: float, t1: float, local: dt.datetime) -> list[tuple[float, int, int, object]]:
        """Reads due in (t0, t1]: (ts, camera, registry index, stop-episode flag or None)."""
        self._hour_rates(local)
        dt_s = t1 - t0
        counts = self.rng.poisson(self._rates * dt_s)
        banned = green_zone_banned(local)
        for cam in np.flatnonzero(counts).tolist():
            for _ in range(int(counts[cam])):
                ts = t0 + float(self.rng.uniform(0.0, dt_s))
                veh = self._draw_vehicle(bool(self.cams.green[cam]), banned, self.cams.lane_type[cam] != "none")
                self._push(ts, cam, veh, None)
                if self.cams.section_role[cam] == "entry" and self.rng.random() < 0.95:
                    self._schedule_exit(cam, veh, ts, local.hour, local.weekday() >= 5)
        stops = self.rng.poisson(self._stop_rates * dt_s)
        for cam in np.flatnonzero(stops).tolist():
            ts = t0 + float(self.rng.uniform(0.0, dt_s))
            veh = self._draw_vehicle(False, False)
            duration = 30.0 + float(self.rng.exponential(240.0))
            n = int(duration // 60.0)
            for j in range(n + 1):
                self._push(ts + 60.0 * j, cam, veh, j == n)
        out = []
        while self._pending and self._pending[0][0] <= t1:
            ts, _, cam, veh, episode = heapq.heappop(self._pending)
            out.append((ts, cam, veh, episode))
        return out

    def _schedule_exit(self, cam: int, veh: int, ts: float, hour: int, weekend: bool) -> None:
        section = self.cams.section_id[cam]
        exit_cam = self.cams.exit_of_section[section]
        limit = self.cams.section_limit_kph[cam]
        ratio = 0.78 / congestion_factor(hour, weekend) * float(self.rng.lognormal(0.0, 0.1))
        speed_mps = max(limit * ratio, 5.0) / 3.6
        self._push(ts + self.cams.section_length_m[cam] / speed_mps, exit_cam, veh, None)

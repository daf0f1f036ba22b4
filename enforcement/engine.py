"""The enforcement engine: plate reads in, cases, alerts and dead letters out.

One processor serves both the batch command (``topis enforce``) and the
stream agent::

    state = store.load_state(rules)           # or new_state(rules)
    state, outcome = process(state, reads)    # pure apart from updating state.pending
    store.commit(outcome)                     # one transaction; then acknowledge the reads

Pending state
-------------
Two rules need memory across reads: section speed (the entry read waits
for its exit read) and no-stopping (the first read of a stop waits until
the stop is long enough). That memory is ``state.pending``. Every change to
it is also listed in the outcome (``pending_put``/``pending_drop``) and
written by :meth:`enforcement.store.CaseStore.commit` **in the same
transaction** as the cases, so the pending table in the store always
matches the cases committed so far. A restarted worker rebuilds its state
with :meth:`~enforcement.store.CaseStore.load_state`; if a commit fails the
worker must reload the state the same way before retrying (the in-memory
state may be ahead of the store). Reads redelivered after a restart hit the
same deterministic case ids (:func:`enforcement.rules.case_id`), so they
merge evidence into existing cases instead of duplicating them.

Deployment: one state per consumer. The entry and exit cameras of a section
are different cameras, so with ``plate.reads`` keyed by camera both must reach
the same consumer: run one enforcement consumer (agent concurrency 1; the
engine does ~20–50 k reads/s on one core, see ``benchmarks/enforcement.py``),
or key section cameras' batches by section. Green-zone and bus-lane cases
merge by deterministic id whichever worker makes them.

Bad reads (unknown camera, unparseable plate, bad confidence or time) never
raise: they become :class:`DeadLetter` records with a reason.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property
from zoneinfo import ZoneInfo

from enforcement import rules as R
from enforcement.privacy import pseudonymise
from topis.schemas.inputs import PlateRead
from topis.settings import EnforcementSettings

logger = logging.getLogger(__name__)

#: how often (event time) stale pending entries are swept out
SWEEP_EVERY_S = 60.0
#: longest read id the store keeps
MAX_ID_LEN = 64
#: 2100-01-01T00:00:00Z; later (or NaN) timestamps are bad input
MAX_TS = 4_102_444_800.0


@dataclass(frozen=True, slots=True)
class Evidence:
    """One read kept as evidence of a case."""

    read_id: str
    camera_id: str
    lat: float
    lon: float
    ts: float  #: epoch seconds UTC
    confidence: float
    image_ref: str | None = None
    plate_text: str = ""  #: the plate exactly as read


@dataclass(frozen=True, slots=True)
class CaseRecord:
    """A violation case as produced by the engine (evidence sorted by time)."""

    case_id: str
    rule: str
    plate: str
    first_ts: float
    last_ts: float
    fine_krw: int
    needs_plate_check: bool
    camera_id: str  #: where: the camera of the first evidence read
    area: str | None
    evidence: tuple[Evidence, ...]
    detail: str = ""  #: e.g. "average 92.4 km/h, limit 60"

    def merged(self, other: CaseRecord) -> CaseRecord:
        """This case with the evidence of ``other`` (same case id) added."""
        reads = {e.read_id: e for e in self.evidence}
        for e in other.evidence:
            reads.setdefault(e.read_id, e)
        evidence = tuple(sorted(reads.values(), key=lambda e: (e.ts, e.read_id)))
        return replace(
            self,
            first_ts=min(self.first_ts, other.first_ts),
            last_ts=max(self.last_ts, other.last_ts),
            needs_plate_check=self.needs_plate_check or other.needs_plate_check,
            evidence=evidence,
        )


@dataclass(frozen=True, slots=True)
class Alert:
    """An immediate alert (watch-list plate seen); never a case."""

    alert_id: str
    reason: str  #: "watch"
    plate: str
    read_id: str
    camera_id: str
    lat: float
    lon: float
    ts: float
    confidence: float


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A read the engine could not use, with the reason; the plate only as a keyed hash."""

    read_id: str
    camera_id: str
    ts: float | None
    reason: str  #: one of unknown_camera, unparseable_plate, bad_confidence, bad_ts, bad_read
    detail: str
    plate_hash: str


@dataclass(frozen=True, slots=True)
class Pending:
    """A read waiting for its rule to decide: a section entry or the start of a stop."""

    key: str  #: "sec|<section>|<plate>" or "stop|<camera>|<plate>"
    kind: str  #: "section_entry" or "stop"
    plate: str
    first: Evidence
    last_ts: float
    expires_ts: float  #: event time after which the entry is useless


@dataclass(frozen=True)
class RuleBook:
    """Everything the rules read but never change: cameras, registry, holidays, settings."""

    cameras: Mapping[str, R.Camera]
    registry: Mapping[str, R.Vehicle]
    holidays: frozenset = R.KOREAN_HOLIDAYS
    settings: EnforcementSettings = field(default_factory=EnforcementSettings)

    @cached_property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.settings.timezone)

    @cached_property
    def hmac_key(self) -> bytes:
        return self.settings.hmac_key_bytes()

    @cached_property
    def one_off(self) -> dict[str, list[str]]:
        """Registry plates by one-character wildcard, built on the first low-confidence unknown plate
        (or by :meth:`warm`)."""
        return R.one_off_index(self.registry)

    def warm(self) -> None:
        """Build the lazy indexes now (a long-running worker does it at boot, not on its first reads)."""
        _ = self.one_off, self.tz, self.hmac_key


@dataclass
class EngineState:
    """The engine's explicit state: the rule book and the pending reads."""

    rules: RuleBook
    pending: dict[str, Pending] = field(default_factory=dict)
    watermark_ts: float = -math.inf  #: latest event time seen
    swept_ts: float = -math.inf


@dataclass
class Outcome:
    """What one call of :func:`process` produced; commit it in one transaction."""

    cases: dict[str, CaseRecord] = field(default_factory=dict)
    alerts: list[Alert] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    pending_put: dict[str, Pending] = field(default_factory=dict)
    pending_drop: set[str] = field(default_factory=set)
    #: reads that made no case and no alert: (camera_id, hour start epoch s) -> count
    no_case_counts: Counter = field(default_factory=Counter)
    reads_n: int = 0

    def add_case(self, case: CaseRecord) -> None:
        known = self.cases.get(case.case_id)
        self.cases[case.case_id] = case if known is None else known.merged(case)

    def put(self, p: Pending) -> None:
        self.pending_put[p.key] = p
        self.pending_drop.discard(p.key)

    def drop(self, key: str) -> None:
        self.pending_put.pop(key, None)
        self.pending_drop.add(key)

    def dead_letter_counts(self) -> Counter:
        """Dead letters by reason."""
        return Counter(d.reason for d in self.dead_letters)


def new_state(rules: RuleBook) -> EngineState:
    """A fresh engine state with nothing pending."""
    return EngineState(rules=rules)


def process(state: EngineState, reads: Iterable[PlateRead]) -> tuple[EngineState, Outcome]:
    """Run ``reads`` (in the given order) through every rule.

    Returns the same state object, updated, and the outcome. Never raises for
    one bad read: it becomes a dead letter.
    """
    out = Outcome()
    for read in reads:
        out.reads_n += 1
        _process_one(state, read, out)
    if state.watermark_ts - state.swept_ts >= SWEEP_EVERY_S:
        _sweep(state, out)
    return state, out


def _dead(state: EngineState, read: object, reason: str, detail: str, out: Outcome) -> None:
    plate = getattr(read, "plate", "")
    ts = getattr(read, "ts", None)
    out.dead_letters.append(
        DeadLetter(
            read_id=str(getattr(read, "read_id", "")),
            camera_id=str(getattr(read, "camera_id", "")),
            ts=ts if isinstance(ts, (int, float)) and math.isfinite(ts) else None,
            reason=reason,
            detail=detail,
            plate_hash=pseudonymise(str(plate), state.rules.hmac_key),
        )
    )


def _validate(state: EngineState, read: object, out: Outcome) -> tuple[R.Camera, str] | None:
    if not isinstance(read, PlateRead):
        _dead(state, read, "bad_read", f"not a PlateRead: {type(read).__name__}", out)
        return None
    if not isinstance(read.read_id, str) or not 0 < len(read.read_id) <= MAX_ID_LEN:
        _dead(state, read, "bad_read", f"read_id must be text of 1..{MAX_ID_LEN} characters", out)
        return None
    if not isinstance(read.camera_id, str):
        _dead(state, read, "bad_read", "camera_id is not text", out)
        return None
    conf = read.confidence
    if isinstance(conf, bool) or not isinstance(conf, (int, float)) or not 0.0 <= conf <= 1.0:
        _dead(state, read, "bad_confidence", f"confidence {conf!r} not within 0..1", out)
        return None
    if isinstance(read.ts, bool) or not isinstance(read.ts, (int, float)) or not 0 < read.ts < MAX_TS:
        _dead(state, read, "bad_ts", f"ts {read.ts!r} is not epoch seconds between 1970 and 2100", out)
        return None
    camera = state.rules.cameras.get(read.camera_id)
    if camera is None:
        _dead(state, read, "unknown_camera", f"camera {read.camera_id!r} is not configured", out)
        return None
    plate = R.normalise_plate(read.plate) if isinstance(read.plate, str) else None
    if plate is None:
        _dead(state, read, "unparseable_plate", "plate text is not a Korean plate", out)
        return None
    return camera, plate


def _process_one(state: EngineState, read: PlateRead, out: Outcome) -> None:
    valid = _validate(state, read, out)
    if valid is None:
        return
    camera, plate = valid
    rules = state.rules
    state.watermark_ts = max(state.watermark_ts, read.ts)
    vehicle = rules.registry.get(plate)
    if vehicle is None and rules.settings.match_misreads and read.confidence < rules.settings.confidence_threshold:
        match = R.resolve_misread(plate, rules.one_off)
        if match is not None:  # judged as the registered vehicle; the case still needs a plate check
            plate, vehicle = match, rules.registry[match]
    ev = Evidence(read.read_id, camera.camera_id, camera.lat, camera.lon, read.ts, float(read.confidence),
                  read.image_ref, read.plate)  # fmt: skip
    alerted = False
    if vehicle is not None and vehicle.watch:
        out.alerts.append(
            Alert(R.case_id("watch", plate, read.read_id), "watch", plate, read.read_id, camera.camera_id,
                  camera.lat, camera.lon, read.ts, ev.confidence)  # fmt: skip
        )
        alerted = True
    local = R.local_time(read.ts, rules.tz)
    made = False
    if camera.lane_type != "none" and read.lane in (None, "bus"):
        made |= _bus_lane(rules, camera, plate, vehicle, read, local, ev, out)
    if camera.green_zone_entry and R.green_zone_violation(vehicle, local):
        _emit(rules, out, "green_zone", plate, vehicle, (local.date().isoformat(),), camera, (ev,))
        made = True
    if camera.section_id and camera.section_role:
        made |= _section(state, camera, plate, vehicle, ev, out)
    if camera.no_stopping:
        made |= _no_stopping(state, camera, plate, vehicle, ev, out)
    if not made and not alerted:
        out.no_case_counts[(camera.camera_id, int(read.ts // 3600) * 3600)] += 1


def _emit(rules: RuleBook, out: Outcome, rule: str, plate: str, vehicle: R.Vehicle | None, key: tuple,
          camera: R.Camera, evidence: tuple[Evidence, ...], over_kph: float = 0.0, detail: str = "") -> None:  # fmt: skip
    threshold = rules.settings.confidence_threshold
    out.add_case(
        CaseRecord(
            case_id=R.case_id(rule, plate, *key),
            rule=rule,
            plate=plate,
            first_ts=min(e.ts for e in evidence),
            last_ts=max(e.ts for e in evidence),
            fine_krw=R.fine_krw(rule, vehicle.vehicle_class if vehicle else None, rules.settings.fines, over_kph),
            needs_plate_check=any(R.needs_plate_check(e.confidence, threshold) for e in evidence),
            camera_id=camera.camera_id,
            area=camera.area,
            evidence=evidence,
            detail=detail,
        )
    )


def _bus_lane(rules, camera, plate, vehicle, read, local, ev, out) -> bool:
    if not R.bus_lane_enforced(camera.lane_type, local, rules.holidays):
        return False
    if R.bus_lane_exempt(vehicle, read.vehicle_class):
        return False
    _emit(rules, out, "bus_lane", plate, vehicle, (read.read_id,), camera, (ev,), detail=f"{camera.lane_type} lane")
    return True


def _section(state: EngineState, camera, plate, vehicle, ev: Evidence, out: Outcome) -> bool:
    """Pair a section's entry and exit reads of a plate, in whichever order they arrive.

    The two cameras' reads travel in different Kafka partitions, so an exit can
    be processed before its entry: the early one waits in ``pending`` (as
    ``sec|`` for an entry, ``secx|`` for an exit) until its partner comes.
    """
    rules = state.rules
    entry_key, exit_key = f"sec|{camera.section_id}|{plate}", f"secx|{camera.section_id}|{plate}"
    if camera.section_role == "entry":
        early_exit = state.pending.get(exit_key)
        if early_exit is not None and ev.ts < early_exit.first.ts <= ev.ts + rules.settings.section_max_s:
            del state.pending[exit_key]
            out.drop(exit_key)
            exit_cam = rules.cameras.get(early_exit.first.camera_id, camera)
            return _judge_section(rules, exit_cam, plate, vehicle, ev, early_exit.first, out)
        p = Pending(entry_key, "section_entry", plate, ev, ev.ts, ev.ts + rules.settings.section_max_s)
        state.pending[entry_key] = p
        out.put(p)
        return False
    entry = state.pending.get(entry_key)
    if entry is None or ev.ts <= entry.first.ts:
        # no usable entry yet: it may still come (other partition), or was lost or consumed by a redelivery
        p = Pending(exit_key, "section_exit", plate, ev, ev.ts, ev.ts + rules.settings.section_max_s)
        state.pending[exit_key] = p
        out.put(p)
        return False
    del state.pending[entry_key]
    out.drop(entry_key)
    return _judge_section(rules, camera, plate, vehicle, entry.first, ev, out)


def _judge_section(rules: RuleBook, exit_cam, plate, vehicle, entry: Evidence, exit_: Evidence, out: Outcome) -> bool:
    elapsed_s = exit_.ts - entry.ts
    if elapsed_s > rules.settings.section_max_s:
        return False
    limit = exit_cam.section_limit_kph
    if not R.section_speeding(exit_cam.section_length_m, elapsed_s, limit, rules.settings.speed_tolerance_kph):
        return False
    speed = R.average_speed_kph(exit_cam.section_length_m, elapsed_s)
    entry_cam = rules.cameras.get(entry.camera_id, exit_cam)
    _emit(rules, out, "section_speed", plate, vehicle, (exit_cam.section_id, entry.read_id), entry_cam,
          (entry, exit_), over_kph=speed - limit,
          detail=f"average {speed:.1f} km/h over {exit_cam.section_length_m:.0f} m, limit {limit:.0f}")  # fmt: skip
    return True


def _no_stopping(state: EngineState, camera, plate, vehicle, ev: Evidence, out: Outcome) -> bool:
    settings = state.rules.settings
    key = f"stop|{camera.camera_id}|{plate}"
    p = state.pending.get(key)
    if p is not None and ev.ts < p.first.ts:
        return False  # older than the stop we track: a late redelivery of an earlier stop
    if p is None or ev.ts - p.last_ts > settings.no_stopping_gap_s:
        p = Pending(key, "stop", plate, ev, ev.ts, ev.ts + settings.no_stopping_gap_s)
    else:
        last_ts = max(p.last_ts, ev.ts)
        p = replace(p, last_ts=last_ts, expires_ts=last_ts + settings.no_stopping_gap_s)
    state.pending[key] = p
    out.put(p)
    if not R.stopped_too_long(p.first.ts, ev.ts, settings.no_stopping_min_s):
        return False
    evidence = (p.first, ev) if ev.read_id != p.first.read_id else (ev,)
    _emit(state.rules, out, "no_stopping", plate, vehicle, (camera.camera_id, p.first.read_id), camera, evidence,
          detail=f"seen for {ev.ts - p.first.ts:.0f} s")  # fmt: skip
    return True


def _sweep(state: EngineState, out: Outcome) -> None:
    """Forget pending reads whose rule can no longer fire (event time past their expiry)."""
    stale = [k for k, p in state.pending.items() if p.expires_ts < state.watermark_ts]
    for key in stale:
        del state.pending[key]
        out.drop(key)
    state.swept_ts = state.watermark_ts
    if stale:
        logger.debug("swept %d stale pending reads", len(stale))

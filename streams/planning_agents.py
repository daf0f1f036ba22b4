"""Planning agents: live re-planning into ``plans.proposed``, off the event loop.

The agents keep the newest planner inputs - ``demand.squirrel`` per route,
``demand.owl``, ``traffic.link_speeds`` per route (live running speeds and the
city clock) - and take requests from ``plans.requests``. A timer re-plans
headways every ``plan_headways_every_s`` and Squirrel/Owl every
``plan_schedule_every_s`` (0: only on request) or at once on a request. Each
plan is a :class:`streams.planning.PlanJob` run by
:func:`streams.planning.run_job` in a ``ProcessPoolExecutor`` (spawn), at most
one job of each kind in flight, so the worker's event loop never waits on an
optimizer. A job that cannot plan (no demand yet, fleet too small) is logged
and the next one tries again.

The inputs are snapshots republished every ``aggregate_interval_s``, so they
are kept in memory, not in tables: a restarted worker has them again within
one interval. ``demand.squirrel``, ``demand.owl`` and ``plans.requests`` have
one partition each, so Faust's co-partitioning assigns them to the same
worker; with several workers that worker sees only its share of link speeds
(routes without a speed use the timetable's cycle).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import multiprocessing
import os
import time
from concurrent.futures.process import BrokenProcessPool

import faust
import msgspec

from optimizer.headways import InfeasibleFleet
from optimizer.live import KINDS, NoPlan
from streams import planning
from streams.aggregates import decode
from topis import topics, wire
from topis.settings import StreamSettings

log = logging.getLogger(__name__)

_encode = msgspec.json.Encoder(enc_hook=wire.plain).encode
#: link-speed bins older than this (city clock) no longer count for a route's live speed
SPEED_WINDOW_S = 1800.0
BIN_S = 300.0


class PlanRequest(msgspec.Struct, frozen=True):
    """A planner's request on ``plans.requests``: plan ``kind`` now."""

    kind: str  #: headways, squirrel or owl
    requested_by: str = ""
    ts: float = 0.0  #: epoch seconds UTC (wall)


def encode_request(request: PlanRequest) -> bytes:
    """JSON bytes of a request (what ``topis plan request`` sends)."""
    return msgspec.json.encode(request)


class LivePlanner:
    """The agent's memory: newest inputs, when each kind is due, which kinds are in flight."""

    def __init__(self, feed, settings: StreamSettings, knobs: planning.PlanKnobs = planning.PlanKnobs()):
        self.feed, self.settings, self.knobs = feed, settings, knobs
        self.squirrel: dict[str, bytes] = {}  #: route_id -> newest encoded SquirrelInput
        self.owl: bytes | None = None
        self.bins: dict[str, dict[tuple[str, float], dict]] = {}  #: route -> (link, bin) -> bin
        self.clock_ts: float | None = None  #: city clock from the newest link-speed bin
        self.next_due: dict[str, float] = {k: 0.0 for k in KINDS}
        self.first_input_ts: float | None = None  #: wall time the first demand input arrived
        self.requested: set[str] = set()
        self.in_flight: set[str] = set()
        self.stop_lat_lon = {s.stop_id: (s.lat, s.lon) for s in feed.stops.values()}
        self.timetable = planning.Timetable.from_feed(feed)
        self.hours_seen: dict[str, frozenset[int]] = {}  #: route_id -> local hours with riders (this feed's routes)
        self._services: dict[tuple, tuple] = {}

    def note_squirrel(self, route_id: str, value: bytes, now: float) -> None:
        """Keep a route's newest encoded load profile (and its hours) when the route is in this feed."""
        if route_id not in self.feed.trips_by_route:
            return  # another network's route (e.g. a previous run's city on the same broker)
        self.hours_seen[route_id] = frozenset(p.hour_local for p in decode(value).profiles)
        self.squirrel[route_id] = value
        self.first_input_ts = self.first_input_ts or now

    def note_owl(self, value: bytes, now: float) -> None:
        """Keep the newest encoded night OD."""
        self.owl = value
        self.first_input_ts = self.first_input_ts or now

    def note_speeds(self, route_id: str, bins: list[dict]) -> None:
        """Keep a route's link-speed bins of the last :data:`SPEED_WINDOW_S` and advance the clock."""
        held = self.bins.setdefault(route_id, {})
        for b in bins:
            held[(str(b.get("link_id")), float(b.get("bin_start_ts", 0.0)))] = b
            end = float(b.get("bin_start_ts", 0.0)) + BIN_S
            self.clock_ts = end if self.clock_ts is None else max(self.clock_ts, end)
        since = (self.clock_ts or 0.0) - SPEED_WINDOW_S
        for key in [k for k in held if k[1] < since]:
            del held[key]

    def request(self, kind: str) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown plan kind {kind!r}; one of {', '.join(KINDS)}")
        self.requested.add(kind)

    def due(self, now: float) -> list[tuple[str, bool]]:
        """``(kind, requested)`` to start now: requested, or on schedule with inputs, not in flight.

        Scheduled plans wait ``aggregate_interval_s`` after the first input so
        that every route's first profile is in (the demand stages publish them
        over one interval); requests do not wait.
        """
        warm = self.first_input_ts is not None and now >= self.first_input_ts + self.settings.aggregate_interval_s
        every = {"headways": self.settings.plan_headways_every_s, "squirrel": self.settings.plan_schedule_every_s,
                 "owl": self.settings.plan_schedule_every_s}
        has_input = {"headways": bool(self.squirrel), "squirrel": bool(self.squirrel), "owl": self.owl is not None}
        out = []
        for kind in KINDS:
            scheduled = warm and every[kind] > 0 and now >= self.next_due[kind]
            if kind in self.in_flight or not (kind in self.requested or (scheduled and has_input[kind])):
                continue
            out.append((kind, kind in self.requested))
            self.requested.discard(kind)
            self.next_due[kind] = now + every[kind] if every[kind] > 0 else float("inf")
        return out

    def services(self, hour_local: int) -> tuple:
        day = planning.service_date(self.feed, self.clock_ts, time.time())
        key = (day, hour_local)
        if key not in self._services:
            if len(self._services) > 48:  # a long-running worker: keep about today's hours
                self._services.clear()
            self._services[key] = tuple(planning.services_at(self.timetable, self.feed.calendar.active(day),
                                                             hour_local))
        return self._services[key]

    def job(self, kind: str, now: float) -> planning.PlanJob:
        """The job of ``kind`` over the newest inputs (headways: :func:`streams.planning.demand_hour`;
        Squirrel: the newest rush hour seen; Owl: 01 h), made at the city clock when known."""
        day = planning.service_date(self.feed, self.clock_ts, now).isoformat()
        seen = set().union(*self.hours_seen.values())
        if kind == "headways":
            hour = planning.demand_hour(self.hours_seen)
            hour = hour if hour is not None else 8
            window, label = f"{day}T{hour:02d}", f"{hour:02d}:00-{(hour + 1) % 24:02d}:00 on {day}"
        elif kind == "squirrel":
            hour = planning.latest_hour(seen & set(self.knobs.peak_hours))
            hour = hour if hour is not None else self.knobs.peak_hours[0]
            window, label = f"{day}-peak", f"rush hours {', '.join(f'{h:02d}' for h in self.knobs.peak_hours)} h on {day}"
        else:
            hour, window, label = 1, f"{day}-night", f"night 00-05 h of {day}"
        services = self.services(hour)
        speeds = {r: planning.route_speed_kph(b.values(), -1.0) for r, b in self.bins.items()}
        made_ts = self.clock_ts or now  # the city clock where known (the demo's runs ahead of the wall)
        return planning.PlanJob(kind, window, label, hour, made_ts, services, (self.feed.origin_lon, self.feed.origin_lat),
                                {} if kind == "headways" else self.stop_lat_lon,  # only what the kind reads
                                () if kind == "owl" else tuple(self.squirrel.values()),
                                self.owl if kind == "owl" else None,
                                {r: v for r, v in speeds.items() if v is not None}, self.knobs)


def install(app: faust.App, settings: StreamSettings, feed) -> LivePlanner:
    """Declare the planning agents and timer on ``app``; returns the planner (its state)."""
    squirrel_topic = app.topic(topics.DEMAND_SQUIRREL.name, value_type=bytes, key_type=bytes)
    owl_topic = app.topic(topics.DEMAND_OWL.name, value_type=bytes, key_type=bytes)
    speeds_topic = app.topic(topics.LINK_SPEEDS.name, value_type=bytes, key_type=bytes)
    requests_topic = app.topic(topics.PLAN_REQUESTS.name, value_type=bytes, key_type=bytes)
    plans_topic = app.topic(topics.PLANS.name, value_type=bytes, key_type=bytes)
    planner = LivePlanner(feed, settings)
    pool: list[concurrent.futures.ProcessPoolExecutor] = []

    @app.agent(squirrel_topic)
    async def keep_squirrel_inputs(stream):
        """Keep each route's newest load profile."""
        async for key, value in stream.items():
            try:
                planner.note_squirrel((key or b"").decode(), value, time.time())
            except msgspec.DecodeError as exc:  # ValidationError is a DecodeError
                log.warning("demand.squirrel: ignored a message of %r: %s", key, exc)

    @app.agent(owl_topic)
    async def keep_owl_input(stream):
        """Keep the newest night OD."""
        async for value in stream:
            planner.note_owl(value, time.time())

    @app.agent(speeds_topic)
    async def keep_route_speeds(stream):
        """Keep each route's recent link speeds (and the city clock)."""
        async for key, value in stream.items():
            planner.note_speeds((key or b"").decode(), msgspec.json.decode(value))

    @app.agent(requests_topic)
    async def take_plan_requests(stream):
        """Mark a requested plan kind due now."""
        async for value in stream:
            try:
                req = msgspec.json.decode(value, type=PlanRequest)
                planner.request(req.kind)
            except (msgspec.DecodeError, ValueError) as exc:
                log.warning("plans.requests: ignored %r: %s", value[:200], exc)
            else:
                log.info("%s plan requested by %s", req.kind, req.requested_by or "someone")

    async def run(kind: str, job: planning.PlanJob, requested: bool,
                  executor: concurrent.futures.ProcessPoolExecutor) -> None:
        try:
            proposal = await asyncio.get_running_loop().run_in_executor(executor, planning.run_job, job)
        except NoPlan as exc:  # a requested plan says why it did not come; a scheduled one tries again
            log.log(logging.WARNING if requested else logging.INFO, "%s plan: not yet: %s", kind, exc)
        except (InfeasibleFleet, ValueError, ArithmeticError) as exc:
            log.warning("%s plan failed: %s", kind, exc)
        except BrokenProcessPool as exc:
            log.error("%s plan: planning process died (%s); starting a new pool", kind, exc)
            if executor in pool:
                pool.remove(executor)
                stop_processes(executor)
        else:
            await plans_topic.send(key=kind.encode(), value=_encode(proposal))
            log.info("%s plan %s published", kind, proposal["plan_id"])
        finally:
            planner.in_flight.discard(kind)

    @app.timer(interval=5.0)
    async def replan():
        """Start the plans that are due, each in the process pool."""
        now = time.time()
        for kind, requested in planner.due(now):
            if not pool:
                pool.append(concurrent.futures.ProcessPoolExecutor(
                    max_workers=planning_processes(), mp_context=multiprocessing.get_context("spawn")))
            planner.in_flight.add(kind)
            task = asyncio.ensure_future(run(kind, planner.job(kind, now), requested, pool[0]))
            task.add_done_callback(_log_crash)

    @app.on_before_shutdown.connect
    async def stop_pool(app_, **kwargs):  # noqa: ANN001 - Faust's signal signature
        """Stop the planning processes with the worker (a plan half done is dropped)."""
        while pool:
            stop_processes(pool.pop())

    return planner


def stop_processes(executor: concurrent.futures.ProcessPoolExecutor) -> None:
    """Shut a pool down now: queued jobs cancelled, running ones terminated.

    ``shutdown`` alone lets a running plan finish (an Owl design can take
    minutes) and the interpreter would wait for it at exit; Python 3.11 has no
    ``terminate_workers``, so the pool's process table is read directly.
    """
    table = getattr(executor, "_processes", None) or {}
    processes = list(table.values())
    executor.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        process.terminate()
    for process in processes:
        process.join(5)


def planning_processes() -> int:
    """Processes of the planning pool: 2, less one core for the worker's own loop (1 on a 2-core machine)."""
    return min(2, max(1, (os.cpu_count() or 1) - 1))


def _log_crash(task: asyncio.Future) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("planning task crashed", exc_info=task.exception())

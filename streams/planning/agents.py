"""Planning agents: live re-planning into ``plans.proposed``, off the event loop.

The agents keep the newest planner inputs - ``demand.squirrel`` per route,
``demand.owl``, ``traffic.link_speeds`` per route (live running speeds and the
city clock) - in a :class:`streams.planning.live.LivePlanner` (which ``topis plan
live`` shares) and take requests from ``plans.requests``. A timer re-plans
headways every ``plan_headways_every_s`` and Squirrel/Owl every
``plan_schedule_every_s`` (0: only on request) or at once on a request. Each
plan is a :class:`streams.planning.live.PlanJob` run by
:func:`streams.planning.live.run_job` in a ``ProcessPoolExecutor`` (spawn), at most
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
from optimizer.live import NoPlan
from streams.planning import live as planning
from streams.planning.live import LivePlanner
from topis import topics, wire
from topis.settings import StreamSettings

log = logging.getLogger(__name__)

_encode = msgspec.json.Encoder(enc_hook=wire.plain).encode


class PlanRequest(msgspec.Struct, frozen=True):
    """A planner's request on ``plans.requests``: plan ``kind`` now."""

    kind: str  #: headways, squirrel or owl
    requested_by: str = ""
    ts: float = 0.0  #: epoch seconds UTC (wall)


def encode_request(request: PlanRequest) -> bytes:
    """JSON bytes of a request (what ``topis plan request`` sends)."""
    return msgspec.json.encode(request)


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

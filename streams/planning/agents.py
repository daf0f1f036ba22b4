"""Planning agents: live re-planning into ``plans.proposed``, off the event loop.

The agents keep the newest planner inputs - ``demand.squirrel`` per route,
``demand.owl``, ``traffic.link_speeds`` per route (live running speeds and the
city clock) - in a :class:`streams.planning.live.LivePlanner` (which ``topis plan
live`` shares) and take requests from ``plans.requests``. A timer (every ``replan_check_every_s``) re-plans
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

These agents are the only readers of their topics, so they dead-letter the
messages they cannot read (:mod:`streams.runtime.decode`). A proposal is
published as a :class:`topis.schemas.plans.PlanProposal`.
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
from streams.runtime.app import agent, timer, topic
from streams.runtime.decode import DeadLetters, key_text
from topis import topics, wire
from topis.schemas.plans import PlanProposal
from topis.settings import StreamSettings

log = logging.getLogger(__name__)


class PlanningAgents:
    """The planner-input agents, the re-planning timer and its process pool, declared on ``app``."""

    def __init__(self, app: faust.App, settings: StreamSettings, feed, dead_letters: DeadLetters):
        self.planner = LivePlanner(feed, settings)  #: the agents' memory (newest inputs, what is due)
        self.dead_letters = dead_letters
        self.plans = topic(app, topics.PLANS)
        self.pool: list[concurrent.futures.ProcessPoolExecutor] = []  # at most one, started with the first plan
        agent(app, topic(app, topics.DEMAND_SQUIRREL), self.keep_squirrel_inputs)
        agent(app, topic(app, topics.DEMAND_OWL), self.keep_owl_input)
        agent(app, topic(app, topics.LINK_SPEEDS), self.keep_route_speeds)
        agent(app, topic(app, topics.PLAN_REQUESTS), self.take_plan_requests)
        timer(app, settings.replan_check_every_s, self.replan)
        app.on_before_shutdown.connect(self.stop_pool)

    async def keep_squirrel_inputs(self, stream):
        """Keep each route's newest load profile."""
        async for key, value in stream.items():
            route_id = key_text(key)
            if await self.dead_letters.decode(topics.DEMAND_SQUIRREL, route_id, value) is not None:
                self.planner.note_squirrel(route_id, value, time.time())

    async def keep_owl_input(self, stream):
        """Keep the newest night OD."""
        async for key, value in stream.items():
            if await self.dead_letters.decode(topics.DEMAND_OWL, key_text(key), value) is not None:
                self.planner.note_owl(value, time.time())

    async def keep_route_speeds(self, stream):
        """Keep each route's recent link speeds (and the city clock)."""
        async for key, value in stream.items():
            route_id = key_text(key)
            bins = await self.dead_letters.decode(topics.LINK_SPEEDS, route_id, value)
            if bins is not None:
                self.planner.note_speeds(route_id, msgspec.to_builtins(bins))

    async def take_plan_requests(self, stream):
        """Mark a requested plan kind due now."""
        async for key, value in stream.items():
            request = await self.dead_letters.decode(topics.PLAN_REQUESTS, key_text(key), value)
            if request is not None:
                self.planner.request(request.kind)
                log.info("%s plan requested by %s", request.kind, request.requested_by or "someone")

    async def replan(self) -> None:
        """Start the plans that are due, each in the process pool."""
        now = time.time()
        for kind, requested in self.planner.due(now):
            self.planner.in_flight.add(kind)
            task = asyncio.ensure_future(self._run(kind, self.planner.job(kind, now), requested, self._executor()))
            task.add_done_callback(_log_crash)

    def _executor(self) -> concurrent.futures.ProcessPoolExecutor:
        if not self.pool:
            self.pool.append(concurrent.futures.ProcessPoolExecutor(
                max_workers=planning_processes(), mp_context=multiprocessing.get_context("spawn")))
        return self.pool[0]

    async def _run(self, kind: str, job: planning.PlanJob, requested: bool,
                   executor: concurrent.futures.ProcessPoolExecutor) -> None:
        try:
            result = await asyncio.get_running_loop().run_in_executor(executor, planning.run_job, job)
            proposal = msgspec.convert(result, PlanProposal)  # a ValidationError is a ValueError
        except NoPlan as exc:  # a requested plan says why it did not come; a scheduled one tries again
            log.log(logging.WARNING if requested else logging.INFO, "%s plan: not yet: %s", kind, exc)
        except (InfeasibleFleet, ValueError, ArithmeticError) as exc:
            log.warning("%s plan failed: %s", kind, exc)
        except BrokenProcessPool as exc:
            log.error("%s plan: planning process died (%s); starting a new pool", kind, exc)
            if executor in self.pool:
                self.pool.remove(executor)
                stop_processes(executor)
        else:
            await self.plans.send(key=kind.encode(), value=wire.encode(proposal))
            log.info("%s plan %s published", kind, proposal.plan_id)
        finally:
            self.planner.in_flight.discard(kind)

    async def stop_pool(self, app_, **kwargs) -> None:  # noqa: ANN001 - Faust's signal signature
        """Stop the planning processes with the worker (a plan half done is dropped)."""
        while self.pool:
            stop_processes(self.pool.pop())


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

"""``state.health``: what each part of the control centre says about itself.

The supervisor of ``topis up`` publishes a :class:`SupervisorStatus` (key
``supervisor``) every few seconds; each worker publishes a :class:`WorkerHealth`
(key ``worker:<host>:<pid>``). The wall shows both: which process is down since
when, and how far behind each feed's state is. Times are wall-clock epoch seconds.
"""

from __future__ import annotations

from typing import Literal

import msgspec

ComponentState = Literal["up", "frozen", "restarting", "down"]


class ComponentStatus(msgspec.Struct):
    """One supervised process."""

    name: str  #: worker-1, dashboard, simulator, broker
    state: ComponentState
    since_ts: float  #: when it entered this state
    restarts: int  #: starts after the first
    pid: int | None = None
    last_exit: int | None = None  #: exit code of its last death (negative: killed by that signal)


class SupervisorStatus(msgspec.Struct, tag="supervisor.status/1"):
    """Every supervised component, the embedded broker's memory and its restarts."""

    published_ts: float
    components: list[ComponentStatus]
    broker_rss_mb: float | None = None  #: the embedded broker's resident memory (None on a real cluster)
    broker_budget_mb: float | None = None
    broker_restarts: int = 0  #: unplanned: it died and was started again empty
    broker_recycles: int = 0  #: planned: memory over budget, compacted by a restart


class WorkerHealth(msgspec.Struct, tag="worker.health/1"):
    """One worker's view of its own progress."""

    worker_id: str
    published_ts: float
    started_ts: float
    lag_messages: dict[str, int]  #: topic -> messages its group has not committed (of its partitions)
    #: topic -> when the newest message processed was produced (its Kafka timestamp)
    newest_produced_ts: dict[str, float]
    rereads: int = 0  #: partitions read again by the commit watch (0 in normal operation)
    #: topic -> 99th percentile of produce-to-processed lag over the last messages, seconds
    state_lag_p99_s: dict[str, float] = {}
    agent_crashes: dict[str, int] = {}  #: agent -> times it crashed and was started again (0 in normal operation)


Health = SupervisorStatus | WorkerHealth

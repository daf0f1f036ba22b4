"""The worker's report on itself: how far behind each feed's state is, on ``state.health``.

:class:`StateLag` is a Faust sensor: when an agent is done with a message,
it notes how long ago the message was produced (its Kafka timestamp). That is
the lag of the state the agent keeps — a fix's position on the wall, a tap
in the loads — whatever the event time inside says (the simulator's clock runs
faster than the wall's). :class:`HealthReport` publishes it every few seconds
as a :class:`topis.schemas.health.WorkerHealth`, with the commit watch's
backlog per topic, and logs a worker that falls behind.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections import deque

import faust

from streams.runtime.app import timer, topic
from streams.runtime.commit_watch import CommitWatch
from topis import topics, wire
from topis.schemas.health import WorkerHealth

log = logging.getLogger(__name__)

WINDOW = 8192  #: lags kept per state for the percentiles (one per agent and message)


def percentile(values, q: float) -> float | None:
    """The ``q`` quantile (0..1) of ``values`` by nearest rank, or None when empty."""
    ordered = sorted(values)
    if not ordered:
        return None
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered) + 0.5) - 1))]


#: agents whose lag on their input is that of another state than the input's own: the key it is reported under.
#: The bus link speeds fold a batch of ``probe_batch_s`` at a time (their bins close minutes later): their wait
#: is the link speeds' lag, not that of the buses on the wall.
DERIVED_STATES = {"streams.traffic.agents.measure_link_speeds": "bus.positions>link_speeds"}


class StateLag(faust.Sensor):
    """Produce-to-processed lag of every message, per state: the input topic's, or a :data:`DERIVED_STATES` key.

    Each agent's stream reports when it is done with an event (for a batch, when
    the batch is done); a state's lag is the last WINDOW of its agents' lags.
    """

    def __init__(self, watched: set[str], **kwargs):
        super().__init__(**kwargs)
        self.watched = watched
        self.lags_s: dict[str, deque] = {}
        self.newest_ts: dict[str, float] = {}  #: topic -> Kafka timestamp of the newest message processed

    def on_stream_event_out(self, tp, offset: int, stream, event, state=None) -> None:  # noqa: ANN001 - Faust's
        message = event.message
        if tp.topic not in self.watched or not message.timestamp:
            return
        key = DERIVED_STATES.get(getattr(stream, "topis_agent", ""), tp.topic)
        self.lags_s.setdefault(key, deque(maxlen=WINDOW)).append(max(0.0, time.time() - message.timestamp))

    def on_message_out(self, tp, offset: int, message) -> None:  # noqa: ANN001 - Faust's signature
        if tp.topic in self.watched and message.timestamp > self.newest_ts.get(tp.topic, 0.0):
            self.newest_ts[tp.topic] = message.timestamp

    def p99_s(self) -> dict[str, float]:
        return {t: round(percentile(lags, 0.99), 3) for t, lags in self.lags_s.items() if lags}


class HealthReport:
    """Publishes this worker's :class:`WorkerHealth` every ``every_s`` on ``state.health``."""

    def __init__(self, app: faust.App, watch: CommitWatch, every_s: float = 5.0):
        self.app, self.watch = app, watch
        self.worker_id = f"worker:{socket.gethostname()}:{os.getpid()}"
        self.started_ts = time.time()
        self.lag = StateLag({s.name for s in topics.ALL})
        app.sensors.add(self.lag)
        self.topic = topic(app, topics.STATE_HEALTH)
        timer(app, every_s, self.publish_health)

    def health(self) -> WorkerHealth:
        return WorkerHealth(self.worker_id, time.time(), self.started_ts, dict(self.watch.lags),
                            dict(self.lag.newest_ts), self.watch.rereads, self.lag.p99_s(),
                            dict(getattr(self.app, "topis_agent_crashes", {})))

    async def publish_health(self) -> None:
        await self.topic.send(key=self.worker_id.encode(), value=wire.encode(self.health()))

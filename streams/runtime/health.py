"""The worker's report on itself: how far behind each feed's state is, on ``state.health``.

:class:`StateLag` is a Faust sensor: when every agent is done with a message,
it notes how long ago the message was produced (its Kafka timestamp). That is
the lag of the state the message drives — a fix's position on the wall, a tap
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

WINDOW = 2048  #: lags kept per topic for the percentiles


def percentile(values, q: float) -> float | None:
    """The ``q`` quantile (0..1) of ``values`` by nearest rank, or None when empty."""
    ordered = sorted(values)
    if not ordered:
        return None
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered) + 0.5) - 1))]


class StateLag(faust.Sensor):
    """Produce-to-processed lag of every message, per topic (the last WINDOW of each)."""

    def __init__(self, watched: set[str], **kwargs):
        super().__init__(**kwargs)
        self.watched = watched
        self.lags_s: dict[str, deque] = {}
        self.newest_ts: dict[str, float] = {}  #: topic -> Kafka timestamp of the newest message processed

    def on_message_out(self, tp, offset: int, message) -> None:  # noqa: ANN001 - Faust's signature
        if tp.topic not in self.watched or not message.timestamp:
            return
        self.lags_s.setdefault(tp.topic, deque(maxlen=WINDOW)).append(max(0.0, time.time() - message.timestamp))
        if message.timestamp > self.newest_ts.get(tp.topic, 0.0):
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

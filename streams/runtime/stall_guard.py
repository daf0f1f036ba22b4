"""Liveness guard: re-read a stream partition whose commits stopped while messages wait.

Why this exists. With faust-streaming 0.15 on the embedded broker, a worker that
started on a backlog sometimes never committed past one partition's starting
offset again (about a quarter of the restarts in
``tests/streams/test_enforcement_stream.py`` on a 2-core machine): Faust's
recovery seeks the stream partitions to their committed offsets one by one while
the fetcher is delivering their records. :class:`streams.runtime.app._TunedConsumer`
now stops the flow during that seek, and the stall has not been seen since; this
guard stays as the safety net for any other way a commit can get stuck, because
a stuck commit is silent: everything after it is processed, but a restart or a
lag monitor sees the work as never done.

The guard notices that state from outside (committed offset unchanged for
``stall_s`` while the partition has messages beyond it) and seeks the partition
back to its committed offset: the missing records are fetched again and
everything after them is redelivered. Sinks are idempotent (see
:mod:`streams.enforcement.agents`, :mod:`streams.bus.agents`), so a redelivery
costs time, never correctness. It logs a warning each time it acts.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import faust

log = logging.getLogger(__name__)


@dataclass
class Watch:
    """What the guard last saw of one partition."""

    committed: int | None  #: the group's committed offset (next offset to read)
    since_s: float  #: monotonic time at which ``committed`` last changed


def is_stalled(watch: Watch, committed: int | None, end_offset: int | None, delivered: int | None,
               now_s: float, stall_s: float) -> bool:
    """True when ``committed`` has not moved for ``stall_s`` although messages lie beyond it.

    ``end_offset`` is the partition's high watermark as the consumer last saw it
    and ``delivered`` the last offset the fetcher handed to the streams (Faust
    sets it to the committed offset itself when it seeks there, before anything
    is delivered). A message beyond ``committed``, in the log or already
    delivered, means there is work the commit is waiting on; an idle partition
    whose commit is at its end is not stalled. A partition with no commit yet is
    left alone (nothing to seek back to).
    """
    if committed is None or committed != watch.committed or now_s - watch.since_s < stall_s:
        return False
    return (end_offset is not None and end_offset > committed) or (delivered is not None and delivered > committed)


def check(watch: Watch | None, committed: int | None, end_offset: int | None, delivered: int | None,
          now_s: float, stall_s: float) -> tuple[Watch, bool]:
    """What the guard keeps of a partition after looking at it now, and whether to seek it back to ``committed``.

    A partition seen for the first time, or whose commit moved, starts a new
    watch; a stalled one (:func:`is_stalled`) is sought back and watched afresh.
    """
    if watch is None or watch.committed != committed:
        return Watch(committed, now_s), False
    if is_stalled(watch, committed, end_offset, delivered, now_s, stall_s):
        return Watch(committed, now_s), True
    return watch, False


class StallGuard:
    """The guard's timer on ``app``: every ``every_s``, check each assigned stream partition."""

    def __init__(self, app: faust.App, stall_s: float, every_s: float):
        self.app, self.stall_s = app, stall_s
        self.watches: dict = {}  #: TopicPartition -> Watch
        app.timer(every_s)(self.guard_partitions)

    async def guard_partitions(self) -> None:
        """Seek back every stream partition whose commit is stuck with messages waiting."""
        app, consumer = self.app, self.app.consumer
        if app.rebalancing or getattr(app, "in_recovery", False) or not consumer.flow_active:
            self.watches.clear()
            return
        changelogs, now_s = app.tables.changelog_topics, app.loop.time()
        for tp in consumer.assignment():
            if tp.topic in changelogs or tp in consumer._paused_partitions:
                continue
            held = self.watches.get(tp)
            self.watches[tp], stalled = check(held, consumer._committed_offset.get(tp), consumer.highwater(tp),
                                              consumer._read_offset.get(tp), now_s, self.stall_s)
            if stalled:
                log.warning("partition %s:%d has not committed past offset %d for %.0f s with messages waiting: "
                            "reading it again from there", tp.topic, tp.partition, held.committed, now_s - held.since_s)
                await consumer.seek(tp, held.committed)

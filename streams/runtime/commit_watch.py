"""Commit watch: report a worker that falls behind, and catch a commit that is really stuck.

Why a worker's commits looked stalled. When a worker is behind, Faust's fetcher
fills the streams' buffers and then waits for the slowest agent; every partition
then waits its turn, and a partition whose agent is idle (``demand.squirrel``,
``plate.reads``) can go half a minute without a commit although nothing is
wrong. The old stall guard took that for a stuck commit and read the partition
again, which added work to a worker that was already behind (a spiral), and its
seek ran on the main thread against the consumer owned by Faust's consumer
thread, which raced the fetcher into ``KeyError: TopicPartition`` in aiokafka's
``fetched_records`` and crashed the worker. Being behind is reported here, not
"fixed".

A commit is *stuck* only when the message at the committed offset was never
acknowledged while later ones were: Faust commits up to the first gap in its
acknowledged offsets, so one lost delivery (records fetched across a seek and
dropped) holds the partition's commit at that offset for ever while the worker
goes on. That is visible from the acknowledgements themselves: the smallest
acknowledged offset is beyond the committed one and the hole is not a gap Faust
knows the log has (compaction, transaction markers). Only then, after
``stuck_s``, the partition is read again from its commit (a thread-safe seek,
:meth:`streams.runtime.app._TunedConsumer._seek`); sinks are idempotent, so the
re-read costs time only. It is logged each time and never happens in normal
operation, behind or not.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import faust

from streams.runtime.app import timer

log = logging.getLogger(__name__)


@dataclass
class Watch:
    """What the watch last saw of one partition."""

    committed: int | None  #: the group's committed offset (next offset to read)
    since_s: float  #: monotonic time at which ``committed`` last changed


def has_hole(committed: int | None, smallest_acked: int | None, gap_end: int | None) -> bool:
    """True when offsets after ``committed`` were acknowledged but the one at ``committed`` was not.

    ``gap_end`` is where the log's known gap starting at ``committed`` ends
    (Faust's gap tracker), or None: a hole the log itself has is no lost message.
    """
    if committed is None or smallest_acked is None or smallest_acked <= committed:
        return False
    return gap_end is None or gap_end < smallest_acked


def check(watch: Watch | None, committed: int | None, hole: bool, now_s: float,
          stuck_s: float) -> tuple[Watch, bool]:
    """What the watch keeps of a partition after looking at it now, and whether to read it again.

    A partition seen for the first time, or whose commit moved, starts a new
    watch; one with a hole (:func:`has_hole`) held for ``stuck_s`` is read again
    and watched afresh.
    """
    if watch is None or watch.committed != committed:
        return Watch(committed, now_s), False
    if hole and now_s - watch.since_s >= stuck_s:
        return Watch(committed, now_s), True
    return watch, False


def lag_by_topic(partitions: dict) -> dict[str, int]:
    """Messages not yet committed per topic, from ``{TopicPartition: (committed, highwater)}``."""
    lags: dict[str, int] = {}
    for tp, (committed, highwater) in partitions.items():
        behind = max(0, (highwater or 0) - (committed or 0))
        lags[tp.topic] = lags.get(tp.topic, 0) + behind
    return lags


def behind_summary(lags: dict[str, int], limit: int) -> str | None:
    """A log line naming the topics more than ``limit`` messages behind, worst first, or None."""
    behind = sorted(((n, t) for t, n in lags.items() if n > limit), reverse=True)
    if not behind:
        return None
    return "worker behind: " + ", ".join(f"{t} {n:,} messages" for n, t in behind)


class CommitWatch:
    """The watch's timer on ``app``: every ``every_s``, look at each assigned stream partition."""

    def __init__(self, app: faust.App, stuck_s: float, every_s: float, behind_limit: int = 1000,
                 report_every_s: float = 60.0):
        self.app, self.stuck_s = app, stuck_s
        self.behind_limit, self.report_every_s = behind_limit, report_every_s
        self.watches: dict = {}  #: TopicPartition -> Watch
        self.lags: dict[str, int] = {}  #: the last lag per topic, for the worker's health report
        self.rereads = 0  #: partitions read again since start (0 in normal operation)
        self._reported_s = -report_every_s
        timer(app, every_s, self.watch_partitions)

    async def watch_partitions(self) -> None:
        """Update the lags, log a worker that is behind, read a stuck partition again."""
        app, consumer = self.app, self.app.consumer
        if app.rebalancing or getattr(app, "in_recovery", False) or not consumer.flow_active:
            self.watches.clear()
            return
        changelogs, now_s = app.tables.changelog_topics, app.loop.time()
        offsets = {}
        for tp in consumer.assignment():
            if tp.topic in changelogs:
                continue
            committed = consumer._committed_offset.get(tp)
            offsets[tp] = (committed, consumer.highwater(tp))
            if tp in consumer._paused_partitions:
                continue
            acked = consumer._acked.get(tp)
            gaps = consumer._gap.get(tp)
            gap_end = None
            if gaps and committed is not None:
                starting = [iv.end for iv in gaps.at(committed)]
                gap_end = max(starting) if starting else None
            hole = has_hole(committed, min(acked) if acked else None, gap_end)
            held = self.watches.get(tp)
            self.watches[tp], stuck = check(held, committed, hole, now_s, self.stuck_s)
            if stuck:
                self.rereads += 1
                log.warning("partition %s:%d: offset %d was never acknowledged while later ones were, for %.0f s: "
                            "reading it again from there", tp.topic, tp.partition, committed, now_s - held.since_s)
                await consumer.seek(tp, committed)
        self.lags = lag_by_topic(offsets)
        line = behind_summary(self.lags, self.behind_limit)
        if line and now_s - self._reported_s >= self.report_every_s:
            self._reported_s = now_s
            log.warning(line)

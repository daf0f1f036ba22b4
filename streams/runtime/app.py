"""The Faust application every domain's agents are declared on.

:func:`new_app` returns a configured, empty ``faust.App``; :func:`streams.worker.build_app`
declares the domains' agents on it. Nothing here runs at import time. Agents read
and write topics of raw bytes (:func:`topic`) and decode at their edge
(:mod:`streams.runtime.decode`).

The embedded Tansu broker never wakes a waiting fetch, so every hop costs about
half of the consumer's ``fetch_max_wait_ms``. Faust hard-codes 1,500 ms there
(~0.4–0.7 s per hop); :class:`_TunedTransport` sets the value from settings on
the aiokafka consumer before it starts. That touches one private attribute of
aiokafka 0.14 / faust-streaming 0.15, both pinned in pyproject.toml.

:meth:`_TunedConsumer.perform_seek` stops the flow while Faust seeks the
partitions to their committed offsets, which closes a way Faust 0.15 stalled or
skipped messages when a worker (re)started on a backlog (see its docstring).
:meth:`_TunedConsumer._seek` runs a seek on the consumer thread that owns the
aiokafka consumer (Faust calls it from the main thread, racing the fetcher).
:mod:`streams.runtime.commit_watch` reports a worker that falls behind and
catches a commit that is really stuck. :func:`each_current` makes each event of
a batch current in turn, so that an agent taking batches can write its tables.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterator

import faust
from faust.exceptions import NotReady
from faust.transport.drivers import aiokafka as faust_aiokafka

from topis.settings import BrokerSettings, StreamSettings
from topis.topics import TopicSpec

log = logging.getLogger(__name__)


class _TunedConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport):  # noqa: ANN001 - Faust's signature
        consumer = super()._create_worker_consumer(transport)
        consumer._fetch_max_wait_ms = self.app.topis_fetch_max_wait_ms
        return consumer


class _TunedConsumer(faust_aiokafka.Consumer):
    def _new_consumer_thread(self) -> faust_aiokafka.AIOKafkaConsumerThread:
        return _TunedConsumerThread(self, loop=self.loop, beacon=self.beacon)

    async def perform_seek(self) -> None:
        """Faust's seek of every partition to its committed offset, with the flow stopped meanwhile.

        Faust's recovery resumes the stream partitions and then seeks them one
        by one (one broker round trip each) while the fetcher keeps delivering
        their records; records delivered from the old position during that
        window interleave with the seek's bookkeeping. With the embedded broker
        that left a partition's commit stuck, or skipped a message, in about a
        quarter of the restarts in tests/streams/test_enforcement_stream.py
        (CI's timeouts and a missing case); with the flow stopped, 0 of 17.
        """
        if not self.flow_active:
            await super().perform_seek()
            return
        self.stop_flow()
        try:
            await self.wait_for_stopped_flow()
            await super().perform_seek()
        finally:
            self.resume_flow()


    async def _seek(self, partition, offset: int) -> None:  # noqa: ANN001 - Faust's signature
        """Seek ``partition`` on the consumer thread, between two of its fetches.

        Faust 0.15's aiokafka driver seeks from the main thread on the consumer
        its consumer thread is fetching with; under load that races the fetcher
        and crashed workers with ``KeyError: TopicPartition`` in aiokafka's
        ``fetched_records``.
        """
        thread = self._thread

        async def seek_there() -> None:
            thread._ensure_consumer().seek(partition, offset)

        await thread.call_thread(seek_there)


class _TunedTransport(faust_aiokafka.Transport):
    Consumer = _TunedConsumer


class TopisApp(faust.App):
    """faust.App whose consumers use topis's fetch wait (see module docstring), and that counts its
    agents' crashes (:attr:`topis_agent_crashes`, reported on ``state.health``)."""

    topis_fetch_max_wait_ms: int = 100

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.topis_agent_crashes: dict[str, int] = {}  #: agent name -> crashes (Faust restarts the agent)

    def _new_transport(self) -> _TunedTransport:
        return _TunedTransport(self.conf.broker_consumer, self)

    async def _on_agent_error(self, agent: faust.types.AgentT, exc: BaseException) -> None:
        """Faust's hook for every agent's crash (faust-streaming 0.15): logged and counted, then Faust's own."""
        n = self.topis_agent_crashes[agent.name] = self.topis_agent_crashes.get(agent.name, 0) + 1
        log.error("agent %s crashed (%d so far); Faust starts it again", agent.name, n, exc_info=exc)
        await super()._on_agent_error(agent, exc)


def faust_config(broker: BrokerSettings, streams: StreamSettings) -> dict:
    """Faust settings for ``broker``: fast joins on the embedded broker, Kafka's norms elsewhere."""
    session_s, heartbeat_s, _ = broker.client_timing()
    return dict(
        broker=broker.url,
        store="memory://",
        value_serializer="raw",
        web_enabled=False,
        topic_allow_declare=True,
        topic_disable_leader=True,
        broker_session_timeout=session_s,
        broker_heartbeat_interval=heartbeat_s,
        broker_request_timeout=max(session_s * 2, 10.0),
        broker_rebalance_timeout=max(session_s * 2, 10.0),
        consumer_auto_offset_reset="earliest",  # a new group loses nothing retained
        processing_guarantee="at_least_once",
        # don't wait for in-flight events on shutdown/rebalance: they are not committed,
        # so they are redelivered, and every sink is idempotent (see PLATFORM_NOTES.md)
        stream_wait_empty=False,
        # outputs (events, predictions, read models) in a few produce requests, not one per send
        producer_linger=streams.producer_linger_s,
        producer_max_batch_size=512 * 1024,
        producer_compression_type=broker.compression_type,
        datadir=str(streams.data_dir / "faust"),
    )


def new_app(broker: BrokerSettings, streams: StreamSettings, **overrides) -> TopisApp:
    """An empty :class:`TopisApp` for ``broker`` (a kafka:// URL: start the embedded broker first)."""
    if broker.embedded:
        raise ValueError("a worker needs a kafka:// broker URL; start the embedded broker first")
    (streams.data_dir / "faust").mkdir(parents=True, exist_ok=True)
    app = TopisApp(streams.app_id, **{**faust_config(broker, streams), **overrides})
    app.topis_fetch_max_wait_ms = broker.client_timing()[2]
    return app


def agent(app: faust.App, channel: faust.TopicT, loop: Callable) -> faust.types.AgentT:
    """Declare ``loop`` (a domain object's bound ``async def method(self, stream)``) an agent on ``channel``.

    The agent is named ``<module>.<method>``, e.g. ``streams.live.agents.track_vehicles``. A
    crash (an exception out of the loop, not out of a fold: those are dead-lettered) is logged
    with its traceback and counted on the app (:meth:`TopisApp._on_agent_error`); Faust then
    starts the agent again. The agent's stream carries the name as ``topis_agent``.
    """
    name = f"{loop.__module__}.{loop.__name__}"

    @functools.wraps(loop)
    async def named(stream: faust.StreamT) -> None:
        stream.topis_agent = name  # for the sensors: whose event a stream's is (streams.runtime.health.StateLag)
        await loop(stream)

    return app.agent(channel, name=name)(named)


def timer(app: faust.App, every_s: float, tick: Callable) -> Callable:
    """Run ``tick`` (an ``async def`` of no arguments) on ``app`` every ``every_s`` seconds (:func:`skipping_not_ready`)."""
    return app.timer(every_s)(skipping_not_ready(tick))


def skipping_not_ready(tick: Callable) -> Callable:
    """``tick``, skipped with a log line when it finds the producer not started.

    That is the worker starting, or stopping for a restart or a broker recycle;
    Faust would take the ``NotReady`` out of a timer for a crash of the whole
    worker (seen in a soak: a planner-input tick as a recycle stopped the worker).
    """

    @functools.wraps(tick)
    async def guarded() -> None:
        try:
            await tick()
        except NotReady as exc:
            log.info("%s: skipped a tick: %s", tick.__qualname__, exc)

    return guarded


def each_current(stream: faust.StreamT, events: list) -> Iterator:
    """Each event of a ``stream.take_events()`` batch in turn, made the stream's current event.

    Faust writes a table key to the changelog partition of the current event and
    refuses a write with none ("Cannot modify table key from outside of stream
    iteration"); in a batch there is none until this sets it (``Stream._set_current_event``,
    faust-streaming 0.15, pinned).
    """
    for event in events:
        stream._set_current_event(event)
        yield event


def topic(app: faust.App, spec: TopicSpec) -> faust.TopicT:
    """The topic of ``spec`` on ``app``, with raw bytes keys and values (agents decode with topis.wire)."""
    return app.topic(spec.name, value_type=bytes, key_type=bytes)


class QuietWorker(faust.Worker):
    """A Faust worker without the start-up spinner.

    Faust 0.15 keeps a terminal spinner whenever the log level is WARN or above, and
    sets the *root* logger to DEBUG so that the spinner turns on every record: every
    aiokafka debug line then builds a ``LogRecord`` per message produced and fetched
    (~4 % of a worker at Seoul scale, measured with py-spy). Without the spinner the
    root logger keeps the level asked for.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.spinner = None

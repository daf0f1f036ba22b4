"""``topis plan live KIND`` and ``topis plan request KIND``: plans from the live aggregates of a running system.

``request`` asks the workers' planning agent for a plan now (one message on
``plans.requests``; the plan appears on the dashboard's Plans page).

``live`` computes one in this process, without the dashboard: it reads ``demand.squirrel``, ``demand.owl`` and ``traffic.link_speeds`` from
their beginning up to their end now (a plain consumer: no group, nothing
committed), folds them exactly as the planning agent does
(:class:`streams.planning.live.LivePlanner`: newest profile per route, newest
night OD, recent link speeds and the city clock), builds the agent's
:class:`streams.planning.live.PlanJob` and runs :func:`streams.planning.live.run_job` in
this process. The network is the workers' own feed
(:func:`streams.bus.network.network_feed`, from ``TOPIS_STREAMS_GTFS_DIR`` or the
demo city of ``TOPIS_CITY_SEED`` / ``TOPIS_CITY_SCALE``), or ``--gtfs DIR``.
"""

from __future__ import annotations

import logging
import sys
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path

import click

from topis.options import bad_parameter, broker_option, external_broker, gtfs_option

log = logging.getLogger(__name__)

#: CSV columns of each plan kind's own rows (as ``topis plan headways|squirrel|owl --out-csv``)
CSV_COLUMNS = {
    "headways": ["route", "buses", "headway_min", "boardings_per_h", "cycle_time_min"],
    "squirrel": ["route", "sequence", "stop", "headway_min", "parent", "buses"],
    "owl": ["route", "sequence", "stop", "headway_min", "buses"],
}
#: the plan kinds the planning agent computes
PLAN_KINDS = tuple(CSV_COLUMNS)
#: help of ``--broker`` on the commands that talk to the workers
WORKERS_BROKER_HELP = "Kafka cluster the workers use (default: $TOPIS_BROKER)."


@dataclass
class ReadCounts:
    """What :func:`read_inputs` saw: messages per topic, and those it could not decode."""

    by_topic: dict[str, int] = field(default_factory=dict)
    undecodable: int = 0
    complete: bool = True  #: False when the timeout came before every partition's end


def fold_record(planner, topic: str, key: bytes | None, value: bytes, now: float) -> None:
    """Fold one planner-input record into ``planner`` as the planning agents do.

    Raises
    ------
    msgspec.DecodeError
        The value is not the topic's message.
    """
    import msgspec

    from topis import topics
    from topis.wire import key_text

    route_id = key_text(key)
    if topic == topics.DEMAND_SQUIRREL.name:
        planner.note_squirrel(route_id, value, now)
    elif topic == topics.DEMAND_OWL.name:
        planner.note_owl(value, now)
    elif topic == topics.LINK_SPEEDS.name:
        planner.note_speeds(route_id, msgspec.json.decode(value, type=list[dict]))


def read_inputs(servers: list[str], planner, timeout_s: float, fetch_max_wait_ms: int = 100,
                progress: bool = False) -> ReadCounts:
    """Read the planner-input topics from their beginning to their end now into ``planner``.

    Partitions are assigned (no consumer group). A partition is done when
    its position has reached its end offset as listed when reading starts
    and a poll then brings it nothing more: the embedded broker (Tansu) lists
    the end as the last record *batch*'s base offset + 1, short of the last
    records of that batch. Records published meanwhile are folded too (they
    are newer inputs). Stops when every partition is done or after
    ``timeout_s`` (then ``complete`` is False).
    """
    import msgspec
    from kafka import KafkaConsumer, TopicPartition
    from tqdm import tqdm

    from topis import topics

    names = (topics.DEMAND_SQUIRREL.name, topics.DEMAND_OWL.name, topics.LINK_SPEEDS.name)
    counts = ReadCounts({n: 0 for n in names})
    consumer = KafkaConsumer(bootstrap_servers=servers, enable_auto_commit=False, group_id=None,
                             fetch_max_wait_ms=fetch_max_wait_ms, request_timeout_ms=max(5000, fetch_max_wait_ms + 1000))
    try:
        parts = [TopicPartition(n, p) for n in names for p in sorted(consumer.partitions_for_topic(n) or ())]
        if not parts:
            return counts
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        end = consumer.end_offsets(parts)
        left = {tp: e for tp, e in end.items() if consumer.position(tp) < e}
        total = sum(e - consumer.position(tp) for tp, e in left.items())
        deadline = time.monotonic() + timeout_s
        with tqdm(total=total, desc="reading", unit="msg", disable=not progress) as bar:
            while left and time.monotonic() < deadline:
                polled = consumer.poll(timeout_ms=500)
                for tp, records in polled.items():
                    for r in records:
                        counts.by_topic[tp.topic] += 1
                        try:
                            fold_record(planner, tp.topic, r.key, r.value, time.time())
                        except (msgspec.DecodeError, UnicodeDecodeError) as exc:
                            counts.undecodable += 1
                            log.warning("%s: ignored a message of %r: %s", tp.topic, r.key, exc)
                    bar.update(len(records))
                for tp in [tp for tp in left if not polled.get(tp) and consumer.position(tp) >= end[tp]]:
                    del left[tp]
        counts.complete = not left
        return counts
    finally:
        consumer.close()


# --- printing ----------------------------------------------------------------------------------


def _fmt(x) -> str:
    if x is None:
        return "-"
    if isinstance(x, float):
        text = f"{x:,.1f}" if abs(x) >= 100 else f"{x:.2f}"
        return text.rstrip("0").rstrip(".") if "." in text else text
    return str(x)


def table_lines(proposal: dict) -> list[str]:
    """Readable lines of a ``plans.proposed`` dict: per route current vs proposed, then the KPIs."""
    kind = proposal["kind"]
    cur, new = proposal["current"]["rows"], proposal["proposed"]["rows"]
    lines = [proposal["title"]]
    if kind == "headways":
        now = {r["route"]: r for r in cur}
        lines.append(f"{'route':<12}{'buses now':>10}{'proposed':>10}{'headway now':>13}{'proposed':>10}"
                     f"{'boardings/h':>13}{'cycle min':>11}")
        for r in new:
            c = now.get(r["route"], {})
            lines.append(f"{r['route']:<12}{_fmt(c.get('buses')):>10}{r['buses']:>10}{_fmt(c.get('headway_min')):>13}"
                         f"{_fmt(r['headway_min']):>10}{_fmt(r['boardings_per_h']):>13}{_fmt(r['cycle_time_min']):>11}")
    else:
        plan_rows = [r for r in new if "sequence" in r]
        now = f"now: {len(cur)} routes: " + ", ".join(f"{r['route']} ({r['buses']} buses every "
                                                       f"{_fmt(r['headway_min'])} min)" for r in cur)
        lines += textwrap.wrap(now, width=110, subsequent_indent="  ", break_long_words=False)
        label = "short turns" if kind == "squirrel" else "night routes"
        routes = list(dict.fromkeys(r["route"] for r in plan_rows))
        lines.append(f"proposed {label}: {len(routes)}" + ("" if routes else " (none needed or possible)"))
        parent = kind == "squirrel"
        if routes:
            lines.append(f"{'route':<14}{'parent' if parent else '':<10}{'stops':>6}  {'first - last stop':<28}"
                         f"{'buses':>6}{'headway min':>13}")
        for name in routes:
            rows = [r for r in plan_rows if r["route"] == name]
            ends = f"{rows[0]['stop']} - {rows[-1]['stop']}"
            lines.append(f"{name:<14}{rows[0].get('parent', '') if parent else '':<10}{len(rows):>6}  {ends:<28}"
                         f"{rows[0]['buses']:>6}{_fmt(rows[0]['headway_min']):>13}")
    lines.append(f"{'KPI':<32}{'current':>12}{'proposed':>12}  unit (better)")
    for name, k in proposal["kpis"].items():
        lines.append(f"{name:<32}{_fmt(k['current']):>12}{_fmt(k['proposed']):>12}  {k['unit']} ({k['better']})")
    return lines


def write_outputs(proposal: dict, out_csv: Path | None, out_geojson: Path | None, out_json: Path | None) -> list[Path]:
    """Write the requested files of a proposal; returns the paths written."""
    import msgspec

    from optimizer import exports
    from topis import wire

    written = []
    if out_csv:
        rows = [r for r in proposal["proposed"]["rows"] if proposal["kind"] == "headways" or "sequence" in r]
        exports.write_csv(out_csv, rows, CSV_COLUMNS[proposal["kind"]])
        written.append(out_csv)
    if out_geojson:
        exports.write_geojson(out_geojson, proposal["proposed"].get("geojson")
                              or {"type": "FeatureCollection", "features": []})
        written.append(out_geojson)
    if out_json:
        body = msgspec.json.Encoder(enc_hook=wire.plain).encode(proposal)
        out_json.write_bytes(msgspec.json.format(body, indent=2) + b"\n")
        written.append(out_json)
    return written


# --- command -----------------------------------------------------------------------------------


def _broker_servers(broker_url: str | None) -> tuple[str, list[str], int]:
    settings = external_broker(broker_url)
    return settings.url, settings.bootstrap_servers, settings.client_timing()[2]


def _feed(gtfs: Path | None):
    from streams.bus.gtfs import GtfsError
    from streams.bus.network import network_feed
    from topis.settings import CitySettings, StreamSettings

    streams = StreamSettings()
    if gtfs is not None:
        streams = streams.model_copy(update={"gtfs_dir": gtfs})
    with bad_parameter("--gtfs", GtfsError):
        return network_feed(streams, CitySettings()), streams


def _check_inputs(kind: str, planner, counts: ReadCounts, interval_s: float) -> None:
    from topis import topics

    topic = topics.DEMAND_OWL.name if kind == "owl" else topics.DEMAND_SQUIRREL.name
    have = planner.owl is not None if kind == "owl" else bool(planner.squirrel)
    if have:
        return
    seen = counts.by_topic.get(topic, 0)
    if seen and kind != "owl":
        raise click.ClickException(f"{seen} message(s) on {topic}, none for a route of this network: is the workers' "
                                   "city the same (TOPIS_CITY_SEED / TOPIS_CITY_SCALE, TOPIS_STREAMS_GTFS_DIR or "
                                   "--gtfs)?")
    raise click.ClickException(f"no demand message on {topic} yet: the workers publish it every "
                               f"TOPIS_STREAMS_AGGREGATE_INTERVAL_S ({interval_s:g} s) once card taps arrive"
                               + (" (night demand: journeys starting 00-05 h)" if kind == "owl" else ""))


@click.command()
@click.argument("kind", type=click.Choice(PLAN_KINDS))
@broker_option(WORKERS_BROKER_HELP)
@gtfs_option("GTFS feed of the network (default: the workers' own, TOPIS_STREAMS_GTFS_DIR or the demo city).")
@click.option("--timeout", "timeout_s", default=30.0, show_default=True, type=click.FloatRange(min=0, min_open=True),
              help="Longest time to read the topics, seconds.")
@click.option("--out-csv", type=click.Path(dir_okay=False, path_type=Path),
              help="The plan's rows: route,buses,headway_min,... (headways) or route,sequence,stop,headway_min,...")
@click.option("--out-geojson", type=click.Path(dir_okay=False, path_type=Path),
              help="The proposed lines (squirrel, owl).")
@click.option("--json", "out_json", type=click.Path(dir_okay=False, path_type=Path),
              help="The whole proposal as published on plans.proposed (current, proposed, KPIs).")
def live(kind, broker_url, gtfs, timeout_s, out_csv, out_geojson, out_json):
    """Plan KIND now from the live demand aggregates of a running system.

    Reads demand.squirrel, demand.owl and traffic.link_speeds from the
    workers' broker up to their current end, keeps the newest of each as the
    planning agent does, and computes the same plan the agent would publish:
    headways re-shares the buses running now by the boardings seen; squirrel
    proposes rush-hour short turns; owl a night network for tonight's fleet.
    Prints current vs proposed per route and the KPIs; nothing is published.

    \b
    Example (with `topis up` running; its first line shows the broker):
        topis plan live headways --broker kafka://127.0.0.1:PORT --out-csv headways.csv
        topis plan live squirrel --broker kafka://127.0.0.1:PORT --out-geojson sq.geojson --json sq.json
    """
    from kafka.errors import KafkaError

    from optimizer.headways import InfeasibleFleet
    from optimizer.live import NoPlan
    from streams.planning import live as planning
    from streams.planning.live import LivePlanner
    from topis.broker import BrokerError, wait_until_answers

    if out_geojson and kind == "headways":
        raise click.UsageError("a headway plan has no lines: --out-geojson is for squirrel and owl plans")
    url, servers, fetch_wait_ms = _broker_servers(broker_url)
    progress = sys.stderr.isatty()
    try:
        wait_until_answers(servers, timeout_s=min(max(timeout_s, 1.0), 10.0))
    except BrokerError as exc:
        raise click.ClickException(f"cannot reach the broker {url}: {exc}") from None
    click.echo("loading the network...", err=True)
    feed, streams = _feed(gtfs)
    planner = LivePlanner(feed, streams)
    click.echo(f"reading the planner inputs from {url}...", err=True)
    try:
        counts = read_inputs(servers, planner, timeout_s, fetch_wait_ms, progress)
    except KafkaError as exc:
        raise click.ClickException(f"reading from {url} failed: {exc}") from None
    if counts.undecodable:
        click.echo(f"warning: ignored {counts.undecodable} message(s) that are not planner inputs (see the log)",
                   err=True)
    if not counts.complete:
        click.echo(f"warning: not every partition read to its end within {timeout_s:g} s; planning on what came",
                   err=True)
    _check_inputs(kind, planner, counts, streams.aggregate_interval_s)
    job = planner.job(kind, time.time())
    click.echo(f"computing the {kind} plan for {job.label} ({len(planner.squirrel)} routes with demand"
               f"{', night OD' if planner.owl is not None else ''}, {len(job.speeds_kph)} live speeds)...", err=True)
    try:
        proposal = planning.run_job(job)
    except (NoPlan, InfeasibleFleet) as exc:
        raise click.ClickException(f"no {kind} plan: {exc}") from None
    for line in table_lines(proposal):
        click.echo(line)
    for path in write_outputs(proposal, out_csv, out_geojson, out_json):
        click.echo(f"wrote {path}")


@click.command()
@click.argument("kind", type=click.Choice(PLAN_KINDS))
@broker_option(WORKERS_BROKER_HELP)
@click.option("--by", "requested_by", default="", help="Who asks (shown in the worker's log).")
def request(kind, broker_url, requested_by):
    """Ask the running workers to re-plan KIND now from the live demand.

    Sends {"kind", "requested_by", "ts"} to the plans.requests topic; the
    planning agent computes the plan in its process pool and publishes it
    to plans.proposed, where the dashboard's Plans page shows it (a Squirrel
    plan needs rush-hour demand, an Owl plan night demand, 00-05 h).

    \b
    Example (with `topis up` running; its first line shows the broker):
        TOPIS_BROKER=kafka://127.0.0.1:PORT topis plan request squirrel
    """
    import getpass

    from kafka.errors import KafkaError

    from topis import topics
    from topis.publish import Publisher

    settings = external_broker(broker_url)
    from topis.schemas.plans import PlanRequest
    from topis.wire import encode

    body = encode(PlanRequest(kind, requested_by or getpass.getuser(), time.time()))
    try:
        with Publisher(settings.bootstrap_servers) as publisher:
            publisher.send_raw(topics.PLAN_REQUESTS.name, kind, body)
    except KafkaError as exc:
        raise click.ClickException(f"could not send to {settings.url}: {exc}") from None
    click.echo(f"asked for a {kind} plan on {topics.PLAN_REQUESTS.name}; it appears on the Plans page when done")

"""``topis replay``: a recorded AVL trace through the same topics and agents as live data."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import click


@click.command()
@click.option("--gtfs", "gtfs_dir", required=True, type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="GTFS static feed of the routes in the trace.")
@click.option("--avl", "avl_path", required=True, type=click.Path(exists=True, path_type=Path),
              help="Trace: canonical CSV, TheTransitClock CSV, or GTFS-realtime .pb file/folder.")
@click.option("--speed", type=click.FloatRange(min=0.1), help="Replay at this multiple of real time (default: as fast as possible).")
@click.option("--predictions-out", type=click.Path(dir_okay=False, path_type=Path),
              help="Write every prediction the agents made: vehicle_id,trip_id,stop_id,stop_sequence,made_at,predicted_arrival.")
@click.option("--broker", "broker_url", envvar="TOPIS_BROKER", metavar="kafka://HOST:PORT",
              help="Use this Kafka cluster (default: start the embedded broker).")
def replay(gtfs_dir: Path, avl_path: Path, speed: float | None, predictions_out: Path | None,
           broker_url: str | None) -> None:
    """Replay an AVL trace through Kafka and a Faust worker, as if it were live.

    \b
    Example (a WMATA bus against TheTransitClock's own predictions):
        topis replay --gtfs ../shared/data/avl/wmata_transitclock_2016/gtfs/S2 \\
            --avl ../shared/data/avl/wmata_transitclock_2016/traces/S2_2113.csv --predictions-out s2.csv
        topis accuracy --gtfs ../shared/data/avl/wmata_transitclock_2016/gtfs/S2 \\
            --avl ../shared/data/avl/wmata_transitclock_2016/traces/S2_2113.csv --predictions s2.csv
    """
    from streams.bus import avl_files
    from streams.bus import replay as rp
    from streams.bus.accuracy import write_predictions_csv
    from streams.bus.gtfs import GtfsError, load_feed
    from topis.broker import BrokerError, running_broker
    from topis.settings import BrokerSettings

    try:
        feed = load_feed(gtfs_dir)
        fixes = avl_files.read_avl(avl_path, tz=feed.tz)
    except (GtfsError, avl_files.AvlFormatError) as exc:
        raise click.ClickException(str(exc)) from None
    blocks = avl_files.block_assignments(avl_path) if avl_files.sniff_format(avl_path) == "transitclock" else None
    routed = rp.assign_routes(feed, fixes, blocks)
    if not routed.fixes:
        raise click.ClickException(f"none of the {len(fixes)} fixes could be placed on a route of {gtfs_dir}")
    click.echo(f"{len(routed.fixes)} fixes on {len({f.route_id for f in routed.fixes})} route(s); "
               f"{routed.unrouted} not on any route of the feed")
    try:
        settings = BrokerSettings(url=broker_url) if broker_url else BrokerSettings(url="embedded")
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--broker") from None
    try:
        with running_broker(settings) as broker:
            predictions, wall_s = _run(broker, gtfs_dir, routed.fixes, speed)
    except (BrokerError, TimeoutError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"replayed {len(routed.fixes)} fixes in {wall_s:.1f} s ({len(routed.fixes) / wall_s:,.0f} fixes/s "
               f"through Kafka and the worker, from first publish to last prediction); {len(predictions)} predictions")
    if predictions_out:
        write_predictions_csv(predictions_out, sorted(predictions, key=lambda p: p.made_at_ts), feed.tz)
        click.echo(f"predictions written to {predictions_out}")


def _run(broker, gtfs_dir: Path, fixes, speed: float | None):
    from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition

    from streams.bus import replay as rp
    from topis import topics
    from topis.broker import acked_end_offsets, group_lag
    from topis.publish import Publisher

    group = f"replay-{uuid.uuid4().hex[:8]}"
    consumer = KafkaConsumer(bootstrap_servers=broker.bootstrap_servers, group_id=None, fetch_max_wait_ms=100)
    parts = [TopicPartition(topics.BUS_PREDICTIONS.name, p) for p in range(topics.BUS_PREDICTIONS.partitions)]
    consumer.assign(parts)
    consumer.seek_to_end(*parts)  # only this replay's predictions
    for tp in parts:
        consumer.position(tp)
    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap_servers)
    with tempfile.TemporaryDirectory(prefix="topis-replay-") as data_dir:
        env = {**os.environ, "TOPIS_BROKER": broker.url, "TOPIS_STREAMS_APP_ID": group,
               "TOPIS_STREAMS_DATA_DIR": data_dir}
        worker = subprocess.Popen([sys.executable, "-m", "topis", "worker", "--gtfs", str(gtfs_dir)], env=env)
        try:
            wait_until_consuming(admin, group, broker.bootstrap_servers, worker)
            t0 = time.monotonic()
            with Publisher(broker.bootstrap_servers) as publisher:
                publisher.keep_acks = True
                rp.publish_trace(publisher, fixes, speed)
                end = acked_end_offsets(publisher.acked())

            def done() -> bool:
                if worker.poll() is not None:
                    raise click.ClickException(f"the worker exited with code {worker.returncode}")
                return group_lag(admin, group, end) == 0

            predictions, last_at = rp.collect_predictions(consumer, done)
            wall_s = (last_at or time.monotonic()) - t0  # first publish to the last prediction's arrival
        finally:
            worker.terminate()
            worker.wait(60)
            admin.close()
            consumer.close()
    return predictions, wall_s


def wait_until_consuming(admin, group: str, servers: list[str], worker, timeout_s: float = 300.0) -> None:
    """Send an empty position batch and wait until the worker has committed it (it is then consuming)."""
    from topis import topics, wire
    from topis.broker import acked_end_offsets, wait_until_committed
    from topis.publish import Publisher
    from topis.schemas.inputs import PositionBatch

    with Publisher(servers) as publisher:
        publisher.keep_acks = True
        publisher.send_raw(topics.BUS_POSITIONS.name, "warm-up", wire.encode(PositionBatch([])))
        publisher.flush()
        end = acked_end_offsets(publisher.acked())
    try:
        wait_until_committed(admin, group, end, timeout_s, consumer_process=worker)
    except ChildProcessError as exc:
        raise click.ClickException(str(exc)) from None
    except TimeoutError:
        raise TimeoutError(f"the worker did not start consuming within {timeout_s:.0f} s") from None

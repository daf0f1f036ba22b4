"""The run-the-city commands: ``topis up``, ``broker``, ``worker``, ``simulate``, ``dashboard``."""

from __future__ import annotations

import os
import signal
import time
import urllib.error
import urllib.request
from pathlib import Path

import click

from topis.options import (
    broker_option,
    broker_settings,
    city_seed_option,
    external_broker,
    gtfs_option,
    quiet_kafka_logs,
    scale_option,
)
from topis.settings import BrokerSettings, DashboardSettings, Settings


@click.command()
@click.option("--port", type=click.IntRange(1, 65535), help="Loopback port for the embedded broker (default: a free one).")
def broker(port: int | None) -> None:
    """Run the embedded Kafka-protocol broker (Tansu, in memory) until Ctrl-C.

    \b
    Example:
        topis broker --port 9092
        TOPIS_BROKER=kafka://127.0.0.1:9092 topis worker
    """
    from topis.broker import BrokerError, running_broker

    quiet_kafka_logs()
    try:
        with running_broker(BrokerSettings(), port=port) as b:
            click.echo(f"broker ready at {b.url} (in memory; Ctrl-C stops it and loses its data)")
            try:
                while b.process.poll() is None:
                    time.sleep(0.5)
            except KeyboardInterrupt:
                return
            raise click.ClickException(f"broker exited with code {b.process.returncode}")
    except BrokerError as exc:
        raise click.ClickException(str(exc)) from None


@click.command()
@broker_option()
@gtfs_option("GTFS feed of the bus network (default: the demo city's).", name="gtfs_dir")
@click.option("--loglevel", default="warning", show_default=True,
              type=click.Choice(["debug", "info", "warning", "error"]), help="Faust log level.")
def worker(broker_url: str | None, gtfs_dir: Path | None, loglevel: str) -> None:
    """Run a Faust stream worker: consumes positions, taps and plate reads, keeps the live state.

    Start more workers (same command, same broker) to share the partitions.

    \b
    Example:
        topis worker --broker kafka://127.0.0.1:9092
    """
    from streams.runtime.app import QuietWorker
    from streams.worker import build_app

    config = Settings.load(broker=external_broker(broker_url))
    streams = config.streams
    if gtfs_dir:
        streams = streams.model_copy(update={"gtfs_dir": gtfs_dir})
    app = build_app(config.broker, streams, config.city, config.enforcement)
    QuietWorker(app, loglevel=loglevel, quiet=True).execute_from_commandline()


@click.command()
@broker_option()
@click.option("--speed", type=click.FloatRange(min=0.1), help="Simulated seconds per real second (default 10).")
@click.option("--seed", type=int, help="Traffic/passenger seed (default 1).")
@city_seed_option()
@scale_option("City size; 18.5 ≈ Seoul (default 1).")
@click.option("--start", "start_time", metavar="HH:MM", help="Local (KST) time the simulated day starts (default 07:30).")
@click.option("--date", "start_date", metavar="YYYY-MM-DD", help="Local date to simulate (default: next weekday).")
@click.option("--duration", "duration_s", type=click.FloatRange(min=0), help="Stop after this many simulated seconds.")
@click.option("--record", type=click.Path(dir_okay=False), help="Also record every message to this file.")
@click.option("--truth-out", type=click.Path(file_okay=False),
              help="Keep the ground truth (true stop visits, violations, taxi fixes with their true link and "
                   "link speed) and write it here at the end.")
@click.option("--taxis-per-scale", type=click.FloatRange(min=0),
              help="Taxis per unit of --scale (default ~3,784: 70,000 at 18.5); 0 = no taxis.")
@click.option("--replay", type=click.Path(exists=True, dir_okay=False), help="Publish a recorded file instead of simulating.")
def simulate(broker_url, speed, seed, city_seed, scale, start_time, start_date, duration_s, record, truth_out,
             taxis_per_scale, replay) -> None:
    """Simulate the demo city (buses, passengers, cars at cameras, taxis) and publish it to Kafka.

    \b
    Examples:
        topis simulate --broker kafka://127.0.0.1:9092 --speed 60
        topis simulate --broker kafka://127.0.0.1:9092 --duration 3600 --record morning.jsonl --truth-out truth/
        topis simulate --broker kafka://127.0.0.1:9092 --replay morning.jsonl --speed 10
    """
    from topis.sim import feeder

    config = Settings.load(broker=external_broker(broker_url))
    settings = config.broker
    quiet_kafka_logs()
    sim = config.sim.model_copy(update={k: v for k, v in dict(
        speed=speed, seed=seed, start_time=start_time, start_date=start_date,
        taxis_per_scale=taxis_per_scale).items() if v is not None})
    city = config.city.model_copy(update={k: v for k, v in dict(seed=city_seed, scale=scale).items() if v is not None})
    try:
        if replay:
            feeder.replay_recording(settings.bootstrap_servers, replay, sim.speed)
        else:
            feeder.run_simulation(settings.bootstrap_servers, city, sim, duration_s=duration_s, record_path=record,
                                  truth_dir=truth_out)
    except feeder.FeederError as exc:
        raise click.ClickException(str(exc)) from None
    except KeyboardInterrupt:
        click.echo("simulator stopped")


@click.command()
@broker_option()
@click.option("--host", help="Interface to listen on (default 127.0.0.1).")
@click.option("--port", type=click.IntRange(1, 65535), help="HTTP port (default 8050).")
@city_seed_option()
@scale_option("Demo city size (default 1).")
def dashboard(broker_url, host, port, city_seed, scale) -> None:
    """Serve the wall display and the control-room pages over HTTP (waitress, DashboardSettings.threads threads).

    \b
    Example:
        topis dashboard --broker kafka://127.0.0.1:9092 --port 8050
    """
    from dashboard.app import build_app
    from dashboard.readmodel import ReadModel
    from dashboard.serve import wsgi_server
    from topis.city.export import city_geojson
    from topis.city.generate import generate_city
    from topis.geo import Projection

    config = Settings.load(broker=external_broker(broker_url))
    broker = config.broker
    quiet_kafka_logs()
    settings = config.dashboard.model_copy(update={k: v for k, v in dict(host=host, port=port).items() if v})
    city_settings = config.city.model_copy(
        update={k: v for k, v in dict(seed=city_seed, scale=scale).items() if v is not None})
    city = generate_city(seed=city_settings.seed, scale=city_settings.scale)
    read_model = ReadModel(broker.bootstrap_servers, broker.client_timing()[2]).start()
    app = build_app(settings, city_geojson(city), Projection(city.center_lat, city.center_lon), read_model,
                    desk_settings=config.desk, enforcement=config.enforcement,
                    demo_city=config.streams.gtfs_dir is None)  # a GTFS feed configured: a real city
    server = wsgi_server(app.server, settings)
    click.echo(f"wall display at http://{settings.host}:{settings.port}")
    try:
        server.run()  # until Ctrl-C (SIGINT, which `topis up` sends to stop it)
    except KeyboardInterrupt:
        pass
    finally:
        server.task_dispatcher.shutdown()
        server.close()
        click.echo("dashboard stopped")


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


class _AnnounceWall:
    """Prints the wall's address once it answers (checked each supervisor round, for up to ``timeout_s``)."""

    def __init__(self, url: str, timeout_s: float = 120.0):
        self.url, self.deadline_s, self.done = url, time.monotonic() + timeout_s, False

    def __call__(self) -> None:
        if self.done:
            return
        if _answers(self.url):
            click.echo(f"\nwall display: {self.url}   (Ctrl-C stops everything)")
            self.done = True
        elif time.monotonic() > self.deadline_s:
            click.echo(f"\nthe wall display at {self.url} does not answer yet; see the dashboard's output above")
            self.done = True


@click.command()
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 8), help="Faust worker processes.")
@click.option("--speed", type=click.FloatRange(min=0.1), help="Simulated seconds per real second (default 10).")
@scale_option("Demo city size; 18.5 ≈ Seoul (default 1).")
@click.option("--no-simulator", is_flag=True, help="Do not start the simulator (feed the topics yourself).")
@broker_option()
def up(workers: int, speed, scale, no_simulator: bool, broker_url: str | None) -> None:
    """Start everything: broker, simulator, workers and the wall display. Ctrl-C stops it all.

    With no settings the embedded broker is started on a free loopback port;
    with --broker/TOPIS_BROKER the given Kafka cluster is used instead.
    A process that dies is started again (with back-off); the embedded broker
    is restarted if it dies and recycled when its memory passes
    [broker] memory_budget_mb (default 2048).

    \b
    Examples:
        topis up
        topis up --workers 2 --speed 60
        topis up --broker kafka://kafka-1:9092,kafka-2:9092 --no-simulator
    """
    from topis.broker import BrokerError, running_broker
    from topis.cli import supervise

    quiet_kafka_logs()
    signal.signal(signal.SIGTERM, _interrupt)  # `kill` stops everything as cleanly as Ctrl-C
    settings = broker_settings(broker_url)
    dash_settings = DashboardSettings()
    url = f"http://{dash_settings.host}:{dash_settings.port}"
    try:
        with running_broker(settings) as b:
            kind = "embedded Tansu broker" if b.embedded else "Kafka cluster"
            click.echo(f"broker     {kind} at {b.url}")
            env = {**os.environ, "TOPIS_BROKER": b.url}
            if scale:
                env["TOPIS_CITY_SCALE"] = str(scale)
            if speed:
                env["TOPIS_SIM_SPEED"] = str(speed)
            children = [supervise.Child(f"worker-{i + 1}", supervise.topis_argv("worker")) for i in range(workers)]
            children.append(supervise.Child("dashboard", supervise.topis_argv("dashboard")))
            if not no_simulator:
                children.append(supervise.Child("simulator", supervise.topis_argv("simulate")))
            supervisor = supervise.Supervisor(
                children, env, broker=b.embedded_broker, memory_budget_bytes=settings.memory_budget_mb * 1_000_000,
                group=Settings.load().streams.app_id, status=supervise.StatusBoard(b.bootstrap_servers))
            _run_children(supervisor, url, supervise)
    except BrokerError as exc:
        raise click.ClickException(str(exc)) from None


def _run_children(supervisor, url: str, supervise) -> None:
    try:
        supervisor.start()
        for child in supervisor.children:
            click.echo(f"{child.name:<10} pid {child.process.pid}")
        supervisor.run(tick=_AnnounceWall(url))
    except supervise.StartupError as exc:
        raise click.ClickException(str(exc)) from None
    except KeyboardInterrupt:
        click.echo("\nstopping ...")
    finally:
        supervise.stop_all(supervisor.children)
        if supervisor.status is not None:
            supervisor.status.close()
        click.echo("stopped: " + ", ".join(f"{c.name} ({c.exit_code})" for c in supervisor.children))

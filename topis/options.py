"""Options and argument checks that several ``topis`` subcommands share.

Each command module (``topis.cli.commands``, ``streams.*.cli``) takes its
``--broker``, ``--gtfs``, ``--city-seed`` and ``--city-scale`` from here, so one flag means one thing everywhere and
a bad value gets the same message from every command. Only click is imported
at module level: a command's ``--help`` must not start pydantic, numpy or Kafka.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from topis.city.model import City
    from topis.settings import BrokerSettings

BROKER_METAVAR = "kafka://HOST:PORT[,HOST:PORT]"


def broker_option(help: str = "Kafka cluster to use (default: $TOPIS_BROKER)."):
    """``--broker`` (parameter ``broker_url``, else ``$TOPIS_BROKER``); ``help`` says what it is used for."""
    return click.option("--broker", "broker_url", envvar="TOPIS_BROKER", metavar=BROKER_METAVAR, help=help)


def gtfs_option(help: str, *, required: bool = False, name: str = "gtfs"):
    """``--gtfs DIR``: an existing GTFS feed folder, passed as a Path in parameter ``name``."""
    return click.option("--gtfs", name, required=required, help=help,
                        type=click.Path(exists=True, file_okay=False, path_type=Path))


def city_seed_option(help: str = "Demo city seed (default 7)."):
    """``--city-seed N``: the demo city of this seed (None when not given)."""
    return click.option("--city-seed", type=int, help=help)


def city_scale_option():
    """``--city-scale X`` (default 1) of a command that builds the demo city of ``--city-seed``."""
    return click.option("--city-scale", type=float, default=1.0, show_default=True, help="Scale of the demo city.")


def network_source_options(gtfs_help: str, city_seed_help: str):
    """``--gtfs DIR``, ``--city-seed N`` and ``--city-scale X``: a network from a feed, or the demo city."""

    def decorate(fn):
        return gtfs_option(gtfs_help)(city_seed_option(city_seed_help)(city_scale_option()(fn)))

    return decorate


def scale_option(help: str):
    """``--scale X`` of the run-the-city commands: the size of the demo city, None for the settings' own."""
    return click.option("--scale", type=click.FloatRange(min=0.05, max=40), help=help)


@contextmanager
def bad_parameter(param_hint: str, *errors: type[Exception]) -> Iterator[None]:
    """Turn ``errors`` raised in the block into a ``click.BadParameter`` of ``param_hint`` (exit code 2).

    For input a file or flag names that cannot be read, e.g.
    ``with bad_parameter("--gtfs", GtfsError): feed = load_feed(path)``.
    """
    try:
        yield
    except errors as exc:
        raise click.BadParameter(str(exc), param_hint=param_hint) from exc


def demo_city(seed: int, scale: float) -> City:
    """The demo city of ``--city-seed`` and ``--city-scale`` (a scale it cannot build is a bad ``--city-scale``)."""
    from topis.city.generate import generate_city

    with bad_parameter("--city-scale", ValueError):
        return generate_city(seed=seed, scale=scale)


def quiet_kafka_logs() -> None:
    """Keep the Kafka clients' connection chatter out of a command's output unless -vv asked for debug."""
    if logging.getLogger().level > logging.DEBUG:
        for name in ("kafka", "aiokafka"):
            logging.getLogger(name).setLevel(logging.WARNING)


def broker_settings(broker_url: str | None, *, default_url: str | None = None) -> BrokerSettings:
    """Broker settings of a ``--broker`` value; without one, ``default_url`` or else the settings' own.

    Raises
    ------
    click.BadParameter
        The URL (given, or from the settings) is not ``embedded`` or ``kafka://HOST:PORT[,HOST:PORT]``.
    """
    from topis.settings import BrokerSettings

    url = broker_url or default_url
    try:
        return BrokerSettings(url=url) if url else BrokerSettings()
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--broker") from None


def external_broker(broker_url: str | None) -> BrokerSettings:
    """Broker settings for a command that needs an already running broker (click errors otherwise)."""
    settings = broker_settings(broker_url)
    if settings.embedded:
        raise click.UsageError(
            "this command needs a running broker: pass --broker kafka://HOST:PORT (or set TOPIS_BROKER); "
            "`topis up` prints the one it started on its first line, `topis broker` starts one"
        )
    return settings

"""The ``topis`` command line: one entry point for people, subcommands per job.

Subcommands live beside the code they drive and are imported only when
called, so ``topis --help`` stays fast and ``topis plan`` never loads Faust.
"""

from __future__ import annotations

import importlib
import logging

import click

#: name -> "module:attribute" of each subcommand; imported on first use.
COMMANDS: dict[str, str] = {
    "up": "topis.cli.commands:up",
    "broker": "topis.cli.commands:broker",
    "simulate": "topis.cli.commands:simulate",
    "worker": "topis.cli.commands:worker",
    "dashboard": "topis.cli.commands:dashboard",
    "city": "topis.city.cli:city",
    "replay": "streams.bus.cli:replay",
    "accuracy": "streams.bus.cli:accuracy",
    "demand": "streams.demand.cli:demand",
    "linkspeeds": "streams.traffic.cli:linkspeeds",
    "traffic": "streams.traffic.cli:traffic",
    "plan": "topis.cli:plan",
    "enforce": "enforcement.cli:enforce",
    "cases": "enforcement.cli:cases",
    "users": "dashboard.cli:users",
}

#: subcommands of ``topis plan``.
PLAN_COMMANDS: dict[str, str] = {
    "network": "optimizer.cli.network:network",
    "evaluate": "optimizer.cli.network:evaluate",
    "headways": "optimizer.cli.service:headways",
    "squirrel": "optimizer.cli.service:squirrel",
    "owl": "optimizer.cli.service:owl",
    "request": "streams.planning.cli:request",
    "live": "streams.planning.cli:live",
}


class LazyGroup(click.Group):
    """A click group whose subcommands are imported when first used."""

    def __init__(self, *args, lazy: dict[str, str], **kwargs):
        super().__init__(*args, **kwargs)
        self._lazy = lazy

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self._available(ctx)})

    def _available(self, ctx: click.Context) -> list[str]:
        return [name for name in self._lazy if self.get_command(ctx, name) is not None]

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in self.commands:
            return self.commands[name]
        target = self._lazy.get(name)
        if target is None:
            return None
        module_name, attr = target.split(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            # A subcommand whose module is not built yet is not offered at all,
            # rather than offered and failing.
            if exc.name and module_name.startswith(exc.name):
                return None
            raise
        return getattr(module, attr, None)


@click.group(cls=LazyGroup, lazy=COMMANDS, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", count=True, help="More log output (-v info, -vv debug).")
def main(verbose: int) -> None:
    """topis: a traffic operations control centre.

    \b
    Start everything on the embedded defaults (broker, demo city, simulator,
    workers, wall display at http://127.0.0.1:8050):
        topis up
    """
    level = [logging.WARNING, logging.INFO, logging.DEBUG][min(verbose, 2)]
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


@click.group(cls=LazyGroup, lazy=PLAN_COMMANDS)
def plan() -> None:
    """Plan service: route networks, headways, Squirrel and Owl buses.

    \b
    Example:
        topis plan network --instance ../shared/data/trndp/mumford_format/Mandl \\
            --routes 6 --min-nodes 2 --max-nodes 8 --seconds 60 --seed 1 --out mandl6.txt
    """

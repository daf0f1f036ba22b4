"""Typed settings, one object per concern.

Precedence, lowest first: the defaults below < ``topis.toml`` in the working
directory (or the file named by ``TOPIS_CONFIG``) < environment variables
(``TOPIS_`` prefix) < command-line flags (applied by the CLI with
``model_copy(update=...)``). With nothing set, everything runs on the embedded
defaults.

Example ``topis.toml``::

    [broker]
    url = "kafka://kafka-1:9092,kafka-2:9092"

    [dashboard]
    port = 8050
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import ClassVar

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

EMBEDDED = "embedded"


def config_path() -> Path:
    """The settings file: ``$TOPIS_CONFIG`` or ``./topis.toml``."""
    return Path(os.environ.get("TOPIS_CONFIG", "topis.toml"))


class _Section(BaseSettings):
    """Base: reads its table of the TOML file, then ``TOPIS_<SECTION>_*`` env vars."""

    section: ClassVar[str] = ""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml = TomlConfigSettingsSource(settings_cls, toml_file=config_path())
        table = toml.toml_data.get(cls.section, {}) if cls.section else {}
        toml.toml_data = table
        toml.init_kwargs = table
        return init_settings, env_settings, toml


class BrokerSettings(_Section):
    """Where Kafka is. ``TOPIS_BROKER=kafka://host:port[,host:port]`` selects a real cluster."""

    model_config = SettingsConfigDict(env_prefix="TOPIS_BROKER_", extra="ignore")
    section: ClassVar[str] = "broker"

    #: "embedded" (start Tansu on a free loopback port) or kafka://host:port[,host:port]
    url: str = Field(default=EMBEDDED, validation_alias=AliasChoices("TOPIS_BROKER", "url"))
    #: session timeout of consumer groups, seconds (embedded default is short: joins take ~half of it)
    session_timeout_s: float | None = None
    #: longest time a fetch waits for data, ms (the embedded broker answers only when it expires)
    fetch_max_wait_ms: int | None = None

    @field_validator("url")
    @classmethod
    def _check_url(cls, url: str) -> str:
        if url == EMBEDDED:
            return url
        if not url.startswith("kafka://") or not url.removeprefix("kafka://"):
            raise ValueError(f"broker must be 'embedded' or kafka://host:port[,host:port], got {url!r}")
        for server in url.removeprefix("kafka://").split(","):
            host, _, port = server.rpartition(":")
            if not host or not port.isdigit():
                raise ValueError(f"broker server {server!r} is not host:port")
        return url

    @property
    def embedded(self) -> bool:
        return self.url == EMBEDDED

    @property
    def bootstrap_servers(self) -> list[str]:
        """host:port list of a real cluster (empty for the embedded broker before it starts)."""
        return [] if self.embedded else self.url.removeprefix("kafka://").split(",")

    def client_timing(self) -> tuple[float, float, int]:
        """(session_timeout_s, heartbeat_interval_s, fetch_max_wait_ms) for this broker.

        Tansu holds a group join for about half the session timeout and never
        wakes a waiting fetch, so the embedded broker gets short values
        (PLATFORM_NOTES.md); a real cluster gets Kafka's usual ones.
        """
        if self.embedded or self.url.startswith("kafka://127.0.0.1"):
            session, fetch = 2.0, 100
        else:
            session, fetch = 15.0, 500
        session = self.session_timeout_s or session
        return session, round(session * 0.3, 2), self.fetch_max_wait_ms or fetch


class CitySettings(_Section):
    """The built-in demo city."""

    model_config = SettingsConfigDict(env_prefix="TOPIS_CITY_", extra="ignore")
    section: ClassVar[str] = "city"

    seed: int = 7  #: generator seed; same seed, same city
    scale: float = Field(default=1.0, gt=0)  #: 1 ≈ 40 routes; ≈18.5 ≈ Seoul (7,400 buses)


class SimSettings(_Section):
    """The simulator that feeds the broker."""

    model_config = SettingsConfigDict(env_prefix="TOPIS_SIM_", extra="ignore")
    section: ClassVar[str] = "sim"

    seed: int = 1  #: randomness of traffic and passengers
    speed: float = Field(default=10.0, gt=0)  #: simulated seconds per real second (1 = real time)
    tick_s: float = Field(default=0.5, gt=0)  #: real seconds between publishes
    #: local start time of the simulated day (Asia/Seoul), "HH:MM"
    start_time: str = "07:30"
    #: local start date, ISO; empty = the next weekday
    start_date: str = ""


class StreamSettings(_Section):
    """Faust workers."""

    model_config = SettingsConfigDict(env_prefix="TOPIS_STREAMS_", extra="ignore")
    section: ClassVar[str] = "streams"

    app_id: str = "topis"  #: consumer group and changelog prefix
    snapshot_interval_s: float = Field(default=1.0, gt=0)  #: how often the read model is published
    aggregate_interval_s: float = Field(default=60.0, gt=0)  #: how often planner inputs are published
    data_dir: Path = Path(".topis")  #: local state (demo feed, case store, recordings)
    #: GTFS feed of the network to match buses against; empty = the demo city's
    gtfs_dir: Path | None = None
    bus_operations: bool = True  #: run the matching/arrivals/predictions agent
    enforcement: bool = True  #: run the plate-read rules into the case store
    demand: bool = True  #: run the card-tap stages (loads, OD, planner inputs) and link speeds
    planning: bool = True  #: re-plan live (headways, Squirrel, Owl) into plans.proposed
    plan_headways_every_s: float = Field(default=300.0, gt=0)  #: wall seconds between live headway plans
    plan_schedule_every_s: float = Field(default=1800.0, ge=0)  #: wall s between Squirrel/Owl plans; 0 = on request only
    #: re-read a partition whose commits stalled this long with messages waiting (streams/stall_guard.py); 0 = off
    stall_guard_s: float = Field(default=30.0, ge=0)
    stall_guard_check_every_s: float = Field(default=5.0, gt=0)  #: how often the stall guard looks
    #: a vehicle not heard from for this long (event time) leaves the live positions
    vehicle_timeout_s: float = Field(default=600.0, gt=0)
    #: snapshots per read-model message (~50 routes of ~20 buses ≈ 150 kB)
    read_model_chunk_snapshots: int = Field(default=50, ge=1)
    #: seconds between checkpoints of a key's working state (route, card bucket) to its table's changelog
    checkpoint_every_s: float = Field(default=30.0, gt=0)
    #: route assignment forgets a vehicle silent for this long (event time)
    assignment_forget_s: float = Field(default=3600.0, gt=0)
    replan_check_every_s: float = Field(default=5.0, gt=0)  #: how often the planning timer looks for due plans


class DashboardSettings(_Section):
    """The Dash wall display."""

    model_config = SettingsConfigDict(env_prefix="TOPIS_DASHBOARD_", extra="ignore")
    section: ClassVar[str] = "dashboard"

    host: str = "127.0.0.1"
    port: int = Field(default=8050, ge=1, le=65535)
    refresh_ms: int = Field(default=1000, ge=200)  #: map update period
    stale_after_s: float = 30.0  #: a feed older than this raises an alarm

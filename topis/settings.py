"""Typed settings, one object per concern, all in one tree (:class:`Settings`).

Precedence, lowest first: the defaults below < the section's table of
``topis.toml`` in the working directory (or the file named by ``TOPIS_CONFIG``)
< environment variables (``TOPIS_<SECTION>_`` prefix) < command-line flags
(keyword arguments, or ``model_copy(update=...)`` in the CLI). With nothing
set, everything runs on the embedded defaults. Unknown keys in a table and
unknown ``TOPIS_*`` variables are ignored.

Example ``topis.toml``::

    [broker]
    url = "kafka://kafka-1:9092,kafka-2:9092"

    [dashboard]
    port = 8050

    [desk]
    session_s = 28800

    [enforcement]
    confidence_threshold = 0.85

    [enforcement.fines]
    green_zone_day_krw = 250000

Nested fields of ``[enforcement]`` are set from the environment with ``__``,
e.g. ``TOPIS_ENFORCEMENT_FINES__GREEN_ZONE_DAY_KRW``.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import ClassVar, Literal

from pydantic import AliasChoices, BaseModel, Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

logger = logging.getLogger(__name__)

EMBEDDED = "embedded"
#: HMAC key used when none is configured. Fine for a laptop demo, never for real plates.
DEV_HMAC_KEY = "topis-dev-key-change-me"
#: taxis per unit of city scale: Seoul's ~70,000 at scale 18.5
TAXIS_PER_SCALE = 70_000 / 18.5
#: seconds between GPS fixes of one taxi
TAXI_FIX_INTERVAL_S = 10.0


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
    #: the embedded broker is recycled (topis/recycle.py) when its memory passes this; 0 = never
    memory_budget_mb: int = Field(default=2048, ge=0)
    #: how every topis producer compresses its record batches. The embedded broker keeps batches as sent, so this
    #: divides its memory (zstd: ~4-5x on topis's JSON, at about no cost to the producer; benchmarks/stage_costs.py)
    compression: Literal["zstd", "lz4", "gzip", "none"] = "zstd"

    @property
    def compression_type(self) -> str | None:
        """The producer's ``compression_type`` (None: uncompressed)."""
        return None if self.compression == "none" else self.compression

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
    #: taxis per unit of city scale (70,000 at scale 18.5, ~3,800 at 1); 0 = no taxis
    taxis_per_scale: float = Field(default=TAXIS_PER_SCALE, ge=0)
    taxi_fix_interval_s: float = Field(default=TAXI_FIX_INTERVAL_S, gt=0)  #: seconds between fixes of one taxi


class StreamSettings(_Section):
    """Faust workers."""

    model_config = SettingsConfigDict(env_prefix="TOPIS_STREAMS_", extra="ignore")
    section: ClassVar[str] = "streams"

    app_id: str = "topis"  #: consumer group and changelog prefix
    snapshot_interval_s: float = Field(default=1.0, gt=0)  #: how often the read model is published
    #: how often each changed route's read model (state.routes: ladder, Marey, headways) is published; the
    #: routes page refreshes every 2 s, and these snapshots are the worker's and the dashboard's largest stream
    route_snapshot_interval_s: float = Field(default=2.0, gt=0)
    #: a route's snapshot carries all its Marey points this often, only the new ones in between, seconds
    marey_full_every_s: float = Field(default=60.0, gt=0)
    aggregate_interval_s: float = Field(default=60.0, gt=0)  #: how often planner inputs are published
    data_dir: Path = Path(".topis")  #: local state (demo feed, case store, recordings)
    #: GTFS feed of the network to match buses against; empty = the demo city's
    gtfs_dir: Path | None = None
    bus_operations: bool = True  #: run the matching/arrivals/predictions agent
    enforcement: bool = True  #: run the plate-read rules into the case store
    demand: bool = True  #: run the card-tap stages (loads, OD, planner inputs) and link speeds
    #: map-match taxi.positions into link speeds (needs the demo city's road graph: off with gtfs_dir)
    taxi_probes: bool = True
    planning: bool = True  #: re-plan live (headways, Squirrel, Owl) into plans.proposed
    plan_headways_every_s: float = Field(default=300.0, gt=0)  #: wall seconds between live headway plans
    plan_schedule_every_s: float = Field(default=1800.0, ge=0)  #: wall s between Squirrel/Owl plans; 0 = on request only
    #: read a partition again whose committed offset was never acknowledged this long (streams/runtime/commit_watch.py)
    commit_stuck_s: float = Field(default=60.0, gt=0)
    commit_watch_every_s: float = Field(default=5.0, gt=0)  #: how often the commit watch looks
    behind_limit_messages: int = Field(default=1000, ge=1)  #: lag above this is logged as "worker behind"
    #: between stops a bus's arrival predictions are remade at most this often, event seconds (0 = every fix)
    repredict_every_s: float = Field(default=30.0, ge=0)
    #: a positions message older than this (produce → now, s) is matched without predictions: a worker
    #: that is behind catches up on arrivals and headways, which count everything, before it predicts again
    predict_max_lag_s: float = Field(default=60.0, gt=0)
    health_every_s: float = Field(default=5.0, gt=0)  #: how often a worker publishes its lag on state.health
    #: the tap stage takes up to this many card.taps messages at once, or what came within tap_batch_s
    tap_batch_messages: int = Field(default=200, ge=1)
    tap_batch_s: float = Field(default=0.5, gt=0)
    #: the taxi agent takes up to this many taxi.positions messages at once, or what came within
    #: probe_batch_s, and map-matches each cell's fixes in one call (per call, not per fix, is the cost)
    probe_batch_messages: int = Field(default=2000, ge=1)
    probe_batch_s: float = Field(default=2.0, gt=0)
    #: a worker's producer waits this long to fill a batch per partition (0 = one request per send), seconds;
    #: the embedded broker's cost per fetch grows with the batches a partition holds (topis.broker), so few large ones
    producer_linger_s: float = Field(default=0.2, ge=0, le=1.0)
    #: a vehicle not heard from for this long (event time) leaves the live positions
    vehicle_timeout_s: float = Field(default=600.0, gt=0)
    #: snapshots per read-model message (~50 routes of ~20 buses ≈ 150 kB)
    read_model_chunk_snapshots: int = Field(default=50, ge=1)
    #: seconds between checkpoints of a key's working state (route, card bucket) to its table's changelog
    checkpoint_every_s: float = Field(default=30.0, gt=0)
    #: route assignment forgets a vehicle silent for this long (event time)
    assignment_forget_s: float = Field(default=3600.0, gt=0)
    replan_check_every_s: float = Field(default=5.0, gt=0)  #: how often the planning timer looks for due plans
    #: an input message larger than this is dead-lettered whole (``oversize``), bytes
    max_message_bytes: int = Field(default=512 * 1024, ge=1024)
    #: an event more than this after its message's timestamp is dead-lettered (``future_ts``), seconds
    max_future_s: float = Field(default=366 * 86_400.0, gt=0)
    #: a bus position farther than this outside the network's stops is dead-lettered (``outside_city``), metres
    city_margin_m: float = Field(default=50_000.0, gt=0)


class DashboardSettings(_Section):
    """The Dash wall display and the web server that serves it (waitress, :mod:`dashboard.serve`)."""

    model_config = SettingsConfigDict(env_prefix="TOPIS_DASHBOARD_", extra="ignore")
    section: ClassVar[str] = "dashboard"

    host: str = "127.0.0.1"
    port: int = Field(default=8050, ge=1, le=65535)
    refresh_ms: int = Field(default=1000, ge=200)  #: map update period
    stale_after_s: float = 30.0  #: a feed older than this raises an alarm
    #: request threads of the web server; each open page polls a few callbacks a second, each a short
    #: read-model or SQL read, so 8 serve a control room of ~20 screens at the default refresh
    threads: int = Field(default=8, ge=1, le=256)
    #: browsers reach the site over https (a TLS reverse proxy in front): cookies get the Secure flag
    #: and Strict-Transport-Security is sent
    behind_https: bool = False
    #: address of that reverse proxy; its X-Forwarded-For/-Proto are believed (client address for the
    #: login throttle and the audit trail). None: headers ignored, the TCP peer is the client
    trusted_proxy: str | None = None


class TrafficSettings(_Section):
    """Road traffic inputs: probe files imported with ``topis traffic probes``."""

    model_config = SettingsConfigDict(env_prefix="TOPIS_TRAFFIC_", extra="ignore")
    section: ClassVar[str] = "traffic"

    #: key of the probe vehicle id pseudonyms (keyed BLAKE2b); set TOPIS_TRAFFIC_PROBE_ID_KEY for real data
    probe_id_key: SecretStr = SecretStr(DEV_HMAC_KEY)

    def probe_id_key_bytes(self) -> bytes:
        """The pseudonymisation key; logs a warning when it is the development default."""
        key = self.probe_id_key.get_secret_value()
        if key == DEV_HMAC_KEY:
            logger.warning("using the development probe id key; set TOPIS_TRAFFIC_PROBE_ID_KEY for real vehicles")
        return key.encode()


class DeskSettings(_Section):
    """Login, its expiry and throttle, who sees what, and the records of the control-room desk pages.

    The wall's refresh and the web server are :class:`DashboardSettings`.
    """

    model_config = SettingsConfigDict(env_prefix="TOPIS_DESK_", extra="ignore")
    section: ClassVar[str] = "desk"

    #: key that signs session cookies; None = a random key per process (everyone logs in again after a restart)
    secret_key: SecretStr | None = None
    #: a login lasts this long, seconds, however active its user (then: the login page, with a message)
    session_s: float = Field(8 * 3600.0, gt=0)
    #: a login ends after this long without a user action, seconds; page refresh timers do not count
    idle_s: float = Field(1800.0, gt=0)
    #: how often an open page asks whether its login ended (and then goes to the login page), seconds
    session_check_s: float = Field(15.0, gt=0)
    #: wrong passwords, for one user name or from one client address, within ``login_window_s`` ...
    login_max_failures: int = Field(5, ge=1)
    login_window_s: float = Field(900.0, gt=0)
    #: ... lock that name or address out for this long, seconds: every attempt is refused, right password or not
    login_lockout_s: float = Field(900.0, gt=0)
    #: database of users, acknowledgements, plan decisions and the sign-in audit trail; None = the case store's
    db_url: str | None = None
    #: seed the demo accounts (see dashboard.store.DEMO_USERS) into an empty user table — demo city only:
    #: with a real feed (``StreamSettings.gtfs_dir``) they are neither seeded nor let in, and a warning is logged
    demo_users: bool = True
    #: the wall page (/, /wall) is viewable without login (control-room network only)
    wall_public: bool = True
    #: the wall without login also shows watch-list hits (plates masked); False: no enforcement alert and
    #: no plate reaches an anonymous browser. Signed-in staff see them per role (dashboard.access)
    wall_public_enforcement: bool = False


class FineTable(BaseModel):
    """Fines in KRW per rule.

    Figures follow the camera-enforcement (owner-liability, 과태료) amounts of
    Korea's Road Traffic Act enforcement decree and Seoul's Green Transport
    Zone as the author knows them; they are *demo defaults* to be checked
    against the current decree before any real use. "Heavy" means vans,
    trucks and buses (승합/화물), which pay the higher rate.
    """

    #: bus-lane violation, passenger car (과태료 승용 5만원, ordinary roads)
    bus_lane_car_krw: int = 50_000
    #: bus-lane violation, heavy vehicle (승합 6만원)
    bus_lane_heavy_krw: int = 60_000
    #: grade-5 vehicle driving in the Green Transport Zone, per day (과태료 25만원/일)
    green_zone_day_krw: int = 250_000
    #: illegal stopping/parking caught by a fixed camera, car (4만원) / heavy (5만원)
    no_stopping_car_krw: int = 40_000
    no_stopping_heavy_krw: int = 50_000
    #: speeding, car: (upper bound of the band in km/h over the limit, fine);
    #: 과태료 승용: ≤20 → 4만, 20–40 → 7만, 40–60 → 10만, >60 → 13만 (demo defaults)
    speed_bands_car: list[tuple[float, int]] = Field(
        default_factory=lambda: [(20.0, 40_000), (40.0, 70_000), (60.0, 100_000), (float("inf"), 130_000)]
    )
    #: speeding, heavy vehicles pay this much more than a car in the same band (demo default)
    speed_heavy_extra_krw: int = 10_000
    #: vehicle classes that pay the heavy rate
    heavy_classes: frozenset[str] = frozenset({"van", "truck", "bus"})


class EnforcementSettings(_Section):
    """Everything the rules, the engine, the store and the review workflow need.

    Table ``[enforcement]``, fines in ``[enforcement.fines]``; environment
    ``TOPIS_ENFORCEMENT_*``, nested fields with ``__``
    (``TOPIS_ENFORCEMENT_FINES__GREEN_ZONE_DAY_KRW``).
    """

    model_config = SettingsConfigDict(env_prefix="TOPIS_ENFORCEMENT_", env_nested_delimiter="__", extra="ignore")
    section: ClassVar[str] = "enforcement"

    #: SQLAlchemy URL of the case store; None → SQLite file ``.topis/cases.sqlite`` under the current directory
    db_url: str | None = None
    #: reads below this confidence make a case that needs a manual plate check
    confidence_threshold: float = Field(0.8, ge=0.0, le=1.0)
    #: a low-confidence read of an unregistered plate one character away from exactly one
    #: registered plate is judged as that vehicle (its case still needs a plate check)
    match_misreads: bool = True
    #: a plate seen by a no-stopping camera for longer than this is a case
    no_stopping_min_s: float = Field(300.0, gt=0.0)
    #: two reads of a plate by a no-stopping camera further apart than this start a new stop
    no_stopping_gap_s: float = Field(300.0, gt=0.0)
    #: section speed cases need average speed > limit + this tolerance (Korean practice allows ~10 km/h)
    speed_tolerance_kph: float = Field(10.0, ge=0.0)
    #: an entry read with no exit after this long is forgotten
    section_max_s: float = Field(3600.0, gt=0.0)
    #: how long a reviewer's claim on a case lasts
    claim_ttl_s: float = Field(900.0, gt=0.0)
    #: key of the plate pseudonymisation (HMAC-SHA256)
    hmac_key: SecretStr = SecretStr(DEV_HMAC_KEY)
    #: a plate with at least this many confirmed cases ...
    repeat_offender_n: int = Field(3, ge=1)
    #: ... within this many days is a repeat offender
    repeat_offender_days: float = Field(365.0, gt=0.0)
    #: aggregate read counts and dead letters older than this are purged
    retention_days: float = Field(90.0, gt=0.0)
    #: local time zone of the rules (hours, weekdays, holidays)
    timezone: str = "Asia/Seoul"
    fines: FineTable = Field(default_factory=FineTable)

    def resolved_db_url(self) -> str:
        """The store URL, creating the default SQLite folder when needed."""
        if self.db_url:
            return self.db_url
        path = Path.cwd() / ".topis" / "cases.sqlite"
        path.parent.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{path}"

    def hmac_key_bytes(self) -> bytes:
        """The pseudonymisation key; logs a warning when it is the development default."""
        key = self.hmac_key.get_secret_value()
        if key == DEV_HMAC_KEY:
            logger.warning("using the development HMAC key; set TOPIS_ENFORCEMENT_HMAC_KEY in production")
        return key.encode()


class Settings(BaseModel):
    """The whole tree: one attribute per section, each read with the same precedence.

    An entry point builds one with :meth:`load` and passes its sections on;
    command-line flags are applied to a section with ``model_copy(update=...)``.
    """

    broker: BrokerSettings
    city: CitySettings
    sim: SimSettings
    streams: StreamSettings
    dashboard: DashboardSettings
    desk: DeskSettings
    enforcement: EnforcementSettings
    traffic: TrafficSettings

    @classmethod
    def load(cls, **given: _Section) -> Settings:
        """Every section from defaults < ``topis.toml`` < environment; sections in ``given`` are used as they are.

        Examples
        --------
        >>> Settings.load(broker=BrokerSettings(url="kafka://k1:9092")).broker.url
        'kafka://k1:9092'
        """
        if unknown := sorted(set(given) - set(cls.model_fields)):
            raise TypeError(f"no settings section named {', '.join(unknown)}")
        return cls(**{name: given[name] if name in given else field.annotation()
                      for name, field in cls.model_fields.items()})

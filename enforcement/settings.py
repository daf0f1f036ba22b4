"""Settings of the enforcement service: one typed object, embedded defaults.

Precedence: embedded defaults < environment (``TOPIS_ENFORCEMENT_`` prefix,
nested fields with ``__``, e.g. ``TOPIS_ENFORCEMENT_FINES__GREEN_ZONE_DAY_KRW``)
< explicit keyword arguments / CLI flags.
"""

from __future__ import annotations

import logging
from pathlib import Path

from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

logger = logging.getLogger(__name__)

#: HMAC key used when none is configured. Fine for a laptop demo, never for real plates.
DEV_HMAC_KEY = "topis-dev-key-change-me"


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


class EnforcementSettings(BaseSettings):
    """Everything the rules, the engine, the store and the review workflow need."""

    model_config = SettingsConfigDict(env_prefix="TOPIS_ENFORCEMENT_", env_nested_delimiter="__", extra="ignore")

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

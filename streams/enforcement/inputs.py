"""What the enforcement agents serve: the rule book of the city and the case store from settings."""

from __future__ import annotations

from enforcement.engine import RuleBook
from enforcement.store import CaseStore
from topis.settings import EnforcementSettings, StreamSettings


def rule_book(city, settings: EnforcementSettings) -> RuleBook:
    """Cameras, vehicle registry and holidays of the demo ``city`` (a :class:`topis.city.model.City`), rules as ``settings``."""
    from enforcement.inputs import from_city

    cameras, registry, holidays = from_city(city)
    return RuleBook(cameras, registry, frozenset(holidays), settings)


def case_store(streams: StreamSettings, settings: EnforcementSettings) -> CaseStore:
    """The case store: ``TOPIS_ENFORCEMENT_DB_URL`` (or ``[enforcement] db_url``) when set, else SQLite in the data directory."""
    if not settings.db_url:
        streams.data_dir.mkdir(parents=True, exist_ok=True)
        settings = settings.model_copy(update={"db_url": f"sqlite:///{(streams.data_dir / 'cases.sqlite').resolve()}"})
    return CaseStore.from_settings(settings)

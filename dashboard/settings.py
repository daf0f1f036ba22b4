"""Settings of the control-room desk pages (login, sessions, records); the wall's own are
:class:`topis.settings.DashboardSettings`.

Environment variables use the ``TOPIS_DESK_`` prefix, e.g. ``TOPIS_DESK_SECRET_KEY``.
"""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class DeskSettings(BaseSettings):
    """Login and records of the desk pages."""

    model_config = SettingsConfigDict(env_prefix="TOPIS_DESK_", extra="ignore")

    #: key that signs session cookies; None = a random key per process (everyone logs in again after a restart)
    secret_key: SecretStr | None = None
    #: a login lasts this long, seconds
    session_s: float = Field(8 * 3600.0, gt=0)
    #: database of users, acknowledgements and plan decisions; None = the case store's database
    db_url: str | None = None
    #: seed the demo accounts (see dashboard.store.DEMO_USERS) into an empty user table — demo only
    demo_users: bool = True
    #: the wall page (/, /wall) is viewable without login (control-room network only)
    wall_public: bool = True

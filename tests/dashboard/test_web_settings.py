"""The web-hardening settings: working defaults, read from topis.toml and the environment like the rest."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from topis.settings import DashboardSettings, DeskSettings


@pytest.fixture
def no_config(tmp_path, monkeypatch):
    monkeypatch.setenv("TOPIS_CONFIG", str(tmp_path / "absent.toml"))
    return tmp_path


def test_defaults_are_safe_without_any_setting(no_config):
    web, desk = DashboardSettings(), DeskSettings()
    assert (web.threads, web.behind_https, web.trusted_proxy) == (8, False, None)
    assert (desk.login_max_failures, desk.login_window_s, desk.login_lockout_s) == (5, 900.0, 900.0)
    assert (desk.idle_s, desk.session_s) == (1800.0, 8 * 3600.0)
    assert desk.wall_public and not desk.wall_public_enforcement  # the wall is open, its enforcement alerts are not


def test_file_then_environment(no_config, monkeypatch):
    config = no_config / "topis.toml"
    config.write_text("[dashboard]\nthreads = 16\nbehind_https = true\n[desk]\nidle_s = 600\nlogin_max_failures = 3\n")
    monkeypatch.setenv("TOPIS_CONFIG", str(config))
    monkeypatch.setenv("TOPIS_DESK_LOGIN_MAX_FAILURES", "10")
    monkeypatch.setenv("TOPIS_DASHBOARD_TRUSTED_PROXY", "10.0.0.1")
    web, desk = DashboardSettings(), DeskSettings()
    assert (web.threads, web.behind_https, web.trusted_proxy) == (16, True, "10.0.0.1")
    assert (desk.idle_s, desk.login_max_failures) == (600.0, 10)


@pytest.mark.parametrize("cls, field, value", [(DashboardSettings, "threads", 0), (DeskSettings, "login_max_failures", 0),
                                               (DeskSettings, "idle_s", 0), (DeskSettings, "login_lockout_s", -1)])
def test_nonsense_is_refused(no_config, cls, field, value):
    with pytest.raises(ValidationError, match=field):
        cls(**{field: value})

"""Pseudonymisation, masking and settings."""

import hashlib
import hmac
import logging

import pytest
from pydantic import ValidationError

from enforcement.privacy import mask_plate, pseudonymise
from topis.settings import EnforcementSettings


def test_pseudonymise_is_keyed_hmac_sha256():
    expected = hmac.new(b"k1", "12가3456".encode(), hashlib.sha256).hexdigest()[:32]
    assert pseudonymise("12가3456", b"k1") == expected
    assert pseudonymise("12가3456", b"k1") != pseudonymise("12가3456", b"k2")
    assert pseudonymise("12가3456", b"k1") != hashlib.sha256("12가3456".encode()).hexdigest()[:32]


@pytest.mark.parametrize(
    ("plate", "masked"),
    [("12가3456", "12가**56"), ("123가4567", "123가**67"), ("서울12가3456", "서울12가**56"), ("ABCDEFG", "AB***FG"),
     ("AB", "**")],
)  # fmt: skip
def test_mask_plate(plate, masked):
    assert mask_plate(plate) == masked


def test_settings_defaults_env_and_flags(monkeypatch, tmp_path):
    s = EnforcementSettings()
    assert (s.confidence_threshold, s.claim_ttl_s, s.fines.bus_lane_car_krw) == (0.8, 900.0, 50_000)
    monkeypatch.setenv("TOPIS_ENFORCEMENT_CONFIDENCE_THRESHOLD", "0.6")
    monkeypatch.setenv("TOPIS_ENFORCEMENT_FINES__GREEN_ZONE_DAY_KRW", "100000")
    s = EnforcementSettings()
    assert (s.confidence_threshold, s.fines.green_zone_day_krw) == (0.6, 100_000)
    assert EnforcementSettings(confidence_threshold=0.9).confidence_threshold == 0.9  # flags beat the environment
    monkeypatch.setenv("TOPIS_ENFORCEMENT_CONFIDENCE_THRESHOLD", "2")
    with pytest.raises(ValidationError):
        EnforcementSettings()


def test_default_db_is_sqlite_under_cwd(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    assert EnforcementSettings().resolved_db_url() == f"sqlite:///{tmp_path / '.topis' / 'cases.sqlite'}"
    assert (tmp_path / ".topis").is_dir()


def test_dev_key_warns(caplog):
    with caplog.at_level(logging.WARNING, logger="topis.settings"):
        EnforcementSettings().hmac_key_bytes()
    assert "development HMAC key" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="topis.settings"):
        assert EnforcementSettings(hmac_key="secret").hmac_key_bytes() == b"secret"
    assert caplog.text == ""


def test_package_import_is_light():
    import subprocess
    import sys

    code = "import enforcement, sys; print(sorted(m for m in ('faust', 'dash', 'sqlalchemy') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
    code = "import enforcement.store, sys; print(sorted(m for m in ('faust', 'dash') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"

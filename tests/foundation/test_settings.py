import pytest
from pydantic import ValidationError

from topis.settings import BrokerSettings, DashboardSettings


def test_default_is_the_embedded_broker_with_fast_client_timing(monkeypatch):
    monkeypatch.delenv("TOPIS_BROKER", raising=False)
    settings = BrokerSettings()
    assert settings.embedded
    session_s, heartbeat_s, fetch_ms = settings.client_timing()
    assert session_s <= 3 and heartbeat_s < session_s and fetch_ms <= 100


def test_environment_selects_a_real_cluster_with_kafka_timing(monkeypatch):
    monkeypatch.setenv("TOPIS_BROKER", "kafka://k1:9092,k2:9093")
    settings = BrokerSettings()
    assert settings.bootstrap_servers == ["k1:9092", "k2:9093"]
    session_s, _, fetch_ms = settings.client_timing()
    assert session_s >= 6 and fetch_ms >= 500


@pytest.mark.parametrize("url", ["bad", "kafka://", "kafka://host", "kafka://host:port", "http://h:1"])
def test_malformed_broker_urls_are_rejected(url):
    with pytest.raises(ValidationError, match="broker"):
        BrokerSettings(url=url)


def test_precedence_defaults_file_environment(tmp_path, monkeypatch):
    config = tmp_path / "topis.toml"
    config.write_text('[dashboard]\nport = 9000\nrefresh_ms = 500\n')
    monkeypatch.setenv("TOPIS_CONFIG", str(config))
    monkeypatch.delenv("TOPIS_DASHBOARD_PORT", raising=False)
    assert DashboardSettings().port == 9000
    assert DashboardSettings().host == "127.0.0.1"
    monkeypatch.setenv("TOPIS_DASHBOARD_PORT", "9100")
    settings = DashboardSettings()
    assert (settings.port, settings.refresh_ms) == (9100, 500)

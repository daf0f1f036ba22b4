import os

import pytest
from pydantic import ValidationError

from topis.settings import BrokerSettings, DashboardSettings, DeskSettings, EnforcementSettings, Settings


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


@pytest.fixture
def config(tmp_path, monkeypatch):
    """Write a topis.toml (named by TOPIS_CONFIG) in an environment without TOPIS_* variables."""
    for name in [n for n in os.environ if n.startswith("TOPIS_")]:
        monkeypatch.delenv(name)
    path = tmp_path / "topis.toml"
    monkeypatch.setenv("TOPIS_CONFIG", str(path))

    def write(text: str) -> None:
        path.write_text(text, encoding="utf-8")

    return write


def test_desk_section_defaults_file_environment(config, monkeypatch):
    config("")
    assert (DeskSettings().session_s, DeskSettings().demo_users, DeskSettings().secret_key) == (8 * 3600.0, True, None)
    config('[desk]\nsession_s = 600\ndemo_users = false\nsecret_key = "from-file"\n')
    desk = DeskSettings()
    assert (desk.session_s, desk.demo_users, desk.secret_key.get_secret_value()) == (600.0, False, "from-file")
    assert desk.wall_public  # not in the file: the default
    monkeypatch.setenv("TOPIS_DESK_SESSION_S", "120")
    assert (DeskSettings().session_s, DeskSettings().demo_users) == (120.0, False)
    assert DeskSettings(session_s=60).session_s == 60  # flags beat the environment


def test_enforcement_section_defaults_file_environment(config, monkeypatch):
    config("")
    assert (EnforcementSettings().confidence_threshold, EnforcementSettings().fines.green_zone_day_krw) == (0.8, 250_000)
    config("[enforcement]\nconfidence_threshold = 0.7\nclaim_ttl_s = 60\n"
           "[enforcement.fines]\ngreen_zone_day_krw = 1000\nbus_lane_car_krw = 2000\n")
    s = EnforcementSettings()
    assert (s.confidence_threshold, s.claim_ttl_s, s.no_stopping_min_s) == (0.7, 60.0, 300.0)
    assert (s.fines.green_zone_day_krw, s.fines.bus_lane_car_krw, s.fines.bus_lane_heavy_krw) == (1000, 2000, 60_000)
    monkeypatch.setenv("TOPIS_ENFORCEMENT_CONFIDENCE_THRESHOLD", "0.6")
    monkeypatch.setenv("TOPIS_ENFORCEMENT_FINES__GREEN_ZONE_DAY_KRW", "3000")
    s = EnforcementSettings()
    assert (s.confidence_threshold, s.claim_ttl_s) == (0.6, 60.0)
    # the environment replaces one fine; the file's other fine stays
    assert (s.fines.green_zone_day_krw, s.fines.bus_lane_car_krw) == (3000, 2000)


def test_enforcement_file_values_are_validated(config):
    config("[enforcement]\nconfidence_threshold = 2\n")
    with pytest.raises(ValidationError, match="confidence_threshold"):
        EnforcementSettings()


@pytest.mark.parametrize(
    ("section", "table", "field", "default"),
    [(DashboardSettings, "[dashboard]", "port", 8050), (DeskSettings, "[desk]", "session_s", 8 * 3600.0),
     (EnforcementSettings, "[enforcement]", "claim_ttl_s", 900.0)],
)
def test_unknown_keys_in_a_table_are_ignored_alike(config, section, table, field, default):
    config(f"{table}\nno_such_key = 1\n[enforcement.fines]\nno_such_fine_krw = 5\n")
    settings = section()
    assert getattr(settings, field) == default
    assert not hasattr(settings, "no_such_key")
    if section is EnforcementSettings:
        assert not hasattr(settings.fines, "no_such_fine_krw")


def test_root_settings_load_every_section_from_one_file(config, monkeypatch):
    config("[sim]\nspeed = 60\n[desk]\nwall_public = false\n[enforcement]\ntimezone = \"UTC\"\n")
    monkeypatch.setenv("TOPIS_CITY_SCALE", "2")
    settings = Settings.load()
    assert set(Settings.model_fields) == {"broker", "city", "sim", "streams", "dashboard", "desk", "enforcement",
                                         "traffic"}
    assert (settings.sim.speed, settings.city.scale, settings.desk.wall_public) == (60.0, 2.0, False)
    assert (settings.enforcement.timezone, settings.broker.embedded, settings.dashboard.port) == ("UTC", True, 8050)


def test_root_settings_use_given_sections_as_they_are(config):
    config("[broker]\nurl = \"kafka://file:9092\"\n")
    broker = BrokerSettings(url="kafka://flag:9092")
    settings = Settings.load(broker=broker)
    assert settings.broker is broker
    assert Settings.load().broker.url == "kafka://file:9092"
    with pytest.raises(TypeError, match="brokers"):
        Settings.load(brokers=broker)


def test_producers_compress_as_the_broker_settings_say(monkeypatch):
    from streams.runtime.app import faust_config
    from topis.settings import StreamSettings

    monkeypatch.delenv("TOPIS_BROKER_COMPRESSION", raising=False)
    assert BrokerSettings().compression_type == "zstd"
    assert faust_config(BrokerSettings(url="kafka://h:1"), StreamSettings())["producer_compression_type"] == "zstd"
    monkeypatch.setenv("TOPIS_BROKER_COMPRESSION", "none")
    assert BrokerSettings().compression_type is None
    with pytest.raises(ValidationError, match="compression"):
        BrokerSettings(compression="brotli")

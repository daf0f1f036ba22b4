"""The options every `topis` command shares: one flag, one meaning, one message."""

import subprocess
import sys

import click
import pytest
from click.testing import CliRunner

from topis import options


@click.command()
@options.broker_option()
@options.gtfs_option("a feed")
@options.city_seed_option()
@options.city_scale_option()
def echo(broker_url, gtfs, city_seed, city_scale):
    click.echo(f"{broker_url}|{gtfs}|{city_seed}|{city_scale}")


def test_options_parse_to_the_shared_names_and_defaults(tmp_path):
    result = CliRunner().invoke(echo, ["--broker", "kafka://h:1", "--gtfs", str(tmp_path), "--city-seed", "3"],
                                env={"TOPIS_BROKER": None})
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"kafka://h:1|{tmp_path}|3|1.0"


def test_broker_comes_from_the_environment_and_gtfs_must_be_a_folder(tmp_path):
    file = tmp_path / "f.txt"
    file.write_text("x")
    assert CliRunner().invoke(echo, [], env={"TOPIS_BROKER": "kafka://e:2"}).output.startswith("kafka://e:2|None|")
    result = CliRunner().invoke(echo, ["--gtfs", str(file)])
    assert result.exit_code == 2 and "is a file" in result.output


def test_bad_parameter_names_the_flag_and_only_takes_the_listed_errors():
    with pytest.raises(click.BadParameter) as caught:
        with options.bad_parameter("--gtfs", KeyError, OSError):
            raise OSError("no stops.txt")
    assert caught.value.param_hint == "--gtfs" and "no stops.txt" in caught.value.format_message()
    assert isinstance(caught.value.__cause__, OSError)
    with pytest.raises(ValueError):
        with options.bad_parameter("--gtfs", OSError):
            raise ValueError("not mine")


def test_demo_city_refuses_a_scale_it_cannot_build():
    with pytest.raises(click.BadParameter) as caught:
        options.demo_city(1, -1.0)
    assert caught.value.param_hint == "--city-scale" and "scale must be positive" in caught.value.format_message()


@pytest.fixture
def no_broker_settings(tmp_path, monkeypatch):
    monkeypatch.delenv("TOPIS_BROKER", raising=False)
    monkeypatch.delenv("TOPIS_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)  # no topis.toml here


def test_broker_settings_default_and_errors(no_broker_settings):
    assert options.broker_settings(None).embedded
    assert options.broker_settings(None, default_url="kafka://a:1,b:2").bootstrap_servers == ["a:1", "b:2"]
    assert options.broker_settings("kafka://c:3", default_url="embedded").bootstrap_servers == ["c:3"]
    with pytest.raises(click.BadParameter) as caught:
        options.broker_settings("localhost:9092")
    assert caught.value.param_hint == "--broker" and "kafka://" in caught.value.format_message()


def test_external_broker_refuses_the_embedded_one(no_broker_settings):
    with pytest.raises(click.UsageError, match="needs a running broker"):
        options.external_broker(None)
    assert options.external_broker("kafka://h:9").url == "kafka://h:9"


def test_importing_the_options_loads_nothing_heavy():
    code = "import sys, topis.options; print(','.join(m for m in ('pydantic', 'numpy', 'kafka') if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""


def test_network_source_options_are_the_three_flags_in_order():
    @click.command()
    @options.network_source_options("the feed", "the city")
    def source(gtfs, city_seed, city_scale):
        click.echo(f"{gtfs}|{city_seed}|{city_scale}")

    assert [p.name for p in source.params] == ["gtfs", "city_seed", "city_scale"]
    helped = CliRunner().invoke(source, ["--help"]).output
    assert "the feed" in helped and "the city" in helped and "Scale of the demo city." in helped
    assert CliRunner().invoke(source, ["--city-seed", "4", "--city-scale", "0.5"]).output.strip() == "None|4|0.5"

"""Every `topis` command explains itself and refuses bad input clearly."""

from click.testing import CliRunner

from topis.cli import COMMANDS, PLAN_COMMANDS, main


def test_every_command_has_help_with_an_example():
    runner = CliRunner()
    listed = runner.invoke(main, ["--help"]).output
    for name in ("up", "broker", "simulate", "worker", "dashboard"):
        assert name in listed
    for name in COMMANDS:
        result = runner.invoke(main, [name, "--help"])
        if result.exit_code == 2 and "No such command" in result.output:
            continue  # a subcommand whose module is not in this build is not offered
        assert result.exit_code == 0, (name, result.output)
        assert "Example" in result.output, name


def test_plan_subcommands_have_examples():
    runner = CliRunner()
    for name in PLAN_COMMANDS:
        result = runner.invoke(main, ["plan", name, "--help"])
        if "No such command" in result.output:
            continue
        assert result.exit_code == 0 and "Example" in result.output, name


def test_worker_without_a_broker_says_how_to_get_one(monkeypatch):
    monkeypatch.delenv("TOPIS_BROKER", raising=False)
    result = CliRunner().invoke(main, ["worker"])
    assert result.exit_code == 2
    assert "topis broker" in result.output and "topis up" in result.output


def test_bad_broker_url_is_a_usage_error(monkeypatch):
    result = CliRunner().invoke(main, ["dashboard", "--broker", "localhost:9092"])
    assert result.exit_code == 2
    assert "kafka://" in result.output

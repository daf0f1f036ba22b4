"""``topis users`` on a real SQLite file (registered by the lead as ``topis users``; tested on the group)."""

from __future__ import annotations

from click.testing import CliRunner

from dashboard.cli import users
from dashboard.store import DeskStore


def test_add_list_passwd_remove(tmp_path):
    url = f"sqlite:///{tmp_path / 'desk.sqlite'}"
    run = CliRunner().invoke
    r = run(users, ["add", "kim", "--role", "enforcement", "--password", "kim-password", "--db", url])
    assert r.exit_code == 0, r.output
    assert DeskStore(url).authenticate("kim", "kim-password").role == "enforcement"
    r = run(users, ["add", "kim", "--role", "planner", "--password", "xxxxxxxxx", "--db", url])
    assert r.exit_code == 2 and "exists already" in r.output
    r = run(users, ["add", "lee", "--role", "boss", "--password", "xxxxxxxxx", "--db", url])
    assert r.exit_code == 2 and "boss" in r.output
    r = run(users, ["add", "lee", "--role", "planner", "--db", url], input="short\nshort\n")
    assert r.exit_code == 2 and "8 characters" in r.output
    assert run(users, ["list", "--db", url]).output == "kim\tenforcement\n"
    assert run(users, ["passwd", "kim", "--password", "new-password", "--db", url]).exit_code == 0
    assert DeskStore(url).authenticate("kim", "new-password") is not None
    assert DeskStore(url).authenticate("kim", "kim-password") is None
    assert run(users, ["remove", "kim", "--db", url]).exit_code == 0
    r = run(users, ["remove", "kim", "--db", url])
    assert r.exit_code == 2 and "no user" in r.output
    assert "Example" in run(users, ["add", "--help"]).output

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


def test_sign_ins_lists_the_audit_trail_newest_last(tmp_path):
    url = f"sqlite:///{tmp_path / 'desk.sqlite'}"
    store = DeskStore(url)
    store.record_sign_in("failed", "kim", "10.0.0.5", "wrong user name or password", now=1_795_000_000.0)
    store.record_sign_in("signed_in", "kim", "10.0.0.5", "enforcement", now=1_795_000_060.0)
    store.record_sign_in("failed", "lee", "10.0.0.9", now=1_795_000_120.0)
    run = CliRunner().invoke
    lines = run(users, ["sign-ins", "--db", url]).output.splitlines()
    assert [line.split("\t")[1:4] for line in lines] == [["failed", "kim", "10.0.0.5"], ["signed_in", "kim", "10.0.0.5"],
                                                         ["failed", "lee", "10.0.0.9"]]
    assert lines[0].startswith("2026-11-18 ")  # Seoul time
    only = run(users, ["sign-ins", "--user", "kim", "--limit", "1", "--db", url]).output.splitlines()
    assert [line.split("\t")[1] for line in only] == ["signed_in"]
    assert run(users, ["sign-ins", "--origin", "10.0.0.1", "--db", url]).output == "no sign-in recorded\n"

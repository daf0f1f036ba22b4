"""``topis users``: who may log in to the control-room pages, with which role, and who tried.

Users live in the ``dashboard_users`` table of the case store's database (or
``TOPIS_DESK_DB_URL``); passwords are stored as werkzeug scrypt hashes only.
``topis users sign-ins`` reads the sign-in audit trail (``dashboard_sign_ins``).
"""

from __future__ import annotations

import click

from dashboard.store import ROLES, DeskStore, UserError

_db_option = click.option("--db", "db_url", help="SQLAlchemy URL of the database (default: the case store's, "
                                                 "TOPIS_DESK_DB_URL or TOPIS_ENFORCEMENT_DB_URL, else .topis/cases.sqlite).")


def _store(db_url: str | None) -> DeskStore:
    from topis.settings import DeskSettings, EnforcementSettings

    return DeskStore(db_url or DeskSettings().db_url or EnforcementSettings().resolved_db_url())


@click.group()
def users() -> None:
    """Control-room users: add, list, change passwords, remove; the sign-in audit trail.

    \b
    Roles: enforcement (reads and decides cases, sees full plates), controller
    (watches, acknowledges alerts, sees watch-list hits masked and case counts),
    planner (accepts plans). See dashboard/access.py.
    Example:
        topis users add kim --role enforcement
    """


@users.command("add")
@click.argument("name")
@click.option("--role", required=True, type=click.Choice(ROLES), help="What the user may see and do.")
@click.password_option(help="The password (asked twice when not given; at least 8 characters).")
@_db_option
def add(name: str, role: str, password: str, db_url: str | None) -> None:
    """Add a user.

    \b
    Example:
        topis users add kim --role enforcement
    """
    try:
        _store(db_url).add_user(name, role, password)
    except UserError as exc:
        raise click.BadParameter(str(exc)) from None
    click.echo(f"added {name} ({role})")


@users.command("list")
@_db_option
def list_users(db_url: str | None) -> None:
    """List users and their roles.

    \b
    Example:
        topis users list
    """
    found = _store(db_url).users()
    for u in found:
        click.echo(f"{u.name}\t{u.role}")
    if not found:
        click.echo("no users (topis dashboard seeds demo users into an empty table)")


@users.command("passwd")
@click.argument("name")
@click.password_option(help="The new password (asked twice when not given).")
@_db_option
def passwd(name: str, password: str, db_url: str | None) -> None:
    """Change a user's password.

    \b
    Example:
        topis users passwd kim
    """
    try:
        _store(db_url).set_password(name, password)
    except UserError as exc:
        raise click.BadParameter(str(exc)) from None
    click.echo(f"password of {name} changed")


@users.command("remove")
@click.argument("name")
@_db_option
def remove(name: str, db_url: str | None) -> None:
    """Remove a user (e.g. the demo accounts before real use).

    \b
    Example:
        topis users remove enforcer
    """
    try:
        _store(db_url).remove_user(name)
    except UserError as exc:
        raise click.BadParameter(str(exc)) from None
    click.echo(f"removed {name}")


@users.command("sign-ins")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1), help="How many entries, newest last.")
@click.option("--user", "actor", help="Only this user name (as typed at the login).")
@click.option("--origin", help="Only this client address.")
@_db_option
def sign_ins(limit: int, actor: str | None, origin: str | None, db_url: str | None) -> None:
    """The sign-in audit trail: logins, wrong passwords, lockouts, refused attempts, ended sessions.

    \b
    Example:
        topis users sign-ins --user kim --limit 20
    """
    from dashboard.desk import local_time

    rows = _store(db_url).sign_ins(actor=actor, origin=origin, limit=limit)
    for r in rows:
        click.echo(f"{local_time(r.ts, '%Y-%m-%d %H:%M:%S')}\t{r.event}\t{r.actor}\t{r.origin}\t{r.detail}")
    if not rows:
        click.echo("no sign-in recorded")

"""Command line of the enforcement service: ``topis enforce`` and ``topis cases``.

``enforce`` is batch mode (audits, re-runs after a rule change): the same
engine as the stream agent, CSV in, CSV out, no broker. ``cases`` is the
staff interface to the durable case queue.
"""

from __future__ import annotations

import csv
import datetime as dt
import socket
import sys
from collections import Counter
from pathlib import Path
from zoneinfo import ZoneInfo

import click
from tqdm import tqdm

from enforcement import inputs, review
from enforcement.engine import CaseRecord, RuleBook, new_state, process
from enforcement.models import STATUSES, Case
from enforcement.privacy import mask_plate
from enforcement.rules import KOREAN_HOLIDAYS, RULES, load_holidays, normalise_plate
from enforcement.store import CaseStore
from topis.settings import EnforcementSettings

CASES_COLUMNS = ("case_id", "rule", "plate", "first_ts", "last_ts", "read_ids", "fine_krw", "needs_plate_check")
ALERTS_COLUMNS = ("alert_id", "reason", "plate", "read_id", "camera_id", "ts", "confidence")
BATCH_SIZE = 5000


def _echo_err(message: str) -> None:
    click.echo(message, err=True)


def _iso(ts: float, tz: ZoneInfo) -> str:
    return dt.datetime.fromtimestamp(ts, tz).isoformat()


def _settings(**overrides) -> EnforcementSettings:
    return EnforcementSettings(**{k: v for k, v in overrides.items() if v is not None})


def _load_or_fail(loader, path: Path, what: str):
    try:
        return loader(path)
    except ValueError as exc:  # missing header columns: nothing in the file can be trusted
        raise click.BadParameter(str(exc), param_hint=what) from None
    except UnicodeDecodeError as exc:
        raise click.BadParameter(f"{path}: not UTF-8 text ({exc.reason})", param_hint=what) from None


def write_cases_csv(cases: list[CaseRecord], path: Path, tz: ZoneInfo) -> None:
    """CASES.csv exactly as issue 5 specifies, ordered by first read time then case id."""
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(CASES_COLUMNS)
        for c in sorted(cases, key=lambda c: (c.first_ts, c.case_id)):
            writer.writerow([c.case_id, c.rule, c.plate, _iso(c.first_ts, tz), _iso(c.last_ts, tz),
                             " ".join(e.read_id for e in c.evidence), c.fine_krw, int(c.needs_plate_check)])  # fmt: skip


def write_alerts_csv(alerts: list, path: Path, tz: ZoneInfo) -> None:
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(ALERTS_COLUMNS)
        for a in alerts:
            writer.writerow([a.alert_id, a.reason, a.plate, a.read_id, a.camera_id, _iso(a.ts, tz), a.confidence])


@click.command()
@click.option("--cameras", "cameras_path", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="CAMERAS.csv: camera_id,lat,lon,lane_type,green_zone_entry,section_id,section_role,"
                   "section_length_m,section_limit_kph,no_stopping")  # fmt: skip
@click.option("--registry", "registry_path", required=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="REGISTRY.csv: plate,vehicle_class,emission_grade,exempt,watch")  # fmt: skip
@click.option("--reads", "reads_path", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="READS.csv: read_id,camera_id,ts (ISO 8601 with offset),plate,confidence")
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False, writable=True, path_type=Path),
              help="CASES.csv to write.")
@click.option("--holidays", "holidays_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Public holidays: DATE[,NAME] a line, header date[,name] optional [default: Korean 2020-2040].")
@click.option("--alerts-out", "alerts_path", type=click.Path(dir_okay=False, writable=True, path_type=Path),
              help="Watch-list alerts CSV [default: OUT with suffix _alerts.csv].")
@click.option("--db", "db_url", help="Also load the cases, alerts and dead letters into this case store "
              "(e.g. sqlite:///.topis/cases.sqlite) for review.")
@click.option("--confidence-threshold", type=click.FloatRange(0, 1), help="Reads below this need a plate check.")
@click.option("--no-stopping-min-s", type=click.FloatRange(min=0, min_open=True), help="Longest allowed stop, s.")
@click.option("--speed-tolerance-kph", type=click.FloatRange(min=0), help="Tolerance over a section's limit, km/h.")
def enforce(cameras_path, registry_path, reads_path, out_path, holidays_path, alerts_path, db_url,
            confidence_threshold, no_stopping_min_s, speed_tolerance_kph) -> None:  # fmt: skip
    """Run plate reads from CSV files through the enforcement rules (batch mode).

    Same rule code as the stream agent, no broker. Malformed rows are
    reported on stderr with their line numbers and skipped; a summary ends
    the run. Settings come from the [enforcement] table of topis.toml, then
    TOPIS_ENFORCEMENT_* variables, then flags.

    \b
    Example:
        topis enforce --cameras CAMERAS.csv --registry REGISTRY.csv \\
            --reads READS.csv --out CASES.csv --holidays holidays.txt
    """
    settings = _settings(confidence_threshold=confidence_threshold, no_stopping_min_s=no_stopping_min_s,
                         speed_tolerance_kph=speed_tolerance_kph)  # fmt: skip
    tz = ZoneInfo(settings.timezone)
    if holidays_path:
        try:
            holidays = load_holidays(holidays_path)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--holidays") from None
    else:
        holidays = KOREAN_HOLIDAYS
    cameras, cam_errors = _load_or_fail(inputs.load_cameras, cameras_path, "--cameras")
    registry, reg_errors = _load_or_fail(inputs.load_registry, registry_path, "--registry")
    reads, read_errors = _load_or_fail(inputs.load_reads, reads_path, "--reads")
    for err in (*cam_errors, *reg_errors, *read_errors):
        _echo_err(f"skipped {err}")
    if not cameras:
        raise click.BadParameter(f"{cameras_path}: no usable camera rows", param_hint="--cameras")

    reads.sort(key=lambda lr: (lr[1].ts, lr[0]))  # rules that pair reads need time order
    line_of = {r.read_id: line for line, r in reads}
    state = new_state(RuleBook(cameras, registry, holidays, settings))
    cases: dict[str, CaseRecord] = {}
    alerts, dead = [], []
    store = CaseStore(db_url) if db_url else None
    with tqdm(total=len(reads), unit="read", disable=not sys.stderr.isatty(), file=sys.stderr) as bar:
        for i in range(0, len(reads), BATCH_SIZE):
            chunk = [r for _, r in reads[i : i + BATCH_SIZE]]
            state, out = process(state, chunk)
            for c in out.cases.values():
                cases[c.case_id] = c if c.case_id not in cases else cases[c.case_id].merged(c)
            alerts.extend(out.alerts)
            dead.extend(out.dead_letters)
            if store is not None:
                store.commit(out)
            bar.update(len(chunk))
    if store is not None:
        store.close()
    for d in sorted(dead, key=lambda d: line_of.get(d.read_id, 0)):
        _echo_err(f"skipped {reads_path.name}:{line_of.get(d.read_id, '?')}: {d.reason}: {d.detail}")

    write_cases_csv(list(cases.values()), out_path, tz)
    alerts_path = alerts_path or out_path.with_name(out_path.stem + "_alerts.csv")
    write_alerts_csv(alerts, alerts_path, tz)

    by_rule = Counter(c.rule for c in cases.values())
    skipped = len(cam_errors) + len(reg_errors) + len(read_errors)
    _echo_err(
        f"summary: {len(reads) + len(read_errors)} read rows, {len(reads) - len(dead)} used, "
        f"{len(read_errors)} malformed, {len(dead)} rejected ({_fmt_counter(Counter(d.reason for d in dead))}); "
        f"{len(cam_errors)} camera and {len(reg_errors)} registry rows skipped; "
        f"{len(cases)} cases ({_fmt_counter(by_rule)}), "
        f"{sum(c.needs_plate_check for c in cases.values())} need a plate check; "
        f"{len(alerts)} watch-list alerts -> {alerts_path}"
    )
    if skipped or dead:
        _echo_err(f"{skipped + len(dead)} row(s) skipped in total; see the lines above")


def _fmt_counter(counter: Counter) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(counter.items())) or "none"


# ---------------------------------------------------------------- cases


def _origin() -> str:
    return f"cli:{socket.gethostname()}"


def _resolve(store: CaseStore, case_id: str) -> str:
    """Full case id from a unique prefix of at least 6 characters."""
    if len(case_id) >= 32:
        return case_id
    if len(case_id) < 6:
        raise click.BadParameter("give at least 6 characters of the case id", param_hint="CASE_ID")
    found = store.case_ids_with_prefix(case_id, limit=2)
    if not found:
        raise click.ClickException(f"no case {case_id!r}")
    if len(found) > 1:
        raise click.ClickException(f"case id prefix {case_id!r} is ambiguous; give more characters")
    return found[0]


def _table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    lines = ["  ".join(str(x).ljust(w) for x, w in zip(r, widths)).rstrip() for r in [header, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


@click.group()
@click.option("--db", "db_url", envvar="TOPIS_ENFORCEMENT_DB_URL",
              help="Case store URL: sqlite:///path or postgresql+psycopg://user@host/db "
                   "[default: sqlite .topis/cases.sqlite].")  # fmt: skip
@click.pass_context
def cases(ctx: click.Context, db_url: str | None) -> None:
    """Review the violation case queue: list, show, claim, confirm, dismiss, export, offenders, purge.

    \b
    Example:
        topis cases list --status new --rule green_zone
        topis cases claim 3fa9c2 --reviewer kim
        topis cases confirm 3fa9c2 --reviewer kim
        topis cases export --format json --out notices.json
    """
    settings = _settings(db_url=db_url)
    ctx.obj = {"settings": settings}
    ctx.call_on_close(lambda: ctx.obj.get("store") and ctx.obj["store"].close())


def _store(ctx: click.Context) -> CaseStore:
    if "store" not in ctx.obj:
        ctx.obj["store"] = CaseStore.from_settings(ctx.obj["settings"])
    return ctx.obj["store"]


reviewer_option = click.option("--reviewer", required=True, envvar="TOPIS_REVIEWER",
                               help="Your name as recorded in the audit log (or TOPIS_REVIEWER).")  # fmt: skip


@cases.command("list")
@click.option("--rule", type=click.Choice(RULES), help="Only this rule.")
@click.option("--status", type=click.Choice(STATUSES), help="Only this status.")
@click.option("--area", help="Only this area (or camera id).")
@click.option("--plate", help="Only this plate.")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True)
@click.option("--masked", is_flag=True, help="Mask plates (12가**56), as controllers see them.")
@click.pass_context
def list_cases(ctx, rule, status, area, plate, limit, masked) -> None:
    """List cases, oldest first.  Example: topis cases list --status new --area Jongno-gu"""
    tz = ZoneInfo(ctx.obj["settings"].timezone)
    plate = (normalise_plate(plate) or plate) if plate else None
    found = _store(ctx).list_cases(rule=rule, status=status, area=area, plate=plate, limit=limit)
    rows = [[c.case_id[:12], c.rule, mask_plate(c.plate) if masked else c.plate,
             dt.datetime.fromtimestamp(c.first_ts, tz).strftime("%Y-%m-%d %H:%M:%S"), f"{c.fine_krw:,}", c.status,
             "check" if c.needs_plate_check else "", c.claimed_by or "", c.area or c.camera_id] for c in found]  # fmt: skip
    if not rows:
        click.echo("no cases match")
        return
    click.echo(_table(rows, ["case", "rule", "plate", "first seen (local)", "fine KRW", "status", "plate?",
                             "claimed by", "area/camera"]))  # fmt: skip


@cases.command("show")
@click.argument("case_id")
@click.pass_context
def show(ctx, case_id) -> None:
    """Show one case with its evidence and audit log.  Example: topis cases show 3fa9c2"""
    store = _store(ctx)
    tz = ZoneInfo(ctx.obj["settings"].timezone)
    c = store.get_case(_resolve(store, case_id))
    if c is None:
        raise click.ClickException(f"no case {case_id!r}")
    for key in ("case_id", "rule", "plate", "status", "fine_krw", "needs_plate_check", "camera_id", "area", "detail",
                "claimed_by", "decided_by", "dismiss_reason", "notice_id", "repeat_offender"):  # fmt: skip
        click.echo(f"{key:18} {getattr(c, key)}")
    click.echo(f"{'first / last':18} {_iso(c.first_ts, tz)} / {_iso(c.last_ts, tz)}")
    click.echo("\nevidence:")
    click.echo(_table([[e.read_id, e.camera_id, f"{e.lat:.5f},{e.lon:.5f}", _iso(e.ts, tz), f"{e.confidence:.2f}",
                        e.plate_text, e.image_ref or ""] for e in c.evidence],
                      ["read", "camera", "lat,lon", "time", "conf", "as read", "image"]))  # fmt: skip
    click.echo("\naudit:")
    click.echo(_table([[_iso(a.ts, tz), a.actor, a.origin, a.action, f"{a.from_status or '-'} -> {a.to_status}",
                        a.detail] for a in store.audit_log(c.case_id)],
                      ["when", "who", "from where", "action", "status", "detail"]))  # fmt: skip


def review_command(name: str):
    """A ``topis cases NAME CASE_ID --reviewer WHO`` command (the decorated function adds its own options)."""

    def decorate(fn):
        return cases.command(name)(click.argument("case_id")(reviewer_option(click.pass_context(fn))))

    return decorate


def _review(ctx: click.Context, action, case_id: str, reviewer: str, *args, **kwargs) -> Case:
    """``action`` (a :mod:`enforcement.review` step) on the case of a (short) id, as ``reviewer`` from this host.

    A refused step (claimed by someone else, not claimed yet, ...) ends the command with exit code 1 and its reason.
    """
    store = _store(ctx)
    resolved = _resolve(store, case_id)
    try:
        return action(store, resolved, reviewer, _origin(), *args, **kwargs)
    except review.ReviewError as exc:
        raise click.ClickException(str(exc)) from None


@review_command("claim")
def claim_cmd(ctx, case_id, reviewer) -> None:
    """Claim a case for review.  Example: topis cases claim 3fa9c2 --reviewer kim"""
    ttl_s = ctx.obj["settings"].claim_ttl_s
    c = _review(ctx, review.claim, case_id, reviewer, ttl_s=ttl_s)
    click.echo(f"claimed {c.case_id} for {ttl_s / 60:.0f} min")


@review_command("confirm")
@click.option("--plate-checked", is_flag=True, help="You checked the plate against the image (low-confidence reads).")
def confirm_cmd(ctx, case_id, reviewer, plate_checked) -> None:
    """Confirm a claimed case and issue its notice.  Example: topis cases confirm 3fa9c2 --reviewer kim"""
    settings = ctx.obj["settings"]
    c = _review(ctx, review.confirm, case_id, reviewer, plate_checked=plate_checked,
                repeat_n=settings.repeat_offender_n, repeat_days=settings.repeat_offender_days)
    click.echo(f"confirmed {c.case_id}: notice {c.notice_id}" + (" (repeat offender)" if c.repeat_offender else ""))


@review_command("dismiss")
@click.option("--reason", required=True, help="Why the case is dismissed (kept in the audit log).")
def dismiss_cmd(ctx, case_id, reviewer, reason) -> None:
    """Dismiss a claimed case.  Example: topis cases dismiss 3fa9c2 --reviewer kim --reason "misread plate" """
    c = _review(ctx, review.dismiss, case_id, reviewer, reason)
    click.echo(f"dismissed {c.case_id}: {c.dismiss_reason}")


@review_command("release")
def release_cmd(ctx, case_id, reviewer) -> None:
    """Give a claimed case back to the queue.  Example: topis cases release 3fa9c2 --reviewer kim"""
    c = _review(ctx, review.release, case_id, reviewer)
    click.echo(f"released {c.case_id}")


@cases.command("export")
@click.option("--format", "fmt", type=click.Choice(["csv", "json"]), default="csv", show_default=True)
@click.option("--out", "out_path", type=click.Path(dir_okay=False, writable=True, path_type=Path),
              help="File to write [default: stdout].")
@click.option("--since", type=click.DateTime(["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"]),
              help="Only cases confirmed at or after this local date/time.")
@click.pass_context
def export(ctx, fmt, out_path, since) -> None:
    """Export notices of confirmed cases (CSV or JSON).  Example: topis cases export --format json --out n.json"""
    settings = ctx.obj["settings"]
    since_ts = since.replace(tzinfo=ZoneInfo(settings.timezone)).timestamp() if since else None
    items = review.notices(_store(ctx), since_ts=since_ts, tz=settings.timezone)
    writer = review.write_notices_json if fmt == "json" else review.write_notices_csv
    if out_path is None:
        writer(items, sys.stdout)
    else:
        with out_path.open("w", encoding="utf-8", newline="") as fh:
            writer(items, fh)
        _echo_err(f"wrote {len(items)} notices to {out_path}")


@cases.command("offenders")
@click.option("--min-cases", type=click.IntRange(min=1), help="Confirmed cases needed [default: settings, 3].")
@click.option("--days", type=click.FloatRange(min=0, min_open=True), help="Window in days [default: settings, 365].")
@click.pass_context
def offenders(ctx, min_cases, days) -> None:
    """List repeat offenders: plates with many confirmed cases lately.  Example: topis cases offenders --days 90"""
    settings = ctx.obj["settings"]
    found = review.repeat_offenders(_store(ctx), n=min_cases or settings.repeat_offender_n,
                                    days=days or settings.repeat_offender_days)  # fmt: skip
    if not found:
        click.echo("no repeat offenders")
        return
    click.echo(_table([[plate, n] for plate, n in sorted(found.items(), key=lambda kv: (-kv[1], kv[0]))],
                      ["plate", "confirmed cases"]))  # fmt: skip


@cases.command("purge")
@click.option("--days", type=click.FloatRange(min=0, min_open=True),
              help="Keep this many days [default: settings retention_days, 90].")  # fmt: skip
@click.pass_context
def purge(ctx, days) -> None:
    """Delete aggregate read counts and dead letters past retention.  Example: topis cases purge --days 30"""
    settings = ctx.obj["settings"]
    removed = _store(ctx).purge(days or settings.retention_days)
    click.echo(f"purged {removed['read_counts']} hourly read counts and {removed['dead_letters']} dead letters")

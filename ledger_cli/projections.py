"""`ledger projections …`: follow the log, rebuild (live or shadow), status, diff, show."""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from datetime import date, datetime
from types import FrameType
from typing import Any

import click
from sqlalchemy import select

from ledger_cli.errors import echo_json, json_option, reads_only

MAX_PAGE = 10_000


def _application() -> Any:
    # Imported here, so that `ledger --help` stays fast and needs no database.
    from ledger.application import LedgerApplication
    from persistence.config import application_environment

    return LedgerApplication(env=application_environment())


@contextmanager
def _progress_bars() -> Iterator[Callable[[str, int], Callable[[int], None]]]:
    """Hands out one tqdm bar per stage (events, then managers) and closes them all."""
    from tqdm import tqdm

    bars: list[Any] = []

    def bar(unit: str, total: int) -> Callable[[int], None]:
        for finished in bars:
            finished.close()  # One stage at a time: the previous bar is complete.
        shown = tqdm(total=total, unit=f" {unit}", desc=unit, file=sys.stderr, leave=True)
        bars.append(shown)
        def update(count: int) -> None:
            shown.update(count)

        return update

    try:
        yield bar
    finally:
        for shown in bars:
            shown.close()


@click.group()
def projections() -> None:
    """Read models: scores, pay, portfolios, timelines and dispute queues."""


_page = click.option(
    "--page", default=2000, show_default=True, type=click.IntRange(1, MAX_PAGE),
    help="events read and committed per transaction",
)


@projections.command()
@_page
@click.option("--poll", default=0.5, show_default=True, type=click.FloatRange(0.05, 60),
              help="seconds at most between looks at the log when caught up (PostgreSQL "
                   "wakes on each append's NOTIFY sooner), and between tries to take over "
                   "a view another worker owns")
@click.option("--once", is_flag=True, help="catch up once and exit")
def run(page: int, poll: float, once: bool) -> None:
    """Follow the log: keep the facts and the live figures current (a worker process).

    Run as many as you like, on as many machines: each view is applied by one of them at
    a time, and another takes it over when that one stops or dies."""
    from projections import runner

    app = _application()
    if once:
        click.echo(f"caught up to position {runner.follow(app, page)}")
        return
    stopping = []

    def stop(signum: int, _frame: FrameType | None) -> None:
        stopping.append(signum)

    signal.signal(signal.SIGTERM, stop)
    click.echo("following the log; stop with Ctrl-C or SIGTERM", err=True)
    try:
        runner.run_forever(app, page, poll, should_stop=lambda: bool(stopping))
    except KeyboardInterrupt:
        pass
    click.echo("stopped", err=True)


@projections.command()
@click.option("--ruleset", "version", default=None, help="rule-set version for a shadow view")
@click.option("--shadow", "name", default=None, help="build this shadow view, not the live one")
@_page
def rebuild(version: str | None, name: str | None, page: int) -> None:
    """Empty and replay a view; rerun after an interruption to resume where it stopped."""
    from projections import runner

    if version is not None and name is None:
        raise click.UsageError("the live view always uses the rule set in force; add --shadow NAME")
    app = _application()
    try:
        with _progress_bars() as bars:
            if name is None:
                position = runner.rebuild_live(app, page, progress=bars)
            else:
                position = runner.rebuild_shadow(app, name, version, page, progress=bars)
    except KeyboardInterrupt:
        click.echo("interrupted: rerun the same command to resume", err=True)
        sys.exit(130)
    built = name or "live"
    click.echo(f"rebuilt {built} at position {position}" + (f" under {version}" if version else ""))


@projections.command()
@json_option
@reads_only
def status(as_json: bool) -> None:
    """Position, lag (events behind the log's head) and owning worker of every projection."""
    from projections import runner

    rows = runner.status(_application())
    if as_json:
        echo_json([{**asdict(row), "lag": row.lag} for row in rows])
        return
    for row in rows:
        position = "-" if row.position is None else str(row.position)
        extra = f" ruleset={row.ruleset_version}" if row.ruleset_version else ""
        extra += f" owner=pid:{row.owner}" if row.owner is not None else ""
        extra += " REBUILDING (rerun the rebuild to finish)" if row.rebuilding else ""
        click.echo(f"{row.name:<28} position={position:<8} head={row.head:<8} lag={row.lag}{extra}")


@projections.command()
@click.argument("before")
@click.argument("after")
@click.option("--limit", default=200, show_default=True, type=click.IntRange(1, 1000))
@json_option
@reads_only
def diff(before: str, after: str, limit: int, as_json: bool) -> None:
    """Per manager and figure: before, after, delta, and the rules and events behind it."""
    from projections import runner
    from projections.database import engine_for
    from projections.materialised import LIVE
    from projections.materialised import diff as figures_diff

    app = _application()
    _refuse_unknown_views(app, before, after)
    if LIVE in (before, after):
        runner.follow(app)  # The live view answers as of the head, like every query.
    changed = figures_diff(engine_for(app), before, after, limit)
    if as_json:
        echo_json(changed)
        return
    if not changed:
        click.echo(f"no differences between {before} and {after}")
    for key in changed:
        for line in _diff_lines(key):
            click.echo(line)


def _refuse_unknown_views(app: Any, *names: str) -> None:
    """A name that is no view is an error, not "everything differs" (issue 20)."""
    from ledger.errors import NotFound
    from projections import tables as t
    from projections.database import engine_for, reading
    from projections.materialised import LIVE

    with reading(engine_for(app)) as conn:
        known = {LIVE, *conn.execute(select(t.views.c.view_name)).scalars()}
    unknown = [name for name in names if name not in known]
    if unknown:
        raise NotFound(f"no view named {', '.join(unknown)}; views: {', '.join(sorted(known))}")


def _diff_lines(key: Any) -> Iterator[str]:
    rules = f"{key.ruleset_before} -> {key.ruleset_after}"
    where = f"positions {key.position_before} -> {key.position_after}"
    yield f"{key.manager_id} {key.period}  (rules {rules}; {where})"
    for change in key.changes:
        delta = "" if change.delta is None else f"  delta {change.delta:+}"
        yield f"  {change.figure:<18} {change.before} -> {change.after}{delta}"
    for path, old, new in key.parameters:
        yield f"  because {path}: {old} -> {new}"
    for event in key.events:
        subject = event.get("rule_code") or event.get("customer_id") or event.get("indicator")
        what = " ".join(str(v) for v in (subject, event.get("status")) if v)
        effects = f"{event.get('effect_before')} -> {event.get('effect_after')}"
        new = " (recorded between the two views)" if event["new"] else ""
        yield f"  event #{event['position']} {event['type']} {what}: effect {effects}{new}"
    if key.more_events:
        yield f"  … and {key.more_events} more events"


@projections.command()
@click.argument("manager_id")
@click.argument("period")
@click.option("--as-of", type=click.DateTime(["%Y-%m-%d"]), default=None)
@click.option("--known-at", type=str, default=None,
              help="RFC 3339 instant, e.g. 2026-03-01T00:00:00Z")
@click.option("--explain", is_flag=True)
@json_option
@reads_only
def show(
    manager_id: str, period: str, as_of: datetime | None, known_at: str | None, explain: bool,
    as_json: bool,
) -> None:
    """Print a manager's score and pay for a period, at any as_of and known_at."""
    from projections.read_side import ReadSide

    figures = ReadSide(_application())
    day: date | None = as_of.date() if as_of is not None else None
    instant = _instant(known_at)
    score = figures.score(manager_id, period, as_of=day, known_at=instant, explain=explain)
    pay = figures.pay(manager_id, period, as_of=day, known_at=instant)
    if as_json:
        echo_json({"score": score, "pay": pay})
        return
    click.echo(f"{manager_id} {period} as of {score['as_of']} known at "
               f"{score['known_at'].isoformat()} under {score['ruleset_version']}")
    click.echo(f"score {score['score']} ({score['rating']}), error points {score['error_points']}, "
               f"adjustments {score['adjustment_points']}")
    click.echo("pay " + ", ".join(
        f"{k} {pay[k]}" for k in ("base_salary", "stock_task", "incremental_task", "target",
                                  "actual", "performance_pay", "actual_pay")
    ))
    if explain:
        for line in score["explanation"]["lines"]:
            click.echo(f"  #{line['position']} {line['type']} {line.get('rule_code') or ''} "
                       f"{line['effect']:+} {line['note']}")
        formula = score["explanation"].get("formula")
        if formula is not None:  # a rule set with a score formula (DESIGN §11)
            click.echo(f"  score formula = {formula['value']}: {formula['text']}")
            for name in formula["names"]:
                click.echo(f"    {name['name']} = {name['value']} ({name['kind']}, "
                           f"{name['source']})")


def _instant(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text)  # 3.11+ reads a trailing Z
    except ValueError:
        raise click.BadParameter("must be an RFC 3339 instant", param_hint="--known-at") from None
    if value.tzinfo is None:
        raise click.BadParameter("must carry a time zone", param_hint="--known-at")
    return value


if __name__ == "__main__":
    # `python -m ledger_cli.projections …` works before the group is registered in `ledger`.
    projections()

"""`ledger`: one console command for operators (serve, demo, db upgrade, …)."""

from __future__ import annotations

import os
import re
import sys
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

import click
from eventsourcing.application import AggregateNotFoundError

from ledger_cli.app import build_application
from ledger_cli.backup import backup_command, restore_command
from ledger_cli.errors import LedgerGroup
from ledger_cli.imports import import_
from ledger_cli.projections import projections
from ledger_cli.rulesets import rulesets
from ledger_cli.statements import statement, statements
from ledger_cli.tokens import token
from ledger_cli.verify import chain_key, head_key, verify_command
from persistence.config import admin_database_url, database_url

if TYPE_CHECKING:
    from ledger.application import LedgerApplication
    from persistence.tokens import TokenStore


@click.group(cls=LedgerGroup)
@click.version_option(package_name="cm-ledger", prog_name="ledger")
def main() -> None:
    """Operate the customer-manager assessment ledger.

    A refusal by the ledger exits 1 with one line saying why; a database that is missing,
    not migrated or unreachable exits 3; wrong usage exits 2."""


@main.group()
def db() -> None:
    """Database schema."""


@db.command()
def upgrade() -> None:
    """Apply every migration, then publish the default rule set on a fresh ledger."""
    from persistence.schema import current_revision  # noqa: PLC0415
    from persistence.schema import upgrade as apply

    apply(admin_database_url())
    receipt = build_application().ensure_rulebook()
    click.echo(f"schema at revision {current_revision(admin_database_url())}")
    if receipt.events:
        click.echo("published the default rule set 2026.1")


@main.command()
@click.option("--force", is_flag=True, help="load into a database that already holds data")
def demo(force: bool) -> None:
    """Load a small demo bank (the worked example of DESIGN §4 among it); print a token per
    role, each expiring within a day. Refuses a database that already holds data."""
    from ledger.demo import load_demo  # noqa: PLC0415
    from persistence.tokens import DEMO_LIFETIME, TokenStore  # noqa: PLC0415

    app = build_application()
    store = TokenStore.of(app)
    # Demo tokens on a real ledger would be live credentials nobody asked for.
    if not force and _holds_data(app, store):
        raise click.UsageError("this database already holds data (events beyond the default "
                               "rule set, or tokens); use a fresh one, or --force")
    loaded = load_demo(app)
    click.echo("demo bank loaded" if loaded else "demo bank already loaded")
    hours = int(DEMO_LIFETIME.total_seconds() // 3600)
    click.echo(f"tokens (they expire in {hours} hours):")
    for role, secret in store.create_demo_tokens().items():
        click.echo(f"{role:<11} {secret}")
    _workspace_secret(app)


DEMO_SECRET = "var/secret-key"
"""Where `ledger demo` writes a session secret when the database is not a SQLite file."""


def _workspace_secret(app: LedgerApplication) -> None:
    """The workspace's session secret (DESIGN §10): beside a SQLite file, or written under
    ./var/ (mode 0600) for the operator to export, never a default in code."""
    from pathlib import Path  # noqa: PLC0415

    from persistence.session_secret import (  # noqa: PLC0415
        VARIABLE,
        SessionSecretMissing,
        session_secret,
        write_secret,
    )

    try:
        session_secret({key: str(value) for key, value in app.env.items()})
    except SessionSecretMissing:
        path = Path(DEMO_SECRET)
        if not path.exists():
            write_secret(path)
        click.echo(f"workspace secret in {path}: export {VARIABLE}=$(cat {path})")
    click.echo("workspace: sign in with a token above at /app/sign-in")


def _holds_data(app: LedgerApplication, store: TokenStore) -> bool:
    """True when the log has an event of anything but the rule book, or a token exists."""
    from ledger import ids  # noqa: PLC0415

    head = int(app.recorder.max_notification_id() or 0)
    try:
        rulebook_events = int(app.repository.get(ids.rulebook_id()).version)
    except AggregateNotFoundError:
        rulebook_events = 0
    return head > rulebook_events or bool(store.listing(include_ended=True))


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=None, type=int, help="default: 2 x cores + 1, at most 8")
def serve(host: str, port: int, workers: int | None) -> None:
    """Serve the HTTP API with gunicorn; the application is built once per worker."""
    count = workers or min(2 * (os.cpu_count() or 1) + 1, 8)
    click.echo(f"serving {_without_password(database_url())} on http://{host}:{port} "
               f"with {count} workers")
    # No --preload: each worker builds its own application and connection pool. The
    # settings, and the worker that no slow client can hold, are in ledger_cli/serving.py;
    # GUNICORN_CMD_ARGS still overrides them (the slow-clients bench runs sync workers so).
    os.execvp(
        sys.executable,
        [sys.executable, "-m", "gunicorn", "--config", "python:ledger_cli.serving",
         "--bind", f"{host}:{port}", "--workers", str(count), "api:create_app()"],
    )


_PASSWORD_PARAMETER = re.compile(r"((?:^|&)password=)[^&]*", re.IGNORECASE)


def _without_password(url: str) -> str:
    """The URL as it may be printed: a password, in the user part or libpq's `password=`
    parameter, replaced by *** (issue 12)."""
    parts = urlsplit(url)
    netloc, query = parts.netloc, _PASSWORD_PARAMETER.sub(r"\1***", parts.query)
    if parts.password is not None:
        user, _, host = netloc.rpartition("@")
        netloc = f"{user.split(':', 1)[0]}:***@{host}"
    if (netloc, query) == (parts.netloc, parts.query):
        return url  # urlunsplit would drop the empty authority of sqlite:///path
    return urlunsplit(parts._replace(netloc=netloc, query=query))


main.add_command(verify_command)
main.add_command(head_key)
main.add_command(chain_key)
main.add_command(token)
main.add_command(import_)
main.add_command(projections)
main.add_command(rulesets)
main.add_command(backup_command)
main.add_command(restore_command)
main.add_command(statement)
main.add_command(statements)

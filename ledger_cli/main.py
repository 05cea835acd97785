"""`ledger`: one console command for operators (serve, demo, db upgrade, …)."""

from __future__ import annotations

import os
import sys

import click

from ledger_cli.app import build_application
from ledger_cli.imports import import_
from ledger_cli.projections import projections
from ledger_cli.tokens import token
from ledger_cli.verify import head_key, verify_command
from persistence.config import admin_database_url, database_url


@click.group()
def main() -> None:
    """Operate the customer-manager assessment ledger."""


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
def demo() -> None:
    """Load a small demo bank (the worked example of DESIGN §4 among it); print a token per role."""
    from ledger.demo import load_demo  # noqa: PLC0415
    from persistence.tokens import TokenStore  # noqa: PLC0415

    app = build_application()
    loaded = load_demo(app)
    click.echo("demo bank loaded" if loaded else "demo bank already loaded")
    for role, secret in TokenStore.of(app).create_demo_tokens().items():
        click.echo(f"{role:<11} {secret}")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=None, type=int, help="default: 2 x cores + 1, at most 8")
def serve(host: str, port: int, workers: int | None) -> None:
    """Serve the HTTP API with gunicorn; the application is built once per worker."""
    count = workers or min(2 * (os.cpu_count() or 1) + 1, 8)
    click.echo(f"serving {database_url()} on http://{host}:{port} with {count} workers")
    # No --preload: each worker builds its own application and connection pool.
    os.execvp(
        sys.executable,
        [sys.executable, "-m", "gunicorn", "--bind", f"{host}:{port}",
         "--workers", str(count), "--access-logfile", "-", "api:create_app()"],
    )


main.add_command(verify_command)
main.add_command(head_key)
main.add_command(token)
main.add_command(import_)
main.add_command(projections)

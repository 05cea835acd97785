"""`ledger backup FILE` and `ledger restore FILE`: a consistent copy of the whole store."""

from __future__ import annotations

from pathlib import Path

import click

from persistence.config import admin_database_url


@click.command(name="backup")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def backup_command(file: Path) -> None:
    """Write a consistent copy of the whole store to FILE while the ledger keeps serving.

    It connects as the schema owner (LEDGER_ADMIN_DATABASE_URL), who can read every table.
    """
    from persistence.backup import BackupError, backup  # noqa: PLC0415 - keep --help fast

    try:
        backup(admin_database_url(), file)
    except BackupError as e:
        raise click.ClickException(str(e)) from e
    click.echo(f"backed up to {file}")


@click.command(name="restore")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def restore_command(file: Path) -> None:
    """Restore a backup FILE into an empty ledger; then `ledger verify` checks it."""
    from persistence.backup import BackupError, restore  # noqa: PLC0415

    try:
        restore(admin_database_url(), file)
    except BackupError as e:
        raise click.ClickException(str(e)) from e
    click.echo(f"restored from {file}")

"""`ledger token create|revoke` (registered in main)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from ledger_cli.app import build_application

if TYPE_CHECKING:
    from persistence.tokens import TokenStore

ROLE_CHOICES = ("integrator", "manager", "supervisor", "approver", "auditor", "operator", "admin")


def _store() -> TokenStore:
    # Imported late: `ledger --help` stays fast, and main builds nothing at import time.
    from persistence.tokens import TokenStore

    return TokenStore.of(build_application())


@click.group()
def token() -> None:
    """API bearer tokens."""


@token.command("create")
@click.option("--role", required=True, type=click.Choice(ROLE_CHOICES))
@click.option("--subject", required=True, help="who the token speaks for (recorded as actor)")
@click.option("--manager-id", default=None, help="for --role manager: whose data it may see")
def create(role: str, subject: str, manager_id: str | None) -> None:
    """Create a token and print it (only the token; it is shown once)."""
    from ledger.errors import InvalidInput

    try:
        created = _store().create(role=role, subject=subject, manager_id=manager_id)
    except InvalidInput as refused:
        raise click.UsageError(refused.detail) from None
    click.echo(created)


@token.command("revoke")
@click.argument("secret", required=False)
@click.option("--subject", default=None, help="revoke every token of this subject")
def revoke(secret: str | None, subject: str | None) -> None:
    """Revoke a token (give the token), or every token of a subject."""
    if (secret is None) == (subject is None):
        raise click.UsageError("give either a TOKEN or --subject")
    store = _store()
    revoked = store.revoke(secret) if secret else store.revoke_subject(subject or "")
    click.echo(f"revoked {int(revoked)} token(s)")
    if not revoked:
        sys.exit(1)

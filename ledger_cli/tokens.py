"""`ledger token create|revoke` and `ledger import contributions` (registered in main)."""

from __future__ import annotations

import csv
import getpass
import json
import sys
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from api.ledger_app import ApiLedgerApplication

ROLE_CHOICES = ("integrator", "manager", "supervisor", "approver", "auditor", "operator", "admin")


def _application() -> ApiLedgerApplication:
    # Imported late: `ledger --help` stays fast, and main builds nothing at import time.
    from api.ledger_app import ApiLedgerApplication
    from ledger.config import application_environment

    return ApiLedgerApplication(env=application_environment())


@click.group()
def token() -> None:
    """API bearer tokens."""


@token.command("create")
@click.option("--role", required=True, type=click.Choice(ROLE_CHOICES))
@click.option("--subject", required=True, help="who the token speaks for (recorded as actor)")
@click.option("--manager-id", default=None, help="for --role manager: whose data it may see")
def create(role: str, subject: str, manager_id: str | None) -> None:
    """Create a token and print it (only the token; it is shown once)."""
    from api.tokens import TokenStore
    from ledger.errors import InvalidInput

    app = _application()  # kept alive while its connections are in use
    try:
        created = TokenStore(app.recorder).create(
            role=role, subject=subject, manager_id=manager_id)
    except InvalidInput as refused:
        raise click.UsageError(refused.detail) from None
    click.echo(created)


@token.command("revoke")
@click.argument("secret", required=False)
@click.option("--subject", default=None, help="revoke every token of this subject")
def revoke(secret: str | None, subject: str | None) -> None:
    """Revoke a token (give the token), or every token of a subject."""
    from api.tokens import TokenStore

    if (secret is None) == (subject is None):
        raise click.UsageError("give either a TOKEN or --subject")
    app = _application()  # kept alive while its connections are in use
    store = TokenStore(app.recorder)
    revoked = store.revoke(secret) if secret else store.revoke_subject(subject or "")
    click.echo(f"revoked {int(revoked)} token(s)")
    if not revoked:
        sys.exit(1)


@click.group(name="import")
def import_() -> None:
    """Bulk imports."""


@import_.command("contributions")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--batch-size", default=500, show_default=True, type=click.IntRange(1, 1000))
@click.option("--actor", default=None, help="recorded as the events' actor (default: you)")
def import_contributions(path: Path, batch_size: int, actor: str | None) -> None:
    """Post contributions from a CSV file (one column per field); report every row.

    Columns: customer_id, booked_on, interest_income, deposit_earnings, fee_income,
    risk_cost (optional), source_system, external_id. Re-running a file resumes it: rows
    already imported are reported as duplicates. Exit status 1 if any row was refused.
    """
    from tqdm import tqdm  # type: ignore[import-untyped]

    from api import imports
    from ledger.audit import AuditContext, acting_as

    audit = AuditContext(actor=actor or getpass.getuser(), role="operator",
                         request_id=f"import-{uuid.uuid4().hex[:12]}")
    report = csv.writer(sys.stdout)
    report.writerow(["row", "status", "event_id", "errors"])
    refused = 0
    with tqdm(total=imports.count_rows(path), unit="row", file=sys.stderr) as bar, \
            acting_as(audit):
        try:
            for row in imports.import_contributions(
                    _application(), path, batch_size=batch_size, progress=bar.update):
                refused += row.status in ("conflict", "invalid")
                report.writerow([row.row, row.status, row.event_id,
                                 json.dumps(row.errors) if row.errors else ""])
        except imports.BadFile as bad:
            raise click.UsageError(str(bad)) from None
    if refused:
        sys.exit(1)

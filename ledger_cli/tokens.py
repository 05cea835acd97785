"""`ledger token create|list|revoke` (registered in main)."""

from __future__ import annotations

import re
import sys
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import click

from ledger_cli.app import build_application
from ledger_cli.errors import echo_json, json_option, reads_only

if TYPE_CHECKING:
    from persistence.tokens import TokenInfo, TokenStore

# The roles of DESIGN §9 (persistence.tokens.ROLES, repeated so --help imports nothing).
ROLE_CHOICES = ("integrator", "manager", "supervisor", "approver", "auditor", "operator")
_DURATION = re.compile(r"^([1-9][0-9]{0,5})([mhd])$")
_UNIT = {"m": timedelta(minutes=1), "h": timedelta(hours=1), "d": timedelta(days=1)}


def _store() -> TokenStore:
    # Imported late: `ledger --help` stays fast, and main builds nothing at import time.
    from persistence.tokens import TokenStore

    return TokenStore.of(build_application())


def parse_duration(text: str) -> timedelta:
    """`90m`, `12h` or `30d`: a token's lifetime as an operator types it."""
    match = _DURATION.fullmatch(text.strip())
    if match is None:
        raise click.BadParameter("give minutes, hours or days, e.g. 90m, 12h, 30d")
    return int(match.group(1)) * _UNIT[match.group(2)]


@click.group()
def token() -> None:
    """API bearer tokens."""


@token.command("create")
@click.option("--role", required=True, type=click.Choice(ROLE_CHOICES))
@click.option("--subject", required=True, help="who the token speaks for (recorded as actor)")
@click.option("--manager-id", default=None, help="for --role manager: whose data it may see")
@click.option("--expires-in", default=None, metavar="DURATION",
              help="lifetime such as 12h or 30d (default: 90d integrator, 30d others; "
                   "at most 366d)")
def create(role: str, subject: str, manager_id: str | None, expires_in: str | None) -> None:
    """Create a token and print it (only the token; it is shown once)."""
    from ledger.errors import InvalidInput

    lifetime = parse_duration(expires_in) if expires_in is not None else None
    try:
        created = _store().create(role=role, subject=subject, manager_id=manager_id,
                                  expires_in=lifetime)
    except InvalidInput as refused:
        raise click.UsageError(refused.detail) from None
    click.echo(created)


@token.command("list")
@click.option("--all", "include_ended", is_flag=True, help="also revoked and expired tokens")
@json_option
@reads_only
def list_tokens(include_ended: bool, as_json: bool) -> None:
    """List tokens: id (the start of its hash), role, subject, times; never a token."""
    now = datetime.now(UTC)
    if as_json:
        echo_json([{**asdict(info), "state": info.state(now)}
                   for info in _store().listing(include_ended=include_ended)])
        return
    click.echo("id           state    role        subject                manager  created"
               "           expires           last used")
    for info in _store().listing(include_ended=include_ended):
        click.echo(_row(info, now))


def _row(info: TokenInfo, now: datetime) -> str:
    return (f"{info.token_id:<12} {info.state(now):<8} {info.role:<11} {info.subject:<22} "
            f"{info.manager_id or '-':<8} {_when(info.created_at)} {_when(info.expires_at)} "
            f"{_when(info.last_used_at)}")


def _when(instant: datetime | None) -> str:
    return "-".ljust(17) if instant is None else instant.astimezone(UTC).strftime(
        "%Y-%m-%dT%H:%MZ").ljust(17)


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

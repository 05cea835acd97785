"""`ledger verify`: recompute the hash chain, export a signed head, or check against one."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click
from tqdm import tqdm

from ledger.errors import HeadFileInvalid
from ledger_cli.app import build_application
from persistence.head import (
    check_extends,
    generate_key,
    load_private_key,
    public_hex,
    read_head,
    sign_head,
    write_head,
)
from persistence.verify import EventLog, Problem, VerifyResult, event_log, verify

KEY_FILE = "LEDGER_HEAD_KEY_FILE"
PUBLIC_KEY = "LEDGER_HEAD_PUBLIC_KEY"


def _run_verify(recorder: EventLog) -> VerifyResult:
    total = recorder.max_notification_id() or 0
    with tqdm(total=total, unit="event", desc="verify", file=sys.stderr, disable=None) as bar:
        return verify(recorder, progress=bar.update)


def _trusted_public_key() -> str:
    if os.environ.get(PUBLIC_KEY):
        return os.environ[PUBLIC_KEY]
    if os.environ.get(KEY_FILE):
        return public_hex(load_private_key(Path(os.environ[KEY_FILE])).public_key())
    msg = f"set {PUBLIC_KEY} (hex) or {KEY_FILE} to check a head"
    raise click.UsageError(msg)


def _report(problem: Problem | None, checked: int) -> None:
    if problem is None:
        click.echo(f"ok: {checked} events verified")
        return
    click.echo(f"FAILED at position {problem.position}: {problem.kind} ({problem.detail})")
    sys.exit(1)


@click.command(name="verify")
@click.option("--export-head", "export_to", type=click.Path(dir_okay=False, path_type=Path),
              help=f"write the verified head, signed with the key in ${KEY_FILE}")
@click.option("--against", "against", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="prove the log still extends a previously exported head")
def verify_command(export_to: Path | None, against: Path | None) -> None:
    """Recompute the hash chain over the whole log and name the first bad position."""
    app = build_application()  # held: the application closes its pool when collected
    recorder = event_log(app.recorder)
    result = _run_verify(recorder)
    problem = result.first_bad
    if against is not None:
        try:
            head = read_head(against, _trusted_public_key())
        except HeadFileInvalid as e:
            raise click.ClickException(str(e)) from e
        problem = check_extends(recorder, result, head)
    if export_to is not None and problem is None:
        if not os.environ.get(KEY_FILE):
            raise click.UsageError(f"set {KEY_FILE} to the operator's Ed25519 private key (PEM)")
        write_head(sign_head(result, load_private_key(Path(os.environ[KEY_FILE]))), export_to)
        click.echo(f"head at position {result.head_position} written to {export_to}")
    _report(problem, result.checked)


@click.group(name="head-key")
def head_key() -> None:
    """The operator's Ed25519 key that signs exported heads."""


@head_key.command(name="generate")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
def generate(path: Path) -> None:
    """Write a new private key to PATH (mode 0600) and print its public key (hex)."""
    click.echo(generate_key(path))

"""`ledger verify`: recompute the chain and its seals, compare the log with its signed heads,
replay the read models; export or keep a signed head; manage the chain key."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import click
from tqdm import tqdm

from ledger.application import LedgerApplication
from ledger.audit import AuditContext, acting_as
from ledger.errors import HeadFileInvalid, LedgerError
from ledger_cli.app import build_application
from ledger_cli.errors import echo_json, json_option, reads_only
from persistence.engines import engine_for
from persistence.head import (
    SignedHead,
    audit,
    generate_key,
    load_private_key,
    public_hex,
    read_head,
    record_head,
    sign_head,
    write_head,
)
from persistence.seal import (
    KEY_FILE_ENV,
    ChainKeyFileInvalid,
    Keyring,
    generate_key_file,
    keyring_from_environment,
)
from persistence.verify import EventLog, Problem, VerifyResult, event_log
from projections.replay_check import Difference, check_views

KEY_FILE = "LEDGER_HEAD_KEY_FILE"
PUBLIC_KEY = "LEDGER_HEAD_PUBLIC_KEY"
SHOWN_PROBLEMS = 20
"""Problems printed one per line; the rest are counted."""


def _trusted_public_key() -> str | None:
    if os.environ.get(PUBLIC_KEY):
        return os.environ[PUBLIC_KEY]
    if os.environ.get(KEY_FILE):
        return public_hex(load_private_key(Path(os.environ[KEY_FILE])).public_key())
    return None


def _keyring() -> Keyring:
    try:
        return keyring_from_environment()
    except ChainKeyFileInvalid as e:
        raise click.ClickException(str(e)) from e


def _head_files(paths: tuple[Path, ...]) -> list[SignedHead]:
    if not paths:
        return []
    trusted = _trusted_public_key()
    if trusted is None:
        raise click.UsageError(f"set {PUBLIC_KEY} (hex) or {KEY_FILE} to check a head")
    try:
        return [read_head(path, trusted) for path in paths]
    except HeadFileInvalid as e:
        raise click.ClickException(str(e)) from e


def _run_audit(recorder: EventLog, against: list[SignedHead]) -> VerifyResult:
    total = recorder.max_notification_id() or 0
    with tqdm(total=total, unit="event", desc="verify", file=sys.stderr, disable=None) as bar:
        return audit(recorder, keyring=_keyring(), trusted_public_key=_trusted_public_key(),
                     against=against, progress=bar.update)


def _report_chain(result: VerifyResult) -> bool:
    """Print the chain's verdict; True when it holds."""
    if result.key_in_force is not None and not result.keyed:
        click.echo(f"note: seals not checked (set {KEY_FILE_ENV} to the chain key files)")
    if not result.problems:
        sealed = " and seals" if result.keyed else ""
        click.echo(f"ok: {result.checked} events verified (chain{sealed})")
        return True
    first, *others = result.problems
    click.echo(_line("FAILED", first))
    for problem in others[:SHOWN_PROBLEMS - 1]:
        click.echo(_line("also", problem))
    if len(others) >= SHOWN_PROBLEMS:
        click.echo(f"... and {len(others) - SHOWN_PROBLEMS + 1} more")
    return False


def _line(label: str, problem: Problem) -> str:
    return f"{label} at position {problem.position}: {problem.kind} ({problem.detail})"


def _report_views(differences: list[Difference], compared: int) -> bool:
    if not differences:
        click.echo(f"ok: read models match a replay of the log ({compared} rows compared)")
        return True
    for difference in differences[:SHOWN_PROBLEMS]:
        click.echo(f"VIEWS DIFFER: {difference.describe()}")
    return False


def _keep_head(app: LedgerApplication, result: VerifyResult, export_to: Path | None,
               quiet: bool = False) -> None:
    if not os.environ.get(KEY_FILE):
        raise click.UsageError(f"set {KEY_FILE} to the operator's Ed25519 private key (PEM)")
    head = sign_head(result, load_private_key(Path(os.environ[KEY_FILE])))
    record_head(engine_for(app), head)
    if export_to is not None:
        write_head(head, export_to)
        if not quiet:
            click.echo(f"head at position {result.head_position} written to {export_to}")
    if not quiet:
        click.echo(f"head at position {result.head_position} kept in chain_heads")


@click.command(name="verify")
@click.option("--export-head", "export_to", type=click.Path(dir_okay=False, path_type=Path),
              help=f"write the verified head, signed with the key in ${KEY_FILE} (also kept "
                   "in chain_heads)")
@click.option("--checkpoint", is_flag=True,
              help="keep the verified, signed head in chain_heads (for a timer: truncation "
                   "after it is named by every later verify)")
@click.option("--against", "against", multiple=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="prove the log still extends a previously exported head (repeatable)")
@click.option("--views", is_flag=True,
              help="also replay the log into a scratch copy of the read models and compare")
@json_option
@reads_only
def verify_command(
    export_to: Path | None, checkpoint: bool, against: tuple[Path, ...], views: bool,
    as_json: bool,
) -> None:
    """Recompute the hash chain and its seals over the whole log, compare it with the signed
    heads, and name every bad position, the first one first. Exit 1 when anything fails."""
    app = build_application()  # held: the application closes its pool when collected
    recorder = event_log(app.recorder)
    result = _run_audit(recorder, _head_files(against))
    sound = not result.problems if as_json else _report_chain(result)
    if sound and (export_to is not None or checkpoint):
        _keep_head(app, result, export_to, quiet=as_json)
    report: dict[str, Any] = _chain_json(result)
    if views:
        differences, compared = check_views(app)
        report["views"] = {"ok": not differences, "compared": compared,
                           "differences": [d.describe() for d in differences]}
        sound = (not differences if as_json else _report_views(differences, compared)) and sound
    if as_json:
        echo_json({"ok": sound, **report})
    if not sound:
        sys.exit(1)


def _chain_json(result: VerifyResult) -> dict[str, Any]:
    return {"checked": result.checked, "keyed": result.keyed,
            "head_position": result.head_position,
            "problems": [{"position": p.position, "kind": p.kind, "detail": p.detail}
                         for p in result.problems]}


@click.group(name="head-key")
def head_key() -> None:
    """The operator's Ed25519 key that signs exported heads."""


@head_key.command(name="generate")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
def generate(path: Path) -> None:
    """Write a new private key to PATH (mode 0600) and print its public key (hex)."""
    click.echo(generate_key(path))


@click.group(name="chain-key")
def chain_key() -> None:
    """The secret chain key whose seals no one without it can forge (docs/tamper-evidence.md)."""


@chain_key.command(name="generate")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
def generate_chain_key(path: Path) -> None:
    """Write a new chain key to PATH (mode 0600, never overwritten) and print its key id."""
    click.echo(generate_key_file(path))


@chain_key.command(name="rotate")
@click.option("--key-id", default=None, help=f"the key to seal with from now on; it must be in "
              f"${KEY_FILE_ENV} (default: the only key there)")
@click.option("--reason", required=True)
@click.option("--actor", default=os.environ.get("USER", "operator"), show_default=True)
def rotate(key_id: str | None, reason: str, actor: str) -> None:
    """Record that KEY seals the log from this event on (the first time: introduce it).

    Every appending process must hold the new key before this runs: the ledger refuses to
    append what it cannot seal with the key in force.
    """
    held = _keyring().key_ids()
    chosen = key_id or (held[0] if len(held) == 1 else None)
    if chosen is None or chosen not in held:
        raise click.UsageError(f"name a --key-id held in ${KEY_FILE_ENV} (held: {held})")
    app = build_application()
    try:
        with acting_as(AuditContext(actor=actor, role="operator", request_id="cli")):
            made = app.rotate_chain_key(chosen, reason=reason)
    except LedgerError as e:
        raise click.ClickException(e.detail) from e
    position = made.receipt.events[-1].position
    click.echo(f"key {chosen} seals the log from position {position}")

"""`ledger statement verify` and `ledger statements issue`: signed pay statements (DESIGN
§14) checked against the ledger, and written for every manager when a period closes."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ledger_cli.app import build_application

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from ledger.application import LedgerApplication


@click.group()
def statement() -> None:
    """One pay statement."""


@statement.command("verify")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--public-key", "public_key", default=None,
              help="a file holding the trusted public key (hex or PEM), or the hex itself; "
                   "default: the public key of LEDGER_STATEMENT_KEY")
def verify(file: Path, public_key: str | None) -> None:
    """Check a statement (its PDF or its JSON): the signature, that the log still holds its
    link at its position, and that recomputing there gives the same figures. Exit 0 when it
    holds; otherwise a message naming what differs. Figures changed since are reported."""
    from ledger.errors import LedgerError  # noqa: PLC0415
    from projections.read_side import ReadSide  # noqa: PLC0415 - keep --help fast
    from projections.statement_pdf import verify_document  # noqa: PLC0415

    app = build_application()
    trusted = _trusted(app, public_key)
    try:
        answer = verify_document(ReadSide(app), file.read_bytes(), trusted)
    except LedgerError as error:
        raise click.UsageError(f"{file}: {error}") from error
    for line in _report(answer):
        click.echo(line)
    sys.exit(0 if answer["ok"] else 1)


def _trusted(app: LedgerApplication, given: str | None) -> Ed25519PublicKey:
    from persistence.head import load_private_key  # noqa: PLC0415
    from persistence.statement_key import (  # noqa: PLC0415
        StatementKeyMissing,
        public_key_from_text,
        statement_key_path,
    )

    try:
        if given is not None:
            path = Path(given)
            return public_key_from_text(path.read_text() if path.is_file() else given)
        key_file, _ = statement_key_path(dict(app.env))
        if not key_file.is_file():
            raise StatementKeyMissing(f"no statement key at {key_file}: pass --public-key")
        return load_private_key(key_file).public_key()
    except (StatementKeyMissing, ValueError) as error:
        raise click.UsageError(str(error)) from error


def _report(answer: dict[str, Any]) -> list[str]:
    lines = [f"statement at position {answer['position']} (log head {answer['head']}): "
             + ("verifies" if answer["ok"] else "DOES NOT VERIFY")]
    if not answer["signature"]:
        lines.append("  the signature does not hold for the trusted key")
    if not answer["link"]:
        lines.append(f"  the log no longer holds the statement's link at {answer['position']}")
    lines += [f"  recomputed {d['path']}: statement {d['statement']!r}, ledger "
              f"{d['recomputed']!r}" for d in answer["differences"]]
    lines += [f"  printed {name} differs from the signed figure" for name in answer["misprinted"]]
    lines += [f"  changed since by later events: {c['figure']} {c['statement']!r} -> now "
              f"{c['now']!r}" for c in answer["changed_since"]]
    return lines


@click.group()
def statements() -> None:
    """Every manager's pay statement."""


@statements.command("issue")
@click.argument("period")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
def issue(period: str, directory: Path) -> None:
    """Write every manager's signed statement for PERIOD (a PDF and its JSON) into
    DIRECTORY, all computed at one log position; the period's close hands these out."""
    from tqdm import tqdm  # noqa: PLC0415 - keep --help fast

    from ledger.errors import LedgerError  # noqa: PLC0415
    from ledger.quarter import Quarter  # noqa: PLC0415
    from persistence.statement_key import StatementKeyMissing, statement_key  # noqa: PLC0415
    from projections.read_side import ReadSide  # noqa: PLC0415
    from projections.reports import managers_of, report_cut  # noqa: PLC0415
    from projections.statement_pdf import render  # noqa: PLC0415
    from projections.statements import signed, statement_body  # noqa: PLC0415

    try:
        quarter = Quarter.parse(period)
        app = build_application()
        key, read_side = statement_key(dict(app.env)), ReadSide(app)
    except (LedgerError, StatementKeyMissing) as error:
        raise click.UsageError(str(error)) from error
    cut = report_cut(read_side, None, None)
    directory.mkdir(parents=True, exist_ok=True)
    managers = managers_of(read_side, None, cut.position)
    for manager_id, _, _ in tqdm(managers, unit="statement", file=sys.stderr, disable=None):
        body = statement_body(read_side, manager_id, str(quarter), position=cut.position)
        envelope = signed(body, key)
        stem = f"statement-{manager_id}-{quarter}"
        (directory / f"{stem}.pdf").write_bytes(render(envelope))
        (directory / f"{stem}.json").write_text(
            json.dumps(envelope, ensure_ascii=False, indent=1), encoding="utf-8")
    click.echo(f"{len(managers)} statements for {quarter} at log position {cut.position} "
               f"in {directory}")

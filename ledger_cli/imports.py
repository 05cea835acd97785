"""`ledger import contributions FILE.csv`: bulk postings, batch by batch, a report per row.

Each batch is one append (`LedgerApplication.post_contributions`), so an interrupted import
leaves whole batches behind; running it again reports the rows already imported as
"duplicate" and appends only the rest, which is how it resumes. Cells are read as text and
turned into dates and decimals here; every other check is the ledger's own, so a row is
refused for the same reasons a posting over HTTP is.
"""

from __future__ import annotations

import csv
import getpass
import json
import sys
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ledger.errors import BadFile, InvalidInput
from ledger_cli.app import build_application

if TYPE_CHECKING:
    from ledger.application import LedgerApplication

DEFAULT_BATCH = 500
MAX_BATCH = 1000
TEXT_COLUMNS = ("customer_id", "source_system", "external_id")
DATE_COLUMNS = ("booked_on",)
MONEY_COLUMNS = ("interest_income", "deposit_earnings", "fee_income", "risk_cost")
OPTIONAL_COLUMNS = {"risk_cost"}
KNOWN_COLUMNS = {*TEXT_COLUMNS, *DATE_COLUMNS, *MONEY_COLUMNS}
REQUIRED_COLUMNS = KNOWN_COLUMNS - OPTIONAL_COLUMNS


@dataclass(frozen=True)
class RowReport:
    row: int  # 1 = the first row after the header
    status: str  # created, duplicate, conflict or invalid
    event_id: str = ""
    errors: dict[str, list[str]] = field(default_factory=dict)


def count_rows(path: Path) -> int:
    with path.open(newline="", encoding="utf-8") as f:
        return max(sum(1 for _ in f) - 1, 0)


def import_contributions(
    app: LedgerApplication, path: Path, *, batch_size: int = DEFAULT_BATCH,
    progress: Callable[[int], object] = lambda _: None,
) -> Iterator[RowReport]:
    """Posts the file's rows in batches; yields one report per row, in file order."""
    if not 1 <= batch_size <= MAX_BATCH:
        raise BadFile(f"batch size must be between 1 and {MAX_BATCH}")
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        _check_columns(reader.fieldnames or ())
        first = 1
        while batch := list(islice(reader, batch_size)):
            made = app.post_contributions([_load(row) for row in batch])
            for outcome in made.value:
                yield RowReport(first + outcome.index, outcome.status,
                                str(outcome.contribution_id or ""), outcome.errors)
            first += len(batch)
            progress(len(batch))


def _check_columns(columns: Sequence[str]) -> None:
    missing = REQUIRED_COLUMNS - set(columns)
    unknown = set(columns) - KNOWN_COLUMNS
    if missing or unknown:
        raise BadFile(f"columns: missing {sorted(missing)}, unknown {sorted(unknown)}")


def _load(row: Mapping[str | None, Any]) -> dict[str, Any] | InvalidInput:
    # An empty cell is an absent value (risk_cost is optional); csv gives None for short rows.
    present = {k: v for k, v in row.items() if k is not None and v not in ("", None)}
    missing = {name: ["a value is required"] for name in sorted(REQUIRED_COLUMNS - set(present))}
    if missing:
        return InvalidInput(missing)
    return {name: _value(name, str(text)) for name, text in present.items()}


def _value(name: str, text: str) -> Any:
    """The cell as a date or a Decimal where its column says so; a cell that does not read
    stays text, which the ledger's field checks then refuse by name."""
    try:
        if name in DATE_COLUMNS:
            return date.fromisoformat(text)
        if name in MONEY_COLUMNS:
            return Decimal(text)
    except (ValueError, InvalidOperation):
        return text
    return text


@click.group(name="import")
def import_() -> None:
    """Bulk imports."""


@import_.command("contributions")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--batch-size", default=DEFAULT_BATCH, show_default=True,
              type=click.IntRange(1, MAX_BATCH))
@click.option("--actor", default=None, help="recorded as the events' actor (default: you)")
def import_contributions_command(path: Path, batch_size: int, actor: str | None) -> None:
    """Post contributions from a CSV file (one column per field); report every row.

    Columns: customer_id, booked_on, interest_income, deposit_earnings, fee_income,
    risk_cost (optional), source_system, external_id. Re-running a file resumes it: rows
    already imported are reported as duplicates. Exit status 1 if any row was refused.
    """
    from tqdm import tqdm

    from ledger.audit import AuditContext, acting_as

    audit = AuditContext(actor=actor or getpass.getuser(), role="operator",
                         request_id=f"import-{uuid.uuid4().hex[:12]}")
    report = csv.writer(sys.stdout)
    report.writerow(["row", "status", "event_id", "errors"])
    refused = 0
    with tqdm(total=count_rows(path), unit="row", file=sys.stderr) as bar, acting_as(audit):
        try:
            for row in import_contributions(build_application(), path, batch_size=batch_size,
                                            progress=bar.update):
                refused += row.status in ("conflict", "invalid")
                report.writerow([row.row, row.status, row.event_id,
                                 json.dumps(row.errors) if row.errors else ""])
        except BadFile as bad:
            raise click.UsageError(bad.detail) from None
    if refused:
        sys.exit(1)

"""`ledger import contributions|indicators FILE.csv`: bulk postings and raw indicator reports,
batch by batch, a report per row.

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
    from ledger.application import ItemOutcome, LedgerApplication

DEFAULT_BATCH = 500
MAX_BATCH = 1000
TEXT_COLUMNS = ("customer_id", "source_system", "external_id")
DATE_COLUMNS = ("booked_on",)
MONEY_COLUMNS = ("interest_income", "deposit_earnings", "fee_income", "risk_cost")
OPTIONAL_COLUMNS = {"risk_cost"}
KNOWN_COLUMNS = {*TEXT_COLUMNS, *DATE_COLUMNS, *MONEY_COLUMNS}
REQUIRED_COLUMNS = KNOWN_COLUMNS - OPTIONAL_COLUMNS
# Raw indicator reports (DESIGN §11): every column is required.
REPORT_TEXT_COLUMNS = ("indicator", "manager_id", "period", "source_system", "external_id")
REPORT_COLUMNS = {*REPORT_TEXT_COLUMNS, "measured_on", "value"}


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
    return _import(path, batch_size, progress, (REQUIRED_COLUMNS, KNOWN_COLUMNS),
                   lambda batch: app.post_contributions([_load(row) for row in batch]).value)


def import_indicators(
    app: LedgerApplication, path: Path, *, batch_size: int = DEFAULT_BATCH,
    progress: Callable[[int], object] = lambda _: None,
) -> Iterator[RowReport]:
    """Reports the file's raw indicator values in batches; one report per row, in order."""
    return _import(path, batch_size, progress, (REPORT_COLUMNS, REPORT_COLUMNS),
                   lambda batch: app.report_indicators([_load_report(r) for r in batch]).value)


def _import(
    path: Path, batch_size: int, progress: Callable[[int], object],
    columns: tuple[set[str], set[str]],
    post: Callable[[list[dict[str | None, Any]]], Sequence[ItemOutcome]],
) -> Iterator[RowReport]:
    if not 1 <= batch_size <= MAX_BATCH:
        raise BadFile(f"batch size must be between 1 and {MAX_BATCH}")
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        _check_columns(reader.fieldnames or (), *columns)
        first = 1
        while batch := list(islice(reader, batch_size)):
            for outcome in post(batch):
                yield RowReport(first + outcome.index, outcome.status,
                                str(outcome.event_id or ""), outcome.errors)
            first += len(batch)
            progress(len(batch))


def _check_columns(
    columns: Sequence[str], required: set[str] = REQUIRED_COLUMNS,
    known: set[str] = KNOWN_COLUMNS,
) -> None:
    missing = required - set(columns)
    unknown = set(columns) - known
    if missing or unknown:
        raise BadFile(f"columns: missing {sorted(missing)}, unknown {sorted(unknown)}")


def _load(row: Mapping[str | None, Any]) -> dict[str, Any] | InvalidInput:
    # An empty cell is an absent value (risk_cost is optional); csv gives None for short rows.
    present = {k: v for k, v in row.items() if k is not None and v not in ("", None)}
    missing = {name: ["a value is required"] for name in sorted(REQUIRED_COLUMNS - set(present))}
    if missing:
        return InvalidInput(missing)
    return {name: _value(name, str(text)) for name, text in present.items()}


def _load_report(row: Mapping[str | None, Any]) -> dict[str, Any] | InvalidInput:
    present = {k: v for k, v in row.items() if k is not None and v not in ("", None)}
    missing = {name: ["a value is required"] for name in sorted(REPORT_COLUMNS - set(present))}
    if missing:
        return InvalidInput(missing)
    loaded: dict[str, Any] = {name: str(present[name]) for name in REPORT_TEXT_COLUMNS}
    loaded["measured_on"] = _value("booked_on", str(present["measured_on"]))
    # Any decimal the cell holds: a ratio such as 0.015 is more exact than money.
    try:
        loaded["value"] = Decimal(str(present["value"]))
    except InvalidOperation:
        loaded["value"] = str(present["value"])
    return loaded


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


def _run_import(
    rows: Callable[[LedgerApplication, Path, int, Callable[[int], object]], Iterator[RowReport]],
    path: Path, batch_size: int, actor: str | None,
) -> None:
    """Runs an import under the operator's audit context, writing the per-row report."""
    from tqdm import tqdm

    from ledger.audit import AuditContext, acting_as

    audit = AuditContext(actor=actor or getpass.getuser(), role="operator",
                         request_id=f"import-{uuid.uuid4().hex[:12]}")
    report = csv.writer(sys.stdout)
    report.writerow(["row", "status", "event_id", "errors"])
    refused = 0
    with tqdm(total=count_rows(path), unit="row", file=sys.stderr) as bar, acting_as(audit):
        try:
            for row in rows(build_application(), path, batch_size, bar.update):
                refused += row.status in ("conflict", "invalid")
                report.writerow([row.row, row.status, row.event_id,
                                 json.dumps(row.errors) if row.errors else ""])
        except BadFile as bad:
            raise click.UsageError(bad.detail) from None
    if refused:
        sys.exit(1)


@import_.command("indicators")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--batch-size", default=DEFAULT_BATCH, show_default=True,
              type=click.IntRange(1, MAX_BATCH))
@click.option("--actor", default=None, help="recorded as the events' actor (default: you)")
def import_indicators_command(path: Path, batch_size: int, actor: str | None) -> None:
    """Report raw indicator values from a CSV file (DESIGN §11); report every row.

    Columns: indicator, manager_id, period, measured_on, value, source_system, external_id.
    A row for an indicator the rule set in force does not declare raw is refused. Re-running
    a file resumes it: rows already imported are reported as duplicates. Exit status 1 if
    any row was refused.
    """
    _run_import(lambda app, p, size, progress: import_indicators(
        app, p, batch_size=size, progress=progress), path, batch_size, actor)


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
    _run_import(lambda app, p, size, progress: import_contributions(
        app, p, batch_size=size, progress=progress), path, batch_size, actor)

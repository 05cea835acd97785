"""Bulk import of contributions from a CSV file, batch by batch, with a per-row report.

Each batch is one append (see `ApiLedgerApplication.post_contributions`), so an
interrupted import leaves whole batches behind; running it again reports the rows already
imported as "duplicate" and appends only the rest, which is how it resumes.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

import marshmallow as ma

from api.common import schema_of
from api.contributions import ContributionIn
from api.errors import flatten_messages
from api.ledger_app import ApiLedgerApplication
from ledger.errors import InvalidInput

DEFAULT_BATCH = 500
MAX_BATCH = 1000
REQUIRED_COLUMNS = {name for name, f in ContributionIn().fields.items() if f.required}
KNOWN_COLUMNS = set(ContributionIn().fields)


@dataclass(frozen=True)
class RowReport:
    row: int  # 1 = the first row after the header
    status: str  # created, duplicate, conflict or invalid
    event_id: str = ""
    errors: dict[str, list[str]] = field(default_factory=dict)


class BadFile(Exception):
    """The file cannot be imported at all (for example, a missing column)."""


def count_rows(path: Path) -> int:
    with path.open(newline="", encoding="utf-8") as f:
        return max(sum(1 for _ in f) - 1, 0)


def import_contributions(
    app: ApiLedgerApplication, path: Path, *, batch_size: int = DEFAULT_BATCH,
    progress: Callable[[int], None] = lambda _: None,
) -> Iterator[RowReport]:
    """Posts the file's rows in batches; yields one report per row, in file order."""
    if not 1 <= batch_size <= MAX_BATCH:
        raise BadFile(f"batch size must be between 1 and {MAX_BATCH}")
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        _check_columns(reader.fieldnames or ())
        first = 1
        while batch := list(islice(reader, batch_size)):
            outcomes, _ = app.post_contributions([_load(row) for row in batch])
            for outcome in outcomes:
                yield RowReport(first + outcome.index, outcome.status,
                                str(outcome.contribution_id or ""), outcome.errors)
            first += len(batch)
            progress(len(batch))


def _check_columns(columns: Sequence[str]) -> None:
    missing = REQUIRED_COLUMNS - set(columns)
    unknown = set(columns) - KNOWN_COLUMNS
    if missing or unknown:
        raise BadFile(f"columns: missing {sorted(missing)}, unknown {sorted(unknown)}")


def _load(row: dict[str, Any]) -> dict[str, Any] | InvalidInput:
    # An empty cell is an absent value (risk_cost is optional); csv gives None for short rows.
    present = {k: v for k, v in row.items() if k is not None and v not in ("", None)}
    try:
        loaded: dict[str, Any] = schema_of(ContributionIn).load(present)
    except ma.ValidationError as refused:
        return InvalidInput(flatten_messages(refused.messages))
    return loaded

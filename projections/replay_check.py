"""Verifiable replay: rebuild the read models from the log in a scratch database and compare
them with the stored ones, row by row, naming each row and figure that differs.

The read models are derived data, so the log is their evidence: a fact row deleted or
changed behind the projections' back (the API would answer from it) is found here. The
scratch copy is a fresh SQLite file that only this check writes; the stored read models
are only read, in one snapshot, at the positions their tracking rows hold, so the check
needs no write privilege and is not confused by a worker catching up meanwhile.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Column, Connection, Engine, Table, select

from ledger.application import LedgerApplication
from persistence.engines import engine_for, engine_for_url, reading
from persistence.schema import upgrade
from projections import tables as t
from projections.database import tracked, tracking_rows
from projections.materialised import FigureView
from projections.runner import FACTS, FactsProjection

MAX_DIFFERENCES = 100
"""The check stops after this many differences (the first one is what matters)."""
FIGURE_PREFIX = "figures:"


@dataclass(frozen=True)
class Difference:
    """One row that differs: missing from one side, or one column that differs."""

    table: str
    key: tuple[tuple[str, Any], ...]
    column: str | None
    stored: Any
    replayed: Any

    def describe(self) -> str:
        where = f"{self.table} ({', '.join(f'{k}={v}' for k, v in self.key)})"
        if self.column is None and self.stored is None:
            return f"{where}: missing from the read models (the replay of the log has it)"
        if self.column is None:
            return f"{where}: in the read models, but no event of the log makes it"
        return (f"{where}: {self.column} is {self.stored}, "
                f"the replay of the log says {self.replayed}")


@dataclass(frozen=True)
class _Positions:
    facts: int
    views: dict[str, int]
    versions: dict[str, str | None]


def check_views(
    app: LedgerApplication, limit: int = MAX_DIFFERENCES
) -> tuple[list[Difference], int]:
    """Every difference between the stored read models and a replay (at most `limit`),
    and how many stored rows were compared."""
    stored = engine_for(app)
    with reading(stored) as conn:
        positions = _positions(conn)
    with _scratch() as scratch:
        _replay(app, scratch, positions)
        with reading(stored) as mine, reading(scratch) as theirs:
            return _compare(mine, theirs, positions, limit)


def _positions(conn: Connection) -> _Positions:
    views = {}
    for name, position in tracking_rows(conn, FIGURE_PREFIX).items():
        view = name.removeprefix(FIGURE_PREFIX)
        if ":" not in view:  # `figures:NAME:sweep` marks a sweep in progress, not a view
            views[view] = position
    versions = {row.view_name: row.ruleset_version for row in conn.execute(select(t.views))}
    return _Positions(tracked(conn, FACTS) or 0, views, versions)


@contextmanager
def _scratch() -> Iterator[Engine]:
    with tempfile.TemporaryDirectory(prefix="ledger-replay-") as directory:
        url = f"sqlite:///{Path(directory) / 'replay.db'}"
        upgrade(url)
        engine = engine_for_url(url)
        try:
            yield engine
        finally:
            engine.dispose()


def _replay(app: LedgerApplication, scratch: Engine, positions: _Positions) -> None:
    """The facts up to the stored facts' position, each view swept at its own position."""
    facts = FactsProjection(app)
    facts.engine = scratch  # the log is read from the application; rows go to the scratch
    facts.catch_up(until=positions.facts)
    for name, position in positions.views.items():
        FigureView(scratch, name, positions.versions.get(name)).sweep(position)


def _compare(
    stored: Connection, replayed: Connection, positions: _Positions, limit: int
) -> tuple[list[Difference], int]:
    differences: list[Difference] = []
    compared = 0
    for table in t.FACT_TABLES:
        compared += _compare_table(stored, replayed, table, (), differences, limit)
    for view in sorted(positions.views):
        compared += _compare_table(stored, replayed, t.figures, (view,), differences, limit)
    return differences[:limit], compared


def _compare_table(
    stored: Connection, replayed: Connection, table: Table, view: tuple[str, ...],
    differences: list[Difference], limit: int,
) -> int:
    """Merge the two sides in key order (byte order on both databases) and note what differs.

    A figure row's `position` is when it was last recomputed, which a follow and a sweep
    legitimately set differently; every figure itself must match.
    """
    keys = [c.name for c in table.primary_key.columns]
    skip = {"position"} if table is t.figures else set()
    values = [c.name for c in table.columns if c.name not in keys and c.name not in skip]
    mine, theirs = _rows(stored, table, view), _rows(replayed, table, view)
    a, b = next(mine, None), next(theirs, None)
    compared = 0
    while (a is not None or b is not None) and len(differences) < limit:
        ka = None if a is None else _key(a, keys)
        kb = None if b is None else _key(b, keys)
        if a is not None and b is not None and ka == kb:
            differences.extend(_column_difference(table.name, keys, _key(a, keys), a, b, values))
            a, b, compared = next(mine, None), next(theirs, None), compared + 1
        elif kb is None or (ka is not None and ka < kb):
            differences.append(Difference(table.name, _named(keys, ka), None, a, None))
            a, compared = next(mine, None), compared + 1
        else:
            differences.append(Difference(table.name, _named(keys, kb), None, None, b))
            b = next(theirs, None)
    return compared


def _rows(conn: Connection, table: Table, view: tuple[str, ...]) -> Iterator[dict[str, Any]]:
    order = [_in_byte_order(conn, c) for c in table.primary_key.columns]
    statement = select(table).order_by(*order)
    if view:
        statement = statement.where(t.figures.c.view_name == view[0])
    for row in conn.execution_options(stream_results=True, max_row_buffer=1000).execute(
        statement
    ):
        yield {k: _canonical(v) for k, v in row._mapping.items()}


def _in_byte_order(conn: Connection, column: Column[Any]) -> Any:
    # PostgreSQL sorts text by its locale, SQLite by bytes: "C" makes them agree.
    if conn.dialect.name == "postgresql" and column.type.python_type is str:
        return column.collate("C")
    return column


def _key(row: dict[str, Any], keys: list[str]) -> tuple[Any, ...]:
    return tuple(row[k] for k in keys)


def _named(keys: list[str], values: tuple[Any, ...] | None) -> tuple[tuple[str, Any], ...]:
    return tuple(zip(keys, values or (), strict=True))


def _column_difference(
    table: str, keys: list[str], key: tuple[Any, ...], stored: dict[str, Any],
    replayed: dict[str, Any], values: list[str],
) -> list[Difference]:
    for column in values:
        if stored[column] != replayed[column]:
            return [Difference(table, _named(keys, key), column, stored[column],
                               replayed[column])]
    return []


def _canonical(value: Any) -> Any:
    # NUMERIC may come back as 7250.00 or 7250 depending on how it was written.
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    return value

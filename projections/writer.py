"""A page's fact rows written by the driver's fastest path, inside the caller's transaction.

PostgreSQL (psycopg2): one COPY per table and page. SQLite: one `executemany` per table
and page. Both run on the connection that holds the page's tracking compare-and-set, so
the rows and the position still commit together or not at all (exactly once).

Each value first goes through its column's own bind processor (StoredText's replacement
of unstorable characters, Money's exact text and Date's ISO text on SQLite), so a row is
stored exactly as a Core `insert()` stored it; only SQLAlchemy's per-row statement
machinery (compiling, parameter dicts, the multi-row VALUES text) is left out.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Dialect, Table

from projections import tables as t

Row = Mapping[str, Any]
Processor = Callable[[Any], Any] | None


@dataclass(frozen=True)
class TableWriter:
    """How one fact table's rows become driver values: its columns in order, with the
    bind processor of each for one dialect."""

    table: Table
    columns: tuple[str, ...]
    processors: tuple[Processor, ...]

    def values(self, row: Row) -> tuple[Any, ...]:
        # A fact function gives every column; a missing one is NULL, as in an insert().
        return tuple(
            value if process is None or value is None else process(value)
            for value, process in zip(map(row.get, self.columns), self.processors,
                                      strict=True)
        )

    def copy_line(self, row: Row) -> str:
        """The row as one line of COPY's text format: the values `values` gives, each as
        psycopg2 would have adapted it for an INSERT."""
        return "\t".join([
            _NULL if value is None else _TEXT[type(value)](
                value if process is None else process(value))
            for value, process in zip(map(row.get, self.columns), self.processors,
                                      strict=True)
        ]) + "\n"

    def copy_statement(self) -> str:
        return f"COPY {self.table.name} ({', '.join(self.columns)}) FROM STDIN"

    def insert_statement(self) -> str:
        marks = ", ".join("?" for _ in self.columns)
        return f"INSERT INTO {self.table.name} ({', '.join(self.columns)}) VALUES ({marks})"


_WRITERS: dict[tuple[str, str, str], TableWriter] = {}
"""By table and dialect (name, driver): a bind processor depends on nothing else, and a
process (the tests) makes many engines of the same dialect."""


def _writer(table: Table, dialect: Dialect) -> TableWriter:
    key = (table.name, dialect.name, dialect.driver)
    found = _WRITERS.get(key)
    if found is None:
        columns = tuple(column.name for column in table.columns)
        processors = tuple(column.type.bind_processor(dialect) for column in table.columns)
        found = _WRITERS[key] = TableWriter(table, columns, processors)
    return found


def write_facts(conn: Connection, rows: Mapping[str, Sequence[Row]]) -> None:
    """Writes a page's rows, tables in a fixed order, by the fastest path the driver has."""
    dialect = conn.dialect
    if dialect.name == "postgresql" and dialect.driver == "psycopg2":
        _copy(conn, dialect, rows)
    elif dialect.name == "sqlite":
        _executemany(conn, dialect, rows)
    else:
        insert_facts(conn, rows)


def insert_facts(conn: Connection, rows: Mapping[str, Sequence[Row]]) -> None:
    """The Core path: one multi-row INSERT per table (any driver; the reference the fast
    paths are tested against)."""
    for table in t.FACT_TABLES:
        batch = rows.get(table.name)
        if batch:
            conn.execute(table.insert(), [dict(row) for row in batch])


def _executemany(conn: Connection, dialect: Dialect, rows: Mapping[str, Sequence[Row]]) -> None:
    for table in t.FACT_TABLES:
        batch = rows.get(table.name)
        if batch:
            writer = _writer(table, dialect)
            conn.exec_driver_sql(writer.insert_statement(), [writer.values(r) for r in batch])


def _copy(conn: Connection, dialect: Dialect, rows: Mapping[str, Sequence[Row]]) -> None:
    # The pooled DBAPI connection of `conn`: the same session, in the same transaction.
    cursor = conn.connection.cursor()
    try:
        for table in t.FACT_TABLES:
            batch = rows.get(table.name)
            if batch:
                writer = _writer(table, dialect)
                text = "".join([writer.copy_line(r) for r in batch])
                cursor.copy_expert(writer.copy_statement(), io.StringIO(text))
    finally:
        cursor.close()


_ESCAPES = str.maketrans({"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"})
"""COPY's text format: these four would otherwise end a value, a row, or start an escape."""
_NULL = "\\N"


_ESCAPED = re.compile("[\\\\\n\r\t]").search


def _text(value: str) -> str:
    # translate looks every character up in a dict: only the rare value that needs it.
    return value.translate(_ESCAPES) if _ESCAPED(value) else value


def _boolean(value: bool) -> str:
    return "t" if value else "f"


class _Texts(dict[type[Any], Callable[[Any], str]]):
    """Each type a fact row holds, by exact type, to its COPY text; a subclass (a str enum,
    a datetime) is resolved once by what it is a subclass of, bool before int."""

    def __missing__(self, kind: type[Any]) -> Callable[[Any], str]:
        for base in (bool, str, int, float, Decimal, date):
            if issubclass(kind, base):
                self[kind] = self[base]
                return self[base]
        raise TypeError(f"no COPY text for a {kind.__name__} in a fact row")


_TEXT = _Texts({str: _text, bool: _boolean, int: str, float: repr, Decimal: str, date: str})

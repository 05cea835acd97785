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
import json
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


COPY_CHUNK = 1 << 20
"""Characters psycopg2 reads from a COPY's text per message: its default, 8 KiB, made a
page's COPY 60 or more reads and sends."""

Lines = Mapping[str, Sequence[str]]
"""Rows already as COPY text lines, by table (`posting_line`), for the psycopg2 writer."""


def copies(dialect: Dialect) -> bool:
    """Whether `write_facts` writes by COPY on this dialect (and so takes `Lines`)."""
    return dialect.name == "postgresql" and dialect.driver == "psycopg2"


def write_facts(
    conn: Connection, rows: Mapping[str, Sequence[Row]], lines: Lines | None = None
) -> None:
    """Writes a page's rows, tables in a fixed order, by the fastest path the driver has;
    `lines` (COPY text) only where `copies` says so."""
    dialect = conn.dialect
    lines = lines or {}
    if copies(dialect):
        _copy(conn, dialect, rows, lines)
    elif any(lines.values()):
        raise ValueError(f"COPY lines given to a {dialect.name} writer")
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


def _copy(conn: Connection, dialect: Dialect, rows: Mapping[str, Sequence[Row]],
          lines: Lines) -> None:
    # The pooled DBAPI connection of `conn`: the same session, in the same transaction.
    cursor = conn.connection.cursor()
    try:
        for table in t.FACT_TABLES:
            batch, ready = rows.get(table.name, ()), lines.get(table.name, ())
            if batch or ready:
                writer = _writer(table, dialect)
                text = "".join([*ready, *(writer.copy_line(r) for r in batch)])
                cursor.copy_expert(writer.copy_statement(), io.StringIO(text), size=COPY_CHUNK)
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


# --- a posting's COPY line straight from its stored JSON ------------------------------------
# Nine events in ten of a bank's log are postings. Their row is a copy of eight fields, so
# it is written from the stored JSON as text, without the typed values the object hook
# builds, the fact row's dict or the per-value processors: a third of the facts stage's
# Python per posting (py-spy, issue 18). Anything this cannot take as plainly as that
# (another class version, a value of another type, text StoredText would change) gives
# None, and the event goes the typed way (facts.contribution_posted, then copy_line):
# tests/projections/test_fast_facts.py holds both ways' lines equal.

POSTING_COLUMNS = ("position", "contribution_id", "customer_id", "booked_on", "interest_income",
                   "deposit_earnings", "fee_income", "risk_cost", "source_system", "external_id")
"""rm_contributions' columns in the order `posting_line` gives them (checked at import)."""
if POSTING_COLUMNS != tuple(c.name for c in t.contributions.columns):
    raise RuntimeError("rm_contributions' columns moved: posting_line must follow them")

_plain_json = json.JSONDecoder().decode


def posting_line(state: str, contribution_id: str, position: int, version: int) -> str | None:
    """rm_contributions' COPY line for a Contribution.Posted of class version `version`
    stored as `state` (the transcoder's JSON, with its `decimal_str` and `date_iso`), or
    None when the typed way must decide."""
    s = _plain_json(state)
    if s.get("class_version", 1) != version:
        return None
    try:
        values = (
            str(position), contribution_id, _plain(s["customer_id"]), _day(s["booked_on"]),
            _money(s["interest_income"]), _money(s["deposit_earnings"]),
            _money(s["fee_income"]), _money(s["risk_cost"]), _plain(s["source_system"]),
            _plain(s["external_id"]),
        )
    except (KeyError, TypeError, ValueError, ArithmeticError):
        return None
    return "\t".join(values) + "\n"


def _plain(value: Any) -> str:
    # Text StoredText keeps as it is (ASCII, no NUL), escaped for COPY.
    if type(value) is not str or not value.isascii() or "\x00" in value:
        raise TypeError("not plain text")
    return _text(value)


def _typed(value: Any, name: str) -> str:
    if type(value) is not dict or len(value) != 2 or value.get("_type_") != name:
        raise TypeError(f"not a {name}")
    data = value["_data_"]
    if type(data) is not str:
        raise TypeError(f"not a {name}")
    return data


def _day(value: Any) -> str:
    # The text a date gives, as the typed way makes it (not the stored text as it stands).
    return str(date.fromisoformat(_typed(value, "date_iso")))


def _money(value: Any) -> str:
    return str(Decimal(_typed(value, "decimal_str")))

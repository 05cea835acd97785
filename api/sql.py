"""The API's few statements on its support tables, run on the ledger's own connection pool.

Tokens and idempotency records live beside the event log and are reached through the same
datastore the recorder uses, so the API opens no second pool. Statements are written with
`?` placeholders and rewritten for psycopg2; no caller-supplied text ever becomes SQL.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.persistence import ApplicationRecorder

from persistence.postgres import PgDatastore
from persistence.records import from_micros, to_micros

Row = tuple[Any, ...]


class SupportTables:
    """Reads and writes rows of the API's support tables in either dialect."""

    def __init__(self, recorder: ApplicationRecorder) -> None:
        # Both our recorders keep their datastore here; the library's interface does not say so.
        self.datastore: Any = recorder.datastore  # type: ignore[attr-defined]
        self.postgres = isinstance(self.datastore, PgDatastore)

    def one(self, statement: str, params: Sequence[Any]) -> Row | None:
        """The first row the query returns, or None."""
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(self._dialect(statement), self._values(params))
            row = curs.fetchone()
        return None if row is None else tuple(row)

    def change(self, statement: str, params: Sequence[Any]) -> int:
        """Runs one INSERT or UPDATE in its own transaction; returns the rows it touched."""
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(self._dialect(statement), self._values(params))
            # The library's SQLite cursor wraps the driver's; psycopg2's is the driver's.
            return int(getattr(curs, "sqlite_cursor", curs).rowcount)

    def existing_originators(self, ids: Sequence[UUID]) -> set[UUID]:
        """Which of these aggregate ids have events, in one query (not one per id).

        This reads the event table directly: the recorder interface has no bulk lookup.
        """
        if not ids:
            return set()
        if self.postgres:
            row_ids = self._all("SELECT DISTINCT originator_id FROM events "
                                "WHERE originator_id = ANY(%s)", [list(ids)])
            return {UUID(str(r)) for r in row_ids}
        marks = ",".join("?" * len(ids))
        row_ids = self._all(f"SELECT DISTINCT originator_id FROM events WHERE originator_id "
                            f"IN ({marks})", [i.hex for i in ids])
        return {UUID(hex=str(r)) for r in row_ids}

    def _all(self, statement: str, params: Sequence[Any]) -> list[Any]:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(statement, params)
            return [row[0] for row in curs.fetchall()]

    def instant(self, value: Any) -> datetime | None:
        """A stored instant read back as an aware datetime (SQLite keeps epoch microseconds)."""
        if value is None or isinstance(value, datetime):
            return value
        return from_micros(int(value))

    def _dialect(self, statement: str) -> str:
        return statement.replace("?", "%s") if self.postgres else statement

    def _values(self, params: Sequence[Any]) -> list[Any]:
        if self.postgres:
            return list(params)
        return [to_micros(p) if isinstance(p, datetime) else p for p in params]

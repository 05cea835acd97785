"""The tracking rows' compare-and-set, beside the engines and transactions projections use
(those live in persistence.engines, shared with the token store)."""

from __future__ import annotations

from sqlalchemy import Connection, delete, select, update

from persistence.engines import (
    database_url,
    dialect_insert,
    engine_for,
    engine_for_url,
    projection_engine_for,
    reading,
    writing,
)
from projections.tables import tracking

__all__ = [
    "advance", "database_url", "dialect_insert", "engine_for", "engine_for_url", "ensure_tracking",
    "forget", "projection_engine_for", "reading", "tracked", "tracking_rows", "writing",
]


# --- tracking -----------------------------------------------------------------------


def tracked(conn: Connection, name: str) -> int | None:
    """The position a tracking row holds, or None when there is no row."""
    value = conn.execute(
        select(tracking.c.notification_id).where(tracking.c.application_name == name)
    ).scalar()
    return None if value is None else int(value)


def ensure_tracking(conn: Connection, name: str, position: int = 0) -> bool:
    """Creates the row at `position` unless it exists; True when this call created it.

    A concurrent insert of the same name waits for the other transaction and then does
    nothing, so of two processes racing to create a row exactly one is told True.
    """
    statement = dialect_insert(conn, tracking).values(
        application_name=name, notification_id=position
    )
    result = conn.execute(statement.on_conflict_do_nothing(index_elements=["application_name"]))
    return result.rowcount == 1


def advance(conn: Connection, name: str, expected: int, new: int) -> bool:
    """Compare-and-set: moves the row from `expected` to `new`; False if it held another value.

    Run first in a write transaction, so the row lock it takes orders competing processors:
    the loser sees the winner's value, matches nothing, and rolls its batch back.
    """
    result = conn.execute(
        update(tracking)
        .where(tracking.c.application_name == name, tracking.c.notification_id == expected)
        .values(notification_id=new)
    )
    return result.rowcount == 1


def forget(conn: Connection, *names: str) -> None:
    conn.execute(delete(tracking).where(tracking.c.application_name.in_(names)))


def tracking_rows(conn: Connection, prefix: str) -> dict[str, int]:
    rows = conn.execute(
        select(tracking.c.application_name, tracking.c.notification_id).where(
            tracking.c.application_name.startswith(prefix)
        )
    )
    return {name: int(position) for name, position in rows}


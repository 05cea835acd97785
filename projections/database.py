"""The tracking rows' compare-and-set, beside the engines and transactions projections use
(those live in persistence.engines, shared with the token store), and the bounded wait of
a query for read models that someone else (a worker, through a replica) brings forward."""

from __future__ import annotations

import math
import time
from typing import Any

from eventsourcing.application import Application
from sqlalchemy import Connection, Engine, delete, select, update

from ledger.errors import ProjectionLagging
from persistence.config import READ_URL, WORKERS
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
    "external_workers", "forget", "lag", "projection_engine_for", "read_engine_for", "reading",
    "tracked", "tracking_rows", "wait_for", "writing",
]

FIRST_POLL_SECONDS = 0.005
MAX_POLL_SECONDS = 0.1
"""A waiting query looks again after 5 ms, then doubling up to 100 ms: a replica usually
replays within milliseconds, and a wait of a whole bound costs at most ~25 reads."""
MAX_RETRY_AFTER = 60


def read_engine_for(app: Application[Any]) -> Engine:
    """The query side's engine: LEDGER_READ_DATABASE_URL (a standby) when configured, else
    the service's. It only ever reads."""
    replica = app.env.get(READ_URL)
    return engine_for_url(str(replica)) if replica else engine_for(app)


def external_workers(app: Application[Any]) -> bool:
    """True when `ledger projections run` workers keep the read models, so that a query
    waits for them instead of writing (LEDGER_PROJECTION_WORKERS=external)."""
    return app.env.get(WORKERS) == "external" or bool(app.env.get(READ_URL))


# --- waiting for someone else's writes ---------------------------------------------------


def wait_for(engine: Engine, name: str, position: int, timeout: float) -> tuple[int, float]:
    """Polls tracking row `name` until it holds `position` or more; returns (the position it
    holds, seconds waited). Past `timeout`, raises ProjectionLagging with a Retry-After.

    LISTEN is refused on a hot standby, so this polls, each time in a new snapshot (on a
    replica, a new snapshot is what shows the WAL replayed since)."""
    started = time.monotonic()
    pause = FIRST_POLL_SECONDS
    looks = 0
    while True:
        with reading(engine) as conn:
            reached = tracked(conn, name) or 0
        looks += 1
        waited = time.monotonic() - started
        if reached >= position:
            # Found on the first look: no wait at all (the look is the query's own read).
            return reached, 0.0 if looks == 1 else waited
        if waited >= timeout:
            raise ProjectionLagging(
                _retry_after(waited, timeout), f"the read models are at position {reached}, "
                f"the answer needs {position}: they lag beyond the {timeout:g} s bound")
        time.sleep(min(pause, max(timeout - waited, 0.0)))
        pause = min(pause * 2, MAX_POLL_SECONDS)


def _retry_after(waited: float, timeout: float) -> int:
    # The lag outlasted one bound: ask the client to come back after another.
    return max(1, min(MAX_RETRY_AFTER, math.ceil(max(waited, timeout))))


def lag(engine: Engine, head: int, names: list[str]) -> dict[str, int]:
    """Positions behind `head` per tracking row (a missing row lags by the whole log);
    for a metric, e.g. `lag(engine_for(app), head, [runner.FACTS])`."""
    with reading(engine) as conn:
        return {name: max(head - (tracked(conn, name) or 0), 0) for name in names}


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


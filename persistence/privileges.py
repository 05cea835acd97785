"""Does the service's database role hold more than it should on the append-only tables?"""

from __future__ import annotations

from typing import Any

APPEND_ONLY_TABLES = ("events", "event_chain", "idempotency")
FORBIDDEN = ("UPDATE", "DELETE", "TRUNCATE")


def excess_privileges(recorder: Any) -> list[str]:
    """What the connected role may do to the append-only tables beyond SELECT and INSERT.

    An empty list is healthy. SQLite has no roles (its triggers are its only guard), so
    it reports nothing. `/readyz` reports a non-empty list as not ready.
    """
    datastore = getattr(recorder, "datastore", None)
    if datastore is None or not hasattr(datastore, "dsn"):
        return []
    checks = ", ".join(
        f"has_table_privilege(current_user, '{t}', '{p}')"
        for t in APPEND_ONLY_TABLES
        for p in FORBIDDEN
    )
    with datastore.transaction(commit=False) as curs:
        curs.execute(f"SELECT current_user, {checks}")
        row = curs.fetchone()
    pairs = [(t, p) for t in APPEND_ONLY_TABLES for p in FORBIDDEN]
    return [f"{row[0]} may {p} {t}" for (t, p), held in zip(pairs, row[1:], strict=True) if held]

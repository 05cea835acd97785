"""Does the service's database role, or the projection writer's, hold more than it should?"""

from __future__ import annotations

from typing import Any

from persistence.config import projection_role

APPEND_ONLY_TABLES = ("events", "event_chain", "idempotency", "chain_heads")  # 0001, 0007
FORBIDDEN = ("UPDATE", "DELETE", "TRUNCATE")
WRITES = ("INSERT", "UPDATE", "DELETE", "TRUNCATE")
TOKENS_TABLE = "api_tokens"

READ_MODELS_SQL = (
    "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() "
    "AND left(tablename, 3) = 'rm_' ORDER BY tablename"
)
# One row per (role, table, privilege) that is held but should not be; roles that do not
# exist (a writer never created) are skipped rather than failing the whole check.
HELD_SQL = (
    "SELECT r, t, p FROM unnest(%s::text[], %s::text[], %s::text[]) WITH ORDINALITY "
    "AS x(r, t, p, n) WHERE EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) "
    "AND has_table_privilege(r, t, p) ORDER BY n"
)


def forbidden(service: str, writer: str, read_models: list[str]) -> list[tuple[str, str, str]]:
    """(role, table, privilege) that must not be held (migration 0008, docs/roles.md).

    The service appends to the log and reads the rest: it may change no log row, no token
    row (only 0008's functions do that) and no read model. The projection writer writes
    only read models: nothing of the log or the tokens.
    """
    rules = [(service, t, p) for t in APPEND_ONLY_TABLES for p in FORBIDDEN]
    rules += [(service, t, p) for t in (TOKENS_TABLE, *read_models) for p in WRITES]
    if writer != service:
        rules += [(writer, t, p) for t in (*APPEND_ONLY_TABLES, TOKENS_TABLE) for p in WRITES]
    return rules


def excess_privileges(recorder: Any, writer_role: str | None = None) -> list[str]:
    """What the connected role (and the projection writer's role) may do beyond their part.

    An empty list is healthy. SQLite has no roles (its triggers are its only guard), so
    it reports nothing. `/readyz` reports a non-empty list as not ready.
    """
    datastore = getattr(recorder, "datastore", None)
    if datastore is None or not hasattr(datastore, "dsn"):
        return []
    with datastore.transaction(commit=False) as curs:
        curs.execute("SELECT current_user")
        service = str(curs.fetchone()[0])
        curs.execute(READ_MODELS_SQL)
        read_models = [str(row[0]) for row in curs.fetchall()]
        rules = forbidden(service, writer_role or projection_role(), read_models)
        curs.execute(HELD_SQL, tuple(list(column) for column in zip(*rules, strict=True)))
        held = curs.fetchall()
    return [f"{role} may {privilege} {table}" for role, table, privilege in held]

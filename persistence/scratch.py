"""Scratch PostgreSQL databases: created as an administrator, used, dropped (tests, bench).

Nothing here is part of the service; it is the one place that knows how to turn an
administrator's URL into another database's (or another role's) URL, and how to create
and drop a throwaway database, so the test suite and the benchmark share one copy.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit

import psycopg2

from persistence.url import libpq_dsn

CONNECT_TIMEOUT_SECONDS = 5
# Database names are interpolated into DDL (CREATE/DROP DATABASE take no parameters), so
# only plain lower-case identifiers within PostgreSQL's 63-byte limit are accepted.
_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


def with_database(url: str, dbname: str, user: str | None = None) -> str:
    """`url` pointed at database `dbname`, and at role `user` (without a password) if given."""
    parts = urlsplit(libpq_dsn(url))
    netloc = parts.netloc
    if user is not None:
        netloc = f"{user}@{netloc.rsplit('@', 1)[-1]}"
    return urlunsplit((parts.scheme, netloc, f"/{dbname}", parts.query, parts.fragment))


def admin_execute(admin_url: str, *statements: str) -> None:
    """Runs each statement in autocommit (CREATE/DROP DATABASE refuse a transaction)."""
    conn = psycopg2.connect(libpq_dsn(admin_url), connect_timeout=CONNECT_TIMEOUT_SECONDS)
    conn.autocommit = True
    try:
        with conn.cursor() as curs:
            for statement in statements:
                curs.execute(statement)
    finally:
        conn.close()


def scratch_name(prefix: str) -> str:
    """`prefix_<pid>_<random>`: the pid lets a later run tell a dead run's leftovers."""
    return checked_name(f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:8]}")


def checked_name(dbname: str) -> str:
    if not _NAME.fullmatch(dbname):
        raise ValueError(f"not a plain database name: {dbname!r}")
    return dbname


def create_database(admin_url: str, dbname: str) -> None:
    admin_execute(admin_url, f"CREATE DATABASE {checked_name(dbname)}")


def drop_database(admin_url: str, dbname: str) -> None:
    """Ends the database's other sessions, then drops it if it is still there."""
    name = checked_name(dbname)
    admin_execute(
        admin_url,
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        f"WHERE datname = '{name}' AND pid <> pg_backend_pid()",
        f"DROP DATABASE IF EXISTS {name}",
    )


@contextmanager
def scratch_database(admin_url: str, prefix: str = "ledger_scratch") -> Iterator[str]:
    """A new, empty database named after `prefix`; dropped afterwards whatever happens."""
    dbname = scratch_name(prefix)
    create_database(admin_url, dbname)
    try:
        yield dbname
    finally:
        drop_database(admin_url, dbname)

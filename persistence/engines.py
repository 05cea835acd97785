"""One SQLAlchemy engine per database and process, and the transactions every reader uses.

The same Core statements run on SQLite and PostgreSQL; only the engine is set up per
dialect. On SQLite the driver's implicit transactions are replaced by explicit ones, so
that a read sees one snapshot and a writer takes the write lock when it begins.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from threading import Lock
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from eventsourcing.application import Application
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.dialects import postgresql, sqlite

from persistence.config import PROJECTION_URL, projection_role
from persistence.schema import sqlalchemy_url
from persistence.url import backend_of

MAX_ENGINES = 8
"""Engines kept per process (one per database); the oldest is disposed beyond that."""

SQLITE_BUSY_SECONDS = 30
"""How long a SQLite writer waits for the write lock before failing."""

_engines: OrderedDict[str, Engine] = OrderedDict()
_engines_lock = Lock()


def database_url(app: Application[Any]) -> str:
    """The `sqlite:///…` or `postgresql://…` URL the application's recorder uses."""
    if app.env.get("PERSISTENCE_MODULE") == "persistence.postgres":
        return str(app.env.get("POSTGRES_DSN"))
    name = str(app.env.get("SQLITE_DBNAME") or "")
    if not name or ":memory:" in name or "mode=memory" in name:
        raise ValueError("projections need a database file or server, not an in-memory SQLite")
    return "sqlite:///" + name.removeprefix("file:")


def engine_for(app: Application[Any]) -> Engine:
    """The service's engine: it reads read models and tokens, and writes neither."""
    return engine_for_url(database_url(app))


def projection_url(app: Application[Any]) -> str:
    """The projection writer's URL: LEDGER_PROJECTION_DATABASE_URL when configured; else
    the service's URL on SQLite (no roles there), and on PostgreSQL the service's URL with
    the writer's role (LEDGER_PROJECTION_ROLE) as its user and no password, which libpq
    then takes from ~/.pgpass or PGPASSFILE: a password is never copied between roles."""
    configured = app.env.get(PROJECTION_URL)
    if configured:
        return str(configured)
    url = database_url(app)
    if backend_of(url) == "sqlite":
        return url
    return with_user(url, projection_role())


def with_user(url: str, user: str) -> str:
    """A postgresql:// URL with another user and without a password."""
    parts = urlsplit(url)
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit(parts._replace(netloc=f"{user}@{host}"))


def projection_engine_for(app: Application[Any]) -> Engine:
    """The writer's engine: only projections (a worker, or a query catching up) use it."""
    return engine_for_url(projection_url(app))


def engine_for_url(url: str) -> Engine:
    with _engines_lock:
        engine = _engines.get(url)
        if engine is None:
            engine = _create(url)
            _engines[url] = engine
            while len(_engines) > MAX_ENGINES:
                _engines.popitem(last=False)[1].dispose()
        _engines.move_to_end(url)
        return engine


def _create(url: str) -> Engine:
    sa_url = sqlalchemy_url(url)
    if sa_url.startswith("sqlite"):
        engine = create_engine(sa_url, connect_args={"timeout": SQLITE_BUSY_SECONDS})
        _explicit_sqlite_transactions(engine)
        return engine
    # Pre-ping: after a PostgreSQL restart or a terminated backend, a pooled connection is
    # found dead at checkout and replaced, instead of failing the first request that uses it
    # (issue 11). One SELECT 1 per checkout, not per statement.
    return create_engine(sa_url, pool_size=2, max_overflow=4, pool_pre_ping=True)


def _explicit_sqlite_transactions(engine: Engine) -> None:
    # SQLAlchemy's documented recipe: the driver would otherwise run SELECTs outside any
    # transaction and BEGIN lazily before the first write, which gives neither a stable
    # snapshot for a query nor an early write lock for a batch.
    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None

    @event.listens_for(engine, "begin")
    def _begin(connection: Connection) -> None:
        writing = connection.get_execution_options().get("writing", False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if writing else "BEGIN")


@contextmanager
def writing(engine: Engine) -> Iterator[Connection]:
    """One write transaction: committed on success, rolled back on any error."""
    with engine.connect() as conn:
        conn.execution_options(writing=True)
        with conn.begin():
            yield conn


@contextmanager
def reading(engine: Engine) -> Iterator[Connection]:
    """One read transaction that sees a single snapshot of the database."""
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            yield conn


def dialect_insert(conn: Connection, table: Any) -> postgresql.Insert | sqlite.Insert:
    """An INSERT that supports ON CONFLICT (same API on both dialects)."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)

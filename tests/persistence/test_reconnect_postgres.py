"""Connections that heal: the pool's checkout check, the one resend, and what is never resent.

Each test terminates the service role's sessions in a database of its own (never another
database's) and then uses the same datastore, as a long-running service would. Each of the
two healing mechanisms is tested with the other switched off, so neither hides the other:
the checkout check alone (the resend disabled), and the resend alone (the check disabled).
"""

from __future__ import annotations

import select
import time
from collections.abc import Iterator
from typing import Any
from uuid import uuid4

import psycopg2
import pytest
from eventsourcing.persistence import IntegrityError, OperationalError, StoredEvent
from pgcluster import own_database, terminate_service_backends

from persistence.postgres import (
    PgAggregateRecorder,
    PgApplicationRecorder,
    PgConnectionPool,
    PgDatastore,
    TxCursor,
)
from persistence.url import libpq_dsn

pytestmark = pytest.mark.postgres

TOPIC = "tests.reconnect:Happened"


class Store:
    def __init__(self, dbname: str, owner: str, service: str) -> None:
        self.dbname = dbname
        self.owner = owner
        self.datastore = PgDatastore(libpq_dsn(service), pool_size=2, max_overflow=0)
        self.log = PgApplicationRecorder(self.datastore)
        self.snapshots = PgAggregateRecorder(self.datastore)

    def append(self) -> int:
        positions = self.log.insert_events([StoredEvent(uuid4(), 1, TOPIC, b"{}")])
        assert positions is not None
        return positions[0]

    def kill_sessions(self) -> None:
        """Terminates this store's sessions, and waits until each has been told."""
        pooled = [c.raw for c in list(self.datastore.pool._pool)]
        assert terminate_service_backends(self.dbname) >= 1
        deadline = time.monotonic() + 5
        while pooled and time.monotonic() < deadline:
            readable, _, _ = select.select(pooled, [], [], 0.05)
            pooled = [raw for raw in pooled if raw not in readable]
        assert not pooled, "a terminated session never heard of it"

    def rows(self, table: str) -> int:
        conn = psycopg2.connect(libpq_dsn(self.owner))
        try:
            with conn.cursor() as curs:
                curs.execute(f"SELECT count(*) FROM {table}")
                return int(curs.fetchone()[0])
        finally:
            conn.close()


@pytest.fixture
def store() -> Iterator[Store]:
    with own_database() as (dbname, owner, service):
        store = Store(dbname, owner, service)
        try:
            store.append()  # the pool now holds a connection that has prepared statements
            yield store
        finally:
            store.datastore.close()


def no_resend(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(TxCursor, "_may_resend", lambda self, commit: False)


def no_checkout_check(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(PgConnectionPool, "_usable", lambda self, conn: True)


def test_the_checkout_check_replaces_a_terminated_connection_before_a_statement_meets_it(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    no_resend(monkeypatch)
    store.kill_sessions()
    # Without the check the read and the append would each meet a dead connection.
    assert store.log.max_notification_id() == 1
    assert store.append() == 2
    assert all(not c.closed for c in store.datastore.pool._pool)


def test_a_read_that_meets_a_dead_connection_is_sent_again_on_a_fresh_one(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    no_checkout_check(monkeypatch)
    store.kill_sessions()
    assert store.log.max_notification_id() == 1


def test_an_appends_first_statement_is_sent_again_with_the_statements_it_needs_prepared(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    no_checkout_check(monkeypatch)
    store.kill_sessions()
    # The pooled connection had prepared the head and append statements; the new one
    # gets them before the append's first statement is sent again.
    assert store.append() == 2
    assert store.rows("events") == store.rows("event_chain") == 2


def test_a_statement_that_carries_a_commit_is_never_sent_twice(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    no_checkout_check(monkeypatch)
    store.kill_sessions()
    # A snapshot is one statement: BEGIN; INSERT; COMMIT. Whether it committed is unknown
    # to the sender, so it fails rather than risk storing it twice.
    with pytest.raises(OperationalError):
        store.snapshots.insert_events([StoredEvent(uuid4(), 1, TOPIC, b"{}")])
    assert store.rows("snapshots") == 0
    # The dead connection was discarded, not pooled: the next call works.
    store.snapshots.insert_events([StoredEvent(uuid4(), 1, TOPIC, b"{}")])
    assert store.rows("snapshots") == 1


def test_a_connection_lost_after_the_append_began_fails_the_append_and_is_discarded(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The two-trip append (a sealed log's, or a process recorder's with its tracking row).
    monkeypatch.setattr(store.log, "sealed", True)
    original = TxCursor.execute
    calls: list[int] = []

    def dies_before_the_commit(self: TxCursor, statement: Any, params: Any = None, *,
                               commit: bool = False, **kwargs: Any) -> None:
        if commit and not calls:  # the append's second statement: after the lock and head
            calls.append(self.raw.connection.info.backend_pid)
            store.kill_sessions()
        original(self, statement, params, commit=commit, **kwargs)

    monkeypatch.setattr(TxCursor, "execute", dies_before_the_commit)
    with pytest.raises(OperationalError):
        store.append()
    assert calls, "the append never reached its committing statement"
    monkeypatch.setattr(TxCursor, "execute", original)
    # Nothing of it was stored, the pool holds no dead connection, and appends go on.
    assert store.rows("events") == 1
    assert all(not c.closed for c in store.datastore.pool._pool)
    assert store.append() == 2


def test_a_one_trip_append_whose_connection_dies_before_it_is_sent_lands_once(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = TxCursor.execute
    calls: list[int] = []

    def dies_before_it_is_sent(self: TxCursor, statement: Any, params: Any = None, *,
                               commit: bool = False, **kwargs: Any) -> None:
        if commit and not calls:  # the one-trip append's only statement
            calls.append(self.raw.connection.info.backend_pid)
            store.kill_sessions()
        original(self, statement, params, commit=commit, **kwargs)

    monkeypatch.setattr(TxCursor, "execute", dies_before_it_is_sent)
    assert store.append() == 2
    assert calls, "the append never reached its statement"
    assert store.rows("events") == store.rows("event_chain") == 2


def test_a_one_trip_append_that_committed_but_lost_its_answer_is_not_appended_twice(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = TxCursor.execute
    calls: list[int] = []

    def answer_lost(self: TxCursor, statement: Any, params: Any = None, *,
                    commit: bool = False, **kwargs: Any) -> None:
        original(self, statement, params, commit=commit, **kwargs)
        if commit and not calls:  # committed; the reply never reaches the client
            calls.append(self.raw.connection.info.backend_pid)
            raise psycopg2.OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(TxCursor, "execute", answer_lost)
    event = StoredEvent(uuid4(), 1, TOPIC, b"{}")
    assert store.log.insert_events([event]) == [2]
    assert calls
    assert store.rows("events") == store.rows("event_chain") == 2
    # An event of another writer at the same id and version is still a conflict.
    with pytest.raises(IntegrityError):
        store.log.insert_events([StoredEvent(event.originator_id, 1, TOPIC, b'{"x":1}')])


def test_a_database_that_is_away_fails_fast_as_an_operational_error() -> None:
    # Nothing listens on this port: the pool cannot connect, and says so as the library's
    # OperationalError (which the API answers with 503), not as a psycopg2 error.
    datastore = PgDatastore("postgresql://ledger_service@127.0.0.1:1/nowhere", pool_size=1)
    try:
        started = time.monotonic()
        with pytest.raises(OperationalError):
            PgApplicationRecorder(datastore).max_notification_id()
        assert time.monotonic() - started < 5
    finally:
        datastore.close()

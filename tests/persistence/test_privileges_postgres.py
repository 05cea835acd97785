"""The service role's privileges on PostgreSQL, as the migrations grant them (DESIGN §7–8).

The log, its chain and the idempotency records are append-only for the service: it may read
and add, never change, remove or empty them. Projections' tracking rows it may change. And
our recorder orders appends without `LOCK TABLE ... EXCLUSIVE`, which this role may not take.
"""

from __future__ import annotations

from collections.abc import Iterator
from uuid import uuid4

import psycopg2
import psycopg2.errors
import psycopg2.extensions
import pytest
from dbsupport import SERVICE_ROLE, postgres_admin_url, postgres_service_url, reset_postgres
from eventsourcing.persistence import StoredEvent

from ledger.store import Append, IdempotencyRecord
from persistence.postgres import PgApplicationRecorder, PgDatastore
from persistence.url import libpq_dsn

pytestmark = pytest.mark.postgres

APPEND_ONLY = {
    "events": "topic = topic",
    "event_chain": "link = link",
    "idempotency": "status_code = status_code",
}


def events(count: int) -> list[StoredEvent]:
    originator_id = uuid4()
    return [
        StoredEvent(originator_id=originator_id, originator_version=v, topic="t", state=b"{}")
        for v in range(1, count + 1)
    ]


def idempotency_row(key: str) -> Append:
    return Append(IdempotencyRecord(scope="test", key=key, request_hash="h", status_code=201))


@pytest.fixture
def recorder() -> Iterator[PgApplicationRecorder]:
    """A recorder as the service role, on an emptied database with one append in it."""
    reset_postgres()
    datastore = PgDatastore(libpq_dsn(postgres_service_url()), pool_size=1)
    recorder = PgApplicationRecorder(datastore)
    recorder.insert_events(events(2), append=idempotency_row("seed"))
    yield recorder
    datastore.close()


@pytest.fixture
def service() -> Iterator[psycopg2.extensions.connection]:
    """A raw connection as the service role."""
    conn = psycopg2.connect(libpq_dsn(postgres_service_url()))
    yield conn
    conn.close()


def count_rows(table: str) -> int:
    conn = psycopg2.connect(libpq_dsn(postgres_admin_url()))
    try:
        with conn.cursor() as curs:
            curs.execute(f"SELECT count(*) FROM {table}")
            return int(curs.fetchone()[0])
    finally:
        conn.close()


def test_the_connection_really_is_the_service_role(
    service: psycopg2.extensions.connection,
) -> None:
    with service.cursor() as curs:
        curs.execute("SELECT current_user, rolsuper FROM pg_roles WHERE rolname = current_user")
        user, superuser = curs.fetchone()
    assert user == SERVICE_ROLE
    assert superuser is False


def test_the_service_role_appends_events_chain_links_and_idempotency_records(
    recorder: PgApplicationRecorder,
) -> None:
    positions = recorder.insert_events(
        events(3), append=idempotency_row("second")
    )
    assert positions == [3, 4, 5]
    assert [n.id for n in recorder.select_notifications(start=1, limit=10)] == [1, 2, 3, 4, 5]
    assert count_rows("event_chain") == 5
    assert count_rows("idempotency") == 2


@pytest.mark.parametrize("table", sorted(APPEND_ONLY))
@pytest.mark.parametrize("statement", ["UPDATE", "DELETE", "TRUNCATE"])
def test_the_service_role_can_neither_change_nor_remove_nor_empty_append_only_tables(
    recorder: PgApplicationRecorder,
    service: psycopg2.extensions.connection,
    table: str,
    statement: str,
) -> None:
    sql = {
        "UPDATE": f"UPDATE {table} SET {APPEND_ONLY[table]}",
        "DELETE": f"DELETE FROM {table}",
        "TRUNCATE": f"TRUNCATE {table}",
    }[statement]
    before = count_rows(table)
    assert before > 0
    with pytest.raises(psycopg2.errors.InsufficientPrivilege), service.cursor() as curs:
        curs.execute(sql)
    service.rollback()
    assert count_rows(table) == before


def test_the_service_role_cannot_create_tables_in_the_public_schema(
    service: psycopg2.extensions.connection,
) -> None:
    with pytest.raises(psycopg2.errors.InsufficientPrivilege), service.cursor() as curs:
        curs.execute("CREATE TABLE public.not_allowed (id integer)")


def test_the_service_role_may_update_and_delete_tracking_rows_for_projections(
    recorder: PgApplicationRecorder,
    service: psycopg2.extensions.connection,
) -> None:
    with service, service.cursor() as curs:
        curs.execute("INSERT INTO tracking (application_name, notification_id) VALUES ('p', 1)")
        curs.execute("UPDATE tracking SET notification_id = 2 WHERE application_name = 'p'")
        assert curs.rowcount == 1
        curs.execute("SELECT notification_id FROM tracking WHERE application_name = 'p'")
        assert curs.fetchone()[0] == 2
        curs.execute("DELETE FROM tracking WHERE application_name = 'p'")
        assert curs.rowcount == 1
    assert count_rows("tracking") == 0


@pytest.mark.parametrize("table", sorted(APPEND_ONLY))
def test_appends_succeed_although_the_service_role_may_not_lock_the_log_exclusively(
    recorder: PgApplicationRecorder,
    service: psycopg2.extensions.connection,
    table: str,
) -> None:
    # The library's recorder would need this; PostgreSQL refuses it to a SELECT/INSERT role.
    with pytest.raises(psycopg2.errors.InsufficientPrivilege), service.cursor() as curs:
        curs.execute(f"LOCK TABLE {table} IN EXCLUSIVE MODE")
    service.rollback()
    # ... so the recorder cannot be using it: its appends still go through.
    assert recorder.insert_events(events(2)) == [3, 4]
    assert recorder.insert_events(events(1), append=idempotency_row("x")) == [5]
    assert recorder.max_notification_id() == 5


def test_excess_privileges_is_empty_for_the_service_role_and_names_the_owners_extras() -> None:
    from persistence.postgres import PgApplicationRecorder, PgDatastore
    from persistence.privileges import excess_privileges
    from persistence.url import libpq_dsn

    service = PgDatastore(libpq_dsn(postgres_service_url()))
    owner = PgDatastore(libpq_dsn(postgres_admin_url()))
    try:
        assert excess_privileges(PgApplicationRecorder(service)) == []
        extras = excess_privileges(PgApplicationRecorder(owner))
        assert "postgres may UPDATE events" in extras
        assert "postgres may TRUNCATE idempotency" in extras
    finally:
        service.close()
        owner.close()

"""Least privilege on PostgreSQL (migration 0008): the service role cannot alter a token or
a read model; the projection writer writes read models and nothing of the log or tokens;
`/readyz` names any extra privilege either holds."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import psycopg2
import psycopg2.errors
import psycopg2.extensions
import pytest
from dbsupport import (
    PROJECTION_ROLE,
    SERVICE_ROLE,
    postgres_admin_url,
    postgres_projection_url,
    postgres_service_url,
    reset_postgres,
)

from api import create_app
from persistence.tokens import TokenStore
from persistence.url import environment_for, libpq_dsn

pytestmark = pytest.mark.postgres

READ_MODELS = (
    "rm_managers", "rm_grades", "rm_targets", "rm_customers", "rm_holdings",
    "rm_contributions", "rm_deductions", "rm_deduction_changes", "rm_disputes",
    "rm_dispute_steps", "rm_adjustments", "rm_adjustment_changes", "rm_rulesets",
    "rm_ruleset_publications", "rm_views", "rm_figures", "rm_period_closings", "rm_tracking",
)


def connect(url: str) -> psycopg2.extensions.connection:
    return psycopg2.connect(libpq_dsn(url))


@pytest.fixture
def service() -> Iterator[psycopg2.extensions.connection]:
    reset_postgres()
    conn = connect(postgres_service_url())
    yield conn
    conn.close()


@pytest.fixture
def writer() -> Iterator[psycopg2.extensions.connection]:
    conn = connect(postgres_projection_url())
    yield conn
    conn.close()


def refused(conn: psycopg2.extensions.connection, sql: str, *args: object) -> None:
    with pytest.raises(psycopg2.errors.InsufficientPrivilege), conn.cursor() as curs:
        curs.execute(sql, args)
    conn.rollback()


def test_the_service_role_cannot_promote_insert_or_delete_a_token(
    service: psycopg2.extensions.connection,
) -> None:
    store = TokenStore.of_url(postgres_service_url())
    secret = store.create(role="auditor", subject="aud")
    refused(service, "UPDATE api_tokens SET role = 'supervisor'")
    refused(service, "UPDATE api_tokens SET expires_at = now() + interval '10 years'")
    refused(service, "UPDATE api_tokens SET revoked_at = NULL")
    refused(service, "DELETE FROM api_tokens")
    refused(service, "INSERT INTO api_tokens (token_hash, role, subject, created_at, expires_at)"
                     " VALUES ('x', 'auditor', 'x', now(), now() + interval '1 day')")
    refused(service, "TRUNCATE api_tokens")
    principal = store.principal(secret)
    assert principal is not None and principal.role == "auditor"


def test_the_service_issues_uses_and_revokes_tokens_only_through_the_definer_functions(
    service: psycopg2.extensions.connection,
) -> None:
    store = TokenStore.of_url(postgres_service_url())
    secret = store.create(role="auditor", subject="aud", expires_in=timedelta(hours=1))
    assert store.principal(secret) is not None
    listed = store.listing()
    assert [(t.role, t.subject) for t in listed] == [("auditor", "aud")]
    assert listed[0].last_used_at is not None
    assert listed[0].expires_at is not None
    assert listed[0].expires_at - datetime.now(UTC) < timedelta(hours=1, seconds=5)
    assert store.revoke(secret) and store.principal(secret) is None
    # The function refuses what the store refuses, for a caller that skips the store.
    with pytest.raises(psycopg2.errors.CheckViolation), service.cursor() as curs:
        curs.execute("SELECT ledger_issue_token('h', 'admin', 'root', NULL, now() + "
                     "interval '1 day')")
    service.rollback()
    with pytest.raises(psycopg2.errors.CheckViolation), service.cursor() as curs:
        curs.execute("SELECT ledger_issue_token('h', 'auditor', 'a', NULL, now() + "
                     "interval '10 years')")
    service.rollback()


@pytest.mark.parametrize("table", READ_MODELS)
def test_the_service_role_reads_but_cannot_change_a_read_model(
    service: psycopg2.extensions.connection, table: str,
) -> None:
    with service.cursor() as curs:
        curs.execute(f"SELECT count(*) FROM {table}")
        curs.execute("SELECT column_name FROM information_schema.columns WHERE table_name = %s "
                     "ORDER BY ordinal_position LIMIT 1", (table,))
        column = curs.fetchone()[0]
    service.rollback()
    refused(service, f"UPDATE {table} SET {column} = {column}")
    refused(service, f"DELETE FROM {table}")
    refused(service, f"TRUNCATE {table}")
    refused(service, f"INSERT INTO {table} DEFAULT VALUES")


@pytest.mark.parametrize("table", ["events", "event_chain", "idempotency", "api_tokens"])
def test_the_projection_writer_cannot_touch_the_log_or_the_tokens(
    writer: psycopg2.extensions.connection, table: str,
) -> None:
    refused(writer, f"INSERT INTO {table} DEFAULT VALUES")
    refused(writer, f"DELETE FROM {table}")


def test_the_projection_writer_writes_read_models(
    service: psycopg2.extensions.connection, writer: psycopg2.extensions.connection,
) -> None:
    with writer, writer.cursor() as curs:
        curs.execute("INSERT INTO rm_tracking VALUES ('p', 1)")
        curs.execute("UPDATE rm_tracking SET notification_id = 2")
        curs.execute("DELETE FROM rm_tracking")
        assert curs.rowcount == 1


def test_the_api_on_postgres_answers_figures_by_catching_up_as_the_writer() -> None:
    reset_postgres()
    app = create_app({"LEDGER_ENV": environment_for(postgres_service_url())})
    try:
        ledger = app.extensions["ledger"]
        ledger.ensure_rulebook()
        store = TokenStore.of(ledger)
        supervisor = {"Authorization": "Bearer " + store.create(role="supervisor", subject="s")}
        client = app.test_client()
        body = {"id": "M1", "name": "n", "grade": "B", "unit": "u"}
        assert client.post("/api/v1/managers", json=body, headers=supervisor).status_code == 201
        score = client.get("/api/v1/managers/M1/score?period=2026Q1", headers=supervisor)
        assert score.status_code == 200, score.get_data(as_text=True)
        assert score.get_json()["score"] == 1000
    finally:
        app.extensions["ledger"].close()


def test_readyz_names_an_extra_privilege_of_the_service_or_the_writer() -> None:
    reset_postgres()
    app = create_app({"LEDGER_ENV": environment_for(postgres_service_url())})
    owner = connect(postgres_admin_url())
    owner.autocommit = True
    try:
        assert app.test_client().get("/readyz").status_code == 200
        with owner.cursor() as curs:
            curs.execute(f"GRANT UPDATE ON rm_deductions, api_tokens TO {SERVICE_ROLE}")
            curs.execute(f"GRANT INSERT ON events TO {PROJECTION_ROLE}")
        answer = app.test_client().get("/readyz")
        assert answer.status_code == 503
        assert set(answer.get_json()["excess_privileges"]) == {
            f"{SERVICE_ROLE} may UPDATE rm_deductions", f"{SERVICE_ROLE} may UPDATE api_tokens",
            f"{PROJECTION_ROLE} may INSERT events"}
    finally:
        with owner.cursor() as curs:
            curs.execute(f"REVOKE UPDATE ON rm_deductions, api_tokens FROM {SERVICE_ROLE}")
            curs.execute(f"REVOKE INSERT ON events FROM {PROJECTION_ROLE}")
        owner.close()
        app.extensions["ledger"].close()

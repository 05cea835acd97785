"""The read-model tables come from migration 0002 and match what the code queries."""

from __future__ import annotations

import psycopg2
import pytest
from dbsupport import PROJECTION_ROLE, SERVICE_ROLE, fresh_sqlite_url, postgres_admin_url
from sqlalchemy import create_engine, inspect

from persistence.schema import sqlalchemy_url
from projections.tables import FACT_TABLES, READ_MODEL_TABLES, VIEW_TABLES, tracking


def _columns_by_table(url: str) -> dict[str, list[str]]:
    engine = create_engine(sqlalchemy_url(url))
    try:
        inspector = inspect(engine)
        return {name: sorted(c["name"] for c in inspector.get_columns(name))
                for name in READ_MODEL_TABLES}
    finally:
        engine.dispose()


def _expected() -> dict[str, list[str]]:
    return {t.name: sorted(c.name for c in t.columns) for t in FACT_TABLES + VIEW_TABLES}


def test_the_sqlite_migration_creates_every_table_the_code_queries() -> None:
    assert _columns_by_table(fresh_sqlite_url()) == _expected()


@pytest.mark.postgres
def test_the_postgres_migration_creates_every_table_the_code_queries() -> None:
    assert _columns_by_table(postgres_admin_url()) == _expected()


@pytest.mark.postgres
def test_the_service_role_reads_the_read_models_and_only_the_writer_rewrites_them() -> None:
    # Migration 0008 (docs/roles.md): figures change only through the projection writer.
    expected = {(SERVICE_ROLE, "SELECT"): True, (PROJECTION_ROLE, "SELECT"): True}
    for privilege in ("INSERT", "UPDATE", "DELETE"):
        expected[SERVICE_ROLE, privilege] = False
        expected[PROJECTION_ROLE, privilege] = True
    conn = psycopg2.connect(postgres_admin_url())
    try:
        with conn.cursor() as curs:
            for table in (*READ_MODEL_TABLES, tracking.name):
                for (role, privilege), held in expected.items():
                    curs.execute("SELECT has_table_privilege(%s, %s, %s)",
                                 (role, table, privilege))
                    assert curs.fetchone()[0] is held, (role, privilege, table)
    finally:
        conn.close()

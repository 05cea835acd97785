"""The event store: the log, its hash chain, snapshots, tracking and idempotency records.

On PostgreSQL the service role (LEDGER_SERVICE_ROLE, default `ledger_service`) gets only
SELECT and INSERT on the log, its chain and the idempotency records (DESIGN §7–8).

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from __future__ import annotations

import os

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

POSTGRES_TABLES = [
    """CREATE TABLE events (
        position bigint PRIMARY KEY,
        originator_id uuid NOT NULL,
        originator_version bigint NOT NULL,
        topic text NOT NULL,
        state bytea NOT NULL,
        recorded_at timestamptz NOT NULL,
        CONSTRAINT events_originator_version_key UNIQUE (originator_id, originator_version)
    )""",
    "CREATE INDEX events_topic_position ON events (topic, position)",
    "CREATE INDEX events_recorded_at ON events (recorded_at)",
    """CREATE TABLE event_chain (
        position bigint PRIMARY KEY,
        link bytea NOT NULL
    )""",
    """CREATE TABLE snapshots (
        originator_id uuid NOT NULL,
        originator_version bigint NOT NULL,
        topic text NOT NULL,
        state bytea NOT NULL,
        PRIMARY KEY (originator_id, originator_version)
    )""",
    """CREATE TABLE tracking (
        application_name text PRIMARY KEY,
        notification_id bigint NOT NULL
    )""",
    """CREATE TABLE idempotency (
        scope text NOT NULL,
        idem_key text NOT NULL,
        request_hash text NOT NULL,
        status_code integer NOT NULL,
        response bytea NOT NULL,
        position bigint,
        recorded_at timestamptz,
        PRIMARY KEY (scope, idem_key)
    )""",
]

SQLITE_TABLES = [
    """CREATE TABLE events (
        position INTEGER PRIMARY KEY,
        originator_id TEXT NOT NULL,
        originator_version INTEGER NOT NULL,
        topic TEXT NOT NULL,
        state BLOB NOT NULL,
        recorded_at INTEGER NOT NULL,
        UNIQUE (originator_id, originator_version)
    )""",
    "CREATE INDEX events_topic_position ON events (topic, position)",
    "CREATE INDEX events_recorded_at ON events (recorded_at)",
    """CREATE TABLE event_chain (
        position INTEGER PRIMARY KEY,
        link BLOB NOT NULL
    )""",
    """CREATE TABLE snapshots (
        originator_id TEXT NOT NULL,
        originator_version INTEGER NOT NULL,
        topic TEXT NOT NULL,
        state BLOB NOT NULL,
        PRIMARY KEY (originator_id, originator_version)
    ) WITHOUT ROWID""",
    """CREATE TABLE tracking (
        application_name TEXT PRIMARY KEY,
        notification_id INTEGER NOT NULL
    ) WITHOUT ROWID""",
    """CREATE TABLE idempotency (
        scope TEXT NOT NULL,
        idem_key TEXT NOT NULL,
        request_hash TEXT NOT NULL,
        status_code INTEGER NOT NULL,
        response BLOB NOT NULL,
        position INTEGER,
        recorded_at INTEGER,
        PRIMARY KEY (scope, idem_key)
    ) WITHOUT ROWID""",
]

APPEND_ONLY = ["events", "event_chain", "idempotency"]
READ_WRITE = ["tracking", "snapshots"]


def service_role() -> str:
    role = os.environ.get("LEDGER_SERVICE_ROLE", "ledger_service")
    if not role.replace("_", "").isalnum():
        msg = f"LEDGER_SERVICE_ROLE must be a plain identifier, not {role!r}"
        raise ValueError(msg)
    return role


def grant_service_role() -> None:
    role = service_role()
    op.execute(
        "DO $$ BEGIN "
        f"IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{role}') "
        f"THEN CREATE ROLE {role} LOGIN; END IF; END $$"
    )
    op.execute(f"GRANT USAGE ON SCHEMA public TO {role}")
    tables = ", ".join(APPEND_ONLY + READ_WRITE)
    op.execute(f"REVOKE ALL ON {tables} FROM PUBLIC, {role}")
    # The log is append-only for the service: it may read and add, never change.
    op.execute(f"GRANT SELECT, INSERT ON {', '.join(APPEND_ONLY)} TO {role}")
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {', '.join(READ_WRITE)} TO {role}")
    op.execute(f"GRANT SELECT ON alembic_version TO {role}")


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for statement in POSTGRES_TABLES if postgres else SQLITE_TABLES:
        op.execute(statement)
    if postgres:
        grant_service_role()


def downgrade() -> None:
    for table in reversed(APPEND_ONLY + READ_WRITE):
        op.execute(f"DROP TABLE {table}")

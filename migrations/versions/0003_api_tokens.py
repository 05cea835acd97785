"""API bearer tokens, stored hashed.

Only the SHA-256 of a token is stored, so a copy of the table grants nothing. A token is
revoked by setting `revoked_at`, never deleted, so an auditor can still see which token
(subject and role) acted. On PostgreSQL the service role may read, add and revoke tokens
(SELECT, INSERT, UPDATE) but not delete them.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

from __future__ import annotations

import importlib

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

ROLES = ("integrator", "manager", "supervisor", "approver", "auditor", "operator", "admin")
_ROLE_CHECK = "role IN (" + ", ".join(f"'{role}'" for role in ROLES) + ")"
# A manager token names the manager whose data it may see; no other token names one.
_MANAGER_CHECK = "(role = 'manager') = (manager_id IS NOT NULL)"

POSTGRES_TABLES = [
    f"""CREATE TABLE api_tokens (
        token_hash text PRIMARY KEY,
        role text NOT NULL CHECK ({_ROLE_CHECK}),
        subject text NOT NULL CHECK (length(subject) BETWEEN 1 AND 200),
        manager_id text CHECK (length(manager_id) BETWEEN 1 AND 64),
        created_at timestamptz NOT NULL,
        revoked_at timestamptz,
        CHECK ({_MANAGER_CHECK})
    )""",
    "CREATE INDEX api_tokens_subject ON api_tokens (subject)",
]

SQLITE_TABLES = [
    f"""CREATE TABLE api_tokens (
        token_hash TEXT PRIMARY KEY,
        role TEXT NOT NULL CHECK ({_ROLE_CHECK}),
        subject TEXT NOT NULL CHECK (length(subject) BETWEEN 1 AND 200),
        manager_id TEXT CHECK (length(manager_id) BETWEEN 1 AND 64),
        created_at INTEGER NOT NULL,
        revoked_at INTEGER,
        CHECK ({_MANAGER_CHECK})
    ) WITHOUT ROWID""",
    "CREATE INDEX api_tokens_subject ON api_tokens (subject)",
]


def _service_role() -> str:
    # The revision module's name starts with a digit, so it is loaded by path, not imported.
    event_store = importlib.import_module("migrations.versions.0001_event_store")
    return str(event_store.service_role())


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for statement in POSTGRES_TABLES if postgres else SQLITE_TABLES:
        op.execute(statement)
    if postgres:
        role = _service_role()
        op.execute(f"REVOKE ALL ON api_tokens FROM PUBLIC, {role}")
        op.execute(f"GRANT SELECT, INSERT, UPDATE ON api_tokens TO {role}")


def downgrade() -> None:
    op.execute("DROP TABLE api_tokens")

"""The keyed layer of the chain and the latest signed head, out of the service role's reach.

- `event_chain` gains `key_id` and `seal`: HMAC-SHA256 of the link with the chain key in
  force (persistence/seal.py). NULL before the first key is introduced. The key itself is
  never stored in the database.
- `chain_heads` keeps every signed head (`ledger verify --checkpoint` / `--export-head`):
  plain `verify` compares the log with them, so a truncated tail is named. The service role
  may SELECT and INSERT it, never change it; the append-only trigger of 0004 refuses UPDATE,
  DELETE and TRUNCATE for every role outside the maintenance path.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

from __future__ import annotations

import importlib

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

CHAIN_HEADS = {
    "postgresql": """CREATE TABLE chain_heads (
        position bigint NOT NULL,
        link text NOT NULL,
        recorded_at text,
        exported_at text NOT NULL,
        public_key text NOT NULL,
        signature text NOT NULL,
        PRIMARY KEY (position, exported_at)
    )""",
    "sqlite": """CREATE TABLE chain_heads (
        position INTEGER NOT NULL,
        link TEXT NOT NULL,
        recorded_at TEXT,
        exported_at TEXT NOT NULL,
        public_key TEXT NOT NULL,
        signature TEXT NOT NULL,
        PRIMARY KEY (position, exported_at)
    ) WITHOUT ROWID""",
}
SEAL_COLUMNS = {
    "postgresql": ("key_id text", "seal bytea"),
    "sqlite": ("key_id TEXT", "seal BLOB"),
}


def _service_role() -> str:
    # The revision module's name starts with a digit, so it is loaded by name, not imported.
    event_store = importlib.import_module("migrations.versions.0001_event_store")
    return str(event_store.service_role())


def _postgres_guard() -> None:
    # ledger_refuse_change() comes from 0004.
    op.execute("CREATE TRIGGER chain_heads_append_only BEFORE UPDATE OR DELETE ON chain_heads "
               "FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change()")
    op.execute("CREATE TRIGGER chain_heads_no_truncate BEFORE TRUNCATE ON chain_heads "
               "FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change()")
    role = _service_role()
    op.execute(f"REVOKE ALL ON chain_heads FROM PUBLIC, {role}")
    op.execute(f"GRANT SELECT, INSERT ON chain_heads TO {role}")


def _sqlite_guard() -> None:
    for operation in ("UPDATE", "DELETE"):
        op.execute(
            f"CREATE TRIGGER chain_heads_no_{operation.lower()} BEFORE {operation} "
            f"ON chain_heads BEGIN SELECT RAISE(ABORT, 'the chain_heads table is append-only: "
            f"{operation} refused'); END"
        )


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    for column in SEAL_COLUMNS[dialect]:
        op.execute(f"ALTER TABLE event_chain ADD COLUMN {column}")
    op.execute(CHAIN_HEADS[dialect])
    if dialect == "postgresql":
        _postgres_guard()
    else:
        _sqlite_guard()


def downgrade() -> None:
    op.execute("DROP TABLE chain_heads")
    for column in ("seal", "key_id"):
        op.execute(f"ALTER TABLE event_chain DROP COLUMN {column}")

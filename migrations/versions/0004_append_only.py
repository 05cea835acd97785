"""Append-only at the database level: triggers refuse UPDATE, DELETE and TRUNCATE.

Privileges already keep the service role to SELECT and INSERT; these triggers also stop
owners and superusers, unless they take the explicit maintenance path for one
transaction (`SET LOCAL ledger.maintenance = 'on'` on PostgreSQL; on SQLite, dropping the
trigger inside the maintenance transaction). Every refusal names the table.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

GUARDED = ("events", "event_chain", "idempotency")

POSTGRES_FUNCTION = """
CREATE FUNCTION ledger_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF coalesce(current_setting('ledger.maintenance', true), '') = 'on' THEN
        RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
    END IF;
    RAISE EXCEPTION 'the % table is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$
"""


def _postgres_upgrade() -> None:
    op.execute(POSTGRES_FUNCTION)
    for table in GUARDED:
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change()"
        )
        op.execute(
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change()"
        )


def _sqlite_upgrade() -> None:
    for table in GUARDED:
        for operation in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {table}_no_{operation.lower()} BEFORE {operation} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, 'the {table} table is append-only: "
                f"{operation} refused'); END"
            )


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _postgres_upgrade()
    else:
        _sqlite_upgrade()


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for table in GUARDED:
        if postgres:
            op.execute(f"DROP TRIGGER {table}_append_only ON {table}")
            op.execute(f"DROP TRIGGER {table}_no_truncate ON {table}")
        else:
            op.execute(f"DROP TRIGGER {table}_no_update")
            op.execute(f"DROP TRIGGER {table}_no_delete")
    if postgres:
        op.execute("DROP FUNCTION ledger_refuse_change()")

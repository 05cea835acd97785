"""Read model of period closings: the pay each closing froze, by period.

One row per closed period, stamped with the closing event's log position like every fact
row, so a query knows whether a period was closed "as known at" any instant. `frozen` is
the closing event's figures as JSON text, exactly as recorded.

On PostgreSQL the service role may SELECT, INSERT, UPDATE and DELETE it, as the other
read models (a rebuild empties and refills it).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22
"""

from __future__ import annotations

import importlib

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

TABLE = "rm_period_closings"


def _service_role() -> str:
    # The revision module's name starts with a digit, so it is loaded by name, not imported.
    event_store = importlib.import_module("migrations.versions.0001_event_store")
    return str(event_store.service_role())


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("period", sa.Text, primary_key=True),
        sa.Column("position", sa.BigInteger, nullable=False),
        sa.Column("frozen", sa.Text, nullable=False),
    )
    op.create_index("rm_period_closings_position", TABLE, ["position"])
    if op.get_bind().dialect.name == "postgresql":
        role = _service_role()
        op.execute(f"REVOKE ALL ON {TABLE} FROM PUBLIC, {role}")
        op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {TABLE} TO {role}")


def downgrade() -> None:
    op.drop_table(TABLE)

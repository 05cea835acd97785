"""Idempotency records name the first position of the append they belong to.

A replay rebuilds the first answer from the events at first_position..position, so the
record stores only what the log does not hold (the command's note); records written before
this revision keep the whole first response and leave first_position NULL.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("idempotency", sa.Column("first_position", sa.BigInteger, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("idempotency") as batch:  # SQLite rebuilds the table
        batch.drop_column("first_position")

"""Read models of qualitative assessment: plans and their sheets' steps (DESIGN §12).

One row per plan, and one per save, submission or reopening of a sheet, stamped with its
event's log position like every fact row, so a result at a cut counts the sheets submitted
(and not reopened) by then.

On PostgreSQL the privileges follow 0008 and 0009: the service role may only SELECT them,
the projection writer's role (LEDGER_PROJECTION_ROLE) writes them.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01
"""

from __future__ import annotations

import importlib

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

PLANS = "rm_assessment_plans"
SHEETS = "rm_assessment_sheets"


def _roles() -> tuple[str, str]:
    # The revision module's name starts with a digit, so it is loaded by name, not imported.
    least_privilege = importlib.import_module("migrations.versions.0008_least_privilege")
    return str(least_privilege.service_role()), str(least_privilege.projection_role())


def upgrade() -> None:
    op.create_table(
        PLANS,
        sa.Column("plan_id", sa.Text, primary_key=True),
        sa.Column("period", sa.Text, nullable=False),
        sa.Column("unit", sa.Text, nullable=False),
        sa.Column("items", sa.Text, nullable=False),
        sa.Column("assessors", sa.Text, nullable=False),
        sa.Column("managers", sa.Text, nullable=False),
        sa.Column("closes_on", sa.Date, nullable=False),
        sa.Column("position", sa.BigInteger, nullable=False),
    )
    op.create_table(
        SHEETS,
        sa.Column("plan_id", sa.Text, primary_key=True),
        sa.Column("position", sa.BigInteger, primary_key=True),
        sa.Column("manager_id", sa.Text, nullable=False),
        sa.Column("assessor", sa.Text, nullable=False),
        sa.Column("step", sa.Text, nullable=False),
        sa.Column("scores", sa.Text),
        sa.Column("submitted_on", sa.Date),
    )
    op.create_index("rm_assessment_sheets_manager", SHEETS, ["manager_id"])
    if op.get_bind().dialect.name == "postgresql":
        service, writer = _roles()
        for table in (PLANS, SHEETS):
            op.execute(f"REVOKE ALL ON {table} FROM PUBLIC, {service}, {writer}")
            op.execute(f"GRANT SELECT ON {table} TO {service}")
            op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO {writer}")


def downgrade() -> None:
    op.drop_table(SHEETS)
    op.drop_table(PLANS)

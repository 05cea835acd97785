"""Read model of raw indicator reports (DESIGN §11).

One row per report, stamped with its event's log position like every fact row; the report
that counts for an indicator, manager and period at a cut is the latest one known then.

On PostgreSQL the privileges follow the newest read-model migration (0008): the service
role may only SELECT it, the projection writer's role (LEDGER_PROJECTION_ROLE) writes it.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01
"""

from __future__ import annotations

import importlib

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

TABLE = "rm_indicator_reports"
MONEY = sa.Numeric().with_variant(sa.Text(), "sqlite")


def _roles() -> tuple[str, str]:
    # The revision module's name starts with a digit, so it is loaded by name, not imported.
    least_privilege = importlib.import_module("migrations.versions.0008_least_privilege")
    return str(least_privilege.service_role()), str(least_privilege.projection_role())


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("report_id", sa.Text, primary_key=True),
        sa.Column("indicator", sa.Text, nullable=False),
        sa.Column("manager_id", sa.Text, nullable=False),
        sa.Column("period", sa.Text, nullable=False),
        sa.Column("measured_on", sa.Date, nullable=False),
        sa.Column("value", MONEY, nullable=False),
        sa.Column("source_system", sa.Text, nullable=False),
        sa.Column("external_id", sa.Text, nullable=False),
        sa.Column("position", sa.BigInteger, nullable=False),
    )
    op.create_index("rm_indicator_reports_manager", TABLE, ["manager_id", "period"])
    op.create_index("rm_indicator_reports_position", TABLE, ["position"])
    if op.get_bind().dialect.name == "postgresql":
        service, writer = _roles()
        op.execute(f"REVOKE ALL ON {TABLE} FROM PUBLIC, {service}, {writer}")
        op.execute(f"GRANT SELECT ON {TABLE} TO {service}")
        op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {TABLE} TO {writer}")


def downgrade() -> None:
    op.drop_table(TABLE)

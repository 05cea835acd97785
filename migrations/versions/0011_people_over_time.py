"""Read models of people over time: disqualification and reinstatement (DESIGN §16).

One row per step of a manager's disqualification by one deduction: `began` (the
deduction's effective date), `voided` (the deduction was voided on dispute, so the state
never began) and `reinstated` (the reinstatement's effective date ends it), each stamped
with its event's log position like every fact row, so a figure cut at a position knows
exactly the steps known then.

On PostgreSQL the privileges follow 0008 to 0010: the service role may only SELECT it,
the projection writer's role (LEDGER_PROJECTION_ROLE) writes it.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01
"""

from __future__ import annotations

import importlib

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

STEPS = "rm_disqualification_steps"


def _roles() -> tuple[str, str]:
    # The revision module's name starts with a digit, so it is loaded by name, not imported.
    least_privilege = importlib.import_module("migrations.versions.0008_least_privilege")
    return str(least_privilege.service_role()), str(least_privilege.projection_role())


def upgrade() -> None:
    op.create_table(
        STEPS,
        sa.Column("manager_id", sa.Text, primary_key=True),
        sa.Column("position", sa.BigInteger, primary_key=True),
        sa.Column("deduction_id", sa.Text, primary_key=True),
        sa.Column("step", sa.Text, nullable=False),
        sa.Column("effective_on", sa.Date),
    )
    if op.get_bind().dialect.name == "postgresql":
        service, writer = _roles()
        op.execute(f"REVOKE ALL ON {STEPS} FROM PUBLIC, {service}, {writer}")
        op.execute(f"GRANT SELECT ON {STEPS} TO {service}")
        op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {STEPS} TO {writer}")


def downgrade() -> None:
    op.drop_table(STEPS)

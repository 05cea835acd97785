"""Read models of qualitative assessment: plans, sheets and scores (DESIGN §12).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01
"""

from __future__ import annotations

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Reserved; filled in by the change that needs it."""


def downgrade() -> None:
    """Reserved; filled in by the change that needs it."""

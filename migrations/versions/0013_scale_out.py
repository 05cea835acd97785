"""Scale-out: view ownership and positions for workers apart (issue 19).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01
"""

from __future__ import annotations

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Reserved; filled in by the change that needs it."""


def downgrade() -> None:
    """Reserved; filled in by the change that needs it."""

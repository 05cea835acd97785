"""Store layout for speed: the chain link beside its event (issue 18).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01
"""

from __future__ import annotations

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Reserved; filled in by the change that needs it."""


def downgrade() -> None:
    """Reserved; filled in by the change that needs it."""

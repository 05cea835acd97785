"""Least privilege: token rows and read models beyond the API role's reach.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""

from __future__ import annotations

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Reserved; filled in by the change that needs it."""


def downgrade() -> None:
    """Reserved; filled in by the change that needs it."""

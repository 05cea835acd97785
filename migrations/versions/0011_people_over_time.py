"""Read models of people over time: disqualification, reinstatement, dispute pauses (DESIGN §16).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01
"""

from __future__ import annotations

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Reserved; filled in by the change that needs it."""


def downgrade() -> None:
    """Reserved; filled in by the change that needs it."""

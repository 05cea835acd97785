"""The approvers' queue: proposed adjustments no approver has decided yet, oldest first.

An adjustment leaves the queue with its first status change (approved, rejected); one
that needs two approvals stays until the second, since the first changes no status. The
queue pages by a cursor like the audit feed: a page is `position > after`.
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from sqlalchemy import select

from ledger.errors import InvalidInput
from projections import tables as t
from projections.database import reading
from projections.read_side import ReadSide

MAX_PAGE = 100
"""The most adjustments one page lists (TB: bound everything)."""


@dataclass(frozen=True)
class Awaiting:
    adjustment_id: UUID
    manager_id: str
    period: str
    points: int
    position: int


@dataclass(frozen=True)
class AdjustmentPage:
    items: tuple[Awaiting, ...]
    next_after: int | None


def adjustments_awaiting(read_side: ReadSide, *, after: int = 0,
                         limit: int = MAX_PAGE) -> AdjustmentPage:
    """Proposed adjustments without a decision, in log order, after position `after`."""
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInput({"limit": [f"must be between 1 and {MAX_PAGE}"]})
    read_side.catch_up(read_side.catch_up_timeout)
    a, changed = t.adjustments, t.adjustment_changes
    statement = (
        select(a.c.adjustment_id, a.c.manager_id, a.c.period, a.c.points, a.c.position)
        .where(a.c.position > after,
               a.c.adjustment_id.not_in(select(changed.c.adjustment_id)))
        .order_by(a.c.position).limit(limit + 1)
    )
    with reading(read_side.engine) as conn:
        rows = [Awaiting(UUID(hex=r.adjustment_id), r.manager_id, r.period, int(r.points),
                         int(r.position)) for r in conn.execute(statement)]
    # One row more than asked says whether a next page exists.
    shown = tuple(rows[:limit])
    return AdjustmentPage(shown, shown[-1].position if len(rows) > limit else None)

"""Master data from the read models (DESIGN §16): which managers, customers and units exist,
and who held a customer on a day, paged by a cursor.

The fact tables name every manager and customer ever registered; the answers built from
the aggregates (name, grade, history) are the API's. This module only enumerates ids, in
id order, so a page is `id > after` and the next cursor is the page's last id.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import Select, func, select

from ledger.errors import InvalidInput
from projections import tables as t
from projections.database import reading
from projections.read_side import ReadSide

MAX_PAGE = 100
"""The most ids one page lists (TB: bound everything)."""
MAX_UNITS = 1_000


@dataclass(frozen=True)
class Page:
    """Ids in order, and the cursor of the next page (None on the last)."""

    ids: tuple[str, ...]
    next_after: str | None


@dataclass(frozen=True)
class Unit:
    unit: str
    managers: int


def _check_limit(limit: int) -> None:
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInput({"limit": [f"must be between 1 and {MAX_PAGE}"]})


def _page(ids: list[str], limit: int) -> Page:
    # One row more than asked says whether a next page exists.
    shown = tuple(ids[:limit])
    return Page(shown, shown[-1] if len(ids) > limit else None)


def manager_ids(
    read_side: ReadSide, *, unit: str | None = None, after: str | None = None,
    limit: int = MAX_PAGE,
) -> Page:
    """Managers by id, optionally of one unit, after the cursor `after`."""
    _check_limit(limit)
    read_side.catch_up(read_side.catch_up_timeout)
    m = t.managers
    statement = select(m.c.manager_id).order_by(m.c.manager_id).limit(limit + 1)
    if unit is not None:
        statement = statement.where(m.c.unit == unit)
    if after is not None:
        statement = statement.where(m.c.manager_id > after)
    with reading(read_side.engine) as conn:
        return _page([row.manager_id for row in conn.execute(statement)], limit)


def units(read_side: ReadSide) -> list[Unit]:
    """Every unit a manager was registered in, with how many managers it has."""
    read_side.catch_up(read_side.catch_up_timeout)
    m = t.managers
    statement = (select(m.c.unit, func.count().label("managers")).group_by(m.c.unit)
                 .order_by(m.c.unit).limit(MAX_UNITS))
    with reading(read_side.engine) as conn:
        return [Unit(row.unit, int(row.managers)) for row in conn.execute(statement)]


def customer_ids(
    read_side: ReadSide, *, today: date, manager_id: str | None = None,
    customer_class: str | None = None, after: str | None = None, limit: int = MAX_PAGE,
) -> Page:
    """Customers by id, optionally of one class and held by one manager on `today`."""
    _check_limit(limit)
    read_side.catch_up(read_side.catch_up_timeout)
    c = t.customers
    statement = select(c.c.customer_id).order_by(c.c.customer_id).limit(limit + 1)
    if customer_class is not None:
        statement = statement.where(c.c.customer_class == customer_class)
    if after is not None:
        statement = statement.where(c.c.customer_id > after)
    if manager_id is not None:
        statement = statement.where(c.c.customer_id.in_(_held_by(manager_id, today)))
    with reading(read_side.engine) as conn:
        return _page([row.customer_id for row in conn.execute(statement)], limit)


def _held_by(manager_id: str, today: date) -> Select[tuple[str]]:
    """Customers whose latest holding in effect on `today` is the manager's.

    Holdings take effect in date order (ChangesTakeEffectInOrder), so the latest one in
    effect is the one with the greatest position among those effective by `today`.
    """
    h = t.holdings
    latest = (select(h.c.customer_id, func.max(h.c.position).label("position"))
              .where(h.c.effective_on <= today).group_by(h.c.customer_id).subquery())
    return (select(h.c.customer_id)
            .join(latest, (latest.c.customer_id == h.c.customer_id)
                  & (latest.c.position == h.c.position))
            .where(h.c.manager_id == manager_id))

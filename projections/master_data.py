"""Master data from the read models (DESIGN §16): which managers, customers and units exist,
and who held a customer on a day, paged by a cursor; and the supervisors' queue of the
customers that disqualified managers still hold.

The fact tables name every manager and customer ever registered; the answers built from
the aggregates (name, grade, history) are the API's. This module only enumerates ids, in
id order, so a page is `id > after` and the next cursor is the page's last id.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Select, func, select

from ledger.errors import InvalidInput
from projections import tables as t
from projections.compute import disqualified_spans
from projections.database import reading
from projections.factset import DisqualificationStep, FactSet
from projections.read_side import ReadSide

MAX_PAGE = 100
"""The most ids one page lists (TB: bound everything)."""
MAX_UNITS = 1_000
MAX_HELD_LISTED = 1_000
"""The most customers the queue lists for one manager (TB); `truncated` says there are more."""


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


def units(read_side: ReadSide, *, after: str | None = None, limit: int = MAX_UNITS) -> list[Unit]:
    """Every unit a manager was registered in (in name order, after the cursor `after`),
    with how many managers it has."""
    read_side.catch_up(read_side.catch_up_timeout)
    m = t.managers
    statement = (select(m.c.unit, func.count().label("managers")).group_by(m.c.unit)
                 .order_by(m.c.unit).limit(min(limit, MAX_UNITS + 1)))
    if after is not None:
        statement = statement.where(m.c.unit > after)
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


# --- the reassignment queue (DESIGN §16) ------------------------------------------------


@dataclass(frozen=True)
class HeldCustomer:
    customer_id: str
    held_from: date


@dataclass(frozen=True)
class ToReassign:
    """A manager disqualified on the queue's day, since when, and the customers it holds."""

    manager_id: str
    disqualified_since: date
    customers: tuple[HeldCustomer, ...]
    truncated: bool


@dataclass(frozen=True)
class QueuePage:
    items: tuple[ToReassign, ...]
    next_after: str | None


def reassignment_queue(
    read_side: ReadSide, *, on: date, after: str | None = None, limit: int = MAX_PAGE
) -> QueuePage:
    """Managers disqualified on `on` (in id order, after the cursor) who still hold
    customers that day, each with those customers: the supervisors' work to do."""
    _check_limit(limit)
    read_side.catch_up(read_side.catch_up_timeout)
    with reading(read_side.engine) as conn:
        # Every step known now (the queue is today's work): the cut is the steps' own.
        steps = _steps(conn, after)
        facts = FactSet(cut=max((s.position for s in steps), default=0),
                        disqualification_steps=steps)
        due = []
        for manager_id in sorted({s.manager_id for s in facts.disqualification_steps}):
            since = _disqualified_since(facts, manager_id, on)
            if since is None:
                continue
            held = [HeldCustomer(row.customer_id, row.effective_on)
                    for row in conn.execute(_held_rows(manager_id, on))]
            if held:
                due.append(ToReassign(manager_id, since, tuple(held[:MAX_HELD_LISTED]),
                                      len(held) > MAX_HELD_LISTED))
                if len(due) > limit:
                    break
    shown = tuple(due[:limit])
    return QueuePage(shown, shown[-1].manager_id if len(due) > limit else None)


def disqualified_managers(conn: Any, on: date) -> set[str]:
    """The managers disqualified on `on`, as the facts in the connection know them now."""
    steps = _steps(conn, None)
    facts = FactSet(cut=max((s.position for s in steps), default=0),
                    disqualification_steps=steps)
    return {m for m in {s.manager_id for s in steps}
            if _disqualified_since(facts, m, on) is not None}


def _steps(conn: Any, after: str | None) -> tuple[DisqualificationStep, ...]:
    steps = t.disqualification_steps
    statement = select(steps).order_by(steps.c.position)
    if after is not None:
        statement = statement.where(steps.c.manager_id > after)
    return tuple(DisqualificationStep(r.manager_id, r.position, r.deduction_id, r.step,
                                      r.effective_on) for r in conn.execute(statement))


def _disqualified_since(facts: FactSet, manager_id: str, on: date) -> date | None:
    """The start of the disqualified stretch `on` falls in, or None when not disqualified."""
    spans = [s for s in disqualified_spans(facts, manager_id) if s.since <= on]
    if not any(s.until is None or s.until > on for s in spans):
        return None
    since = on
    # Walk back over overlapping stretches: the state began with the earliest of them.
    for span in sorted(spans, key=lambda s: s.since, reverse=True):
        if span.until is None or span.until >= since:
            since = min(since, span.since)
    return since


def _held_rows(manager_id: str, on: date) -> Select[Any]:
    """The manager's customers on `on`, each with the effective date of its holding."""
    h = t.holdings
    latest = (select(h.c.customer_id, func.max(h.c.position).label("position"))
              .where(h.c.effective_on <= on).group_by(h.c.customer_id).subquery())
    return (select(h.c.customer_id, h.c.effective_on)
            .join(latest, (latest.c.customer_id == h.c.customer_id)
                  & (latest.c.position == h.c.position))
            .where(h.c.manager_id == manager_id).order_by(h.c.customer_id)
            .limit(MAX_HELD_LISTED + 1))

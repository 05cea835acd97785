"""The reports a bank hands out (DESIGN §14): a unit's pay list and its rankings.

Every row is taken at one log position, so a list never mixes two states of the log, and
through `ReadSide.pay`, so a closed period's rows are its frozen figures. Money stays
Decimal; the web layer turns rows into JSON or CSV.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import select

from ledger.errors import Conflict, InvalidInput
from ledger.quarter import Quarter
from projections import tables as t
from projections.database import reading
from projections.read_side import ReadSide

MAX_REPORT_MANAGERS = 2_000
"""The most managers one report covers; a larger bank asks unit by unit (TB: bound it)."""
RANKINGS = ("score", "actual_pay", "profit_completion")
MONEY_COLUMNS = ("base_salary", "performance_pay", "actual_pay",
                 "prior_period_adjustment_total", "payable")
COMPLETION_PLACES = Decimal("0.0001")


@dataclass(frozen=True)
class ReportCut:
    """Where a report was taken: the business date and the log position, known_at's."""

    as_of: date | None
    position: int
    known_at: datetime


def report_cut(read_side: ReadSide, as_of: date | None, known_at: datetime | None) -> ReportCut:
    """The one position every row of a report is computed at."""
    if known_at is None:
        position = int(read_side.app.recorder.max_notification_id() or 0)
    else:
        if known_at.tzinfo is None:
            raise InvalidInput({"known_at": ["must carry a time zone (RFC 3339)"]})
        position = read_side.app.position_known_at(known_at)
    if position == 0:  # a cut needs an event to stand at
        raise Conflict("the log is empty: there is nothing to report")
    read_side.catch_up(read_side.catch_up_timeout)  # read your writes: the manager list too
    return ReportCut(as_of, position, known_at or _recorded_at(read_side, position))


def _recorded_at(read_side: ReadSide, position: int) -> datetime:
    """The recording time of the event at `position`: echoed as known_at, it asks for
    the same cut again (the ledger's clock may be another than the store's)."""
    with reading(read_side.engine) as conn:
        found: datetime = conn.execute(
            select(t.events.c.recorded_at).where(t.events.c.position == position)).scalar_one()
    return found


def managers_of(
    read_side: ReadSide, unit: str | None, position: int
) -> list[tuple[str, str, str]]:
    """(manager_id, name, unit) of every manager known at `position`, by manager_id."""
    statement = select(t.managers.c.manager_id, t.managers.c.name, t.managers.c.unit).where(
        t.managers.c.position <= position)
    if unit is not None:
        statement = statement.where(t.managers.c.unit == unit)
    statement = statement.order_by(t.managers.c.manager_id).limit(MAX_REPORT_MANAGERS + 1)
    with reading(read_side.engine) as conn:
        rows = [(str(m), str(n), str(u)) for m, n, u in conn.execute(statement)]
    if len(rows) > MAX_REPORT_MANAGERS:
        raise Conflict(f"more than {MAX_REPORT_MANAGERS} managers: ask for one unit")
    return rows


def pay_list(
    read_side: ReadSide, period: str, unit: str | None, as_of: date | None,
    known_at: datetime | None,
) -> dict[str, Any]:
    """{period, unit, frozen, as_of, known_at, position, ruleset_version, items, totals}."""
    Quarter.parse(period)  # InvalidInput before any work
    cut = report_cut(read_side, as_of, known_at)
    items = [_pay_row(read_side, period, cut, row)
             for row in managers_of(read_side, unit, cut.position)]
    totals = {name: sum((i[name] for i in items), Decimal("0.00")) for name in MONEY_COLUMNS}
    versions = sorted({str(i["ruleset_version"]) for i in items if i["ruleset_version"]})
    return dict(
        period=period, unit=unit, frozen=bool(items) and all(i["frozen"] for i in items),
        as_of=items[0]["as_of"] if items else as_of, known_at=cut.known_at,
        position=cut.position, ruleset_versions=versions, count=len(items),
        items=items, totals=totals,
    )


def _pay_row(
    read_side: ReadSide, period: str, cut: ReportCut, manager: tuple[str, str, str]
) -> dict[str, Any]:
    manager_id, name, unit = manager
    pay = read_side.pay(manager_id, period, as_of=cut.as_of, position=cut.position,
                        explain=True)
    score = read_side.score(manager_id, period, as_of=cut.as_of, position=cut.position)
    return dict(
        manager_id=manager_id, name=name, grade=pay["explanation"]["grade"], unit=unit,
        base_salary=pay["base_salary"], performance_pay=pay["performance_pay"],
        score=pay["score"], rating=score["rating"], actual_pay=pay["actual_pay"],
        prior_period_adjustment_total=pay["prior_period_adjustment_total"],
        payable=pay["payable"], target=pay["target"], actual=pay["actual"],
        frozen=pay["frozen"], ruleset_version=pay["ruleset_version"], as_of=pay["as_of"],
    )


def rankings(
    read_side: ReadSide, period: str, by: str, unit: str | None, as_of: date | None,
    known_at: datetime | None,
) -> dict[str, Any]:
    """{period, by, unit, items: [{rank, manager_id, name, value}], ...}, highest first;
    ties share a rank (1, 1, 3) and keep manager_id order; no value ranks last."""
    if by not in RANKINGS:
        raise InvalidInput({"by": [f"must be one of {', '.join(RANKINGS)}"]})
    listing = pay_list(read_side, period, unit, as_of, known_at)
    valued = [(row["manager_id"], row["name"], _ranked_value(row, by))
              for row in listing["items"]]
    # Stable sort: rows come in manager_id order, so equal values keep it.
    valued.sort(key=lambda r: (r[2] is None, -(r[2] or 0)))
    items: list[dict[str, Any]] = []
    for index, (manager_id, name, value) in enumerate(valued):
        tied = items and items[-1]["value"] == value
        rank = items[-1]["rank"] if tied else index + 1
        items.append(dict(rank=rank, manager_id=manager_id, name=name, value=value))
    return dict(period=period, by=by, unit=unit, frozen=listing["frozen"],
                as_of=listing["as_of"], known_at=listing["known_at"],
                position=listing["position"], count=len(items), items=items)


def _ranked_value(row: dict[str, Any], by: str) -> Decimal | int | None:
    """The figure a ranking orders by; profit completion is actual ÷ target (none without
    a target, which cannot be completed)."""
    if by == "score":
        return int(row["score"])
    if by == "actual_pay":
        return Decimal(row["actual_pay"])
    target = Decimal(row["target"])
    if target == 0:
        return None
    return (Decimal(row["actual"]) / target).quantize(COMPLETION_PLACES, ROUND_HALF_UP)

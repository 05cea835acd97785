"""Who holds which customers on a day: what the portfolio policy checks need (DESIGN §3.4)."""

from __future__ import annotations

from collections import defaultdict
from datetime import date

from sqlalchemy import func, select

from ledger.application import PortfolioSnapshot
from projections import tables as t
from projections.database import reading
from projections.master_data import disqualified_managers
from projections.read_side import ReadSide


class PortfolioSnapshots:
    """Reads every holding from the facts, as the ledger knows them now.

    The application calls this before an assignment, so it first catches the facts up:
    a check against a portfolio that lacks an acknowledged reassignment would be wrong.
    """

    def __init__(self, figures: ReadSide) -> None:
        self.figures = figures

    def __call__(self, day: date) -> PortfolioSnapshot:
        self.figures.catch_up()
        with reading(self.figures.engine) as conn:
            groups = dict(
                conn.execute(select(t.customers.c.customer_id, t.customers.c.group_name)).all()
            )
            managers = conn.execute(select(func.count()).select_from(t.managers)).scalar_one()
            # A manager disqualified that day may take no customer (DESIGN §16), so the span
            # of control is shared among the others only.
            managers -= len(disqualified_managers(conn, day))
            holdings = conn.execute(
                select(t.holdings.c.customer_id, t.holdings.c.manager_id)
                .where(t.holdings.c.effective_on <= day)
                .order_by(t.holdings.c.effective_on, t.holdings.c.position)
            ).all()
        holder: dict[str, str] = {}
        for customer_id, manager_id in holdings:
            holder[customer_id] = manager_id  # later assignments replace earlier ones
        by_manager: dict[str, list[tuple[str, str | None]]] = defaultdict(list)
        for customer_id, manager_id in holder.items():
            by_manager[manager_id].append((customer_id, groups.get(customer_id)))
        return PortfolioSnapshot(dict(by_manager), int(managers))

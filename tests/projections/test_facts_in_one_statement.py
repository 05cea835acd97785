"""On PostgreSQL a FactSet is read in one statement (projections/factset.py `_load_in_one`):
it must hold exactly the facts the table-by-table reading holds, at every cut, with
exact money and dates, and for a score (no postings), a pay answer (a period's postings)
and a page of managers."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import event

from ledger.application import LedgerApplication
from ledger.audit import AuditContext, acting_as
from ledger.quarter import Quarter
from projections import factset
from projections.database import engine_for, reading
from projections.factset import _load_by_table, _load_in_one, load
from projections.read_side import ReadSide

pytestmark = pytest.mark.postgres
Q1 = Quarter.parse("2026Q1")
SUPERVISOR = AuditContext(actor="sup-1", role="supervisor", request_id="req-1")
CREDIT = AuditContext(actor="credit-system", role="integrator", request_id="req-4",
                      source_system="CREDIT")


@pytest.fixture
def app(postgres_ledger: LedgerApplication) -> LedgerApplication:
    return postgres_ledger


@pytest.fixture
def example(example: Any) -> Any:
    """The worked example (conftest), then a second manager, an exact posting and a
    retroactive rule set, all projected."""
    example.all_steps()
    with acting_as(SUPERVISOR):
        example.app.register_manager(business_id="M2", name="Manager Two", grade="A",
                                     unit="U1")
    with acting_as(CREDIT):
        example.app.post_contribution(
            customer_id="C1", booked_on=date(2026, 3, 31), interest_income=Decimal("0.07"),
            deposit_earnings=Decimal("12.30"), fee_income=Decimal(0), source_system="CREDIT",
            external_id="P-exact")
    example.draft_retroactive()
    example.publish()
    ReadSide(example.app).catch_up()
    return example


def test_one_statement_reads_the_same_facts_as_table_by_table_at_every_cut(
    example: Any,
) -> None:
    head = int(example.app.recorder.max_notification_id() or 0)
    engine = engine_for(example.app)
    shapes = [
        (["M1"], "postings", False, {}),
        (["M1"], "period_postings", True,
         {"booked_from": Q1.first_day, "booked_to": Q1.last_day}),
        (["M1", "M2", "M9"], "postings", True, {}),
    ]
    with reading(engine) as conn:
        for cut in range(head + 1):
            for ids, postings_of, postings, period in shapes:
                params = {"ids": ids, "cut": cut, **period}
                by_table = _load_by_table(conn, params, postings_of, postings)
                # Postings in the one statement or not (the hint of a formula seen before).
                for hint in (False, True):
                    factset._formulas_last_seen[0] = hint
                    one = _load_in_one(conn, params, postings_of, postings)
                    assert one == by_table, (cut, ids, postings_of, hint)
        whole = _load_in_one(conn, {"ids": ["M1"], "cut": head}, "postings", True)
    exact = [c for c in whole.contributions if c.contribution_id and c.booked_on.day == 31]
    assert [(c.interest_income, c.deposit_earnings) for c in exact] == [
        (Decimal("0.07"), Decimal("12.30"))]
    assert all(isinstance(c.booked_on, date) for c in whole.contributions)
    assert whole.deductions and whole.disputes and whole.rulesets.publications


def test_a_score_reads_its_facts_in_one_statement(example: Any) -> None:
    engine = engine_for(example.app)
    head = int(example.app.recorder.max_notification_id() or 0)
    seen: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *a: seen.append(a[2]))
    factset._formulas_last_seen[0] = False
    with reading(engine) as conn:
        load(conn, ["M1"], head, Q1, postings=False)
        load(conn, ["M1"], head, Q1, postings=True)
    assert len(seen) == 2

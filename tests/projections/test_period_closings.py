"""Scenario: a closed period's frozen pay and its prior-period adjustments, through the
projections, on SQLite and on PostgreSQL; and where a correction's money is carried."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from ledger.application import LedgerApplication
from ledger.audit import AuditContext, acting_as
from ledger.quarter import Quarter
from projections import runner
from projections.closing import carried_into, carry_start
from projections.factset import ClosingFact
from projections.read_side import ReadSide

APPROVER = AuditContext(actor="appr-1", role="approver", request_id="req-6")
CREDIT = AuditContext(actor="credit-system", role="integrator", request_id="req-4",
                      source_system="CREDIT")
Q1, Q2, Q3, Q4 = (Quarter(2026, q) for q in (1, 2, 3, 4))


def closing(period: Quarter, position: int, freeze_position: int | None = None) -> ClosingFact:
    frozen = "{}" if freeze_position is None else f'{{"position": {freeze_position}}}'
    return ClosingFact(str(period), position, frozen)


def test_a_correction_is_carried_into_the_first_period_not_yet_frozen_when_recorded() -> None:
    closings = {Q1: closing(Q1, 10, 9), Q2: closing(Q2, 20, 18)}
    assert carried_into(closings, Q1, 15) == Q2
    # Recorded after Q2's figures were computed (18), though before its closing (20).
    assert carried_into(closings, Q1, 19) == Q3
    assert carried_into(closings, Q1, 25) == Q3


def test_a_closing_that_does_not_say_where_it_froze_froze_everything_before_it() -> None:
    assert closing(Q1, 10).freeze_position == 9
    assert closing(Q1, 10, 7).freeze_position == 7


def test_corrections_are_looked_for_in_the_run_of_closed_periods_before_a_period() -> None:
    closings = {Q1: closing(Q1, 10), Q2: closing(Q2, 20)}
    assert carry_start(closings, Q3) == Q1
    assert carry_start(closings, Q2) == Q1
    assert carry_start(closings, Q1) == Q1
    assert carry_start({Q1: closing(Q1, 10)}, Q3) == Q3  # Q2 open: nothing passes it


class SQLiteScenario:
    @pytest.fixture
    def app(self, sqlite_ledger: LedgerApplication) -> LedgerApplication:
        return sqlite_ledger

    def close(self, app: LedgerApplication, period: str) -> None:
        with acting_as(APPROVER):
            app.close_period(period, reason="quarter end", freeze=ReadSide(app).pay_to_freeze)

    def test_the_frozen_pay_and_its_corrections_survive_a_rebuild(
        self, app: LedgerApplication, example: Any
    ) -> None:
        example.register()
        example.post_contributions()
        example.record_deductions()
        example.dispute_s3()
        self.close(app, "2026Q1")
        example.uphold()
        figures = ReadSide(app)
        q1, q2 = figures.pay("M1", "2026Q1"), figures.pay("M1", "2026Q2")
        assert (q1["frozen"], q1["actual_pay"]) == (True, Decimal("32365.00"))
        assert [c["delta"] for c in q1["prior_period_adjustments"]] == [Decimal("1450.00")]
        assert q2["payable"] == Decimal("28450.00")

        runner.rebuild_live(app, page=5)

        rebuilt = ReadSide(app)
        assert rebuilt.pay("M1", "2026Q1") | {"known_at": None} == q1 | {"known_at": None}
        assert rebuilt.pay("M1", "2026Q2") | {"known_at": None} == q2 | {"known_at": None}

    def test_a_late_posting_for_a_closed_period_is_a_prior_period_adjustment(
        self, app: LedgerApplication, example: Any
    ) -> None:
        example.register()
        example.post_contributions()
        example.record_deductions()
        self.close(app, "2026Q1")
        # The credit system posts a Q1 contribution after the close: +10000 over target.
        with acting_as(CREDIT):
            app.post_contribution(
                customer_id="C1", booked_on=date(2026, 3, 30), interest_income=Decimal(10000),
                deposit_earnings=Decimal(0), fee_income=Decimal(0), source_system="CREDIT",
                external_id="LATE-1",
            )
        q1 = ReadSide(app).pay("M1", "2026Q1")
        assert q1["actual_pay"] == Decimal("32365.00")
        (line,) = q1["prior_period_adjustments"]
        assert (line["type"], line["effective_on"], line["carried_into"]) == (
            "Contribution.Posted", date(2026, 3, 30), "2026Q2")
        assert line["effect"] == {"actual": Decimal("10000.00"),
                                  "performance_pay": Decimal("800.00"),
                                  "actual_pay": Decimal("592.00")}

    def test_an_interim_figure_of_a_closed_period_is_not_the_frozen_one(
        self, app: LedgerApplication, example: Any
    ) -> None:
        example.register()
        example.post_contributions()
        self.close(app, "2026Q1")
        # On 2026-01-31 no posting was booked yet: the interim figure, computed as usual.
        interim = ReadSide(app).pay("M1", "2026Q1", as_of=Q1.first_day.replace(day=31))
        assert (interim["status"], interim["frozen"], interim["actual"]) == (
            "closed", False, Decimal("0.00"))


class TestSQLite(SQLiteScenario):
    pass


@pytest.mark.postgres
class TestPostgreSQL(SQLiteScenario):
    @pytest.fixture
    def app(self, postgres_ledger: LedgerApplication) -> LedgerApplication:
        return postgres_ledger

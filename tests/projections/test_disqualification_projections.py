"""Disqualification steps through the projections (DESIGN §16): wiped and rebuilt, and
replayed by `verify --views`, they give the same rows and the same figures."""

from __future__ import annotations

from datetime import date

import pytest

from ledger.application import LedgerApplication
from ledger.audit import AuditContext, acting_as
from projections import runner
from projections.read_side import ReadSide
from projections.replay_check import check_views

SUPERVISOR = AuditContext(actor="sup-1", role="supervisor", request_id="req-1")
APPROVER = AuditContext(actor="appr-1", role="approver", request_id="req-6")


def disqualified_then_reinstated(app: LedgerApplication) -> None:
    with acting_as(SUPERVISOR):
        app.register_manager(business_id="M1", name="Manager One", grade="B", unit="U1")
        app.record_deduction(manager_id="M1", rule_code="E5", occurrences=1, aggravated=False,
                             effective_on=date(2026, 2, 1), description="collusion")
    with acting_as(APPROVER):
        app.reinstate_manager("M1", effective_on=date(2026, 7, 1), reason="board")


def scores(read_side: ReadSide) -> list[tuple[int, bool]]:
    answers = [read_side.score("M1", q) for q in ("2026Q1", "2026Q2", "2026Q3")]
    return [(a["score"], a["disqualified"]) for a in answers]


class SQLiteScenario:
    @pytest.fixture
    def app(self, sqlite_ledger: LedgerApplication) -> LedgerApplication:
        return sqlite_ledger

    def test_rebuilt_and_replayed_steps_give_the_same_figures(
        self, app: LedgerApplication
    ) -> None:
        disqualified_then_reinstated(app)
        runner.follow(app)
        expected = [(0, True), (0, True), (1000, False)]
        assert scores(ReadSide(app)) == expected
        before = runner.checksums(app)
        runner.rebuild_live(app)
        assert runner.checksums(app) == before
        assert scores(ReadSide(app)) == expected
        differences, compared = check_views(app)
        assert differences == [] and compared > 0


@pytest.mark.postgres
class TestPostgreSQLScenario(SQLiteScenario):
    @pytest.fixture
    def app(self, postgres_ledger: LedgerApplication) -> LedgerApplication:
        return postgres_ledger


class TestSQLiteScenario(SQLiteScenario):
    pass

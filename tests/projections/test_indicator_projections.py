"""Indicators in the read models (DESIGN §11): a formula rule set materialised live, wiped
and rebuilt to the same figures, and a draft scorecard previewed as a shadow with its diff."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from click.testing import CliRunner
from scorecards import WORKED_EXAMPLE_REPORTS, standing_in_for_teamwork

from ledger.application import LedgerApplication
from ledger.audit import AuditContext, acting_as
from ledger_cli.projections import projections
from projections.database import database_url, engine_for
from projections.materialised import LIVE, figure_of
from projections.read_side import ReadSide

OPERATOR = AuditContext(actor="op-1", role="operator", request_id="req-op")
CORE = AuditContext(actor="core-system", role="integrator", request_id="req-core")


def cli(app: LedgerApplication, *args: str) -> str:
    result = CliRunner().invoke(projections, list(args), catch_exceptions=False,
                                env={"LEDGER_DATABASE_URL": database_url(app)})
    assert result.exit_code == 0, result.output
    return result.output


def scorecard_published(app: LedgerApplication, example: Any) -> None:
    """The worked example under 2026.3 (teamwork through a stand-in raw indicator)."""
    example.all_steps()
    with acting_as(OPERATOR):
        app.draft_ruleset(standing_in_for_teamwork())
        app.publish_ruleset("2026.3")
    with acting_as(CORE):
        made = app.report_indicators([
            dict(indicator=name, manager_id="M1", period="2026Q1",
                 measured_on=date(2026, 3, 31), value=Decimal(value), source_system="CORE",
                 external_id=f"R-{name}")
            for name, value in WORKED_EXAMPLE_REPORTS.items()])
    assert [o.status for o in made.value] == ["created"] * len(WORKED_EXAMPLE_REPORTS)


class IndicatorViews:
    def test_the_live_view_holds_the_formula_score_and_a_rebuild_gives_the_same(
        self, app: LedgerApplication, example: Any
    ) -> None:
        scorecard_published(app, example)
        cli(app, "rebuild")
        live = figure_of(engine_for(app), LIVE, "M1", "2026Q1")
        assert live is not None
        assert (live["score"], live["actual_pay"], live["ruleset_version"]) == (
            750, Decimal("32437.50"), "2026.3")
        assert ReadSide(app).score("M1", "2026Q1", as_of=date(2026, 3, 31))["score"] == 750
        shown = cli(app, "show", "M1", "2026Q1", "--explain")
        assert "score 750 (good)" in shown and "npl_ratio = 0.015 (raw, report)" in shown
        cli(app, "rebuild")
        again = figure_of(engine_for(app), LIVE, "M1", "2026Q1")
        assert again is not None and again["score"] == 750

    def test_a_draft_scorecard_is_previewed_as_a_shadow_with_who_moves_and_why(
        self, app: LedgerApplication, example: Any
    ) -> None:
        scorecard_published(app, example)
        cli(app, "rebuild")
        draft = standing_in_for_teamwork("2026.5")
        draft["parameters"]["deposit_target"]["B"] = "30000000"
        with acting_as(OPERATOR):
            app.draft_ruleset(draft)
        assert "rebuilt draft" in cli(app, "rebuild", "--shadow", "draft", "--ruleset", "2026.5")
        diff = cli(app, "diff", "live", "draft")
        # deposit_completion 0.75 -> 1: 30 more performance points, 750 -> 780.
        assert "M1 2026Q1  (rules 2026.3 -> 2026.5" in diff
        assert "score              750 -> 780  delta +30" in diff
        assert "because parameters.deposit_target.B: 40000000 -> 30000000" in diff
        # The report's value is the same under both rule sets, so it is no cause (DESIGN §16).
        assert "IndicatorReport.Reported" not in diff


    def test_a_formula_failing_for_one_manager_leaves_no_row_and_stops_no_view(
        self, app: LedgerApplication, example: Any
    ) -> None:
        scorecard_published(app, example)
        draft = standing_in_for_teamwork("2026.6")
        draft["indicators"]["growth_points"]["formula"] = (
            "if(new_customers == 4, 1 / (new_customers - 4), 0)")
        with acting_as(OPERATOR):
            app.draft_ruleset(draft)
            app.publish_ruleset("2026.6")
        assert "rebuilt live" in cli(app, "rebuild")
        assert figure_of(engine_for(app), LIVE, "M1", "2026Q1") is None


class TestIndicatorViewsOnSQLite(IndicatorViews):
    @pytest.fixture
    def app(self, sqlite_ledger: LedgerApplication) -> LedgerApplication:
        return sqlite_ledger


@pytest.mark.postgres
class TestIndicatorViewsOnPostgreSQL(IndicatorViews):
    @pytest.fixture
    def app(self, postgres_ledger: LedgerApplication) -> LedgerApplication:
        return postgres_ledger

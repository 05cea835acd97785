"""GET /rulesets/{version}/diff?against=live and `ledger rulesets diff` (DESIGN §16): per
manager and figure, only the causes that moved it; unmoved managers are left out.

Runs on SQLite here and on PostgreSQL by subclassing with its harness.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

import pytest
from click.testing import CliRunner
from dbsupport import postgres_service_url

from ledger.ruleset_document import default_document
from ledger_cli.main import main

pytest.importorskip("projections.read_side")

if TYPE_CHECKING:
    from conftest import Harness


def draft_b1_and_e3(harness: Harness) -> None:
    """2026.2: B1 1 -> 3 points (M1 has one B1) and E3 5 -> 6 (nobody has an E3)."""
    content = copy.deepcopy(default_document())
    content.update(version="2026.2", effective_from="2026-01-01")
    content["deductions"]["B1"]["points"] = 3
    content["deductions"]["E3"]["points"] = 6
    harness.ok(harness.post("/rulesets", {"version": "2026.2", "effective_from": "2026-01-01",
                                          "content": content}, "operator"), 201)


def bank(harness: Harness) -> None:
    harness.register_worked_example()
    harness.record_worked_example_deductions()      # M1: B1, C7, S3
    harness.ok(harness.post("/deductions", harness.deduction("C5b", "M2"), "supervisor"), 201)
    draft_b1_and_e3(harness)


class RulesetDiff:
    def url(self, harness: Harness) -> str:
        return f"sqlite:///{harness.ledger.env['SQLITE_DBNAME']}"

    def test_only_what_moved_a_figure_is_named(self, harness: Harness) -> None:
        bank(harness)
        answer = harness.ok(harness.get("/rulesets/2026.2/diff", "auditor", against="live"))
        # M2 (only C5b) did not move, so it is not listed.
        assert [(i["manager_id"], i["period"]) for i in answer["items"]] == [("M1", "2026Q1")]
        m1 = answer["items"][0]
        figures = {f["figure"]: f for f in m1["figures"]}
        assert (figures["score"]["before"], figures["score"]["after"],
                figures["score"]["delta"]) == (740, 720, -20)
        assert figures["actual_pay"]["after"] == "32220.00"
        assert figures["actual_pay"]["delta"] == "-145.00"
        for figure in figures.values():
            assert figure["causes"] == [
                {"parameter": "deductions.B1.points", "before": 1, "after": 3}], figure
        assert [(e["type"], e["rule_code"], e["effect_before"], e["effect_after"])
                for e in m1["events"]] == [("Deduction.Recorded", "B1", -10, -30)]

    def test_the_cli_answers_from_the_same_code(self, harness: Harness) -> None:
        bank(harness)
        result = CliRunner().invoke(main, ["rulesets", "diff", "2026.2", "--against", "live"],
                                    env={"LEDGER_DATABASE_URL": self.url(harness)},
                                    catch_exceptions=False)
        assert result.exit_code == 0, result.output
        out = result.output
        assert "M1 2026Q1" in out and "M2" not in out
        assert "because deductions.B1.points: 1 -> 3" in out
        assert "E3" not in out and "C7" not in out and "S3" not in out
        assert "Deduction.Recorded B1" in out

    def test_refusals(self, harness: Harness) -> None:
        bank(harness)
        harness.refused(422, "get", "/rulesets/2026.2/diff?against=2026.1", "auditor")
        harness.refused(422, "get", "/rulesets/2026.2/diff", "operator")
        harness.refused(404, "get", "/rulesets/2030.9/diff?against=live", "operator")
        harness.refused(403, "get", "/rulesets/2026.2/diff?against=live", "supervisor")
        harness.refused(403, "get", "/rulesets/2026.2/diff?against=live", "m1")

    def test_a_version_that_moves_nothing_lists_nobody(self, harness: Harness) -> None:
        harness.register_worked_example()
        harness.record_worked_example_deductions()
        answer: dict[str, Any] = harness.ok(
            harness.get("/rulesets/2026.1/diff", "operator", against="live"))
        assert answer["items"] == []


class TestRulesetDiffOnSQLite(RulesetDiff):
    pass


@pytest.mark.postgres
class TestRulesetDiffOnPostgreSQL(RulesetDiff):
    @pytest.fixture
    def harness(self, postgres_harness: Harness) -> Harness:
        return postgres_harness

    def url(self, harness: Harness) -> str:
        return postgres_service_url()

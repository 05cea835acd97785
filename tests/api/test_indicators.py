"""Indicators and the score formula over HTTP (DESIGN §11): the public worked example on
SQLite and PostgreSQL, drafts refused with every problem, reports and their corrections."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from scorecards import WORKED_EXAMPLE_REPORTS, standing_in_for_teamwork

if TYPE_CHECKING:
    from conftest import Harness

Q1 = {"period": "2026Q1", "as_of": "2026-03-31"}


def draft_and_publish(harness: Harness, document: dict[str, Any]) -> None:
    version = document["version"]
    harness.ok(harness.post("/rulesets", {"version": version, "effective_from": "2026-01-01",
                                          "content": document}, "operator"), 201)
    harness.ok(harness.post(f"/rulesets/{version}/publish", None, "operator"))


def report(indicator: str, value: str, external_id: str, **extra: Any) -> dict[str, Any]:
    return {"indicator": indicator, "manager_id": "M1", "period": "2026Q1",
            "measured_on": "2026-03-31", "value": value, "source_system": "CORE",
            "external_id": external_id, **extra}


def report_worked_example(harness: Harness) -> None:
    items = [report(name, value, f"R-{name}") for name, value in WORKED_EXAMPLE_REPORTS.items()]
    answer = harness.ok(harness.post("/indicators/batch", {"items": items}, "integrator"))
    assert answer["counts"]["created"] == len(items)


def figures(harness: Harness, **cut: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    score = harness.ok(harness.get("/managers/M1/score", "auditor", **Q1, **cut))
    pay = harness.ok(harness.get("/managers/M1/pay", "approver", **Q1, **cut))
    return score, pay


class WorkedExampleOfSection11:
    """M1 of §4 under 2026.3: 550 / 30987.50 before the S3 decision, 750 / 32437.50 after,
    and 550 again as known before the decision."""

    def test_the_worked_example_before_and_after_the_decision(self, harness: Harness) -> None:
        harness.register_worked_example()
        ids = harness.record_worked_example_deductions()
        draft_and_publish(harness, standing_in_for_teamwork())
        report_worked_example(harness)
        score, pay = figures(harness)
        assert (score["score"], score["rating"], score["ruleset_version"]) == (
            550, "needs_improvement", "2026.3")
        assert pay["actual_pay"] == "30987.50"
        filed = harness.ok(harness.post(f"/deductions/{ids['S3']}/disputes", {"reason": "no"},
                                        "m1"), 201)
        harness.ok(harness.post(f"/disputes/{filed['id']}/decision",
                                {"outcome": "upheld", "reason": "agreed"}, "reviewer"))
        score, pay = figures(harness)
        assert (score["score"], score["rating"], pay["actual_pay"]) == (750, "good", "32437.50")
        score, pay = figures(harness, known_at=filed["recorded_at"])
        assert (score["score"], pay["actual_pay"]) == (550, "30987.50")

    def test_every_indicator_shows_its_value_source_and_formula(self, harness: Harness) -> None:
        harness.register_worked_example()
        harness.record_worked_example_deductions()
        draft_and_publish(harness, standing_in_for_teamwork())
        report_worked_example(harness)
        answer = harness.ok(harness.get("/managers/M1/indicators", "m1", **Q1))
        items = {item["name"]: item for item in answer["items"]}
        assert answer["ruleset_version"] == "2026.3" and answer["score"] == 550
        assert items["performance_points"]["value"] == "342.6315789473684210526315790"
        assert items["performance_points"]["source"] == "formula"
        assert items["risk_points"]["value"] == "150"
        assert items["teamwork_points"]["value"] == "77.0"
        assert items["npl_ratio"]["source"] == "report"
        assert items["npl_ratio"]["report"]["external_id"] == "R-npl_ratio"
        assert items["deposit_target"] == {**items["deposit_target"], "kind": "parameter",
                                           "value": "40000000"}
        assert (items["error_points"]["kind"], items["error_points"]["value"]) == ("figure", "26")
        assert items["actual"]["value"] == "250000"
        explained = harness.ok(harness.get("/managers/M1/score", "auditor", explain="true", **Q1))
        formula = explained["explanation"]["formula"]
        assert formula["text"].startswith("performance_points + risk_points")
        assert formula["value"].startswith("549.63")
        assert {n["name"] for n in formula["names"]} >= {"growth_points", "points_to_score"}

    def test_a_raw_indicator_nobody_reported_is_its_default(self, harness: Harness) -> None:
        harness.register_worked_example()
        draft_and_publish(harness, standing_in_for_teamwork())
        answer = harness.ok(harness.get("/managers/M1/indicators", "supervisor", **Q1))
        items = {item["name"]: item for item in answer["items"]}
        assert (items["avg_deposits"]["source"], items["avg_deposits"]["value"]) == (
            "default", "0")
        assert items["avg_deposits"]["report"] is None

    def test_a_corrected_report_counts_from_its_recording_on(self, harness: Harness) -> None:
        harness.register_worked_example()
        harness.record_worked_example_deductions()
        draft_and_publish(harness, standing_in_for_teamwork())
        report_worked_example(harness)
        # npl_ratio 0.015 gives 150 risk points; the correction to 0.005 gives 200.
        first = harness.ok(harness.get("/managers/M1/score", "auditor", **Q1))
        corrected = harness.ok(harness.post("/indicators", report(
            "npl_ratio", "0.005", "R-npl_ratio-2"), "integrator"), 201)
        assert harness.ok(harness.get("/managers/M1/score", "auditor", **Q1))["score"] == 600
        before = harness.ok(harness.get("/managers/M1/score", "auditor", **Q1,
                                        known_at=first["known_at"]))
        assert before["score"] == first["score"] == 550
        timeline = harness.ok(harness.get("/managers/M1/timeline", "auditor", **Q1))
        moved = [i for i in timeline["items"] if i["type"] == "IndicatorReport.Reported"]
        assert moved[-1]["position"] == corrected["events"][0]["position"]
        assert (moved[-1]["effect"], moved[-1]["score_after"]) == (50, 600)

    def test_a_draft_with_an_unknown_name_a_cycle_and_an_unguarded_division_is_refused(
        self, harness: Harness
    ) -> None:
        document = standing_in_for_teamwork("2026.4")
        indicators = document["indicators"]
        indicators["growth_points"]["formula"] = "min(new_clients * 10, 100)"
        indicators["loop_a"] = {"kind": "computed", "formula": "loop_b + 1"}
        indicators["loop_b"] = {"kind": "computed", "formula": "loop_a * 2"}
        indicators["profit_completion"]["formula"] = "actual / target"
        problem = harness.refused(422, "post", "/rulesets", "operator", {
            "version": "2026.4", "effective_from": "2026-01-01", "content": document})
        errors = problem["errors"]
        assert "unknown name 'new_clients'" in " ".join(errors["indicators.growth_points.formula"])
        assert any("cycle" in m for m in errors["indicators.loop_a.formula"]
                   + errors.get("indicators.loop_b.formula", []))
        assert "division by zero" in " ".join(errors["indicators.profit_completion.formula"])

    def test_reports_are_idempotent_and_undeclared_indicators_refused(
        self, harness: Harness
    ) -> None:
        harness.register_worked_example()
        draft_and_publish(harness, standing_in_for_teamwork())
        body = report("avg_deposits", "30000000", "R-1")
        harness.ok(harness.post("/indicators", body, "integrator"), 201)
        again = harness.ok(harness.post("/indicators", body, "supervisor"), 200)
        assert again["result"] == "duplicate"
        harness.refused(409, "post", "/indicators", "integrator", {**body, "value": "1"})
        problem = harness.refused(422, "post", "/indicators", "integrator",
                                  report("deposits_typo", "1", "R-2"))
        assert "deposits_typo" in problem["errors"]["indicator"][0]
        harness.refused(403, "post", "/indicators", "m1", report("avg_deposits", "1", "R-3"))
        batch = harness.ok(harness.post("/indicators/batch", {"items": [
            body, {**body, "value": "2"}, report("nope", "1", "R-4"),
            report("npl_ratio", "0.01", "R-5"), {"indicator": "npl_ratio"}]}, "integrator"))
        assert [i["status"] for i in batch["items"]] == [
            "duplicate", "conflict", "invalid", "created", "invalid"]

    def test_a_formula_failing_for_reported_values_answers_409_naming_it(
        self, harness: Harness
    ) -> None:
        harness.register_worked_example()
        document = standing_in_for_teamwork()
        # Survives zeros (so the draft is valid) but divides by zero when 5 is reported.
        document["indicators"]["growth_points"]["formula"] = (
            "if(new_customers == 5, 1 / (new_customers - 5), 0)")
        draft_and_publish(harness, document)
        harness.ok(harness.post("/indicators", report("new_customers", "5", "R-1"),
                                "integrator"), 201)
        problem = harness.refused(409, "get", "/managers/M1/score?period=2026Q1", "auditor")
        assert "indicators.growth_points.formula at character" in problem["detail"]
        assert "division by zero" in problem["detail"]

    def test_a_batch_repeated_with_its_idempotency_key_replays_its_answer(
        self, harness: Harness
    ) -> None:
        harness.register_worked_example()
        draft_and_publish(harness, standing_in_for_teamwork())
        body = {"items": [report("npl_ratio", "0.015", "R-1"), report("nope", "1", "R-2")]}
        first = harness.ok(harness.post("/indicators/batch", body, "integrator",
                                        **{"Idempotency-Key": "batch-1"}))
        events = harness.events()
        again = harness.ok(harness.post("/indicators/batch", body, "integrator",
                                        **{"Idempotency-Key": "batch-1"}))
        assert again == first and harness.events() == events
        assert [i["status"] for i in again["items"]] == ["created", "invalid"]

    def test_a_report_counts_from_its_measured_on_for_as_of(self, harness: Harness) -> None:
        harness.register_worked_example()
        draft_and_publish(harness, standing_in_for_teamwork())
        harness.ok(harness.post("/indicators", report("new_customers", "4", "R-1",
                                                      measured_on="2026-02-10"), "integrator"), 201)

        def growth(as_of: str) -> dict[str, Any]:
            answer = harness.ok(harness.get("/managers/M1/indicators", "auditor",
                                            period="2026Q1", as_of=as_of))
            return {i["name"]: i for i in answer["items"]}["new_customers"]

        assert (growth("2026-02-09")["source"], growth("2026-02-09")["value"]) == ("default", "0")
        assert (growth("2026-02-10")["source"], growth("2026-02-10")["value"]) == ("report", "4")
        harness.refused(422, "post", "/indicators", "integrator",
                        report("new_customers", "4", "R-2", measured_on="2025-12-31"))

    def test_under_2026_1_no_raw_indicator_is_declared(self, harness: Harness) -> None:
        harness.register_worked_example()
        harness.refused(422, "post", "/indicators", "integrator",
                        report("avg_deposits", "1", "R-1"))
        answer = harness.ok(harness.get("/managers/M1/indicators", "auditor", **Q1))
        assert (answer["items"], answer["ruleset_version"], answer["score"]) == (
            [], "2026.1", 1000)


class TestWorkedExampleOnSQLite(WorkedExampleOfSection11):
    pass


@pytest.mark.postgres
class TestWorkedExampleOnPostgreSQL(WorkedExampleOfSection11):
    @pytest.fixture
    def harness(self, postgres_harness: Harness) -> Harness:
        return postgres_harness

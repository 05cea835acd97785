"""Qualitative assessment over HTTP (DESIGN §12): the §11 + §12 worked example end to end on
SQLite and PostgreSQL, a half-scored sheet resumed, every refusal, and the redistribution
of an assessor's weight while their sheet is not submitted."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest
from scorecards import WORKED_EXAMPLE_REPORTS, section_2026_3

from persistence.tokens import TokenStore

if TYPE_CHECKING:
    from conftest import Harness

Q1 = {"period": "2026Q1", "as_of": "2026-03-31"}
ITEMS = {
    "Q1": {"dimension": "teamwork", "title": "跨部门协作 cross-department cooperation",
           "max": 10, "standard": "works with risk and operations without being chased"},
    "Q2": {"dimension": "teamwork", "title": "团队配合 team support", "max": 10},
    "K1": {"dimension": "customer", "title": "客户满意度 customer satisfaction", "max": "7.5"},
}
PLAN = {"id": "P-2026Q1", "period": "2026Q1", "unit": "Branch 1", "items": ["Q1", "Q2"],
        "assessors": [{"subject": "sup-li", "weight": "0.6"},
                      {"subject": "risk-wang", "weight": "0.4"}],
        "closes_on": "2026-12-31"}
SHEET = "/assessment-plans/P-2026Q1/sheets"


def with_assessors(harness: Harness) -> None:
    """Tokens for §12's two assessors, and one for an outsider."""
    store = TokenStore.of(harness.ledger)
    for name, role in (("sup-li", "supervisor"), ("risk-wang", "supervisor"),
                       ("outsider", "supervisor")):
        harness.tokens[name] = store.create(role=role, subject=name, manager_id=None)


def publish_2026_3(harness: Harness) -> None:
    document = section_2026_3()
    document["qualitative_items"] = ITEMS
    harness.ok(harness.post("/rulesets", {"version": "2026.3", "effective_from": "2026-01-01",
                                          "content": document}, "operator"), 201)
    harness.ok(harness.post("/rulesets/2026.3/publish", None, "operator"))


def report_indicators(harness: Harness) -> None:
    items = [{"indicator": name, "manager_id": "M1", "period": "2026Q1",
              "measured_on": "2026-03-31", "value": value, "source_system": "CORE",
              "external_id": f"R-{name}"}
             for name, value in WORKED_EXAMPLE_REPORTS.items() if name != "teamwork_result"]
    harness.ok(harness.post("/indicators/batch", {"items": items}, "integrator"))


def prepared(harness: Harness) -> dict[str, str]:
    """§4's M1 and its deductions, 2026.3 with §12's items, indicators, the plan."""
    harness.register_worked_example()
    ids = harness.record_worked_example_deductions()
    publish_2026_3(harness)
    report_indicators(harness)
    with_assessors(harness)
    harness.ok(harness.post("/assessment-plans", PLAN, "supervisor"), 201)
    return ids


def score_and_pay(harness: Harness, **cut: Any) -> tuple[int, str]:
    score = harness.ok(harness.get("/managers/M1/score", "auditor", **Q1, **cut))
    pay = harness.ok(harness.get("/managers/M1/pay", "approver", **Q1, **cut))
    return score["score"], pay["actual_pay"]


def teamwork(harness: Harness, who: str = "auditor", **cut: Any) -> dict[str, Any]:
    answer: dict[str, Any] = harness.ok(harness.get("/managers/M1/assessment", who, **Q1, **cut))
    return answer


class QualitativeAssessment:
    def test_the_worked_example_of_sections_11_and_12_end_to_end(self, harness: Harness) -> None:
        ids = prepared(harness)
        # sup-li scores both items and submits; risk-wang has not submitted yet: 8 + 9 = 17.
        harness.ok(harness.put(f"{SHEET}/M1", {"scores": {"Q1": 8, "Q2": 9}}, "sup-li"))
        harness.ok(harness.post(f"{SHEET}/M1/submit", None, "sup-li"))
        dims = teamwork(harness)["dimensions"]
        assert dims == [{"name": "qual_teamwork", "value": "17"}]
        # risk-wang gives 6 and 7: Q1 7.2, Q2 8.2, qual_teamwork 15.4.
        harness.ok(harness.put(f"{SHEET}/M1", {"scores": {"Q1": 6, "Q2": "7"}}, "risk-wang"))
        submitted = harness.ok(harness.post(f"{SHEET}/M1/submit", None, "risk-wang"))
        assert submitted["status"] == "submitted" and submitted["pending"] == []
        answer = teamwork(harness)
        assert answer["dimensions"] == [{"name": "qual_teamwork", "value": "15.4"}]
        results = {i["code"]: i["result"] for i in answer["plans"][0]["items"]}
        assert results == {"Q1": "7.2", "Q2": "8.2"}
        indicators = harness.ok(harness.get("/managers/M1/indicators", "auditor", **Q1))
        items = {i["name"]: i for i in indicators["items"]}
        assert (items["qual_teamwork"]["value"], items["qual_teamwork"]["source"]) == (
            "15.4", "qualitative")
        assert items["teamwork_points"]["value"] == "77.0"
        assert score_and_pay(harness) == (550, "30987.50")
        filed = harness.ok(harness.post(f"/deductions/{ids['S3']}/disputes", {"reason": "no"},
                                        "m1"), 201)
        harness.ok(harness.post(f"/disputes/{filed['id']}/decision",
                                {"outcome": "upheld", "reason": "agreed"}, "reviewer"))
        assert score_and_pay(harness) == (750, "32437.50")
        assert score_and_pay(harness, known_at=filed["recorded_at"]) == (550, "30987.50")
        # Before risk-wang's submission was recorded, only sup-li's sheet counted.
        as_known = teamwork(harness, known_at=_just_before(submitted))
        assert as_known["dimensions"] == [{"name": "qual_teamwork", "value": "17"}]

    def test_a_half_scored_sheet_waits_with_the_rest_pending(self, harness: Harness) -> None:
        prepared(harness)
        saved = harness.ok(harness.put(f"{SHEET}/M1", {"scores": {"Q1": "8.5"}}, "sup-li"))
        assert (saved["status"], saved["scored"], saved["pending"]) == ("open", ["Q1"], ["Q2"])
        tasks = harness.ok(harness.get("/assessment-tasks", "sup-li"))["items"]
        mine = {t["manager_id"]: t for t in tasks}
        assert set(mine) == {"M1", "M2"}
        assert (mine["M1"]["scored"], mine["M1"]["pending"]) == (["Q1"], ["Q2"])
        assert mine["M2"]["pending"] == ["Q1", "Q2"]
        # The next session finds Q1 kept and scores the rest.
        resumed = harness.ok(harness.put(f"{SHEET}/M1", {"scores": {"Q2": 9}}, "sup-li"))
        assert resumed["scores"] == {"Q1": "8.5", "Q2": "9"} and resumed["pending"] == []
        harness.ok(harness.post(f"{SHEET}/M1/submit", None, "sup-li"))
        tasks = harness.ok(harness.get("/assessment-tasks", "sup-li"))["items"]
        assert [t["manager_id"] for t in tasks] == ["M2"]
        plan = harness.ok(harness.get("/assessment-plans/P-2026Q1", "auditor"))
        states = {(s["manager_id"], s["assessor"]): s["status"] for s in plan["sheets"]}
        assert states[("M1", "sup-li")] == "submitted"
        assert states[("M1", "risk-wang")] == "open"
        assert plan["managers"] == ["M1", "M2"]

    def test_refusals_append_nothing(self, harness: Harness) -> None:
        prepared(harness)
        problem = harness.refused(422, "put", f"{SHEET}/M1", "sup-li",
                                  {"scores": {"Q1": 11}})
        assert "scores.Q1" in problem["errors"]
        harness.refused(422, "put", f"{SHEET}/M1", "sup-li", {"scores": {"Q1": "7.25"}})
        harness.refused(422, "put", f"{SHEET}/M1", "sup-li", {"scores": {"K1": 5}})
        harness.refused(404, "put", f"{SHEET}/M9", "sup-li", {"scores": {"Q1": 5}})
        harness.refused(403, "put", f"{SHEET}/M1", "outsider", {"scores": {"Q1": 5}})
        harness.ok(harness.put(f"{SHEET}/M1", {"scores": {"Q1": 5}}, "sup-li"))
        problem = harness.refused(409, "post", f"{SHEET}/M1/submit", "sup-li")
        assert "Q2" in problem["detail"]
        harness.refused(403, "post", f"{SHEET}/M1/reopen", "supervisor",
                        {"assessor": "sup-li", "reason": "typo"})
        harness.refused(409, "post", f"{SHEET}/M1/reopen", "approver",
                        {"assessor": "sup-li", "reason": "typo"})
        harness.stop_clock_on(date(2027, 1, 1))
        harness.refused(409, "put", f"{SHEET}/M1", "sup-li", {"scores": {"Q2": 5}})
        bad = dict(PLAN, id="P-bad", assessors=[{"subject": "sup-li", "weight": "0.5"}])
        harness.refused(422, "post", "/assessment-plans", "supervisor", bad)

    def test_a_reopened_sheet_stops_counting_until_submitted_again(
        self, harness: Harness
    ) -> None:
        prepared(harness)
        for who, scores in (("sup-li", {"Q1": 8, "Q2": 9}), ("risk-wang", {"Q1": 6, "Q2": 7})):
            harness.ok(harness.put(f"{SHEET}/M1", {"scores": scores}, who))
            harness.ok(harness.post(f"{SHEET}/M1/submit", None, who))
        reopened = harness.ok(harness.post(f"{SHEET}/M1/reopen",
                                           {"assessor": "risk-wang", "reason": "scored M2's"},
                                           "approver"))
        assert reopened["status"] == "open" and reopened["assessor"] == "risk-wang"
        # risk-wang's weight is shared out to sup-li again: 17.
        assert teamwork(harness)["dimensions"][0]["value"] == "17"
        harness.ok(harness.put(f"{SHEET}/M1", {"scores": {"Q1": 10}}, "risk-wang"))
        harness.ok(harness.post(f"{SHEET}/M1/submit", None, "risk-wang"))
        # Q1 = 0.6 × 8 + 0.4 × 10 = 8.8; Q2 = 8.2.
        assert teamwork(harness)["dimensions"][0]["value"] == "17.0"

    def test_only_auditors_and_supervisors_see_who_gave_what(self, harness: Harness) -> None:
        prepared(harness)
        harness.ok(harness.put(f"{SHEET}/M1", {"scores": {"Q1": 8, "Q2": 9}}, "sup-li"))
        harness.ok(harness.post(f"{SHEET}/M1/submit", None, "sup-li"))
        given = teamwork(harness, "supervisor")["plans"][0]["sheets"]
        assert [(s["assessor"], s["weight"], s["share"]) for s in given] == [
            ("sup-li", "0.6", "1")]
        assert given[0]["scores"] == {"Q1": "8", "Q2": "9"}
        own = teamwork(harness, "m1")
        assert "sheets" not in own["plans"][0]
        assert own["dimensions"][0]["value"] == "17"
        harness.refused(403, "get", "/managers/M1/assessment", "m2")


def _just_before(made: dict[str, Any]) -> str:
    """The instant one microsecond before a command's recording time."""
    instant = datetime.fromisoformat(made["recorded_at"].replace("Z", "+00:00"))
    return (instant - timedelta(microseconds=1)).isoformat()


class TestAssessmentOnSQLite(QualitativeAssessment):
    pass


@pytest.mark.postgres
class TestAssessmentOnPostgreSQL(QualitativeAssessment):
    @pytest.fixture
    def harness(self, postgres_harness: Harness) -> Harness:
        return postgres_harness

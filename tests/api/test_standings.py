"""The year and standings over HTTP (DESIGN §13) on SQLite and PostgreSQL: a manager with two
excellent quarters, one rated needs improvement, quarters left out of the year, and a flag
created retroactively by a dispute decision, with its cause."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from conftest import Harness

UNIT = "Branch 2"


def manager_holding(harness: Harness, manager_id: str, customer_id: str,
                    grade: str = "A") -> None:
    """A manager of Branch 2 who holds one customer from the first day of 2026."""
    harness.ok(harness.post("/managers", {"id": manager_id, "name": f"Manager {manager_id}",
                                          "grade": grade, "unit": UNIT}, "supervisor"), 201)
    harness.ok(harness.post("/customers", harness.customer(customer_id, "40000"),
                            "supervisor"), 201)
    harness.ok(harness.post(f"/customers/{customer_id}/assignments", {
        "manager_id": manager_id, "effective_on": "2026-01-01", "reason": "opening"},
        "supervisor"))


def deduct(harness: Harness, manager_id: str, code: str, on: str) -> str:
    body = harness.deduction(code, manager_id, effective_on=on)
    made: dict[str, Any] = harness.ok(harness.post("/deductions", body, "supervisor"), 201)
    return str(made["id"])


def flags(harness: Harness, manager_id: str, who: str = "auditor",
          **cut: Any) -> dict[str, dict[str, Any]]:
    answer = harness.ok(harness.get(f"/managers/{manager_id}/standing", who, **cut))
    return {f["flag"]: f for f in answer["flags"]}


class YearAndStandings:
    def test_two_excellent_quarters_bring_priority_and_candidacy(self, harness: Harness) -> None:
        manager_holding(harness, "M5", "C5")
        found = flags(harness, "M5", as_of="2026-06-30")
        assert set(found) == {"premium_priority", "management_candidate"}
        assert found["premium_priority"]["quarters"] == ["2026Q1", "2026Q2"]
        # One excellent quarter is not a streak.
        assert flags(harness, "M5", as_of="2026-03-31") == {}
        listed = harness.ok(harness.get("/standings", "approver", flag="premium_priority",
                                        unit=UNIT, as_of="2026-06-30"))
        assert [i["manager_id"] for i in listed["items"]] == ["M5"]

    def test_needs_improvement_requires_training_until_a_better_quarter(
        self, harness: Harness
    ) -> None:
        manager_holding(harness, "M6", "C6", grade="B")
        deduct(harness, "M6", "C5b", "2026-02-01")  # 50 × 10 = 500
        deduct(harness, "M6", "S1b", "2026-02-02")  # 20 × 10 = 200: 300, needs improvement
        found = flags(harness, "M6", "supervisor", as_of="2026-05-15")
        assert found["training_required"]["quarters"] == ["2026Q1"]
        assert found["training_required"]["improve_by"] == "2026-06-30"
        assert found["training_required"]["cause"]["type"] == "Deduction.Recorded"
        listed = harness.ok(harness.get("/standings", "supervisor", flag="training_required",
                                        as_of="2026-05-15"))
        assert [i["manager_id"] for i in listed["items"]] == ["M6"]
        # Q2, complete and excellent, clears it.
        assert "training_required" not in flags(harness, "M6", as_of="2026-07-15")

    def test_the_year_leaves_out_quarters_without_customers_or_targets(
        self, harness: Harness
    ) -> None:
        manager_holding(harness, "M5", "C5")
        deduct(harness, "M5", "S3", "2026-02-01")  # Q1 800
        harness.ok(harness.post("/managers", {"id": "M7", "name": "New", "grade": "C",
                                              "unit": UNIT}, "supervisor"), 201)
        harness.ok(harness.put("/managers/M7/targets/2026Q2", {"incremental": "1000",
                                                               "reason": "plan"}, "supervisor"))
        year = harness.ok(harness.get("/managers/M5/annual", "approver", year=2026,
                                      as_of="2026-12-31"))
        assert [q["score"] for q in year["quarters"]] == [800, 1000, 1000, 1000]
        assert (year["annual_score"], year["annual_rating"]) == (950, "excellent")
        assert year["total_pay"] == "144000.00"
        # M7 had a target in Q2 only: the other quarters are left out.
        year = harness.ok(harness.get("/managers/M7/annual", "auditor", year=2026,
                                      as_of="2026-12-31"))
        assert [q["counted"] for q in year["quarters"]] == [False, True, False, False]
        assert year["total_pay"] == "21000.00"
        # A quarter not begun on as_of is left out; the running one counts as of then.
        year = harness.ok(harness.get("/managers/M5/annual", "auditor", year=2026,
                                      as_of="2026-05-01"))
        assert [q["period"] for q in year["quarters"]] == ["2026Q1", "2026Q2"]
        assert year["annual_score"] == 900
        harness.refused(403, "get", "/managers/M5/annual", "m1")

    def test_a_dispute_upheld_in_a_past_quarter_creates_the_flag_with_its_cause(
        self, harness: Harness
    ) -> None:
        manager_holding(harness, "M2x", "C9")
        harness.tokens["m2x"] = _manager_token(harness, "M2x")
        s3 = deduct(harness, "M2x", "S3", "2026-02-01")  # Q1 800: good, no streak
        assert flags(harness, "M2x", as_of="2026-06-30") == {}
        filed = harness.ok(harness.post(f"/deductions/{s3}/disputes", {"reason": "no"},
                                        "m2x"), 201)
        decided = harness.ok(harness.post(f"/disputes/{filed['id']}/decision",
                                          {"outcome": "upheld", "reason": "agreed"}, "reviewer"))
        found = flags(harness, "M2x", "m2x", as_of="2026-06-30")
        cause = found["premium_priority"]["cause"]
        assert found["premium_priority"]["quarters"] == ["2026Q1", "2026Q2"]
        assert cause["type"] == "Deduction.Voided"
        assert cause["position"] in [e["position"] for e in decided["events"]]
        # As known before the decision, there was no flag; the timeline shows the change.
        assert flags(harness, "M2x", as_of="2026-06-30", known_at=filed["recorded_at"]) == {}
        timeline = harness.ok(harness.get("/managers/M2x/timeline", "auditor",
                                          period="2026Q1", as_of="2026-03-31"))
        assert [(i["type"], i["score_after"]) for i in timeline["items"]][-1] == (
            "Deduction.Voided", 1000)

    def test_under_a_rule_set_asking_three_quarters_two_are_not_enough(
        self, harness: Harness
    ) -> None:
        manager_holding(harness, "M5", "C5")
        document = harness.ok(harness.get("/rulesets/2026.1", "operator"))["content"]
        document.update(version="2026.2", consequences={"excellent_streak": 3})
        harness.ok(harness.post("/rulesets", {"version": "2026.2", "effective_from": "2026-01-01",
                                              "content": document}, "operator"), 201)
        harness.ok(harness.post("/rulesets/2026.2/publish", None, "operator"))
        assert flags(harness, "M5", as_of="2026-06-30") == {}
        assert flags(harness, "M5", as_of="2026-09-30")["premium_priority"]["quarters"] == [
            "2026Q1", "2026Q2", "2026Q3"]


def _manager_token(harness: Harness, manager_id: str) -> str:
    from persistence.tokens import TokenStore
    token: str = TokenStore.of(harness.ledger).create(
        role="manager", subject=f"{manager_id}-user", manager_id=manager_id)
    return token


class TestStandingsOnSQLite(YearAndStandings):
    pass


@pytest.mark.postgres
class TestStandingsOnPostgreSQL(YearAndStandings):
    @pytest.fixture
    def harness(self, postgres_harness: Harness) -> Harness:
        return postgres_harness

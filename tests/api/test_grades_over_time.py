"""Grade changes over time (DESIGN §16): refused below premium_requires_grade while premium
customers are held, naming them; base salary paid by the days at each grade.

Runs on SQLite here and on PostgreSQL by subclassing with its harness.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

pytest.importorskip("projections.read_side")

if TYPE_CHECKING:
    from conftest import Harness

Q1_END = {"period": "2026Q1", "as_of": "2026-03-31"}


def grade(harness: Harness, manager_id: str, to: str, on: str) -> dict[str, object]:
    return {"grade": to, "effective_on": on, "reason": "annual review"}


class GradesOverTime:
    def test_a_grade_below_the_premium_requirement_is_refused_naming_the_customers(
        self, harness: Harness
    ) -> None:
        harness.register_worked_example()   # M2 is grade A
        harness.ok(harness.post("/managers", {"id": "M3", "name": "Wang Fang", "grade": "A",
                                              "unit": "Branch 1"}, "supervisor"), 201)
        for cid in ("C5", "C4"):
            harness.ok(harness.post("/customers", harness.customer(cid, "100000", "premium"),
                                    "supervisor"), 201)
            harness.ok(harness.post(f"/customers/{cid}/assignments", {
                "manager_id": "M2", "effective_on": "2026-01-01", "reason": "opening"},
                "supervisor"))
        for lower in ("B", "C"):
            problem = harness.refused(409, "post", "/managers/M2/grade", "supervisor",
                                      grade(harness, "M2", lower, "2026-02-15"))
            assert problem["rule"] == "GradeKeepsThePremiumCustomersHeld"
            assert "C4, C5" in problem["detail"]
        # Once both premium customers are reassigned, the grade may fall.
        for cid in ("C4", "C5"):
            harness.ok(harness.post(f"/customers/{cid}/assignments", {
                "manager_id": "M3", "effective_on": "2026-02-10", "reason": "grade review"},
                "supervisor"))
        changed = harness.ok(harness.post("/managers/M2/grade",
                                          grade(harness, "M2", "C", "2026-02-15"), "supervisor"))
        assert changed["grade"] == "C"

    def test_base_salary_follows_the_grade_by_days_held_in_the_period(
        self, harness: Harness
    ) -> None:
        harness.register_worked_example()
        harness.record_worked_example_deductions()
        before = harness.ok(harness.get("/managers/M1/pay", "approver", **Q1_END))
        assert (before["base_salary"], before["actual_pay"]) == ("27000.00", "32365.00")
        # M1 is grade B for Jan 1 - Feb 14 (45 days) and A for Feb 15 - Mar 31 (45 days).
        changed = harness.ok(harness.post("/managers/M1/grade",
                                          grade(harness, "M1", "A", "2026-02-15"), "supervisor"))
        after = harness.ok(harness.get("/managers/M1/pay", "approver", **Q1_END))
        assert (after["base_salary"], after["actual_pay"]) == ("31500.00", "36865.00")
        # Before the change takes effect, and as known before it was recorded: as before.
        early = harness.ok(harness.get("/managers/M1/pay", "approver", period="2026Q1",
                                       as_of="2026-02-01"))
        assert early["base_salary"] == "27000.00"
        known = harness.ok(harness.get("/managers/M1/pay", "approver", **Q1_END,
                                       known_at=before["known_at"]))
        assert known["actual_pay"] == "32365.00"
        assert changed["recorded_at"] > before["known_at"]


class TestGradesOverTimeOnSQLite(GradesOverTime):
    pass


@pytest.mark.postgres
class TestGradesOverTimeOnPostgreSQL(GradesOverTime):
    @pytest.fixture
    def harness(self, postgres_harness: Harness) -> Harness:
        return postgres_harness

"""Reading master data over HTTP (DESIGN §16): managers, units, customers and their holders,
paged by a cursor, with a manager reading only itself and the customers it holds.

Runs on SQLite here and on PostgreSQL by subclassing with its harness.
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

import pytest

pytest.importorskip("projections.read_side")

if TYPE_CHECKING:
    from conftest import Harness


def with_m3_and_premium_c4(harness: Harness) -> None:
    harness.register_worked_example()       # M1 (B) holds C1-C3; M2 (A)
    harness.ok(harness.post("/managers", {"id": "M3", "name": "Wang Fang", "grade": "A",
                                          "unit": "Branch 2"}, "supervisor"), 201)
    harness.ok(harness.post("/customers", harness.customer("C4", "90000", "premium"),
                            "supervisor"), 201)
    harness.ok(harness.post("/customers/C4/assignments", {
        "manager_id": "M2", "effective_on": "2026-01-01", "reason": "opening"}, "supervisor"))
    harness.ok(harness.post("/customers/C4/assignments", {
        "manager_id": "M3", "effective_on": "2026-02-01", "reason": "moved"}, "supervisor"))


class MasterData:
    def test_managers_are_listed_a_page_at_a_time_and_read_one_by_one(
        self, harness: Harness
    ) -> None:
        with_m3_and_premium_c4(harness)
        first = harness.ok(harness.get("/managers", "auditor", limit=2))
        assert [m["id"] for m in first["items"]] == ["M1", "M2"]
        assert first["next_after"] == "M2"
        rest = harness.ok(harness.get("/managers", "auditor", limit=2, after="M2"))
        assert ([m["id"] for m in rest["items"]], rest["next_after"]) == (["M3"], None)
        branch2 = harness.ok(harness.get("/managers", "approver", unit="Branch 2"))["items"]
        assert [(m["id"], m["grade"], m["unit"], m["status"]) for m in branch2] == [
            ("M3", "A", "Branch 2", "active")]
        harness.ok(harness.post("/managers/M1/grade", {
            "grade": "A", "effective_on": "2026-02-15", "reason": "review"}, "supervisor"))
        m1 = harness.ok(harness.get("/managers/M1", "m1"))
        assert m1["grades"] == [{"effective_on": None, "grade": "B"},
                                {"effective_on": "2026-02-15", "grade": "A"}]
        units = harness.ok(harness.get("/units", "supervisor"))["items"]
        assert units == [{"unit": "Branch 1", "managers": 2}, {"unit": "Branch 2", "managers": 1}]

    def test_refusals_are_problems(self, harness: Harness) -> None:
        with_m3_and_premium_c4(harness)
        assert harness.refused(403, "get", "/managers/M2", "m1")["rule"] == (
            "ManagersSeeTheirOwnData")
        harness.refused(403, "get", "/managers", "m1")
        harness.refused(404, "get", "/managers/M9", "auditor")
        harness.refused(422, "get", "/managers?limit=0", "auditor")
        harness.refused(422, "get", "/customers?class=vip", "auditor")
        harness.refused(422, "get", "/customers/C1/holder", "auditor")
        harness.refused(403, "get", "/customers/C4", "m1")
        harness.refused(403, "get", "/customers?manager_id=M2", "m1")
        harness.refused(403, "get", "/units", "integrator")

    def test_customers_are_listed_by_class_and_holder_with_their_holders_over_time(
        self, harness: Harness
    ) -> None:
        with_m3_and_premium_c4(harness)
        harness.stop_clock_on(date(2026, 3, 1))
        premium = harness.ok(harness.get("/customers", "integrator", **{"class": "premium"}))
        assert [c["id"] for c in premium["items"]] == ["C4"]
        held = harness.ok(harness.get("/customers", "supervisor", manager_id="M3"))["items"]
        assert [(c["id"], c["manager_id"]) for c in held] == [("C4", "M3")]
        assert harness.ok(harness.get("/customers", "supervisor", manager_id="M2"))[
            "items"] == []
        page = harness.ok(harness.get("/customers", "auditor", limit=3))
        assert ([c["id"] for c in page["items"]], page["next_after"]) == (
            ["C1", "C2", "C3"], "C3")
        # A manager's list is the customers it holds, whatever it asks.
        mine = harness.ok(harness.get("/customers", "m1"))["items"]
        assert [c["id"] for c in mine] == ["C1", "C2", "C3"]
        c4 = harness.ok(harness.get("/customers/C4", "approver"))
        assert c4["holders"] == [{"manager_id": "M2", "effective_on": "2026-01-01"},
                                 {"manager_id": "M3", "effective_on": "2026-02-01"}]
        for on, who in (("2025-12-31", None), ("2026-01-31", "M2"), ("2026-02-01", "M3")):
            answer = harness.ok(harness.get("/customers/C4/holder", "integrator", on=on))
            assert (answer["on"], answer["manager_id"]) == (on, who)
        assert harness.ok(harness.get("/customers/C1/holder", "m1", on="2026-02-01"))[
            "manager_id"] == "M1"


class TestMasterDataOnSQLite(MasterData):
    pass


@pytest.mark.postgres
class TestMasterDataOnPostgreSQL(MasterData):
    @pytest.fixture
    def harness(self, postgres_harness: Harness) -> Harness:
        return postgres_harness

"""Poison cannot enter (issue 11): NUL, lone surrogates, deep JSON, huge integers and
instants outside the years the ledger reckons with are refused by name, append nothing, and
leave every figure answering; a bad byte already in an old store takes no figure down."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest

from ledger.audit import AuditContext, acting_as
from ledger.manager import Manager

if TYPE_CHECKING:
    from conftest import Harness

SUPERVISOR = AuditContext(actor="sup-1", role="supervisor", request_id="old-store")
MANAGER = {"id": "M5", "name": "Five", "grade": "C", "unit": "Branch 2"}


def figures_answer(harness: Harness) -> None:
    """The worked example's figures, and the dispute queue, still answer exactly."""
    score = harness.ok(harness.get("/managers/M1/score", "auditor", period="2026Q1"))
    pay = harness.ok(harness.get("/managers/M1/pay", "auditor", period="2026Q1"))
    assert (score["score"], pay["actual_pay"]) == (740, "32365.00")
    harness.ok(harness.get("/disputes", "supervisor"))


def raw_post(harness: Harness, path: str, data: str, who: str = "supervisor") -> Any:
    headers = harness.headers(who, **{"Content-Type": "application/json"})
    return harness.client.post("/api/v1" + path, data=data.encode("utf-8", "surrogatepass"),
                               headers=headers)


class PoisonIsRefused:
    @pytest.fixture(autouse=True)
    def example(self, harness: Harness) -> None:
        harness.register_worked_example()
        harness.record_worked_example_deductions()

    @pytest.mark.parametrize("field", ["name", "unit"])
    def test_a_nul_in_a_text_field_is_refused_by_name(self, harness: Harness, field: str) -> None:
        problem = harness.refused(422, "post", "/managers", "supervisor",
                                  {**MANAGER, field: "a\x00b"})
        assert field in problem["errors"]
        figures_answer(harness)

    def test_a_nul_in_a_deduction_description_is_refused(self, harness: Harness) -> None:
        problem = harness.refused(422, "post", "/deductions", "supervisor",
                                  harness.deduction("B1", description="late\x00visit"))
        assert "description" in problem["errors"]
        figures_answer(harness)

    def test_a_lone_surrogate_is_refused_by_name(self, harness: Harness) -> None:
        before = harness.events()
        body = json.dumps({**MANAGER, "name": "x"}).replace('"x"', '"\\udfff"')
        answer = raw_post(harness, "/managers", body)
        assert answer.status_code == 422, answer.get_data(as_text=True)
        assert "name" in answer.get_json()["errors"]
        assert harness.events() == before
        figures_answer(harness)

    def test_a_nul_inside_a_batch_item_names_the_item(self, harness: Harness) -> None:
        batch = {"items": [harness.posting("C1", "5", "K-1"),
                           harness.posting("C2", "5", "K\x00-2")]}
        problem = harness.refused(422, "post", "/contributions/batch", "integrator", batch)
        assert "items.1.external_id" in problem["errors"]

    def test_json_nested_a_thousand_deep_is_a_400_problem(self, harness: Harness) -> None:
        before = harness.events()
        answer = raw_post(harness, "/managers", "[" * 1000 + "]" * 1000)
        assert answer.status_code == 400 and answer.mimetype == "application/problem+json"
        assert harness.events() == before
        figures_answer(harness)

    def test_a_five_thousand_digit_integer_is_refused_by_name(self, harness: Harness) -> None:
        body = json.dumps(harness.deduction("B1")).replace('"occurrences": 1',
                                                            '"occurrences": ' + "9" * 5000)
        before = harness.events()
        answer = raw_post(harness, "/deductions", body)
        assert answer.status_code == 422, answer.get_data(as_text=True)
        assert "occurrences" in answer.get_json()["errors"]
        assert harness.events() == before

    @pytest.mark.parametrize("known_at", ["0001-01-01T00:00:00+14:00",
                                          "9999-12-31T23:59:59-14:00"])
    def test_an_instant_outside_the_years_is_refused(self, harness: Harness, known_at: str) -> None:
        answer = harness.get("/managers/M1/score", "auditor", period="2026Q1", known_at=known_at)
        assert answer.status_code == 422, answer.get_data(as_text=True)
        assert "known_at" in answer.get_json()["errors"]

    def test_a_date_outside_the_years_is_refused(self, harness: Harness) -> None:
        problem = harness.refused(422, "post", "/deductions", "supervisor",
                                  harness.deduction("B1", effective_on="0001-01-01"))
        assert "effective_on" in problem["errors"]

    def test_a_nul_in_a_path_or_a_query_is_refused_by_name(self, harness: Harness) -> None:
        in_path = harness.get("/managers/M%001/score", "auditor", period="2026Q1")
        assert in_path.status_code == 422, in_path.get_data(as_text=True)
        assert "path.manager_id" in in_path.get_json()["errors"]
        in_query = harness.get("/managers/M1/score", "auditor", period="2026\x00Q1")
        assert in_query.status_code == 422, in_query.get_data(as_text=True)
        assert "query.period" in in_query.get_json()["errors"]
        figures_answer(harness)

    def test_a_nul_already_in_an_old_store_takes_no_figure_down(self, harness: Harness) -> None:
        # An event written before these checks existed: a manager named with a NUL.
        with acting_as(SUPERVISOR):
            old = Manager.register(business_id="M9", name="Old", grade="C", unit="Branch 9")
            object.__setattr__(old.pending_events[0], "name", "Old\x00Name")
            harness.ledger.record(old)
        figures_answer(harness)
        answer = harness.ok(harness.get("/managers/M9/score", "auditor", period="2026Q1"))
        assert answer["score"] == 1000
        # Reassigning a customer consults every portfolio, the poisoned one's too.
        harness.ok(harness.post("/customers/C3/assignments", {
            "manager_id": "M2", "effective_on": "2026-03-01", "reason": "rebalance"},
            "supervisor"))


class TestPoisonOnSQLite(PoisonIsRefused):
    pass


@pytest.mark.postgres
class TestPoisonOnPostgreSQL(PoisonIsRefused):
    @pytest.fixture
    def harness(self, postgres_harness: Harness) -> Harness:
        return postgres_harness

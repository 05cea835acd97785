"""Withdrawing a dispute and asking its filer for information (DESIGN §16), over HTTP.

A withdrawn dispute leaves its deduction counting as if it had never been disputed; a
request for information pauses the decision deadline until the filer answers, and the
overdue lists honour the pause. Every refusal is a problem report that appends nothing.
The same flows run on PostgreSQL by subclassing with its harness.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

import pytest

pytest.importorskip("projections.read_side")

if TYPE_CHECKING:
    from conftest import Harness

Q1 = {"period": "2026Q1", "as_of": "2026-03-31"}


def score(harness: Harness) -> int:
    return int(harness.ok(harness.get("/managers/M1/score", "auditor", **Q1))["score"])


def file_dispute(harness: Harness, deduction_id: str) -> Any:
    return harness.ok(harness.post(f"/deductions/{deduction_id}/disputes",
                                   {"reason": "not my customer"}, "m1"), 201)


def overdue_ids(harness: Harness) -> list[str]:
    items = harness.ok(harness.get("/disputes", "supervisor", overdue="true"))["items"]
    return [item["id"] for item in items]


def day(harness: Harness, days: int) -> str:
    today: date = harness.ledger.today()
    return (today + timedelta(days=days)).isoformat()


class WithdrawalAndInformation:
    """The flows, on SQLite here and on PostgreSQL below."""

    def test_a_withdrawn_dispute_leaves_its_deduction_counting(self, harness: Harness) -> None:
        harness.register_worked_example()
        ids = harness.record_worked_example_deductions()
        filed = file_dispute(harness, ids["S3"])
        # Another manager and every other role are refused, and nothing is appended.
        path = f"/disputes/{filed['id']}/withdrawal"
        problem = harness.refused(403, "post", path, "m2", {"reason": "x"})
        assert problem["rule"] == "OnlyTheFilerMayWithdraw"
        harness.refused(403, "post", path, "supervisor", {"reason": "x"})
        harness.refused(422, "post", path, "m1", {})
        withdrawn = harness.ok(harness.post(path, {"reason": "I found the visit log"}, "m1"))
        assert (withdrawn["status"], withdrawn["due_on"]) == ("withdrawn", None)
        # The deduction counts on: the worked example's 740, and no decision is possible.
        assert score(harness) == 740
        problem = harness.refused(409, "post", f"/disputes/{filed['id']}/decision", "reviewer",
                                  {"outcome": "upheld", "reason": "late"})
        assert problem["rule"] == "StepsInOrder"
        assert harness.refused(409, "post", path, "m1", {"reason": "twice"})["rule"] == (
            "StepsInOrder")
        queue = harness.ok(harness.get("/disputes", "auditor", status="withdrawn"))["items"]
        assert [(i["id"], i["awaiting"]) for i in queue] == [(filed["id"], None)]
        trail = harness.ok(harness.get(f"/disputes/{filed['id']}", "m1"))["trail"]
        assert [s["type"] for s in trail][-1] == "Withdrawn"

    def test_a_request_for_information_pauses_the_decision_deadline(
        self, harness: Harness
    ) -> None:
        harness.register_worked_example()
        ids = harness.record_worked_example_deductions()
        filed = file_dispute(harness, ids["S3"])          # a decision is due in 10 days
        dispute = f"/disputes/{filed['id']}"
        # Day 4: the reviewer asks; the deadline pauses with 6 days left.
        harness.travel(days=4)
        asked = harness.ok(harness.post(f"{dispute}/information-request",
                                        {"question": "which customer was it?"}, "reviewer"))
        assert (asked["due_on"], asked["awaiting_information"]) == (None, True)
        problem = harness.refused(409, "post", f"{dispute}/information-request", "reviewer",
                                  {"question": "again?"})
        assert problem["rule"] == "OneInformationRequestAtATime"
        # Day 20: long past the original due day, the paused dispute is not overdue.
        harness.travel(days=20)
        assert overdue_ids(harness) == []
        queue = harness.ok(harness.get("/disputes", "supervisor", status="open"))["items"]
        assert [(i["id"], i["awaiting"], i["due_on"]) for i in queue] == [
            (filed["id"], "filer", None)]
        # Only the filer answers; the decision is due 6 days after the answer.
        problem = harness.refused(403, "post", f"{dispute}/information", "m2", {"answer": "x"})
        assert problem["rule"] == "OnlyTheFilerMayAnswer"
        answered = harness.ok(harness.post(f"{dispute}/information",
                                           {"answer": "C2, see the call log"}, "m1"))
        assert (answered["due_on"], answered["awaiting_information"]) == (day(harness, 6), False)
        assert harness.refused(409, "post", f"{dispute}/information", "m1",
                               {"answer": "more"})["rule"] == "AnswersFollowARequest"
        # Day 27: overdue again, by the resumed deadline.
        harness.travel(days=27)
        assert overdue_ids(harness) == [filed["id"]]
        # The trail keeps the question and the answer; the dispute counts as before.
        trail = harness.ok(harness.get(dispute, "auditor"))["trail"]
        texts = [s["texts"] for s in trail if s["type"].startswith("Information")]
        assert texts == [{"question": "which customer was it?"},
                         {"answer": "C2, see the call log"}]
        assert score(harness) == 740

    def test_the_recorder_may_not_ask_for_information(self, harness: Harness) -> None:
        harness.register_worked_example()
        ids = harness.record_worked_example_deductions()
        filed = file_dispute(harness, ids["S3"])
        path = f"/disputes/{filed['id']}/information-request"
        problem = harness.refused(403, "post", path, "supervisor",
                                  {"question": "?"})
        assert problem["rule"] == "ReviewerIsNotTheRecorder"
        harness.refused(403, "post", path, "m1", {"question": "?"})


class TestWithdrawalAndInformationOnSQLite(WithdrawalAndInformation):
    pass


@pytest.mark.postgres
class TestWithdrawalAndInformationOnPostgreSQL(WithdrawalAndInformation):
    @pytest.fixture
    def harness(self, postgres_harness: Harness) -> Harness:
        return postgres_harness

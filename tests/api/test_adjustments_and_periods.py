"""Adjustments and period closing over HTTP (DESIGN §3.6).

Adjustments need two people and count only while approved; a reversal is another event.
Closing a period freezes its pay: a later correction is recorded, listed on the closed
period's pay answer and timeline as a prior-period adjustment, and its money is paid with
the first period not yet frozen, never silently changing a frozen figure.
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

import pytest

from persistence.tokens import TokenStore

pytest.importorskip("projections.read_side")

if TYPE_CHECKING:
    from conftest import Harness

Q1 = {"period": "2026Q1", "as_of": "2026-03-31"}
Q2 = {"period": "2026Q2", "as_of": "2026-06-30"}
Q3 = {"period": "2026Q3", "as_of": "2026-09-30"}


def score_and_pay(harness: Harness, known_at: str | None = None) -> tuple[int, str]:
    cut = {"known_at": known_at} if known_at else {}
    score = harness.ok(harness.get("/managers/M1/score", "supervisor", **Q1, **cut))
    pay = harness.ok(harness.get("/managers/M1/pay", "approver", **Q1, **cut))
    return score["score"], pay["actual_pay"]


def pay(harness: Harness, quarter: dict[str, str], **cut: str) -> dict[str, Any]:
    answer: dict[str, Any] = harness.ok(harness.get("/managers/M1/pay", "auditor", **quarter,
                                                    **cut))
    return answer


def propose(harness: Harness, points: int, who: str = "supervisor", period: str = "2026Q1"
            ) -> dict[str, Any]:
    body = {"manager_id": "M1", "period": period, "points": points, "reason": "mentoring award"}
    proposed: dict[str, Any] = harness.ok(harness.post("/adjustments", body, who), 201)
    return proposed


def approve(harness: Harness, adjustment_id: str, who: str = "approver") -> dict[str, Any]:
    approved: dict[str, Any] = harness.ok(harness.post(
        f"/adjustments/{adjustment_id}/approval", {"approved": True, "reason": "agreed"}, who))
    return approved


@pytest.fixture
def example(harness: Harness) -> dict[str, str]:
    """The worked example with its three deductions (score 740, pay 32365.00)."""
    harness.register_worked_example()
    ids: dict[str, str] = harness.record_worked_example_deductions()
    return ids


# --- adjustments ----------------------------------------------------------------------------


def test_an_adjustment_counts_once_approved_and_a_reversal_takes_it_back_by_another_event(
    harness: Harness, example: dict[str, str]
) -> None:
    proposed = propose(harness, 30)
    approved = approve(harness, proposed["id"])
    assert (approved["status"], approved["counts"]) == ("approved", True)
    reversed_ = harness.ok(harness.post(f"/adjustments/{proposed['id']}/reversal",
                                        {"reason": "entered for the wrong quarter"}, "approver2"))
    assert (reversed_["status"], reversed_["counts"]) == ("reversed", False)
    assert [e["type"] for e in reversed_["events"]] == ["Reversed"]
    # Proposed: no effect yet; approved: +30 score points; reversed: back to 740.
    assert score_and_pay(harness, proposed["recorded_at"]) == (740, "32365.00")
    assert score_and_pay(harness, approved["recorded_at"]) == (770, "32582.50")
    assert score_and_pay(harness, reversed_["recorded_at"]) == (740, "32365.00")
    # The approval stays on record; the reversal is one more step.
    detail = harness.ok(harness.get(f"/adjustments/{proposed['id']}", "m1"))
    assert [(s["type"], s["actor"], s["role"], s["texts"]["reason"]) for s in detail["trail"]] == [
        ("Proposed", "sup-1", "supervisor", "mentoring award"),
        ("Approved", "appr-1", "approver", "agreed"),
        ("Reversed", "appr-2", "approver", "entered for the wrong quarter"),
    ]
    assert harness.get(f"/adjustments/{proposed['id']}", "m2").status_code == 403


def test_a_rejected_adjustment_never_counts_and_cannot_be_approved_later(
    harness: Harness, example: dict[str, str]
) -> None:
    proposed = propose(harness, -50)
    rejected = harness.ok(harness.post(f"/adjustments/{proposed['id']}/approval",
                                       {"approved": False, "reason": "not justified"},
                                       "approver"))
    assert (rejected["status"], rejected["counts"]) == ("rejected", False)
    assert score_and_pay(harness) == (740, "32365.00")
    problem = harness.refused(409, "post", f"/adjustments/{proposed['id']}/approval",
                              "approver2", {"approved": True, "reason": "changed my mind"})
    assert problem["current_state"] == "rejected"
    assert harness.refused(409, "post", f"/adjustments/{proposed['id']}/reversal", "approver",
                           {"reason": "x"})["current_state"] == "rejected"


def test_a_reversal_needs_an_approver_other_than_the_proposer_and_an_approved_adjustment(
    harness: Harness, example: dict[str, str]
) -> None:
    proposed = propose(harness, 30)
    path = f"/adjustments/{proposed['id']}/reversal"
    assert harness.refused(409, "post", path, "approver", {"reason": "x"})["current_state"] == \
        "proposed"
    approve(harness, proposed["id"])
    for role in ("supervisor", "m1", "auditor"):
        harness.refused(403, "post", path, role, {"reason": "wrong role"})
    harness.refused(422, "post", path, "approver", {"reason": ""})
    harness.ok(harness.post(path, {"reason": "wrong quarter"}, "approver"))
    assert harness.refused(409, "post", path, "approver2", {"reason": "twice"})[
        "current_state"] == "reversed"
    # Whoever proposed an adjustment may not reverse it either, with an approver's token.
    harness.tokens["sup-1-approving"] = TokenStore.of(harness.ledger).create(
        role="approver", subject="sup-1")
    own = propose(harness, 10)
    approve(harness, own["id"])
    problem = harness.refused(403, "post", f"/adjustments/{own['id']}/reversal",
                              "sup-1-approving", {"reason": "undo mine"})
    assert problem["rule"] == "ApproverIsNotTheProposer"
    harness.refused(404, "post", "/adjustments/00000000-0000-4000-8000-000000000000/reversal",
                    "approver", {"reason": "x"})


# --- period close ----------------------------------------------------------------------------


class PeriodClosing:
    """A correction after the close is a prior-period adjustment, on SQLite."""

    def test_a_closed_periods_pay_stays_frozen_and_a_later_correction_is_a_prior_period_line(
        self, harness: Harness, example: dict[str, str]
    ) -> None:
        filed = harness.ok(harness.post(f"/deductions/{example['S3']}/disputes",
                                        {"reason": "not my customer"}, "m1"), 201)
        closed = harness.ok(harness.post("/periods/2026Q1/close", {"reason": "quarter end"},
                                         "approver"))
        frozen = closed["frozen"]
        assert frozen["managers"]["M1"]["actual_pay"] == "32365.00"
        assert frozen["position"] < closed["events"][0]["position"]
        # After the close, the reviewer upholds the dispute: S3 is voided.
        decided = harness.ok(harness.post(f"/disputes/{filed['id']}/decision",
                                          {"outcome": "upheld", "reason": "agreed"}, "reviewer"))
        voided = decided["events"][-1]
        # Q1's pay is the frozen figure, with the correction listed beside it.
        q1 = pay(harness, Q1)
        assert (q1["status"], q1["frozen"], q1["actual_pay"], q1["score"]) == (
            "closed", True, "32365.00", 740)
        assert q1["closed_at"] == closed["recorded_at"]
        assert q1["prior_period_adjustments"] == [{
            "period": "2026Q1", "position": voided["position"],
            "recorded_at": decided["recorded_at"], "type": "Deduction.Voided",
            "effective_on": "2026-02-01", "effect": {"score": 200, "actual_pay": "1450.00"},
            "delta": "1450.00", "actual_pay_after": "33815.00", "carried_into": "2026Q2",
        }]
        # The next period pays it as a separate line; its own actual pay is untouched.
        q2 = pay(harness, Q2)
        assert (q2["status"], q2["actual_pay"], q2["prior_period_adjustment_total"],
                q2["payable"]) == ("open", "27000.00", "1450.00", "28450.00")
        assert q2["prior_period_adjustment"] == {
            "total": "1450.00", "lines": q1["prior_period_adjustments"]}
        # As known before the close, before the correction: as they stood then.
        before_close = pay(harness, Q1, known_at=filed["recorded_at"])
        assert (before_close["status"], before_close["frozen"],
                before_close["actual_pay"]) == ("open", False, "32365.00")
        at_close = pay(harness, Q1, known_at=closed["recorded_at"])
        assert (at_close["frozen"], at_close["prior_period_adjustments"]) == (True, [])
        assert pay(harness, Q2, known_at=closed["recorded_at"])["payable"] == "27000.00"
        # The score is not pay: it says what the score is now, 940.
        assert harness.ok(harness.get("/managers/M1/score", "auditor", **Q1))["score"] == 940

    def test_the_closed_periods_timeline_flags_what_came_after_the_freeze(
        self, harness: Harness, example: dict[str, str]
    ) -> None:
        filed = harness.ok(harness.post(f"/deductions/{example['S3']}/disputes",
                                        {"reason": "not my customer"}, "m1"), 201)
        harness.ok(harness.post("/periods/2026Q1/close", {"reason": "quarter end"}, "approver"))
        harness.ok(harness.post(f"/disputes/{filed['id']}/decision",
                                {"outcome": "upheld", "reason": "agreed"}, "reviewer"))
        timeline = harness.ok(harness.get("/managers/M1/timeline", "auditor", **Q1))
        assert timeline["status"] == "closed" and timeline["closed_at"]
        assert [(i["type"], i["score_after"], i["prior_period"]) for i in timeline["items"]] == [
            ("Deduction.Recorded", 990, False), ("Deduction.Recorded", 940, False),
            ("Deduction.Recorded", 740, False), ("Period.Closed", 740, False),
            ("Deduction.Voided", 940, True)]
        period = harness.ok(harness.get("/periods/2026Q1", "auditor"))
        assert (period["status"], period["frozen"]["managers"]["M1"]["payable"]) == (
            "closed", "32365.00")
        assert [(s["type"], s["actor"], s["role"]) for s in period["trail"]] == [
            ("Opened", "appr-1", "approver"), ("Closed", "appr-1", "approver")]
        assert harness.ok(harness.get("/periods/2026Q2", "auditor"))["status"] == "open"

    def test_a_correction_after_the_next_close_is_paid_with_the_first_open_period(
        self, harness: Harness, example: dict[str, str]
    ) -> None:
        filed = harness.ok(harness.post(f"/deductions/{example['S3']}/disputes",
                                        {"reason": "not my customer"}, "m1"), 201)
        harness.ok(harness.post("/periods/2026Q1/close", {"reason": "Q1 end"}, "approver"))
        harness.ok(harness.post(f"/disputes/{filed['id']}/decision",
                                {"outcome": "upheld", "reason": "agreed"}, "reviewer"))
        # Q2 closes with the Q1 correction in its payable.
        q2_closed = harness.ok(harness.post("/periods/2026Q2/close", {"reason": "Q2 end"},
                                            "approver"))
        assert q2_closed["frozen"]["managers"]["M1"]["payable"] == "28450.00"
        # A Q1 adjustment approved now (+30 points: 940 → 970) is paid with Q3.
        approved = approve(harness, propose(harness, 30)["id"])
        q1 = pay(harness, Q1)
        assert [(c["type"], c["delta"], c["carried_into"]) for c in
                q1["prior_period_adjustments"]] == [
            ("Deduction.Voided", "1450.00", "2026Q2"),
            ("Adjustment.Approved", "217.50", "2026Q3")]
        assert q1["prior_period_adjustments"][1]["recorded_at"] == approved["recorded_at"]
        q2 = pay(harness, Q2)
        assert (q2["frozen"], q2["payable"], q2["prior_period_adjustment_total"]) == (
            True, "28450.00", "1450.00")
        assert [c["delta"] for c in q2["prior_period_adjustment"]["lines"]] == ["1450.00"]
        q3 = pay(harness, Q3)
        assert (q3["prior_period_adjustment_total"], q3["payable"]) == ("217.50", "27217.50")

    def test_closing_is_for_approvers_once_and_only_after_the_period_ended(
        self, harness: Harness, example: dict[str, str]
    ) -> None:
        for role in ("supervisor", "m1", "auditor"):
            harness.refused(403, "post", "/periods/2026Q1/close", role, {"reason": "role"})
        harness.refused(422, "post", "/periods/2026Q9/close", "approver", {"reason": "no"})
        harness.stop_clock_on(date(2026, 3, 31))
        problem = harness.refused(409, "post", "/periods/2026Q1/close", "approver",
                                  {"reason": "too early"})
        assert (problem["rule"], problem["current_state"]) == ("PeriodsCloseAfterTheyEnd", "open")
        harness.stop_clock_on(date(2026, 4, 1))
        harness.ok(harness.post("/periods/2026Q1/close", {"reason": "quarter end"}, "approver"))
        problem = harness.refused(409, "post", "/periods/2026Q1/close", "approver",
                                  {"reason": "again"})
        assert problem["current_state"] == "closed"


class TestPeriodClosingOnSQLite(PeriodClosing):
    pass


@pytest.mark.postgres
class TestPeriodClosingOnPostgreSQL(PeriodClosing):
    @pytest.fixture
    def harness(self, postgres_harness: Harness) -> Harness:
        return postgres_harness

"""Disputes and appeals over HTTP (DESIGN §3.5): every transition and every refusal.

Each flow asks for the figures at the instant each step was recorded (`known_at` = the
step's `recorded_at`) and asserts them as they stood then. Refusals assert the problem
report and that the log did not grow (`harness.refused`). The flows run again on
PostgreSQL by subclassing with another harness.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

import pytest

from persistence.tokens import TokenStore

pytest.importorskip("projections.read_side")

if TYPE_CHECKING:
    from conftest import Harness

Q1 = {"period": "2026Q1", "as_of": "2026-03-31"}
BEFORE = (740, "32365.00")  # DESIGN §4: B1, C7 and S3 counted
UPHELD = (940, "33815.00")  # S3 voided


def figures(harness: Harness, known_at: str | None = None) -> tuple[int, str]:
    """M1's 2026Q1 score and actual pay, now or as known at `known_at`."""
    cut = {"known_at": known_at} if known_at else {}
    score = harness.ok(harness.get("/managers/M1/score", "auditor", **Q1, **cut))
    pay = harness.ok(harness.get("/managers/M1/pay", "approver", **Q1, **cut))
    assert score.get("known_at") == pay.get("known_at") or known_at is None
    return score["score"], pay["actual_pay"]


def days_from_today(harness: Harness, days: int) -> str:
    today: date = harness.ledger.today()
    return (today + timedelta(days=days)).isoformat()


def file_dispute(harness: Harness, deduction_id: str, who: str = "m1", **body: Any) -> Any:
    return harness.ok(harness.post(f"/deductions/{deduction_id}/disputes",
                                   {"reason": "not my customer", **body}, who), 201)


def decide(harness: Harness, dispute_id: str, outcome: str, who: str = "reviewer",
           **body: Any) -> Any:
    return harness.ok(harness.post(f"/disputes/{dispute_id}/decision",
                                   {"outcome": outcome, "reason": "reviewed", **body}, who))


def steps_of(trail: list[dict[str, Any]]) -> list[tuple[str, str, str, str]]:
    return [(s["aggregate"], s["type"], s["actor"], s["role"]) for s in trail]


class DisputeFlows:
    """The worked example's dispute, a full appeal, and a partial uphold, on SQLite."""

    def test_the_worked_example_dispute_answers_each_step_as_it_stood_then(
        self, harness: Harness
    ) -> None:
        harness.register_worked_example()
        ids = harness.record_worked_example_deductions()
        assert figures(harness) == BEFORE
        # M1 disputes S3 with an evidence reference; a decision is due in 10 days (2026.1).
        filed = file_dispute(harness, ids["S3"], evidence=["complaint-file-7"])
        assert (filed["status"], filed["due_on"]) == ("open", days_from_today(harness, 10))
        dispute = f"/disputes/{filed['id']}"
        # M1 adds evidence, the reviewer asks; both are steps of the trail.
        added = harness.ok(harness.post(f"{dispute}/comments", {
            "text": "call log attached", "evidence": ["call-log-3"]}, "m1"))
        asked = harness.ok(harness.post(f"{dispute}/comments", {"text": "who took it?"},
                                        "reviewer"))
        # A reviewer who did not record S3 upholds it: S3 is voided in the same append.
        decided = decide(harness, filed["id"], "upheld")
        assert (decided["status"], decided["deduction_status"]) == ("decided", "voided")
        # As known at each step's recording instant, the figures as they stood then.
        for step in (filed, added, asked):
            assert figures(harness, step["recorded_at"]) == BEFORE
        assert figures(harness, decided["recorded_at"]) == UPHELD
        assert figures(harness) == UPHELD
        # The deduction's one trail: recording, filing, comments, decision, correction.
        deduction = harness.ok(harness.get(f"/deductions/{ids['S3']}", "m1"))
        assert (deduction["status"], deduction["dispute_id"]) == ("voided", filed["id"])
        trail = deduction["trail"]
        assert steps_of(trail) == [
            ("Deduction", "Recorded", "sup-1", "supervisor"),
            ("Dispute", "Filed", "m1-user", "manager"),
            ("Deduction", "Disputed", "m1-user", "manager"),
            ("Dispute", "Commented", "m1-user", "manager"),
            ("Dispute", "Commented", "sup-2", "supervisor"),
            ("Dispute", "Decided", "sup-2", "supervisor"),
            ("Deduction", "Voided", "sup-2", "supervisor"),
        ]
        positions = [s["position"] for s in trail]
        assert positions == sorted(positions)
        assert (trail[1]["texts"], trail[1]["evidence"]) == (
            {"reason": "not my customer"}, ["complaint-file-7"])
        assert (trail[3]["texts"], trail[3]["evidence"]) == (
            {"text": "call log attached"}, ["call-log-3"])
        assert trail[-1]["details"]["dispute_id"] == filed["id"]  # the correction's link
        assert trail[-1]["recorded_at"] == decided["recorded_at"]
        assert all(s["occurred_at"] and s["recorded_at"] for s in trail)
        assert trail[0]["effective_on"] == "2026-02-01"
        # The dispute shows the same trail.
        assert harness.ok(harness.get(dispute, "auditor"))["trail"] == trail

    def test_a_rejection_appealed_and_upheld_changes_score_and_pay_only_at_the_appeal(
        self, harness: Harness
    ) -> None:
        harness.register_worked_example()
        ids = harness.record_worked_example_deductions()
        filed = file_dispute(harness, ids["S3"])
        # The reviewer rejects; M1 may appeal within 10 days of the decision (2026.1).
        rejected = decide(harness, filed["id"], "rejected")
        assert (rejected["outcome"], rejected["deduction_status"]) == ("rejected", "active")
        assert (rejected["due_on"], rejected["appeal_by"]) == (
            None, days_from_today(harness, 10))
        appealed = harness.ok(harness.post(f"/disputes/{filed['id']}/appeal",
                                           {"reason": "the complaint named a colleague"}, "m1"))
        # The appeal board has 15 days; the appeal window is used up.
        assert (appealed["status"], appealed["due_on"], appealed["appeal_by"]) == (
            "appealed", days_from_today(harness, 15), None)
        final = harness.ok(harness.post(f"/disputes/{filed['id']}/appeal/decision", {
            "outcome": "upheld", "reason": "board agrees"}, "approver"))
        assert (final["status"], final["appeal_outcome"], final["deduction_status"]) == (
            "appeal_decided", "upheld", "voided")
        for step in (filed, rejected, appealed):
            assert figures(harness, step["recorded_at"]) == BEFORE
        assert figures(harness, final["recorded_at"]) == UPHELD
        trail = harness.ok(harness.get(f"/disputes/{filed['id']}", "m1"))["trail"]
        assert steps_of(trail)[1:] == [
            ("Dispute", "Filed", "m1-user", "manager"),
            ("Deduction", "Disputed", "m1-user", "manager"),
            ("Dispute", "Decided", "sup-2", "supervisor"),
            ("Dispute", "AppealFiled", "m1-user", "manager"),
            ("Dispute", "AppealDecided", "appr-1", "approver"),
            ("Deduction", "Voided", "appr-1", "approver"),
        ]
        assert trail[-2]["texts"] == {"reason": "board agrees"}

    def test_a_partly_upheld_dispute_sets_the_total_anew_and_a_rejected_appeal_keeps_it(
        self, harness: Harness
    ) -> None:
        harness.register_worked_example()
        ids = harness.record_worked_example_deductions()
        filed = file_dispute(harness, ids["S3"])
        # S3's 20 error points become 10: 16 points in all, score 840, pay 27000 + 7250 × 0.84.
        partly = decide(harness, filed["id"], "partly_upheld", points=10)
        assert (partly["points"], partly["deduction_status"]) == (10, "amended")
        assert figures(harness, partly["recorded_at"]) == (840, "33090.00")
        harness.ok(harness.post(f"/disputes/{filed['id']}/appeal", {"reason": "0 points"}, "m1"))
        final = harness.ok(harness.post(f"/disputes/{filed['id']}/appeal/decision", {
            "outcome": "rejected", "reason": "10 is fair"}, "approver"))
        assert (final["appeal_outcome"], final["deduction_status"]) == ("rejected", "amended")
        assert figures(harness) == (840, "33090.00")
        deduction = harness.ok(harness.get(f"/deductions/{ids['S3']}", "auditor"))
        assert (deduction["status"], deduction["points"], deduction["score_delta"]) == (
            "amended", 10, -100)


class TestDisputeFlowsOnSQLite(DisputeFlows):
    pass


@pytest.mark.postgres
class TestDisputeFlowsOnPostgreSQL(DisputeFlows):
    @pytest.fixture
    def harness(self, postgres_harness: Harness) -> Harness:
        return postgres_harness


# --- refusals: wrong person, wrong role, out of order, late --------------------------------


@pytest.fixture
def example(harness: Harness) -> dict[str, str]:
    """The worked example with its three deductions; their ids by rule code."""
    harness.register_worked_example()
    ids: dict[str, str] = harness.record_worked_example_deductions()
    return ids


def test_only_the_manager_who_received_a_deduction_may_dispute_it(
    harness: Harness, example: dict[str, str]
) -> None:
    path = f"/deductions/{example['S3']}/disputes"
    problem = harness.refused(403, "post", path, "m2", {"reason": "not mine either"})
    assert problem["rule"] == "OnlyTheOwnerMayDispute"
    for role in ("supervisor", "approver", "auditor", "integrator"):
        assert harness.refused(403, "post", path, role, {"reason": "x"})["type"].endswith(
            "wrong-role")


def test_a_dispute_is_filed_within_the_rule_sets_window_of_the_recording(
    harness: Harness, example: dict[str, str]
) -> None:
    harness.travel(days=16)
    problem = harness.refused(409, "post", f"/deductions/{example['S3']}/disputes", "m1",
                              {"reason": "too late"})
    assert (problem["type"].endswith("deadline-passed"), problem["rule"]) == (
        True, "DisputeWithinWindow")
    # The 15th day after the recording is still in time.
    harness.travel(days=15)
    file_dispute(harness, example["S3"])


def test_the_last_day_to_dispute_is_shown_until_the_deduction_is_disputed(
    harness: Harness, example: dict[str, str]
) -> None:
    before = harness.ok(harness.get(f"/deductions/{example['S3']}", "m1"))
    assert before["dispute_by"] == days_from_today(harness, 15)
    file_dispute(harness, example["S3"])
    after = harness.ok(harness.get(f"/deductions/{example['S3']}", "m1"))
    assert after["dispute_by"] is None


def test_a_deduction_is_disputed_once_even_after_a_rejection(
    harness: Harness, example: dict[str, str]
) -> None:
    filed = file_dispute(harness, example["S3"])
    path = f"/deductions/{example['S3']}/disputes"
    problem = harness.refused(409, "post", path, "m1", {"reason": "again"})
    assert (problem["rule"], problem["current_state"]) == ("ADeductionIsDisputedOnce", "disputed")
    assert filed["id"] in problem["detail"]
    decide(harness, filed["id"], "rejected")
    # A rejection is challenged by appeal, not by a fresh dispute.
    harness.refused(409, "post", path, "m1", {"reason": "once more"})


def test_decisions_are_taken_by_the_right_person_in_the_right_role(
    harness: Harness, example: dict[str, str]
) -> None:
    filed = file_dispute(harness, example["S3"])
    dispute = f"/disputes/{filed['id']}"
    upheld = {"outcome": "upheld", "reason": "x"}
    # sup-1 recorded S3: never its reviewer.
    problem = harness.refused(403, "post", f"{dispute}/decision", "supervisor", upheld)
    assert problem["rule"] == "ReviewerIsNotTheRecorder"
    for role in ("m1", "approver", "auditor"):
        harness.refused(403, "post", f"{dispute}/decision", role, upheld)
    # An appeal is decided by an approver, never by a supervisor or the manager.
    decide(harness, filed["id"], "rejected")
    harness.ok(harness.post(f"{dispute}/appeal", {"reason": "look again"}, "m1"))
    for role in ("reviewer", "m1"):
        harness.refused(403, "post", f"{dispute}/appeal/decision", role, upheld)
    harness.refused(403, "post", f"{dispute}/appeal", "m2", {"reason": "not mine"})
    harness.refused(403, "post", f"{dispute}/comments", "m2", {"text": "not mine"})


def test_whoever_decided_a_dispute_may_not_decide_its_appeal(
    harness: Harness, example: dict[str, str]
) -> None:
    # One person holding a supervisor's and an approver's token is still one person, however
    # the subject is spelled (no role may act in every role any more: docs/roles.md).
    harness.tokens["sup-2-approving"] = TokenStore.of(harness.ledger).create(
        role="approver", subject="SUP-2")
    filed = file_dispute(harness, example["S3"])
    decide(harness, filed["id"], "rejected", who="reviewer")
    harness.ok(harness.post(f"/disputes/{filed['id']}/appeal", {"reason": "again"}, "m1"))
    problem = harness.refused(403, "post", f"/disputes/{filed['id']}/appeal/decision",
                              "sup-2-approving",
                              {"outcome": "upheld", "reason": "my own decision again"})
    assert problem["rule"] == "AppealDeciderIsNotTheReviewer"


def test_steps_out_of_order_are_refused_naming_the_current_state(
    harness: Harness, example: dict[str, str]
) -> None:
    dispute = f"/disputes/{file_dispute(harness, example['S3'])['id']}"
    upheld = {"outcome": "upheld", "reason": "x"}

    def refused_in(state: str, path: str, who: str, body: dict[str, Any]) -> None:
        problem = harness.refused(409, "post", path, who, body)
        assert problem["current_state"] == state and state in problem["detail"]

    refused_in("open", f"{dispute}/appeal", "m1", {"reason": "no decision yet"})
    refused_in("open", f"{dispute}/appeal/decision", "approver", upheld)
    harness.ok(harness.post(f"{dispute}/decision", {"outcome": "rejected", "reason": "no"},
                            "reviewer"))
    refused_in("decided", f"{dispute}/decision", "reviewer", upheld)
    refused_in("decided", f"{dispute}/appeal/decision", "approver", upheld)
    harness.ok(harness.post(f"{dispute}/appeal", {"reason": "look again"}, "m1"))
    refused_in("appealed", f"{dispute}/appeal", "m1", {"reason": "twice"})
    harness.ok(harness.post(f"{dispute}/appeal/decision", upheld, "approver"))
    refused_in("appeal_decided", f"{dispute}/appeal/decision", "approver", upheld)
    refused_in("appeal_decided", f"{dispute}/comments", "m1", {"text": "after the end"})


def test_an_upheld_dispute_has_nothing_to_appeal(
    harness: Harness, example: dict[str, str]
) -> None:
    filed = file_dispute(harness, example["S3"])
    assert decide(harness, filed["id"], "upheld")["appeal_by"] is None
    problem = harness.refused(409, "post", f"/disputes/{filed['id']}/appeal", "m1",
                              {"reason": "more"})
    assert (problem["rule"], problem["current_state"]) == (
        "OnlyRejectedOrPartlyUpheldMayBeAppealed", "upheld")


def test_an_appeal_after_its_window_is_refused_as_late(
    harness: Harness, example: dict[str, str]
) -> None:
    filed = file_dispute(harness, example["S3"])
    decide(harness, filed["id"], "partly_upheld", points=10)
    harness.travel(days=11)
    problem = harness.refused(409, "post", f"/disputes/{filed['id']}/appeal", "m1",
                              {"reason": "too late"})
    assert (problem["type"].endswith("deadline-passed"), problem["rule"]) == (
        True, "AppealWithinWindow")


def test_a_partly_upheld_decision_needs_a_lower_total(
    harness: Harness, example: dict[str, str]
) -> None:
    dispute = f"/disputes/{file_dispute(harness, example['S3'])['id']}/decision"
    for points in (None, 20, -1):
        harness.refused(422, "post", dispute, "reviewer",
                        {"outcome": "partly_upheld", "points": points, "reason": "x"})
    harness.refused(422, "post", dispute, "reviewer",
                    {"outcome": "rejected", "points": 5, "reason": "points only when partly"})


# --- deadlines as data -----------------------------------------------------------------------


def test_overdue_decisions_are_listed_and_nothing_is_decided_automatically(
    harness: Harness, example: dict[str, str]
) -> None:
    first = file_dispute(harness, example["S3"])    # the reviewer has until day 10
    second = file_dispute(harness, example["C7"])
    decide(harness, second["id"], "rejected")
    harness.ok(harness.post(f"/disputes/{second['id']}/appeal", {"reason": "again"}, "m1"))
    # Day 11: the first decision is overdue; the appeal board still has until day 15.
    harness.travel(days=11)
    overdue = harness.ok(harness.get("/disputes", "supervisor", overdue="true"))["items"]
    assert [(i["id"], i["awaiting"], i["due_on"]) for i in overdue] == [
        (first["id"], "reviewer", first["due_on"])]
    assert harness.ok(harness.get(f"/disputes/{first['id']}", "auditor"))["status"] == "open"
    # Day 16: both are overdue; the auditor's queue for M1 shows the same (a manager lists no
    # queue: DESIGN §9, docs/roles.md).
    harness.travel(days=16)
    overdue = harness.ok(harness.get("/disputes", "approver", overdue="true"))["items"]
    assert [(i["id"], i["awaiting"]) for i in overdue] == [
        (first["id"], "reviewer"), (second["id"], "appeal_board")]
    m1s = harness.ok(harness.get("/disputes", "auditor", overdue="true", manager_id="M1"))
    assert [i["id"] for i in m1s["items"]] == [first["id"], second["id"]]
    # A late decision is still taken, and leaves the overdue list.
    decide(harness, first["id"], "upheld")
    overdue = harness.ok(harness.get("/disputes", "auditor", overdue="true"))["items"]
    assert [i["id"] for i in overdue] == [second["id"]]
    assert harness.ok(harness.get("/disputes", "auditor", manager_id="M2"))["items"] == []

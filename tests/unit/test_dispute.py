"""The dispute aggregate: filing, comments, decision, appeal and deadlines."""

from __future__ import annotations

from datetime import date
from uuid import uuid4

import pytest

from ledger.dispute import Dispute
from ledger.errors import DeadlinePassed, InvalidInput, NotPermitted, RuleViolation

RECORDED_ON = date(2026, 3, 2)
# Rule-set 2026.1 numbers, passed in as the application will.
WINDOWS = dict(file_within_days=15, decide_within_days=10)
APPEAL_WINDOWS = dict(appeal_within_days=10, appeal_decide_within_days=15)


def file(today: date = date(2026, 3, 5), by: str | None = "M1") -> Dispute:
    return Dispute.file(
        deduction_id=uuid4(),
        owner_manager_id="M1",
        filed_by_manager_id=by,
        reason="the customer was visited; see log",
        evidence=["visit-log-17"],
        recorded_on=RECORDED_ON,
        today=today,
        **WINDOWS,
    )


def decide(dispute: Dispute, outcome: str, points: int | None = None, by: str = "sup-2") -> None:
    dispute.decide(
        outcome=outcome,
        points=points,
        reason="reviewed",
        decided_by=by,
        recorded_by="sup-1",
        current_points=20,
        today=date(2026, 3, 10),
    )


def appeal(dispute: Dispute, today: date = date(2026, 3, 12), by: str | None = "M1") -> None:
    dispute.appeal(appellant_manager_id=by, reason="look again", today=today, **APPEAL_WINDOWS)


def names(dispute: Dispute) -> list[str]:
    return [type(e).__name__ for e in dispute.pending_events]


def test_a_filed_dispute_is_open_and_due_for_decision_within_the_reviewers_window() -> None:
    dispute = file()
    assert dispute.status == "open" and dispute.is_pending
    assert dispute.due_on == date(2026, 3, 15)
    assert names(dispute) == ["Filed"]


def test_a_manager_cannot_dispute_someone_elses_deduction() -> None:
    with pytest.raises(NotPermitted) as refused:
        file(by="M2")
    assert refused.value.rule == "OnlyTheOwnerMayDispute"


def test_a_dispute_after_the_filing_window_is_refused() -> None:
    file(today=date(2026, 3, 17))
    with pytest.raises(DeadlinePassed) as refused:
        file(today=date(2026, 3, 18))
    assert refused.value.rule == "DisputeWithinWindow"


def test_a_dispute_needs_a_reason() -> None:
    with pytest.raises(InvalidInput) as refused:
        Dispute.file(
            deduction_id=uuid4(),
            owner_manager_id="M1",
            filed_by_manager_id="M1",
            reason="",
            recorded_on=RECORDED_ON,
            today=RECORDED_ON,
            **WINDOWS,
        )
    assert list(refused.value.errors) == ["reason"]


def test_parties_may_comment_while_the_dispute_is_not_final() -> None:
    dispute = file()
    dispute.comment(text="attaching the call log", evidence=["call-log-3"])
    assert dispute.comment_count == 1
    assert names(dispute) == ["Filed", "Commented"]


def test_an_overdue_decision_is_reported_but_still_accepted() -> None:
    dispute = file()
    assert not dispute.is_overdue(date(2026, 3, 15))
    assert dispute.is_overdue(date(2026, 3, 16))
    dispute.decide(
        outcome="rejected",
        reason="late but considered",
        decided_by="sup-2",
        recorded_by="sup-1",
        current_points=20,
        today=date(2026, 4, 30),
    )
    assert dispute.status == "decided"
    assert not dispute.is_overdue(date(2026, 5, 1))


def test_an_upheld_decision_is_recorded_with_its_reviewer() -> None:
    dispute = file()
    decide(dispute, "upheld")
    assert (dispute.status, dispute.outcome, dispute.is_pending) == ("decided", "upheld", False)
    assert dispute.pending_events[-1].decided_by == "sup-2"  # type: ignore[attr-defined]


def test_a_partly_upheld_decision_carries_the_new_total() -> None:
    dispute = file()
    decide(dispute, "partly_upheld", points=8)
    assert (dispute.outcome, dispute.points) == ("partly_upheld", 8)


def test_a_partly_upheld_decision_without_points_is_refused() -> None:
    dispute = file()
    with pytest.raises(InvalidInput) as refused:
        decide(dispute, "partly_upheld")
    assert refused.value.rule == "DecisionNeedsPointsWhenPartlyUpheld"
    assert names(dispute) == ["Filed"]


def test_the_recorder_of_a_deduction_cannot_decide_its_dispute() -> None:
    dispute = file()
    with pytest.raises(NotPermitted) as refused:
        decide(dispute, "rejected", by="sup-1")
    assert refused.value.rule == "ReviewerIsNotTheRecorder"


def test_a_dispute_cannot_be_decided_twice() -> None:
    dispute = file()
    decide(dispute, "rejected")
    with pytest.raises(RuleViolation) as refused:
        decide(dispute, "upheld")
    assert (refused.value.rule, refused.value.current_state) == ("StepsInOrder", "decided")


def test_an_unknown_outcome_is_refused() -> None:
    with pytest.raises(InvalidInput) as refused:
        decide(file(), "maybe")
    assert list(refused.value.errors) == ["outcome"]


def test_a_rejected_dispute_may_be_appealed_within_the_window() -> None:
    dispute = file()
    decide(dispute, "rejected")
    appeal(dispute, today=date(2026, 3, 20))
    assert dispute.status == "appealed" and dispute.is_pending
    assert dispute.due_on == date(2026, 4, 4)
    assert names(dispute) == ["Filed", "Decided", "AppealFiled"]


def test_an_appeal_after_its_window_is_refused() -> None:
    dispute = file()
    decide(dispute, "rejected")
    with pytest.raises(DeadlinePassed) as refused:
        appeal(dispute, today=date(2026, 3, 21))
    assert refused.value.rule == "AppealWithinWindow"


def test_an_upheld_dispute_cannot_be_appealed() -> None:
    dispute = file()
    decide(dispute, "upheld")
    with pytest.raises(RuleViolation) as refused:
        appeal(dispute)
    assert refused.value.rule == "OnlyRejectedOrPartlyUpheldMayBeAppealed"


def test_only_the_disputing_manager_may_appeal() -> None:
    dispute = file()
    decide(dispute, "partly_upheld", points=10)
    with pytest.raises(NotPermitted) as refused:
        appeal(dispute, by="M2")
    assert refused.value.rule == "OnlyTheOwnerMayAppeal"


def test_an_appeal_before_the_decision_is_out_of_order() -> None:
    dispute = file()
    with pytest.raises(RuleViolation) as refused:
        appeal(dispute)
    assert (refused.value.rule, refused.value.current_state) == ("StepsInOrder", "open")


def test_an_appeal_decision_is_final() -> None:
    dispute = file()
    decide(dispute, "partly_upheld", points=10)
    appeal(dispute)
    dispute.decide_appeal(
        outcome="partly_upheld",
        points=4,
        reason="board view",
        decided_by="appr-1",
        recorded_by="sup-1",
        current_points=10,
        today=date(2026, 3, 25),
    )
    assert (dispute.status, dispute.appeal_outcome, dispute.appeal_points) == (
        "appeal_decided",
        "partly_upheld",
        4,
    )
    assert dispute.final_outcome == "partly_upheld" and dispute.due_on is None
    with pytest.raises(RuleViolation):
        appeal(dispute)
    with pytest.raises(RuleViolation):
        dispute.comment(text="one more thing")
    assert names(dispute) == ["Filed", "Decided", "AppealFiled", "AppealDecided"]


def test_an_appeal_cannot_be_decided_before_it_is_filed() -> None:
    dispute = file()
    decide(dispute, "rejected")
    with pytest.raises(RuleViolation) as refused:
        dispute.decide_appeal(
            outcome="upheld",
            reason="x",
            decided_by="appr-1",
            recorded_by="sup-1",
            current_points=20,
            today=date(2026, 3, 25),
        )
    assert refused.value.current_state == "decided"


def test_the_recorder_cannot_decide_the_appeal_either() -> None:
    dispute = file()
    decide(dispute, "rejected")
    appeal(dispute)
    with pytest.raises(NotPermitted):
        dispute.decide_appeal(
            outcome="upheld",
            reason="x",
            decided_by="sup-1",
            recorded_by="sup-1",
            current_points=20,
            today=date(2026, 3, 25),
        )


def test_whoever_decided_the_dispute_cannot_decide_its_appeal() -> None:
    dispute = file()
    decide(dispute, "rejected", by="sup-2")
    appeal(dispute)
    with pytest.raises(NotPermitted) as refused:
        dispute.decide_appeal(
            outcome="upheld",
            reason="my own decision again",
            decided_by="sup-2",
            recorded_by="sup-1",
            current_points=20,
            today=date(2026, 3, 25),
        )
    assert refused.value.rule == "AppealDeciderIsNotTheReviewer"


def test_a_rejected_dispute_shows_the_last_day_to_appeal_until_it_is_appealed() -> None:
    dispute = file()
    assert dispute.appeal_by(10) is None
    decide(dispute, "rejected")
    assert dispute.appeal_by(10) == date(2026, 3, 20)
    appeal(dispute)
    assert dispute.appeal_by(10) is None


def test_an_upheld_dispute_has_no_appeal_deadline() -> None:
    dispute = file()
    decide(dispute, "upheld")
    assert dispute.appeal_by(10) is None


def test_the_wrong_manager_is_refused_before_the_state_is_revealed() -> None:
    dispute = file()
    with pytest.raises(NotPermitted):
        appeal(dispute, by="M2")

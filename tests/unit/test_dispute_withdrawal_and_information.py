"""Withdrawal and requests for information on the dispute aggregate (DESIGN §16)."""

from __future__ import annotations

from datetime import date
from uuid import uuid4

import pytest

from ledger.dispute import Dispute
from ledger.errors import InvalidInput, NotPermitted, RuleViolation

FILED_ON = date(2026, 3, 5)  # due for decision on 2026-03-15


def filed() -> Dispute:
    return Dispute.file(deduction_id=uuid4(), owner_manager_id="M1", filed_by_manager_id="M1",
                        reason="not so", recorded_on=date(2026, 3, 2), today=FILED_ON,
                        file_within_days=15, decide_within_days=10)


def ask(dispute: Dispute, today: date, by: str = "sup-2") -> None:
    dispute.request_information(question="which customer?", requested_by=by,
                                recorded_by="sup-1", today=today)


def test_the_filer_withdraws_an_open_dispute() -> None:
    dispute = filed()
    dispute.withdraw(withdrawing_manager_id="M1", reason="found the log")
    assert (dispute.status, dispute.due_on, dispute.is_pending) == ("withdrawn", None, False)


def test_nobody_but_the_filer_withdraws_and_only_while_open() -> None:
    dispute = filed()
    with pytest.raises(NotPermitted) as refused:
        dispute.withdraw(withdrawing_manager_id="M2", reason="x")
    assert refused.value.rule == "OnlyTheFilerMayWithdraw"
    with pytest.raises(InvalidInput):
        dispute.withdraw(withdrawing_manager_id="M1", reason="")
    dispute.withdraw(withdrawing_manager_id="M1", reason="found the log")
    with pytest.raises(RuleViolation) as out_of_order:
        dispute.withdraw(withdrawing_manager_id="M1", reason="again")
    assert out_of_order.value.rule == "StepsInOrder"


def test_a_request_pauses_the_deadline_and_the_answer_resumes_it_with_the_days_left() -> None:
    dispute = filed()
    ask(dispute, date(2026, 3, 9))  # six days left
    assert (dispute.due_on, dispute.awaiting_information, dispute.is_overdue(
        date(2026, 4, 30))) == (None, True, False)
    dispute.provide_information(answering_manager_id="M1", answer="C2", today=date(2026, 4, 1))
    assert (dispute.due_on, dispute.awaiting_information) == (date(2026, 4, 7), False)
    assert [type(e).__name__ for e in dispute.pending_events][-2:] == [
        "InformationRequested", "InformationProvided"]


def test_a_request_after_the_due_day_leaves_no_days_on_resumption() -> None:
    dispute = filed()
    ask(dispute, date(2026, 3, 20))
    dispute.provide_information(answering_manager_id="M1", answer="C2", today=date(2026, 3, 25))
    assert dispute.due_on == date(2026, 3, 25)


def test_the_recorder_never_asks_and_one_request_waits_at_a_time() -> None:
    dispute = filed()
    with pytest.raises(NotPermitted) as recorder:
        ask(dispute, date(2026, 3, 9), by="sup-1")
    assert recorder.value.rule == "ReviewerIsNotTheRecorder"
    ask(dispute, date(2026, 3, 9))
    with pytest.raises(RuleViolation) as twice:
        ask(dispute, date(2026, 3, 10))
    assert twice.value.rule == "OneInformationRequestAtATime"


def test_only_the_filer_answers_and_only_an_open_request() -> None:
    dispute = filed()
    with pytest.raises(RuleViolation) as unasked:
        dispute.provide_information(answering_manager_id="M1", answer="x", today=FILED_ON)
    assert unasked.value.rule == "AnswersFollowARequest"
    ask(dispute, date(2026, 3, 9))
    with pytest.raises(NotPermitted) as stranger:
        dispute.provide_information(answering_manager_id="M2", answer="x", today=FILED_ON)
    assert stranger.value.rule == "OnlyTheFilerMayAnswer"

"""The dispute aggregate: a manager's challenge to one deduction, its decision and its appeal."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from uuid import UUID

from eventsourcing.domain import event

from ledger.base import LedgerAggregate
from ledger.ids import new_id
from ledger.rules import (
    MAX_POINTS,
    AnswersFollowARequest,
    AppealDeciderIsNotTheReviewer,
    AppealWithinWindow,
    DecisionNeedsPointsWhenPartlyUpheld,
    DisputeWithinWindow,
    FieldErrors,
    OneInformationRequestAtATime,
    OnlyRejectedOrPartlyUpheldMayBeAppealed,
    OnlyTheFilerMayAnswer,
    OnlyTheFilerMayWithdraw,
    OnlyTheOwnerMayAppeal,
    OnlyTheOwnerMayDispute,
    ReviewerIsNotTheRecorder,
    StepsInOrder,
    check,
    deadline,
)

OUTCOMES = ("upheld", "partly_upheld", "rejected")
# A window longer than ten years is a mistake in a rule set, not a policy.
MAX_WINDOW_DAYS = 3650
MAX_ACTOR = 200


class Dispute(LedgerAggregate):
    """States: open -> decided -> appealed -> appeal_decided (final); open -> withdrawn.

    Nothing is decided automatically: a late decision is still accepted, and
    only reported through `due_on` and `is_overdue()`. While a reviewer's request
    for information awaits the filer's answer, `due_on` is None (the deadline is
    paused) and `days_left` keeps what remained of it.
    """

    class Filed(LedgerAggregate.Created):
        deduction_id: UUID
        manager_id: str
        reason: str
        evidence: list[str]
        due_on: date

    def __init__(
        self, deduction_id: UUID, manager_id: str, reason: str, evidence: list[str], due_on: date
    ) -> None:
        # Body of the Filed event: assigns only, because it re-runs on every replay.
        self.deduction_id = deduction_id
        self.manager_id = manager_id
        self.reason = reason
        self.status = "open"
        self.due_on: date | None = due_on
        self.comment_count = 0
        self.outcome: str | None = None
        self.points: int | None = None
        self.decided_on: date | None = None
        self.decided_by: str | None = None
        self.appeal_outcome: str | None = None
        self.appeal_points: int | None = None
        self.awaiting_information = False
        self.days_left: int | None = None

    @classmethod
    def file(
        cls,
        *,
        deduction_id: UUID,
        owner_manager_id: str,
        filed_by_manager_id: str | None,
        reason: str,
        recorded_on: date,
        today: date,
        file_within_days: int,
        decide_within_days: int,
        evidence: Sequence[str] = (),
    ) -> Dispute:
        """Files a dispute against a deduction recorded on `recorded_on`.

        The window and the reviewer's time come from the rule set in force. The
        caller saves it with `Deduction.open_dispute`, which refuses a second dispute.
        """
        errors = FieldErrors()
        errors.aggregate_id("deduction_id", deduction_id)
        errors.identifier("manager_id", owner_manager_id)
        errors.text("reason", reason)
        errors.references("evidence", evidence)
        errors.day("recorded_on", recorded_on)
        errors.day("today", today)
        _check_window(errors, "file_within_days", file_within_days)
        _check_window(errors, "decide_within_days", decide_within_days)
        errors.raise_if_any()
        check(
            OnlyTheOwnerMayDispute(owner_manager_id, filed_by_manager_id),
            DisputeWithinWindow(recorded_on, today, file_within_days),
        )
        return cls._create(
            cls.Filed,
            id=new_id(),
            deduction_id=deduction_id,
            manager_id=owner_manager_id,
            reason=reason,
            evidence=list(evidence),
            due_on=deadline(today, decide_within_days),
        )

    @property
    def is_pending(self) -> bool:
        """True while a decision is awaited (open, or appealed)."""
        return self.status in ("open", "appealed")

    @property
    def final_outcome(self) -> str | None:
        """The outcome that stands now: the appeal's if decided, else the first decision's."""
        return self.appeal_outcome or self.outcome

    def appeal_by(self, appeal_within_days: int) -> date | None:
        """The last day the manager may appeal, while an appeal is still possible."""
        appealable = not OnlyRejectedOrPartlyUpheldMayBeAppealed(self.outcome).is_broken()
        if self.status != "decided" or self.decided_on is None or not appealable:
            return None
        return deadline(self.decided_on, appeal_within_days)

    def is_overdue(self, today: date) -> bool:
        """True when a decision is awaited and its due day has passed."""
        return self.due_on is not None and today > self.due_on

    def comment(self, *, text: str, evidence: Sequence[str] = ()) -> None:
        """Adds a comment or evidence reference to the trail, until the final decision."""
        errors = FieldErrors()
        errors.text("text", text)
        errors.references("evidence", evidence)
        errors.raise_if_any()
        check(StepsInOrder("comment", self.status, ("open", "decided", "appealed")))
        self._comment(text=text, evidence=list(evidence))

    @event("Commented")
    def _comment(self, text: str, evidence: list[str]) -> None:
        self.comment_count += 1

    def decide(
        self,
        *,
        outcome: str,
        reason: str,
        decided_by: str,
        recorded_by: str,
        current_points: int,
        today: date,
        points: int | None = None,
    ) -> None:
        """Decides the dispute. `points` is the deduction's new total, when partly upheld.

        The caller then voids (upheld) or amends (partly upheld) the deduction.
        """
        _check_decision_input(outcome, reason, decided_by, current_points, today)
        # Who first, then when: the wrong person learns nothing about the dispute's state.
        check(
            ReviewerIsNotTheRecorder(recorded_by, decided_by),
            StepsInOrder("decide", self.status, ("open",)),
            DecisionNeedsPointsWhenPartlyUpheld(outcome, points, current_points),
        )
        self._decide(
            outcome=outcome, points=points, reason=reason, decided_by=decided_by, decided_on=today
        )

    @event("Decided")
    def _decide(
        self, outcome: str, points: int | None, reason: str, decided_by: str, decided_on: date
    ) -> None:
        self.status = "decided"
        self.outcome = outcome
        self.points = points
        self.decided_on = decided_on
        self.decided_by = decided_by
        self.due_on = None
        self.awaiting_information = False

    def appeal(
        self,
        *,
        appellant_manager_id: str | None,
        reason: str,
        today: date,
        appeal_within_days: int,
        appeal_decide_within_days: int,
    ) -> None:
        """Appeals a rejected or partly upheld decision, within the rule set's window."""
        errors = FieldErrors()
        errors.text("reason", reason)
        errors.day("today", today)
        _check_window(errors, "appeal_within_days", appeal_within_days)
        _check_window(errors, "appeal_decide_within_days", appeal_decide_within_days)
        errors.raise_if_any()
        check(OnlyTheOwnerMayAppeal(self.manager_id, appellant_manager_id))
        in_order = StepsInOrder("appeal", self.status, ("decided",))
        if in_order.is_broken() or self.decided_on is None:
            raise in_order.refusal()
        check(
            OnlyRejectedOrPartlyUpheldMayBeAppealed(self.outcome),
            AppealWithinWindow(self.decided_on, today, appeal_within_days),
        )
        self._appeal(reason=reason, due_on=deadline(today, appeal_decide_within_days))

    @event("AppealFiled")
    def _appeal(self, reason: str, due_on: date) -> None:
        self.status = "appealed"
        self.due_on = due_on

    def decide_appeal(
        self,
        *,
        outcome: str,
        reason: str,
        decided_by: str,
        recorded_by: str,
        current_points: int,
        today: date,
        points: int | None = None,
    ) -> None:
        """Decides the appeal; final. `current_points` is the total after the first decision."""
        _check_decision_input(outcome, reason, decided_by, current_points, today)
        check(
            ReviewerIsNotTheRecorder(recorded_by, decided_by),
            AppealDeciderIsNotTheReviewer(self.decided_by, decided_by),
            StepsInOrder("decide the appeal", self.status, ("appealed",)),
            DecisionNeedsPointsWhenPartlyUpheld(outcome, points, current_points),
        )
        self._decide_appeal(
            outcome=outcome, points=points, reason=reason, decided_by=decided_by, decided_on=today
        )

    @event("AppealDecided")
    def _decide_appeal(
        self, outcome: str, points: int | None, reason: str, decided_by: str, decided_on: date
    ) -> None:
        self.status = "appeal_decided"
        self.appeal_outcome = outcome
        self.appeal_points = points
        self.due_on = None
        self.awaiting_information = False

    def withdraw(self, *, withdrawing_manager_id: str | None, reason: str) -> None:
        """The filer takes an open dispute back; the deduction counts on as if never disputed."""
        errors = FieldErrors()
        errors.text("reason", reason)
        errors.raise_if_any()
        check(
            OnlyTheFilerMayWithdraw(self.manager_id, withdrawing_manager_id),
            StepsInOrder("withdraw", self.status, ("open",)),
        )
        self._withdraw(reason=reason)

    @event("Withdrawn")
    def _withdraw(self, reason: str) -> None:
        self.status = "withdrawn"
        self.due_on = None
        self.awaiting_information = False

    def request_information(
        self, *, question: str, requested_by: str, recorded_by: str, today: date
    ) -> None:
        """A reviewer asks the filer for information; the decision deadline pauses.

        The days that remained are kept on the event, so the answer restarts the clock
        with exactly them (none, when the deadline had already passed).
        """
        errors = FieldErrors()
        errors.text("question", question)
        errors.text("requested_by", requested_by, max_length=MAX_ACTOR)
        errors.day("today", today)
        errors.raise_if_any()
        check(
            ReviewerIsNotTheRecorder(recorded_by, requested_by),
            StepsInOrder("ask for information", self.status, ("open", "appealed")),
            OneInformationRequestAtATime(self.awaiting_information),
        )
        days_left = max((self.due_on - today).days, 0) if self.due_on is not None else 0
        # The status rides on the event so the read models know which decision pauses.
        self._request_information(question=question, days_left=days_left, status=self.status)

    @event("InformationRequested")
    def _request_information(self, question: str, days_left: int, status: str) -> None:
        self.awaiting_information = True
        self.days_left = days_left
        self.due_on = None

    def provide_information(
        self, *, answering_manager_id: str | None, answer: str, today: date
    ) -> None:
        """The filer answers; the decision is due `days_left` days after the answer."""
        errors = FieldErrors()
        errors.text("answer", answer)
        errors.day("today", today)
        errors.raise_if_any()
        check(
            OnlyTheFilerMayAnswer(self.manager_id, answering_manager_id),
            AnswersFollowARequest(self.awaiting_information),
        )
        self._provide_information(answer=answer, due_on=deadline(today, self.days_left or 0),
                                  status=self.status)

    @event("InformationProvided")
    def _provide_information(self, answer: str, due_on: date, status: str) -> None:
        self.awaiting_information = False
        self.days_left = None
        self.due_on = due_on


def _check_window(errors: FieldErrors, name: str, days: object) -> None:
    errors.whole_number(name, days, minimum=0, maximum=MAX_WINDOW_DAYS)


def _check_decision_input(
    outcome: str, reason: str, decided_by: str, current_points: int, today: date
) -> None:
    errors = FieldErrors()
    errors.one_of("outcome", outcome, OUTCOMES)
    errors.text("reason", reason)
    errors.text("decided_by", decided_by, max_length=MAX_ACTOR)
    errors.whole_number("current_points", current_points, minimum=0, maximum=MAX_POINTS)
    errors.day("today", today)
    errors.raise_if_any()

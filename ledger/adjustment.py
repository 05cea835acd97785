"""The adjustment aggregate: a manual change of score points that needs two people."""

from __future__ import annotations

from eventsourcing.domain import event

from ledger.base import LedgerAggregate
from ledger.ids import new_id
from ledger.rules import (
    MAX_POINTS,
    ApproverIsNotTheProposer,
    FieldErrors,
    SecondApproverIsNotTheFirst,
    StepsInOrder,
    check,
)

MAX_ACTOR = 200


class Adjustment(LedgerAggregate):
    """Signed score points for a manager and period: proposed, then approved or rejected.

    Only an approved adjustment counts; it may later be reversed.
    """

    class Proposed(LedgerAggregate.Created):
        manager_id: str
        period: str
        points: int
        reason: str
        proposed_by: str

    def __init__(
        self, manager_id: str, period: str, points: int, reason: str, proposed_by: str
    ) -> None:
        # Body of the Proposed event: assigns only, because it re-runs on every replay.
        self.manager_id = manager_id
        self.period = period
        self.points = points
        self.reason = reason
        self.proposed_by = proposed_by
        self.status = "proposed"
        self.decided_by: str | None = None
        self.first_approved_by: str | None = None

    @classmethod
    def propose(
        cls, *, manager_id: str, period: str, points: int, reason: str, proposed_by: str
    ) -> Adjustment:
        """Proposes `points` score points (signed, never zero) for `manager_id` in `period`."""
        errors = FieldErrors()
        errors.identifier("manager_id", manager_id)
        period = errors.period("period", period)
        errors.whole_number("points", points, minimum=-MAX_POINTS, maximum=MAX_POINTS)
        if points == 0:
            errors.add("points", "must not be zero")
        errors.text("reason", reason)
        errors.text("proposed_by", proposed_by, max_length=MAX_ACTOR)
        errors.raise_if_any()
        return cls._create(
            cls.Proposed,
            id=new_id(),
            manager_id=manager_id,
            period=period,
            points=points,
            reason=reason,
            proposed_by=proposed_by,
        )

    @property
    def counts(self) -> bool:
        """True when the adjustment moves the score (approved and not reversed)."""
        return self.status == "approved"

    def approve(self, *, reason: str, approved_by: str, approvals_needed: int = 1) -> None:
        """Approves a proposed adjustment; the proposer may not approve it.

        With `approvals_needed` 2 (above the rule set's limit, DESIGN §16) the first
        approval is recorded as such and the adjustment counts only after a second one
        by another approver.
        """
        self._check_decision("approve", reason, approved_by)
        if approvals_needed > 1 and self.first_approved_by is None:
            self._approve_first(reason=reason, approved_by=approved_by)
            return
        check(SecondApproverIsNotTheFirst(self.first_approved_by, approved_by))
        self._approve(reason=reason, approved_by=approved_by)

    @event("FirstApprovalGiven")
    def _approve_first(self, reason: str, approved_by: str) -> None:
        self.first_approved_by = approved_by

    @event("Approved")
    def _approve(self, reason: str, approved_by: str) -> None:
        self.status = "approved"
        self.decided_by = approved_by

    def reject(self, *, reason: str, rejected_by: str) -> None:
        """Rejects a proposed adjustment; the proposer may not reject it either."""
        self._check_decision("reject", reason, rejected_by)
        self._reject(reason=reason, rejected_by=rejected_by)

    @event("Rejected")
    def _reject(self, reason: str, rejected_by: str) -> None:
        self.status = "rejected"
        self.decided_by = rejected_by

    def reverse(self, *, reason: str, reversed_by: str) -> None:
        """Takes back an approved adjustment (a correction, recorded like any other fact).

        A reversal moves the score as much as an approval, so it needs a second person too.
        """
        errors = FieldErrors()
        errors.text("reason", reason)
        errors.text("reversed_by", reversed_by, max_length=MAX_ACTOR)
        errors.raise_if_any()
        check(
            ApproverIsNotTheProposer(self.proposed_by, reversed_by),
            StepsInOrder("reverse", self.status, ("approved",)),
        )
        self._reverse(reason=reason)

    @event("Reversed")
    def _reverse(self, reason: str) -> None:
        self.status = "reversed"

    def _check_decision(self, step: str, reason: str, decided_by: str) -> None:
        errors = FieldErrors()
        errors.text("reason", reason)
        errors.text("decided_by", decided_by, max_length=MAX_ACTOR)
        errors.raise_if_any()
        check(
            ApproverIsNotTheProposer(self.proposed_by, decided_by),
            StepsInOrder(step, self.status, ("proposed",)),
        )

"""The manager aggregate: registration, effective-dated grades, per-period targets, and
disqualification as a lasting state (DESIGN §16)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from uuid import UUID

from eventsourcing.domain import event

from ledger.base import LedgerAggregate
from ledger.ids import manager_id
from ledger.rules import (
    ChangesTakeEffectInOrder,
    FieldErrors,
    GradeKeepsThePremiumCustomersHeld,
    NewGradeDiffersFromCurrent,
    ReinstatementEndsADisqualification,
    check,
)

GRADES = ("A", "B", "C")
MAX_NAME = 200

# The registration grade holds from the beginning of time, so grade_on() always answers.
_SINCE_ALWAYS = date.min

STATUS_ACTIVE = "active"
STATUS_DISQUALIFIED = "disqualified"


@dataclass(frozen=True)
class Disqualification:
    """One disqualifying deduction's state: from its effective date (`since`) until the
    effective date of the reinstatement that ended it (`until`, None while it lasts)."""

    deduction_id: UUID
    rule_code: str
    since: date
    until: date | None = None

    def holds_on(self, day: date) -> bool:
        return self.since <= day and (self.until is None or day < self.until)


@dataclass(frozen=True)
class StatusSpan:
    """A stretch of days in one status, [since, until); until None = still."""

    status: str
    since: date
    until: date | None


class Manager(LedgerAggregate):
    """A customer manager (客户经理), the person assessed each quarter."""

    class Registered(LedgerAggregate.Created):
        business_id: str
        name: str
        grade: str
        unit: str

    def __init__(self, business_id: str, name: str, grade: str, unit: str) -> None:
        # Body of the Registered event: assigns only, because it re-runs on every replay.
        self.business_id = business_id
        self.name = name
        self.unit = unit
        self.disqualifications: list[Disqualification] = []
        self.grade_history: list[tuple[date, str]] = [(_SINCE_ALWAYS, grade)]
        self.targets: dict[str, Decimal] = {}

    @classmethod
    def register(cls, *, business_id: str, name: str, grade: str, unit: str) -> Manager:
        """Registers manager `business_id`; its aggregate id follows from that id."""
        errors = FieldErrors()
        errors.identifier("id", business_id)
        errors.text("name", name, max_length=MAX_NAME)
        errors.one_of("grade", grade, GRADES)
        errors.text("unit", unit, max_length=MAX_NAME)
        errors.raise_if_any()
        return cls._create(
            cls.Registered,
            id=manager_id(business_id),
            business_id=business_id,
            name=name,
            grade=grade,
            unit=unit,
        )

    @property
    def status(self) -> str:
        """The status the latest steps leave, whatever the date: `disqualified` while a
        disqualification has no reinstatement; a status on a day is `status_on(day)`."""
        lasting = any(d.until is None for d in self.disqualifications)
        return STATUS_DISQUALIFIED if lasting else STATUS_ACTIVE

    @property
    def grade(self) -> str:
        """The grade of the latest grade change (or of registration)."""
        return self.grade_history[-1][1]

    def grade_on(self, day: date) -> str:
        """The grade in effect on `day`."""
        return [grade for since, grade in self.grade_history if since <= day][-1]

    def change_grade(
        self, *, grade: str, effective_on: date, reason: str,
        premium_requires_grade: str | None = None, premium_customers: tuple[str, ...] = (),
    ) -> None:
        """Changes the grade from `effective_on`; changes take effect in date order.

        `premium_customers` are the premium customers held on `effective_on`, which the
        new grade must still be allowed to hold under the rule set in force.
        """
        errors = FieldErrors()
        errors.one_of("grade", grade, GRADES)
        errors.day("effective_on", effective_on)
        errors.text("reason", reason)
        errors.raise_if_any()
        latest = self.grade_history[-1][0]
        check(
            NewGradeDiffersFromCurrent(current_grade=self.grade, new_grade=grade),
            ChangesTakeEffectInOrder(
                subject="grade change",
                latest_effective_on=None if latest == _SINCE_ALWAYS else latest,
                effective_on=effective_on,
            ),
            GradeKeepsThePremiumCustomersHeld(
                self.business_id, grade, premium_requires_grade, premium_customers),
        )
        self._change_grade(grade=grade, effective_on=effective_on, reason=reason)

    @event("GradeChanged")
    def _change_grade(self, grade: str, effective_on: date, reason: str) -> None:
        self.grade_history.append((effective_on, grade))

    def target_for(self, period: str) -> Decimal | None:
        """The incremental target set for `period` ("2026Q1"), if any."""
        return self.targets.get(period)

    def set_target(self, *, period: str, incremental: Decimal, reason: str) -> None:
        """Sets the incremental target for a period: TargetSet first, TargetChanged after."""
        errors = FieldErrors()
        period = errors.period("period", period)
        errors.money("incremental", incremental)
        errors.text("reason", reason)
        errors.raise_if_any()
        previous = self.targets.get(period)
        if previous is None:
            self._set_target(period=period, incremental=incremental, reason=reason)
        else:
            self._change_target(
                period=period, incremental=incremental, previous=previous, reason=reason
            )

    @event("TargetSet")
    def _set_target(self, period: str, incremental: Decimal, reason: str) -> None:
        self.targets[period] = incremental

    @event("TargetChanged")
    def _change_target(
        self, period: str, incremental: Decimal, previous: Decimal, reason: str
    ) -> None:
        self.targets[period] = incremental

    # --- disqualification (DESIGN §16) ----------------------------------------------

    def disqualified_on(self, day: date) -> bool:
        return any(d.holds_on(day) for d in self.disqualifications)

    def status_on(self, day: date) -> str:
        return STATUS_DISQUALIFIED if self.disqualified_on(day) else STATUS_ACTIVE

    def status_history(self) -> list[StatusSpan]:
        """Every stretch of days in one status, in date order: active since always (None),
        then each disqualified stretch and the active one after it."""
        history = []
        since: date | None = None
        for span in self.disqualified_spans():
            if since is None or since < span.since:
                history.append(StatusSpan(STATUS_ACTIVE, since or _SINCE_ALWAYS, span.since))
            history.append(span)
            since = span.until
            if since is None:
                return history
        history.append(StatusSpan(STATUS_ACTIVE, since or _SINCE_ALWAYS, None))
        return history

    def disqualified_spans(self) -> list[StatusSpan]:
        """The days disqualified, overlapping disqualifications merged, in date order."""
        spans: list[StatusSpan] = []
        for d in sorted(self.disqualifications, key=lambda d: d.since):
            last = spans[-1] if spans else None
            if last is not None and (last.until is None or d.since <= last.until):
                until = None if last.until is None or d.until is None else max(last.until, d.until)
                spans[-1] = StatusSpan(STATUS_DISQUALIFIED, last.since, until)
            else:
                spans.append(StatusSpan(STATUS_DISQUALIFIED, d.since, d.until))
        return spans

    def disqualify(self, *, deduction_id: UUID, rule_code: str, effective_on: date) -> None:
        """A disqualifying deduction begins a disqualification on its effective date; the
        application saves this with the deduction, in one append."""
        self._disqualify(deduction_id=deduction_id, rule_code=rule_code,
                         effective_on=effective_on)

    @event("Disqualified")
    def _disqualify(self, deduction_id: UUID, rule_code: str, effective_on: date) -> None:
        self.disqualifications.append(Disqualification(deduction_id, rule_code, effective_on))

    def disqualified_by(self, deduction_id: UUID) -> bool:
        return any(d.deduction_id == deduction_id for d in self.disqualifications)

    def void_disqualification(self, *, deduction_id: UUID, dispute_id: UUID) -> None:
        """The deduction was voided on dispute: its disqualification never began. Nothing
        happens for a deduction that did not disqualify."""
        if self.disqualified_by(deduction_id):
            self._void_disqualification(deduction_id=deduction_id, dispute_id=dispute_id)

    @event("DisqualificationVoided")
    def _void_disqualification(self, deduction_id: UUID, dispute_id: UUID) -> None:
        self.disqualifications = [d for d in self.disqualifications
                                  if d.deduction_id != deduction_id]

    def in_force_on(self, day: date) -> list[Disqualification]:
        """The disqualifications a reinstatement effective on `day` would end."""
        return [d for d in self.disqualifications if d.holds_on(day)]

    def reinstate(self, *, effective_on: date, reason: str) -> None:
        """Ends, from `effective_on`, every disqualification in force that day. The event
        names them, so one that begins later (or is learnt later) is not ended by it."""
        errors = FieldErrors()
        errors.day("effective_on", effective_on)
        errors.text("reason", reason)
        errors.raise_if_any()
        ended = self.in_force_on(effective_on)
        check(ReinstatementEndsADisqualification(self.business_id, effective_on, bool(ended)))
        self._reinstate(effective_on=effective_on, reason=reason,
                        deduction_ids=[d.deduction_id for d in ended])

    @event("Reinstated")
    def _reinstate(self, effective_on: date, reason: str, deduction_ids: list[UUID]) -> None:
        ended = set(deduction_ids)
        self.disqualifications = [
            Disqualification(d.deduction_id, d.rule_code, d.since, effective_on)
            if d.deduction_id in ended else d
            for d in self.disqualifications
        ]

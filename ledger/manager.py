"""The manager aggregate: registration, effective-dated grades and per-period targets."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from eventsourcing.domain import event

from ledger.base import LedgerAggregate
from ledger.ids import manager_id
from ledger.rules import (
    ChangesTakeEffectInOrder,
    FieldErrors,
    GradeKeepsThePremiumCustomersHeld,
    NewGradeDiffersFromCurrent,
    check,
)

GRADES = ("A", "B", "C")
MAX_NAME = 200

# The registration grade holds from the beginning of time, so grade_on() always answers.
_SINCE_ALWAYS = date.min


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
        self.status = "active"
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

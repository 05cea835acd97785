"""The customer aggregate: registration and the effective-dated history of who holds it."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from eventsourcing.domain import event

from ledger.base import LedgerAggregate
from ledger.ids import customer_id
from ledger.rules import (
    ChangesTakeEffectInOrder,
    FieldErrors,
    NewHolderDiffersFromCurrent,
    check,
)

CUSTOMER_CLASSES = ("premium", "good", "ordinary", "watch", "substandard", "doubtful")
MAX_NAME = 200


class Customer(LedgerAggregate):
    """A bank client (客户), held by one manager at a time from an effective date."""

    class Registered(LedgerAggregate.Created):
        business_id: str
        name: str
        customer_class: str
        industry: str
        chain: str | None
        group: str | None
        last_year_contribution: Decimal

    def __init__(
        self,
        business_id: str,
        name: str,
        customer_class: str,
        industry: str,
        chain: str | None,
        group: str | None,
        last_year_contribution: Decimal,
    ) -> None:
        # Body of the Registered event: assigns only, because it re-runs on every replay.
        self.business_id = business_id
        self.name = name
        self.customer_class = customer_class
        self.industry = industry
        self.chain = chain
        self.group = group
        self.last_year_contribution = last_year_contribution
        self.holder_history: list[tuple[date, str]] = []

    @classmethod
    def register(
        cls,
        *,
        business_id: str,
        name: str,
        customer_class: str,
        industry: str,
        chain: str | None,
        group: str | None,
        last_year_contribution: Decimal,
    ) -> Customer:
        """Registers customer `business_id`; chain and group may be unknown (None)."""
        errors = FieldErrors()
        errors.identifier("id", business_id)
        errors.text("name", name, max_length=MAX_NAME)
        errors.one_of("class", customer_class, CUSTOMER_CLASSES)
        errors.text("industry", industry, max_length=MAX_NAME)
        if chain is not None:
            errors.text("chain", chain, max_length=MAX_NAME)
        if group is not None:
            errors.text("group", group, max_length=MAX_NAME)
        errors.money("last_year_contribution", last_year_contribution)
        errors.raise_if_any()
        return cls._create(
            cls.Registered,
            id=customer_id(business_id),
            business_id=business_id,
            name=name,
            customer_class=customer_class,
            industry=industry,
            chain=chain,
            group=group,
            last_year_contribution=last_year_contribution,
        )

    @property
    def holder(self) -> str | None:
        """The manager of the latest assignment, or None before the first one."""
        return self.holder_history[-1][1] if self.holder_history else None

    def holder_on(self, day: date) -> str | None:
        """The manager holding the customer on `day`, or None if nobody did."""
        holders = [manager for since, manager in self.holder_history if since <= day]
        return holders[-1] if holders else None

    def assign(self, *, manager_id: str, effective_on: date, reason: str) -> None:
        """Gives the customer to `manager_id` from `effective_on`: Assigned first, Reassigned after.

        The portfolio policy (premium needs grade A, groups, span) needs other
        aggregates and the rule set, so the caller checks it before this.
        """
        errors = FieldErrors()
        errors.identifier("manager_id", manager_id)
        errors.day("effective_on", effective_on)
        errors.text("reason", reason)
        errors.raise_if_any()
        if not self.holder_history:
            self._assign(manager_id=manager_id, effective_on=effective_on, reason=reason)
            return
        latest_effective_on, current = self.holder_history[-1]
        check(
            NewHolderDiffersFromCurrent(current_holder=current, new_holder=manager_id),
            ChangesTakeEffectInOrder(
                subject="reassignment",
                latest_effective_on=latest_effective_on,
                effective_on=effective_on,
            ),
        )
        self._reassign(
            from_manager_id=current,
            manager_id=manager_id,
            effective_on=effective_on,
            reason=reason,
        )

    @event("Assigned")
    def _assign(self, manager_id: str, effective_on: date, reason: str) -> None:
        self.holder_history.append((effective_on, manager_id))

    @event("Reassigned")
    def _reassign(
        self, from_manager_id: str, manager_id: str, effective_on: date, reason: str
    ) -> None:
        self.holder_history.append((effective_on, manager_id))

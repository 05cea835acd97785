"""The contribution aggregate: one posting of a customer's profit to the bank (效益)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from eventsourcing.utils import get_topic

from ledger.base import LedgerAggregate
from ledger.ids import contribution_id
from ledger.rules import FieldErrors

ZERO = Decimal("0")


class Contribution(LedgerAggregate):
    """One posting from a source system, identified by that system's own keys.

    Because the id derives from (source_system, external_id), posting the same
    keys twice addresses the same aggregate, which is what makes retries safe.
    """

    class Posted(LedgerAggregate.Created):
        customer_id: str
        booked_on: date
        interest_income: Decimal
        deposit_earnings: Decimal
        fee_income: Decimal
        risk_cost: Decimal
        # These two redeclare the base event's audit fields as constructor
        # arguments: for a posting, the source keys are part of the fact itself.
        source_system: str
        external_id: str

    def __init__(
        self,
        customer_id: str,
        booked_on: date,
        interest_income: Decimal,
        deposit_earnings: Decimal,
        fee_income: Decimal,
        risk_cost: Decimal,
        source_system: str,
        external_id: str,
    ) -> None:
        # Body of the Posted event: assigns only, because it re-runs on every replay.
        self.customer_id = customer_id
        self.booked_on = booked_on
        self.interest_income = interest_income
        self.deposit_earnings = deposit_earnings
        self.fee_income = fee_income
        self.risk_cost = risk_cost
        self.source_system = source_system
        self.external_id = external_id

    @classmethod
    def post(
        cls,
        *,
        customer_id: str,
        booked_on: date,
        interest_income: Decimal,
        deposit_earnings: Decimal,
        fee_income: Decimal,
        source_system: str,
        external_id: str,
        risk_cost: Decimal = ZERO,
    ) -> Contribution:
        """Posts a contribution; income may be negative (a reversal), risk cost may not."""
        fields = cls._checked_posting(
            customer_id=customer_id, booked_on=booked_on, interest_income=interest_income,
            deposit_earnings=deposit_earnings, fee_income=fee_income, risk_cost=risk_cost,
            source_system=source_system, external_id=external_id)
        return cls._create(cls.Posted, id=fields.pop("id"), **fields)

    @classmethod
    def posted(
        cls,
        *,
        customer_id: str,
        booked_on: date,
        interest_income: Decimal,
        deposit_earnings: Decimal,
        fee_income: Decimal,
        source_system: str,
        external_id: str,
        risk_cost: Decimal = ZERO,
    ) -> Contribution.Posted:
        """The event that `post` would create, checked by the same rules, without building
        the aggregate: a batch appends many new postings and needs only their events (the
        aggregate's constructor, replayed from the event, is only assignments)."""
        fields = cls._checked_posting(
            customer_id=customer_id, booked_on=booked_on, interest_income=interest_income,
            deposit_earnings=deposit_earnings, fee_income=fee_income, risk_cost=risk_cost,
            source_system=source_system, external_id=external_id)
        # What `_create` adds to a creation event: the aggregate's topic, id and version.
        return cls.Posted(
            originator_topic=_TOPIC, originator_id=fields.pop("id"),
            originator_version=cls.INITIAL_VERSION, timestamp=cls.Posted.create_timestamp(),
            **fields)

    @staticmethod
    def _checked_posting(
        *, customer_id: str, booked_on: date, interest_income: Decimal,
        deposit_earnings: Decimal, fee_income: Decimal, risk_cost: Decimal,
        source_system: str, external_id: str,
    ) -> dict[str, Any]:
        """The Posted event's fields and the posting's id, once every check has passed."""
        errors = FieldErrors()
        errors.identifier("customer_id", customer_id)
        errors.day("booked_on", booked_on)
        errors.money("interest_income", interest_income, negative_allowed=True)
        errors.money("deposit_earnings", deposit_earnings, negative_allowed=True)
        errors.money("fee_income", fee_income, negative_allowed=True)
        errors.money("risk_cost", risk_cost)
        errors.identifier("source_system", source_system)
        errors.identifier("external_id", external_id)
        errors.raise_if_any()
        return {
            "id": contribution_id(source_system, external_id),
            "customer_id": customer_id,
            "booked_on": booked_on,
            "interest_income": interest_income,
            "deposit_earnings": deposit_earnings,
            "fee_income": fee_income,
            "risk_cost": risk_cost,
            "source_system": source_system,
            "external_id": external_id,
        }

    def amount(self, *, risk_adjusted: bool) -> Decimal:
        """Interest + deposit + fee, less the risk cost when the rule set says risk-adjusted."""
        gross = self.interest_income + self.deposit_earnings + self.fee_income
        return gross - self.risk_cost if risk_adjusted else gross


_TOPIC = get_topic(Contribution)

"""The ledger's commands: each loads aggregates, checks the rules, and saves in one append."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any, TypeVar
from uuid import UUID
from zoneinfo import ZoneInfo

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError, Transcoder

from ledger import ids
from ledger.adjustment import Adjustment
from ledger.audit import current_audit
from ledger.base import DateAsISO
from ledger.calculation.portfolio_policy import PolicyRefusal, PolicyWarning, check_assignment
from ledger.contribution import Contribution
from ledger.customer import Customer
from ledger.deduction import Deduction
from ledger.dispute import Dispute
from ledger.errors import Conflict, DuplicateFact, InvalidInput, NotFound, RuleViolation
from ledger.manager import Manager
from ledger.period import Period
from ledger.periods import Period as Quarter
from ledger.rulebook import RuleBook
from ledger.rules import deadline
from ledger.ruleset_document import (
    RuleSetDocument,
    RuleSetInvalid,
    default_document,
    parse_ruleset,
)
from persistence.records import APPEND_HOOK, Appended, AppendHook, ExtraRow

A = TypeVar("A", bound=Aggregate)

ExtraRows = Callable[[Sequence[Appended]], Sequence[ExtraRow]]


@dataclass(frozen=True)
class RecordedEvent:
    """One event a command appended: where it sits in the log and when it was recorded."""

    position: int
    recorded_at: datetime
    type: str
    originator_id: UUID
    originator_version: int


@dataclass(frozen=True)
class Receipt:
    """What a command appended, in log order; empty when it appended nothing.

    `warnings` carries what a rule allowed but flagged (portfolio policy, DESIGN §3.4).
    """

    events: tuple[RecordedEvent, ...] = ()
    warnings: tuple[PolicyWarning, ...] = ()

    @property
    def recorded_at(self) -> datetime | None:
        return self.events[-1].recorded_at if self.events else None

    @classmethod
    def of(cls, appended: Sequence[Appended]) -> Receipt:
        """The receipt of what an append assigned (also built inside the append itself)."""
        return cls(tuple(_recorded(a) for a in appended))


@dataclass(frozen=True)
class PortfolioSnapshot:
    """Every manager's customers (id, group) on one day, and how many managers there are."""

    holdings_by_manager: Mapping[str, Sequence[tuple[str, str | None]]]
    active_managers: int


PortfolioReader = Callable[[date], PortfolioSnapshot]
"""Reads the portfolios on a day; the composition root supplies one from the read models."""


class LedgerApplication(Application[UUID]):
    """Commands of the customer-manager assessment ledger (DESIGN §2–3).

    Each public command loads, calls one aggregate method that checks its rules, and
    saves every changed aggregate in one `save()`, so one command is one transaction.
    """

    name = "Ledger"
    env = {"TIMEZONE": "Asia/Shanghai"}

    def __init__(self, env: dict[str, str] | None = None) -> None:
        super().__init__(env)
        self.timezone = ZoneInfo(self.env.get("TIMEZONE") or "Asia/Shanghai")
        self.clock: Callable[[], datetime] = lambda: datetime.now(UTC)
        # Without a reader only the rules that need no other portfolio (premium) apply.
        self.portfolios: PortfolioReader | None = None

    def register_transcodings(self, transcoder: Transcoder) -> None:
        super().register_transcodings(transcoder)  # type: ignore[arg-type]
        transcoder.register(DateAsISO())  # type: ignore[attr-defined]

    # --- saving -------------------------------------------------------------------

    def record(
        self, *aggregates: Aggregate, extra_rows: ExtraRows | None = None, note: Any = None
    ) -> Receipt:
        """Save aggregates in one append; `extra_rows` adds rows to the same transaction.

        `note` is what the command learned besides its events (e.g. policy warnings); it is
        not stored here, but an interface that builds its reply inside the append gets it.
        """
        appended: list[Appended] = []

        def hook(assigned: Sequence[Appended]) -> Sequence[ExtraRow]:
            appended.extend(assigned)
            return extra_rows(assigned) if extra_rows else ()

        kwargs: dict[str, AppendHook] = {APPEND_HOOK: hook}
        self.save(*aggregates, **kwargs)
        return Receipt.of(appended)

    def _get(self, cls: type[A], aggregate_id: UUID, what: str) -> A:
        try:
            aggregate = self.repository.get(aggregate_id)
        except AggregateNotFoundError:
            raise NotFound(f"no {what}") from None
        if not isinstance(aggregate, cls):
            raise NotFound(f"no {what}")
        return aggregate

    def history(self, aggregate_id: UUID) -> list[tuple[Any, RecordedEvent]]:
        """An aggregate's events in order, each with its position and recording time."""
        events = list(self.events.get(aggregate_id))
        where = {v: (p, t) for v, p, t in self.recorder.select_recorded(aggregate_id)}  # type: ignore[attr-defined]
        return [
            (e, RecordedEvent(
                position=where[e.originator_version][0],
                recorded_at=where[e.originator_version][1],
                type=type(e).__name__,
                originator_id=e.originator_id,
                originator_version=e.originator_version,
            ))
            for e in events
        ]

    def position_known_at(self, instant: datetime) -> int:
        """The log position that "as the ledger knew it at `instant`" cuts at."""
        return int(self.recorder.position_known_at(instant))  # type: ignore[attr-defined]

    def today(self) -> date:
        """The bank's business day now (deadlines are counted in the bank's days)."""
        return self.clock().astimezone(self.timezone).date()

    # --- rule sets ----------------------------------------------------------------

    def rulebook(self) -> RuleBook:
        return self._get(RuleBook, ids.rulebook_id(), "rule book")

    def ensure_rulebook(self) -> Receipt:
        """A fresh ledger publishes the shipped default rule set as its first events."""
        try:
            self.repository.get(ids.rulebook_id())
        except AggregateNotFoundError:
            pass
        else:
            return Receipt()
        document = default_document()
        book = RuleBook.open()
        book.draft(
            version=document["version"],
            effective_from=date.fromisoformat(document["effective_from"]),
            content=document,
        )
        book.publish(document["version"])
        try:
            return self.record(book)
        except IntegrityError:
            return Receipt()  # Another process opened the rule book first.

    def ruleset(self, version: str) -> RuleSetDocument:
        return _parsed(version, _freeze(self.rulebook().content_of(version)))

    def ruleset_for_day(self, day: date) -> RuleSetDocument:
        """The rule set in force for the period (quarter) containing `day`."""
        first_day = Quarter.of(day).first_day
        version = self.rulebook().in_force_for(first_day)
        if version is None:
            raise Conflict(f"no published rule set is in force for {first_day}")
        return self.ruleset(version)

    def draft_ruleset(self, document: dict[str, Any]) -> Receipt:
        """Drafts a rule-set version after validating the whole document."""
        parsed = _validated(document)
        book = self.rulebook()
        book.draft(version=parsed.version, effective_from=parsed.effective_from, content=document)
        return self.record(book)

    def publish_ruleset(self, version: str) -> Receipt:
        book = self.rulebook()
        book.publish(version)
        return self.record(book)

    # --- managers and customers ---------------------------------------------------

    def manager(self, business_id: str) -> Manager:
        return self._get(Manager, ids.manager_id(business_id), f"manager {business_id}")

    def customer(self, business_id: str) -> Customer:
        return self._get(Customer, ids.customer_id(business_id), f"customer {business_id}")

    def register_manager(self, *, business_id: str, name: str, grade: str, unit: str) -> Receipt:
        manager = Manager.register(business_id=business_id, name=name, grade=grade, unit=unit)
        return self._record_new(manager, f"manager {business_id} is already registered")

    def change_grade(
        self, business_id: str, *, grade: str, effective_on: date, reason: str
    ) -> Receipt:
        manager = self.manager(business_id)
        manager.change_grade(grade=grade, effective_on=effective_on, reason=reason)
        return self.record(manager)

    def set_target(
        self, business_id: str, *, period: str, incremental: Decimal, reason: str
    ) -> Receipt:
        manager = self.manager(business_id)
        manager.set_target(period=period, incremental=incremental, reason=reason)
        return self.record(manager)

    def register_customer(self, **fields: Any) -> Receipt:
        customer = Customer.register(**fields)
        return self._record_new(customer, f"customer {fields.get('business_id')} is registered")

    def assign_customer(
        self, business_id: str, *, manager_id: str, effective_on: date, reason: str
    ) -> Receipt:
        """(Re)assigns a customer under the portfolio policy of the rule set in force:
        a refusal raises, warnings come back on the receipt."""
        customer = self.customer(business_id)
        manager = self.manager(manager_id)
        warnings = tuple(self._portfolio_policy(customer, manager, effective_on))
        customer.assign(manager_id=manager_id, effective_on=effective_on, reason=reason)
        return replace(self.record(customer, note=warnings), warnings=warnings)

    def _portfolio_policy(
        self, customer: Customer, manager: Manager, effective_on: date
    ) -> list[PolicyWarning]:
        snapshot = (
            self.portfolios(effective_on) if self.portfolios else PortfolioSnapshot({}, 0)
        )
        try:
            return check_assignment(
                self.ruleset_for_day(effective_on),
                customer_id=customer.business_id,
                customer_class=customer.customer_class,
                customer_group=customer.group,
                manager_grade=manager.grade_on(effective_on),
                manager_id=manager.business_id,
                holdings_by_manager=snapshot.holdings_by_manager,
                # The manager being assigned to exists, so there is at least one.
                active_managers=max(snapshot.active_managers, 1),
            )
        except PolicyRefusal as refusal:
            raise RuleViolation(refusal.rule, refusal.detail) from None

    # --- contributions and deductions --------------------------------------------

    def post_contribution(self, **fields: Any) -> Receipt:
        self.customer(fields["customer_id"])
        contribution = Contribution.post(**fields)
        return self._record_new(
            contribution,
            f"posting {fields['source_system']}/{fields['external_id']} was already recorded",
        )

    def record_deduction(
        self,
        *,
        manager_id: str,
        rule_code: str,
        occurrences: int,
        aggravated: bool,
        effective_on: date,
        description: str,
        disqualify: bool = False,
        customer_id: str | None = None,
        evidence: Sequence[str] = (),
        source_system: str | None = None,
        external_id: str | None = None,
    ) -> tuple[Deduction, Receipt]:
        """Records a deduction under the rule set in force for its effective date."""
        self.manager(manager_id)
        if customer_id is not None:
            self.customer(customer_id)
        rules = self.ruleset_for_day(effective_on)
        rule = rules.deductions.get(rule_code)
        if rule is None:
            raise InvalidInput({"rule_code": [f"{rule_code!r} is not in rule set {rules.version}"]})
        deduction = Deduction.record(
            manager_id=manager_id,
            rule_code=rule_code,
            occurrences=occurrences,
            aggravated=aggravated,
            disqualify=disqualify,
            effective_on=effective_on,
            description=description,
            customer_id=customer_id,
            evidence=evidence,
            recorded_by=current_audit().actor,
            points_per_occurrence=rule.points,
            ruleset_version=rules.version,
            aggravatable=rule.aggravatable,
            disqualifying=rule.disqualifying,
            source_system=source_system,
            external_id=external_id,
        )
        receipt = self._record_new(deduction, "this deduction was already recorded")
        return deduction, receipt

    def deduction(self, deduction_id: UUID) -> Deduction:
        return self._get(Deduction, deduction_id, f"deduction {deduction_id}")

    # --- disputes and appeals -----------------------------------------------------

    def dispute(self, dispute_id: UUID) -> Dispute:
        return self._get(Dispute, dispute_id, f"dispute {dispute_id}")

    def file_dispute(
        self,
        deduction_id: UUID,
        *,
        filed_by_manager_id: str | None,
        reason: str,
        evidence: Sequence[str] = (),
    ) -> tuple[Dispute, Receipt]:
        """Files a dispute and notes it on the deduction, in one append.

        Both aggregates are saved together, so two filings racing for one deduction
        conflict on the deduction's version and the second is refused whole.
        """
        deduction = self.deduction(deduction_id)
        rules = self.ruleset_for_day(deduction.effective_on).disputes
        dispute = Dispute.file(
            deduction_id=deduction.id,
            owner_manager_id=deduction.manager_id,
            filed_by_manager_id=filed_by_manager_id,
            reason=reason,
            evidence=evidence,
            recorded_on=self._business_day(deduction.created_on),
            today=self.today(),
            file_within_days=rules.file_within_days,
            decide_within_days=rules.decide_within_days,
        )
        deduction.open_dispute(dispute_id=dispute.id)
        return dispute, self.record(dispute, deduction)

    def dispute_deadline(self, deduction: Deduction) -> date | None:
        """The last day a dispute may be filed, while the deduction may still be disputed."""
        if deduction.dispute_id is not None or deduction.status != "active":
            return None
        rules = self.ruleset_for_day(deduction.effective_on).disputes
        return deadline(self._business_day(deduction.created_on), rules.file_within_days)

    def appeal_deadline(self, dispute: Dispute) -> date | None:
        """The last day the manager may appeal, while an appeal is possible."""
        deduction = self.deduction(dispute.deduction_id)
        rules = self.ruleset_for_day(deduction.effective_on).disputes
        return dispute.appeal_by(rules.appeal_within_days)

    def comment_on_dispute(
        self, dispute_id: UUID, *, text: str, evidence: Sequence[str] = ()
    ) -> Receipt:
        dispute = self.dispute(dispute_id)
        dispute.comment(text=text, evidence=evidence)
        return self.record(dispute)

    def decide_dispute(
        self, dispute_id: UUID, *, outcome: str, reason: str, points: int | None = None
    ) -> Receipt:
        """Decides a dispute and applies the correction to the deduction in the same append."""
        return self._decide(dispute_id, Dispute.decide, outcome, reason, points)

    def file_appeal(
        self, dispute_id: UUID, *, appellant_manager_id: str | None, reason: str
    ) -> Receipt:
        dispute = self.dispute(dispute_id)
        deduction = self.deduction(dispute.deduction_id)
        rules = self.ruleset_for_day(deduction.effective_on).disputes
        dispute.appeal(
            appellant_manager_id=appellant_manager_id,
            reason=reason,
            today=self.today(),
            appeal_within_days=rules.appeal_within_days,
            appeal_decide_within_days=rules.appeal_decide_within_days,
        )
        return self.record(dispute)

    def decide_appeal(
        self, dispute_id: UUID, *, outcome: str, reason: str, points: int | None = None
    ) -> Receipt:
        """Decides the appeal (final) and applies its correction in the same append."""
        return self._decide(dispute_id, Dispute.decide_appeal, outcome, reason, points)

    def _decide(
        self,
        dispute_id: UUID,
        step: Callable[..., None],
        outcome: str,
        reason: str,
        points: int | None,
    ) -> Receipt:
        """A decision (first or on appeal) and its correction of the deduction, as one append."""
        dispute = self.dispute(dispute_id)
        deduction = self.deduction(dispute.deduction_id)
        factor = self.ruleset(deduction.ruleset_version).score.aggravation_factor
        step(
            dispute,
            outcome=outcome,
            reason=reason,
            points=points,
            decided_by=current_audit().actor,
            recorded_by=deduction.recorded_by,
            current_points=deduction.error_points(factor),
            today=self.today(),
        )
        _apply_outcome(deduction, dispute.id, outcome, points, reason)
        return self.record(dispute, deduction)

    # --- adjustments and periods --------------------------------------------------

    def adjustment(self, adjustment_id: UUID) -> Adjustment:
        return self._get(Adjustment, adjustment_id, f"adjustment {adjustment_id}")

    def propose_adjustment(
        self, *, manager_id: str, period: str, points: int, reason: str
    ) -> tuple[Adjustment, Receipt]:
        self.manager(manager_id)
        adjustment = Adjustment.propose(
            manager_id=manager_id,
            period=period,
            points=points,
            reason=reason,
            proposed_by=current_audit().actor,
        )
        return adjustment, self.record(adjustment)

    def decide_adjustment(self, adjustment_id: UUID, *, approved: bool, reason: str) -> Receipt:
        adjustment = self.adjustment(adjustment_id)
        if approved:
            adjustment.approve(reason=reason, approved_by=current_audit().actor)
        else:
            adjustment.reject(reason=reason, rejected_by=current_audit().actor)
        return self.record(adjustment)

    def reverse_adjustment(self, adjustment_id: UUID, *, reason: str) -> Receipt:
        """Takes back an approved adjustment by a new event; the approval stays on record."""
        adjustment = self.adjustment(adjustment_id)
        adjustment.reverse(reason=reason, reversed_by=current_audit().actor)
        return self.record(adjustment)

    def period_if_closed(self, period: str) -> Period | None:
        """The period's aggregate once it was closed (a period is opened only to close it)."""
        try:
            return self._get(Period, ids.period_id(str(Quarter.parse(period))), "period")
        except NotFound:
            return None

    def close_period(
        self, period: str, *, reason: str, freeze: Callable[[str], Mapping[str, Any]]
    ) -> Receipt:
        """Closes a period; `freeze(period)` computes the pay figures the closing keeps.

        The figures come from the read models, which this core does not know, so the
        caller passes the computation; it runs only once the closing is allowed.
        """
        quarter = str(Quarter.parse(period))
        closing: Period
        try:
            closing = self.repository.get(ids.period_id(quarter))
        except AggregateNotFoundError:
            closing = Period.open(quarter)
        closing.close(reason=reason, today=self.today(), freeze=lambda: freeze(quarter))
        return self.record(closing)

    # --- helpers ------------------------------------------------------------------

    def _record_new(self, aggregate: Aggregate, duplicate: str) -> Receipt:
        """Save a new aggregate whose id comes from a business key: a repeat is a duplicate."""
        try:
            return self.record(aggregate)
        except IntegrityError:
            raise DuplicateFact(duplicate) from None

    def _business_day(self, instant: datetime) -> date:
        return instant.astimezone(self.timezone).date()


def _apply_outcome(
    deduction: Deduction, dispute_id: UUID, outcome: str, points: int | None, reason: str
) -> None:
    """The decision's correction, linked to the dispute: void or amend the deduction."""
    if outcome == "upheld":
        deduction.void(dispute_id=dispute_id, reason=reason)
    elif outcome == "partly_upheld" and points is not None:
        deduction.amend(points_total=points, dispute_id=dispute_id, reason=reason)


def _recorded(appended: Appended) -> RecordedEvent:
    return RecordedEvent(
        position=appended.position,
        recorded_at=appended.recorded_at,
        type=appended.topic.rsplit(".", 1)[-1],
        # Our recorders hand back the UUIDs they were given; text ids are converted.
        originator_id=(
            appended.originator_id
            if isinstance(appended.originator_id, UUID)
            else UUID(appended.originator_id)
        ),
        originator_version=appended.originator_version,
    )


def _validated(document: dict[str, Any]) -> RuleSetDocument:
    try:
        return parse_ruleset(document)
    except RuleSetInvalid as e:
        raise InvalidInput(e.problems) from None


def _freeze(content: dict[str, Any]) -> str:
    return json.dumps(content, sort_keys=True)


@lru_cache(maxsize=64)
def _parsed(version: str, frozen_content: str) -> RuleSetDocument:
    # A published version never changes, so its parsed form is cached by its content.
    return _validated(json.loads(frozen_content))

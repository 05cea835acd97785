"""The ledger's commands: each loads aggregates, checks the rules, and saves in one append."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from dataclasses import fields as fields_of
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any, Generic, TypeVar, cast
from uuid import UUID
from zoneinfo import ZoneInfo

from eventsourcing.application import AggregateNotFoundError, Application, ProcessingEvent
from eventsourcing.domain import Aggregate, DomainEvent
from eventsourcing.persistence import IntegrityError, Transcoder

from ledger import ids
from ledger.adjustment import Adjustment
from ledger.assessment import AssessmentPlan, assessment_plan_id
from ledger.audit import current_audit
from ledger.base import DateAsISO
from ledger.calculation.portfolio_policy import PolicyWarning, check_assignment
from ledger.chain_key import ChainKey, chain_key_id
from ledger.contribution import Contribution
from ledger.customer import Customer
from ledger.deduction import Deduction
from ledger.dispute import Dispute
from ledger.errors import (
    Conflict,
    DuplicateFact,
    InvalidInput,
    LedgerError,
    NotFound,
    RuleSetInvalid,
)
from ledger.indicator import IndicatorReport
from ledger.manager import Manager
from ledger.period import Period
from ledger.quarter import Quarter
from ledger.rulebook import KeptRuleBook, RuleBook
from ledger.rules import (
    CustomersGoOnlyToQualifiedManagers,
    PostingsAreIdentifiedByTheirSourceKeys,
    ReinstaterIsNotTheRecorder,
    Rule,
    check,
    deadline,
)
from ledger.ruleset_document import RuleSetDocument, default_document, parse_ruleset
from ledger.store import (
    APPEND,
    Append,
    Appended,
    IdempotencyRecord,
    LedgerStore,
    OutdatedRead,
    StoredRequest,
)

A = TypeVar("A", bound=Aggregate)
T = TypeVar("T")
B = TypeVar("B", bound=Aggregate)
F = TypeVar("F", bound=Aggregate | DomainEvent)

# A posting's facts; two postings with the same source keys and these values are one.
POSTING_FIELDS = (
    "customer_id", "booked_on", "interest_income", "deposit_earnings", "fee_income", "risk_cost",
)
# A raw indicator report's facts; two reports with the same source keys and these are one.
REPORT_FIELDS = ("indicator", "manager_id", "period", "measured_on", "value")
# What makes a repeated integrator deduction (same source keys) the same deduction.
DEDUCTION_FIELDS = ("manager_id", "rule_code", "occurrences", "aggravated", "disqualify",
                    "effective_on", "description", "customer_id", "evidence")
# A batch's first append assumes its keys are new; after it, a race with a concurrent
# poster of the same keys is retried twice.
MAX_BATCH_ATTEMPTS = 4
MAX_KNOWN_CUSTOMERS = 100_000
MAX_CACHED_RULESETS = 256
MAX_JUDGEMENTS = 3  # a command judged again after a publication, twice at most


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
class ItemOutcome:
    """What became of one item of a batch of postings."""

    index: int
    status: str  # created, duplicate, conflict or invalid
    contribution_id: UUID | None = None
    errors: dict[str, list[str]] = field(default_factory=dict)

    @property
    def event_id(self) -> UUID | None:
        """The id of the fact the item names (a posting or an indicator report)."""
        return self.contribution_id


@dataclass(frozen=True)
class Made(Generic[T]):
    """What a command made: its main result, every aggregate it saved, and the receipt.

    `value` is the aggregate the command is about (or a batch's per-item outcomes);
    `result` is "duplicate" when the command found its fact already recorded and
    appended nothing.
    """

    value: T
    receipt: Receipt = field(default_factory=Receipt)
    aggregates: tuple[Aggregate, ...] = ()
    result: str = "created"


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
        self.store: LedgerStore = self.store_of(self.recorder)
        self.timezone = ZoneInfo(self.env.get("TIMEZONE") or "Asia/Shanghai")
        self.clock: Callable[[], datetime] = lambda: datetime.now(UTC)
        # Without a reader only the rules that need no other portfolio (premium) apply.
        self.portfolios: PortfolioReader | None = None
        # Told of every append and the seconds it took (the API's metrics).
        self.on_recorded: Callable[[Receipt, float], None] | None = None
        # Customers are never removed, so once seen a customer id stays valid.
        self._known_customers: set[str] = set()
        self._known_managers: set[str] = set()  # likewise managers (`_require_manager`)
        self._rulesets: dict[str, RuleSetDocument] = {}
        # What rule set is in force is asked by most commands: the book is kept (KeptRuleBook).
        self._kept_book = KeptRuleBook(self.rulebook, self._rulebook_has_events_after)

    @staticmethod
    def store_of(recorder: object) -> LedgerStore:
        """The recorder as the port the core reads from: only our recorders are one."""
        if not isinstance(recorder, LedgerStore):
            raise TypeError(f"{type(recorder).__name__} is not a ledger store: set "
                            "PERSISTENCE_MODULE to persistence.sqlite or persistence.postgres")
        return recorder

    def register_transcodings(self, transcoder: Transcoder) -> None:
        super().register_transcodings(transcoder)  # type: ignore[arg-type]
        transcoder.register(DateAsISO())  # type: ignore[attr-defined]

    # --- saving -------------------------------------------------------------------

    def record(
        self, *aggregates: Aggregate | DomainEvent,
        idempotency: IdempotencyRecord | None = None,
    ) -> Receipt:
        """Save aggregates in one append; the idempotency record commits in the same
        transaction, so the events and the request's key are stored together or not at all."""
        append = Append(idempotency, assumed=self._kept_book.assumed())
        started = time.perf_counter()
        self.save(*aggregates, **{APPEND: append})
        seconds = time.perf_counter() - started
        self._kept_book.appended(checked=append.assumed is not None)
        receipt = Receipt.of(append.assigned)
        if any(isinstance(a, RuleBook) for a in aggregates):
            self._kept_book.changed()
        if self.on_recorded is not None:
            self.on_recorded(receipt, seconds)
        return receipt

    def save(self, *objs: Any, **kwargs: Any) -> Any:
        """The library's save, less its two runtime Protocol checks per aggregate
        (`typing`'s isinstance on a Protocol walks the class's attributes): 40% of
        saving 100 managers on SQLite (cProfile, issue 18). An aggregate is told by its
        class, and so is an event saved without its aggregate (a batch's new postings);
        anything else still goes through the library's checks."""
        processing: ProcessingEvent[UUID] = ProcessingEvent()
        for obj in objs:
            if isinstance(obj, Aggregate):
                processing.events.extend(obj.collect_events())
                processing.aggregates[obj.id] = obj
            elif isinstance(obj, DomainEvent):
                processing.events.append(obj)
            else:
                processing.collect_events(obj)
        processing.saved_kwargs.update(kwargs)
        recordings = self._record(processing)
        self._take_snapshots(processing)
        self._notify(recordings)
        self.notify(processing.events)  # the library's deprecated hook, as its save calls it
        return recordings

    def _made(
        self, value: T, *aggregates: Aggregate, idempotency: IdempotencyRecord | None,
        warnings: tuple[PolicyWarning, ...] = (),
    ) -> Made[T]:
        """Save and say what was made; what the log will not hold rides on the record."""
        if idempotency is not None and warnings:
            idempotency = replace(idempotency, note=_note(warnings=warnings))
        receipt = replace(self.record(*aggregates, idempotency=idempotency), warnings=warnings)
        return Made(value, receipt, aggregates)

    def replayed(self, stored: StoredRequest) -> Made[Any]:
        """A request's first answer rebuilt from the log: the aggregates as its append left
        them, its receipt, and the note stored with its key."""
        if stored.first_position is None or stored.last_position is None:
            raise ValueError("this idempotency record holds its whole response")
        receipt = Receipt.of(self.store.select_appended(stored.first_position,
                                                        stored.last_position))
        versions: dict[UUID, int] = {}
        for event in receipt.events:
            versions[event.originator_id] = event.originator_version
        aggregates: tuple[Aggregate, ...] = tuple(
            self.repository.get(i, version=v) for i, v in versions.items())
        note = json.loads(stored.note) or {}
        warnings = tuple(PolicyWarning(**w) for w in note.get("warnings", ()))
        outcomes = [_outcome(o) for o in note.get("outcomes", ())]
        value: Any = outcomes if "outcomes" in note else aggregates[0]
        return Made(value, replace(receipt, warnings=warnings), aggregates)

    def _get(self, cls: type[A], aggregate_id: UUID, what: str) -> A:
        try:
            aggregate: Aggregate = self.repository.get(aggregate_id)
        except AggregateNotFoundError:
            raise NotFound(f"no {what}") from None
        if not isinstance(aggregate, cls):
            raise NotFound(f"no {what}")
        return aggregate

    def history(self, aggregate_id: UUID) -> list[tuple[Any, RecordedEvent]]:
        """An aggregate's events in order, each with its position and recording time."""
        events = list(self.events.get(aggregate_id))
        where = {v: (p, t) for v, p, t in self.store.select_recorded(aggregate_id)}
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
        return self.store.position_known_at(instant)

    def today(self) -> date:
        """The bank's business day now (deadlines are counted in the bank's days)."""
        return self.clock().astimezone(self.timezone).date()

    # --- rule sets ----------------------------------------------------------------

    def rulebook(self) -> RuleBook:
        return self._get(RuleBook, ids.rulebook_id(), "rule book")

    def judged(self, command: Callable[[], T]) -> T:
        """Runs a command and its answer (the API runs each command route so) on one rule
        book, proved current by the command's append or, when it appends nothing, by one
        probe at its end (KeptRuleBook); judged by an outdated book, it runs again.

        Nothing is written by a command judged by an outdated book (the append checks
        under its lock), so running it again is safe; a publication that lands between
        every attempt is a conflict, bounded like every retry."""
        for _ in range(MAX_JUDGEMENTS):
            with self._kept_book.held():
                try:
                    result = command()
                except OutdatedRead:
                    self._kept_book.moved()  # the append wrote nothing: judge again
                    continue
                except (LedgerError, IntegrityError):
                    if self._kept_book.outdated():
                        continue  # refused by the rules of a book that has moved on
                    raise
                if not self._kept_book.outdated():
                    return result
        raise Conflict("the rule book changed while this command was judged; send it again")

    def _rulebook_has_events_after(self, version: int) -> bool:
        return bool(self.recorder.select_events(ids.rulebook_id(), gt=version, limit=1))

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
        """A drafted version never changes (VersionsAreDraftedOnce), so each version is
        read from the rule book once per process, not on every command and answer."""
        found = self._rulesets.get(version)
        if found is None:
            found = _parsed(version, _freeze(self._kept_book.current().content_of(version)))
            if len(self._rulesets) < MAX_CACHED_RULESETS:
                self._rulesets[version] = found
        return found

    def ruleset_for_day(self, day: date) -> RuleSetDocument:
        """The rule set in force for the period (quarter) containing `day`."""
        first_day = Quarter.of(day).first_day
        version = self._kept_book.current().in_force_for(first_day)
        if version is None:
            raise Conflict(f"no published rule set is in force for {first_day}")
        return self.ruleset(version)

    def draft_ruleset(
        self, document: dict[str, Any], *, idempotency: IdempotencyRecord | None = None
    ) -> Made[RuleBook]:
        """Drafts a rule-set version after validating the whole document."""
        parsed = _validated(document)
        book = self.rulebook()
        book.draft(version=parsed.version, effective_from=parsed.effective_from, content=document)
        return self._made(book, book, idempotency=idempotency)

    def publish_ruleset(
        self, version: str, *, idempotency: IdempotencyRecord | None = None
    ) -> Made[RuleBook]:
        book = self.rulebook()
        book.publish(version)
        return self._made(book, book, idempotency=idempotency)

    # --- managers and customers ---------------------------------------------------

    def manager(self, business_id: str) -> Manager:
        return self._get(Manager, ids.manager_id(business_id), f"manager {business_id}")

    def customer(self, business_id: str) -> Customer:
        return self._get(Customer, ids.customer_id(business_id), f"customer {business_id}")

    def register_manager(
        self, *, business_id: str, name: str, grade: str, unit: str,
        idempotency: IdempotencyRecord | None = None,
    ) -> Made[Manager]:
        manager = Manager.register(business_id=business_id, name=name, grade=grade, unit=unit)
        return self._made_new(manager, f"manager {business_id} is already registered",
                              idempotency)

    def change_grade(
        self, business_id: str, *, grade: str, effective_on: date, reason: str,
        idempotency: IdempotencyRecord | None = None,
    ) -> Made[Manager]:
        manager = self.manager(business_id)
        policy = self.ruleset_for_day(effective_on).portfolio
        manager.change_grade(grade=grade, effective_on=effective_on, reason=reason,
                             premium_requires_grade=policy.premium_requires_grade,
                             premium_customers=self._premium_held(business_id, effective_on))
        return self._made(manager, manager, idempotency=idempotency)

    def _premium_held(self, manager_id: str, day: date) -> tuple[str, ...]:
        """The premium customers the manager holds on `day`, by the portfolio reader."""
        if self.portfolios is None:
            return ()
        held = self.portfolios(day).holdings_by_manager.get(manager_id, ())
        return tuple(sorted(customer_id for customer_id, _ in held
                            if self.customer(customer_id).customer_class == "premium"))

    def set_target(
        self, business_id: str, *, period: str, incremental: Decimal, reason: str,
        idempotency: IdempotencyRecord | None = None,
    ) -> Made[Manager]:
        manager = self.manager(business_id)
        manager.set_target(period=period, incremental=incremental, reason=reason)
        return self._made(manager, manager, idempotency=idempotency)

    def register_customer(
        self, *, idempotency: IdempotencyRecord | None = None, **fields: Any
    ) -> Made[Customer]:
        customer = Customer.register(**fields)
        return self._made_new(customer, f"customer {fields.get('business_id')} is registered",
                              idempotency)

    def assign_customer(
        self, business_id: str, *, manager_id: str, effective_on: date, reason: str,
        idempotency: IdempotencyRecord | None = None,
    ) -> Made[Customer]:
        """(Re)assigns a customer under the portfolio policy of the rule set in force:
        a refusal raises, warnings come back on the receipt."""
        customer = self.customer(business_id)
        manager = self.manager(manager_id)
        check(CustomersGoOnlyToQualifiedManagers(
            manager_id, effective_on, manager.disqualified_on(effective_on)))
        warnings = tuple(self._portfolio_policy(customer, manager, effective_on))
        customer.assign(manager_id=manager_id, effective_on=effective_on, reason=reason)
        return self._made(customer, customer, idempotency=idempotency, warnings=warnings)

    def _portfolio_policy(
        self, customer: Customer, manager: Manager, effective_on: date
    ) -> list[PolicyWarning]:
        snapshot = (
            self.portfolios(effective_on) if self.portfolios else PortfolioSnapshot({}, 0)
        )
        # A refusal raises PolicyRefusal, a RuleViolation naming the policy's rule.
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

    # --- contributions ------------------------------------------------------------

    def stored_posting(self, contribution_id: UUID) -> Contribution | None:
        """The posting already recorded under this id, if any."""
        try:
            stored: Aggregate = self.repository.get(contribution_id)
        except AggregateNotFoundError:
            return None
        return stored if isinstance(stored, Contribution) else None

    def post_contribution(
        self, *, idempotency: IdempotencyRecord | None = None, **fields: Any
    ) -> Made[Contribution]:
        """Posts one contribution; the same source keys again are a duplicate (nothing
        appended) when the values match, and refused when they do not."""
        self.customer(fields["customer_id"])
        posting = Contribution.post(**fields)
        try:
            return self._made(posting, posting, idempotency=idempotency)
        except IntegrityError:
            stored = self.stored_posting(posting.id)
            check(_same_posting(stored, fields))
            return Made(cast(Contribution, stored), result="duplicate")

    def post_contributions(
        self, items: Sequence[Mapping[str, Any] | InvalidInput], *,
        idempotency: IdempotencyRecord | None = None,
    ) -> Made[list[ItemOutcome]]:
        """Posts a batch: every new, valid posting in one append; the rest are reported.
        A new posting is appended as its Posted event alone: nothing reads its aggregate."""
        return self._post_batch(items, self._try_posting, _posting_id, self.stored_posting,
                                _same_posting, idempotency)

    def _try_posting(self, item: Mapping[str, Any]) -> Contribution.Posted | InvalidInput:
        try:
            self._known_customer(item["customer_id"])
            return Contribution.posted(**item)
        except InvalidInput as refused:
            return refused

    def _post_batch(
        self, items: Sequence[Mapping[str, Any] | InvalidInput],
        build: Callable[[Mapping[str, Any]], F | InvalidInput],
        id_of: Callable[[F], UUID],
        stored_of: Callable[[UUID], B | None],
        same: Callable[[B | F, Mapping[str, Any]], Rule],
        idempotency: IdempotencyRecord | None,
    ) -> Made[list[ItemOutcome]]:
        """A batch of facts identified by their source keys (postings, indicator reports):
        every new, valid one in one append; the rest reported item by item.

        One append (not one per item) so that the batch's events and its idempotency
        record commit together, and the append lock is taken once per batch. The first
        attempt assumes every key is new: the append's unique (originator, version) index
        checks each key as it inserts, so a batch of new facts (the usual one) costs no
        probe of the log; only when it meets a stored key (a retried import, or another
        writer meanwhile) is the batch classified against the keys already posted.
        """
        stored_ids: set[UUID] = set()
        for attempt in range(1, MAX_BATCH_ATTEMPTS + 1):
            built = [item if isinstance(item, InvalidInput) else build(item) for item in items]
            outcomes, fresh = self._classify(items, built, id_of, stored_ids, stored_of, same)
            if not fresh:
                return Made(outcomes)
            record = idempotency and replace(idempotency, note=_outcomes_note(outcomes))
            try:
                return Made(outcomes, self.record(*fresh, idempotency=record))
            except IntegrityError:
                if attempt == MAX_BATCH_ATTEMPTS:
                    raise
                # One query finds which of the keys taken for new are posted; only those
                # are loaded and compared (a retry after a race asks about the rest).
                stored_ids |= self.store.existing_originators([id_of(f) for f in fresh])
        raise AssertionError("unreachable")

    def _classify(
        self, items: Sequence[Mapping[str, Any] | InvalidInput],
        built: Sequence[F | InvalidInput],
        id_of: Callable[[F], UUID],
        stored_ids: set[UUID],
        stored_of: Callable[[UUID], B | None],
        same: Callable[[B | F, Mapping[str, Any]], Rule],
    ) -> tuple[list[ItemOutcome], list[F]]:
        """Each item's outcome, and the new facts to append (a key repeated inside the
        batch is appended once); `stored_ids` are the keys known to be in the log."""
        outcomes: list[ItemOutcome] = []
        fresh: dict[UUID, F] = {}
        for index, (item, fact) in enumerate(zip(items, built, strict=True)):
            if isinstance(fact, InvalidInput) or isinstance(item, InvalidInput):
                errors = fact.errors if isinstance(fact, InvalidInput) else {}
                outcomes.append(ItemOutcome(index, "invalid", errors=errors))
                continue
            key = id_of(fact)
            stored: B | F | None = fresh.get(key)
            if stored is None and key in stored_ids:
                stored = stored_of(key)
            if stored is None:
                fresh[key] = fact
                outcomes.append(ItemOutcome(index, "created", key))
            else:
                verdict = "conflict" if same(stored, item).is_broken() else "duplicate"
                outcomes.append(ItemOutcome(index, verdict, key))
        return outcomes, list(fresh.values())

    def _require_manager(self, business_id: str) -> None:
        """The manager exists (or NotFound): managers are never removed, so once seen an id
        stays valid and is not replayed again just to be found (a round trip per deduction)."""
        if business_id in self._known_managers:
            return
        self.manager(business_id)
        if len(self._known_managers) >= MAX_KNOWN_CUSTOMERS:
            self._known_managers.clear()
        self._known_managers.add(business_id)

    def _known_customer(self, customer_id: str) -> None:
        if customer_id in self._known_customers:
            return
        try:
            self.customer(customer_id)
        except NotFound as missing:
            raise InvalidInput({"customer_id": [missing.detail]}) from None
        if len(self._known_customers) >= MAX_KNOWN_CUSTOMERS:
            self._known_customers.clear()
        self._known_customers.add(customer_id)

    # --- indicator reports (DESIGN §11) -------------------------------------------

    def report_indicator(
        self, *, idempotency: IdempotencyRecord | None = None, **fields: Any
    ) -> Made[IndicatorReport]:
        """Reports one raw indicator; the same source keys again are a duplicate (nothing
        appended) when the values match, and refused when they do not."""
        report = self._built_report(fields)
        try:
            return self._made(report, report, idempotency=idempotency)
        except IntegrityError:
            stored = self._get(IndicatorReport, report.id, "indicator report")
            check(_same_report(stored, fields))
            return Made(stored, result="duplicate")

    def report_indicators(
        self, items: Sequence[Mapping[str, Any] | InvalidInput], *,
        idempotency: IdempotencyRecord | None = None,
    ) -> Made[list[ItemOutcome]]:
        """Reports a batch in one append, item by item like a batch of postings."""
        return self._post_batch(items, self._try_report, _aggregate_id, self._stored_report,
                                _same_report, idempotency)

    def _stored_report(self, report_id: UUID) -> IndicatorReport:
        return self._get(IndicatorReport, report_id, "report")

    def _built_report(self, fields: Mapping[str, Any]) -> IndicatorReport:
        try:
            self.manager(str(fields.get("manager_id")))
        except NotFound as missing:
            raise InvalidInput({"manager_id": [missing.detail]}) from None
        quarter = Quarter.parse(fields.get("period"))
        rules = self.ruleset_for_day(quarter.first_day)
        return IndicatorReport.report(**fields, scorecard=rules.scorecard,
                                      ruleset_version=rules.version)

    def _try_report(self, item: Mapping[str, Any]) -> IndicatorReport | InvalidInput:
        try:
            return self._built_report(item)
        except InvalidInput as refused:
            return refused
        except Conflict as refused:  # no rule set in force for the period
            return InvalidInput({"period": [refused.detail]})

    # --- deductions ---------------------------------------------------------------

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
        idempotency: IdempotencyRecord | None = None,
    ) -> Made[Deduction]:
        """Records a deduction under the rule set in force for its effective date.

        An integrator's deduction carries its source keys, which fix its id: the same
        keys again are a duplicate when the values match, and refused when they do not.
        """
        self._require_manager(manager_id)
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
        # A disqualifying deduction begins a lasting state of its manager (DESIGN §16),
        # saved with it in one append.
        changed: tuple[Aggregate, ...] = (deduction,)
        if disqualify or rule.always_disqualifies:
            manager = self.manager(manager_id)  # read now: its version guards the append
            manager.disqualify(deduction_id=deduction.id, rule_code=rule_code,
                               effective_on=effective_on)
            changed = (deduction, manager)
        try:
            return self._made(deduction, *changed, idempotency=idempotency)
        except IntegrityError:
            if self.stored_deduction(deduction.id) is None:
                raise  # not a duplicate: the manager changed concurrently; retry
            if source_system is None or external_id is None:
                raise DuplicateFact("this deduction was already recorded") from None
        stored = self.deduction(deduction.id)
        check(PostingsAreIdentifiedByTheirSourceKeys(
            f"deduction {source_system}/{external_id}",
            {name: getattr(stored, name) for name in DEDUCTION_FIELDS},
            {"manager_id": manager_id, "rule_code": rule_code, "occurrences": occurrences,
             "aggravated": aggravated, "disqualify": disqualify, "effective_on": effective_on,
             "description": description, "customer_id": customer_id, "evidence": evidence}))
        return Made(stored, result="duplicate")

    def deduction(self, deduction_id: UUID) -> Deduction:
        return self._get(Deduction, deduction_id, f"deduction {deduction_id}")

    def stored_deduction(self, deduction_id: UUID) -> Deduction | None:
        try:
            return self.deduction(deduction_id)
        except NotFound:
            return None

    def reinstate_manager(
        self, business_id: str, *, effective_on: date, reason: str,
        idempotency: IdempotencyRecord | None = None,
    ) -> Made[Manager]:
        """Ends the manager's disqualifications in force on `effective_on` (DESIGN §16);
        never by whoever recorded a deduction that disqualified them."""
        manager = self.manager(business_id)
        actor = current_audit().actor
        for disqualification in manager.in_force_on(effective_on):
            recorded_by = self.deduction(disqualification.deduction_id).recorded_by
            check(ReinstaterIsNotTheRecorder(recorded_by=recorded_by, reinstated_by=actor))
        manager.reinstate(effective_on=effective_on, reason=reason)
        return self._made(manager, manager, idempotency=idempotency)

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
        idempotency: IdempotencyRecord | None = None,
    ) -> Made[Dispute]:
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
        return self._made(dispute, dispute, deduction, idempotency=idempotency)

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
        self, dispute_id: UUID, *, text: str, evidence: Sequence[str] = (),
        idempotency: IdempotencyRecord | None = None,
    ) -> Made[Dispute]:
        dispute = self.dispute(dispute_id)
        dispute.comment(text=text, evidence=evidence)
        return self._made(dispute, dispute, idempotency=idempotency)

    def withdraw_dispute(
        self, dispute_id: UUID, *, withdrawing_manager_id: str | None, reason: str,
        idempotency: IdempotencyRecord | None = None,
    ) -> Made[Dispute]:
        """The filer withdraws an open dispute; the deduction counts on unchanged."""
        dispute = self.dispute(dispute_id)
        dispute.withdraw(withdrawing_manager_id=withdrawing_manager_id, reason=reason)
        return self._made(dispute, dispute, idempotency=idempotency)

    def request_information(
        self, dispute_id: UUID, *, question: str, idempotency: IdempotencyRecord | None = None
    ) -> Made[Dispute]:
        """A reviewer (never the recorder) asks the filer; the decision deadline pauses."""
        dispute = self.dispute(dispute_id)
        deduction = self.deduction(dispute.deduction_id)
        dispute.request_information(question=question, requested_by=current_audit().actor,
                                    recorded_by=deduction.recorded_by, today=self.today())
        return self._made(dispute, dispute, idempotency=idempotency)

    def provide_information(
        self, dispute_id: UUID, *, answering_manager_id: str | None, answer: str,
        idempotency: IdempotencyRecord | None = None,
    ) -> Made[Dispute]:
        """The filer answers; the paused deadline runs on from the answer's day."""
        dispute = self.dispute(dispute_id)
        dispute.provide_information(answering_manager_id=answering_manager_id, answer=answer,
                                    today=self.today())
        return self._made(dispute, dispute, idempotency=idempotency)

    def decide_dispute(
        self, dispute_id: UUID, *, outcome: str, reason: str, points: int | None = None,
        idempotency: IdempotencyRecord | None = None,
    ) -> Made[Dispute]:
        """Decides a dispute and applies the correction to the deduction in the same append."""
        return self._decide(dispute_id, Dispute.decide, outcome, reason, points, idempotency)

    def file_appeal(
        self, dispute_id: UUID, *, appellant_manager_id: str | None, reason: str,
        idempotency: IdempotencyRecord | None = None,
    ) -> Made[Dispute]:
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
        return self._made(dispute, dispute, idempotency=idempotency)

    def decide_appeal(
        self, dispute_id: UUID, *, outcome: str, reason: str, points: int | None = None,
        idempotency: IdempotencyRecord | None = None,
    ) -> Made[Dispute]:
        """Decides the appeal (final) and applies its correction in the same append."""
        return self._decide(dispute_id, Dispute.decide_appeal, outcome, reason, points,
                            idempotency)

    def _decide(
        self,
        dispute_id: UUID,
        step: Callable[..., None],
        outcome: str,
        reason: str,
        points: int | None,
        idempotency: IdempotencyRecord | None,
    ) -> Made[Dispute]:
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
        # A voided deduction's disqualification never began (DESIGN §16).
        manager = self.manager(deduction.manager_id)
        if deduction.status == "voided" and manager.disqualified_by(deduction.id):
            manager.void_disqualification(deduction_id=deduction.id, dispute_id=dispute.id)
            return self._made(dispute, dispute, deduction, manager, idempotency=idempotency)
        return self._made(dispute, dispute, deduction, idempotency=idempotency)

    # --- adjustments and periods --------------------------------------------------

    def adjustment(self, adjustment_id: UUID) -> Adjustment:
        return self._get(Adjustment, adjustment_id, f"adjustment {adjustment_id}")

    def propose_adjustment(
        self, *, manager_id: str, period: str, points: int, reason: str,
        idempotency: IdempotencyRecord | None = None,
    ) -> Made[Adjustment]:
        self.manager(manager_id)
        adjustment = Adjustment.propose(
            manager_id=manager_id,
            period=period,
            points=points,
            reason=reason,
            proposed_by=current_audit().actor,
        )
        return self._made(adjustment, adjustment, idempotency=idempotency)

    def decide_adjustment(
        self, adjustment_id: UUID, *, approved: bool, reason: str,
        idempotency: IdempotencyRecord | None = None,
    ) -> Made[Adjustment]:
        adjustment = self.adjustment(adjustment_id)
        if approved:
            # The limit is the one in force for the adjustment's period (DESIGN §16).
            limits = self.ruleset_for_day(Quarter.parse(adjustment.period).first_day).adjustments
            adjustment.approve(reason=reason, approved_by=current_audit().actor,
                               approvals_needed=limits.approvals_needed(adjustment.points))
        else:
            adjustment.reject(reason=reason, rejected_by=current_audit().actor)
        return self._made(adjustment, adjustment, idempotency=idempotency)

    def reverse_adjustment(
        self, adjustment_id: UUID, *, reason: str, idempotency: IdempotencyRecord | None = None
    ) -> Made[Adjustment]:
        """Takes back an approved adjustment by a new event; the approval stays on record."""
        adjustment = self.adjustment(adjustment_id)
        adjustment.reverse(reason=reason, reversed_by=current_audit().actor)
        return self._made(adjustment, adjustment, idempotency=idempotency)

    def period_if_closed(self, period: str) -> Period | None:
        """The period's aggregate once it was closed (a period is opened only to close it)."""
        try:
            return self._get(Period, ids.period_id(str(Quarter.parse(period))), "period")
        except NotFound:
            return None

    def close_period(
        self, period: str, *, reason: str, freeze: Callable[[str], Mapping[str, Any]],
        idempotency: IdempotencyRecord | None = None,
    ) -> Made[Period]:
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
        return self._made(closing, closing, idempotency=idempotency)

    # --- qualitative assessment (DESIGN §12) ---------------------------------------

    # The managers of a unit on a day; the composition root supplies it from the read models.
    unit_managers: Callable[[str, date], list[str]] | None = None

    def assessment_plan(self, plan_id: str) -> AssessmentPlan:
        return self._get(AssessmentPlan, assessment_plan_id(plan_id), f"assessment plan {plan_id}")

    def create_assessment_plan(
        self, *, plan_id: str, period: str, unit: str, items: Sequence[str],
        assessors: Sequence[Mapping[str, Any]], closes_on: date,
        idempotency: IdempotencyRecord | None = None,
    ) -> Made[AssessmentPlan]:
        """A plan over every manager of the unit on the period's first day (or today, if
        later), with the items of the rule set in force for the period."""
        quarter = Quarter.parse(period)
        rules = self.ruleset_for_day(quarter.first_day)
        day = max(quarter.first_day, min(self.today(), quarter.last_day))
        managers = self.unit_managers(unit, day) if self.unit_managers else []
        plan = AssessmentPlan.create(
            plan_id=plan_id, period=str(quarter), unit=unit, items=items, assessors=assessors,
            closes_on=closes_on, managers=managers, catalog=rules.qualitative_items,
            ruleset_version=rules.version)
        return self._made_new(plan, f"assessment plan {plan_id} exists", idempotency)

    def save_sheet(
        self, plan_id: str, manager_id: str, *, scores: Mapping[str, Any],
        comment: str | None = None, assessor_manager_id: str | None = None,
        idempotency: IdempotencyRecord | None = None,
    ) -> Made[AssessmentPlan]:
        plan = self.assessment_plan(plan_id)
        plan.save_sheet(manager_id=manager_id, assessor=current_audit().actor,
                        assessor_manager_id=assessor_manager_id, scores=scores, comment=comment,
                        today=self.today())
        return self._made(plan, plan, idempotency=idempotency)

    def submit_sheet(
        self, plan_id: str, manager_id: str, *, assessor_manager_id: str | None = None,
        idempotency: IdempotencyRecord | None = None,
    ) -> Made[AssessmentPlan]:
        plan = self.assessment_plan(plan_id)
        plan.submit_sheet(manager_id=manager_id, assessor=current_audit().actor,
                          assessor_manager_id=assessor_manager_id, today=self.today())
        return self._made(plan, plan, idempotency=idempotency)

    def reopen_sheet(
        self, plan_id: str, manager_id: str, *, assessor: str, reason: str,
        idempotency: IdempotencyRecord | None = None,
    ) -> Made[AssessmentPlan]:
        plan = self.assessment_plan(plan_id)
        plan.reopen_sheet(manager_id=manager_id, assessor=assessor, reason=reason)
        return self._made(plan, plan, idempotency=idempotency)

    # --- the chain key ------------------------------------------------------------

    def rotate_chain_key(self, key_id: str, *, reason: str) -> Made[ChainKey]:
        """Announces the key that seals the log from this event on (the first one
        introduces it). The appending process must hold that key: it seals this event."""
        chain_key: ChainKey
        try:
            chain_key = self.repository.get(chain_key_id())
        except AggregateNotFoundError:
            chain_key = ChainKey.introduce(key_id, reason)
        else:
            chain_key.rotate(key_id, reason)
        return self._made(chain_key, chain_key, idempotency=None)

    # --- helpers ------------------------------------------------------------------

    def _made_new(
        self, aggregate: A, duplicate: str, idempotency: IdempotencyRecord | None
    ) -> Made[A]:
        """Save a new aggregate whose id comes from a business key: a repeat is a duplicate."""
        try:
            return self._made(aggregate, aggregate, idempotency=idempotency)
        except IntegrityError:
            raise DuplicateFact(duplicate) from None

    def _business_day(self, instant: datetime) -> date:
        return instant.astimezone(self.timezone).date()


def _posting_id(posted: Contribution.Posted) -> UUID:
    return posted.originator_id


def _aggregate_id(aggregate: Aggregate) -> UUID:
    return aggregate.id


def _same_posting(
    stored: Contribution | Contribution.Posted | None, requested: Mapping[str, Any]
) -> PostingsAreIdentifiedByTheirSourceKeys:
    """The source-key rule for a repeated posting (an absent risk cost is 0)."""
    keys = f"{requested.get('source_system')}/{requested.get('external_id')}"
    return PostingsAreIdentifiedByTheirSourceKeys(
        f"posting {keys}",
        {name: getattr(stored, name, None) for name in POSTING_FIELDS},
        {name: requested.get(name, 0 if name == "risk_cost" else None)
         for name in POSTING_FIELDS},
    )


def _same_report(
    stored: IndicatorReport, requested: Mapping[str, Any]
) -> PostingsAreIdentifiedByTheirSourceKeys:
    """The source-key rule for a repeated indicator report."""
    keys = f"{requested.get('source_system')}/{requested.get('external_id')}"
    wanted = {name: requested.get(name) for name in REPORT_FIELDS}
    wanted["period"] = str(Quarter.parse(wanted["period"]))
    return PostingsAreIdentifiedByTheirSourceKeys(
        f"indicator report {keys}", {name: getattr(stored, name) for name in REPORT_FIELDS},
        wanted)


def _note(**parts: Sequence[Any]) -> bytes:
    """What a command learned besides its events, as stored with its idempotency key."""
    # One level deep, as the parts are (flat dataclasses): `asdict` deep-copies every
    # item's errors first, 10% of a batch of 100 postings (cProfile, issue 18).
    return json.dumps({name: [{f.name: getattr(p, f.name) for f in fields_of(p)} for p in items]
                       for name, items in parts.items()},
                      default=str, sort_keys=True).encode()


def _outcomes_note(outcomes: Sequence[ItemOutcome]) -> bytes:
    """`_note(outcomes=outcomes)`, the same bytes, with each id made text here rather than
    by json's `default` hook: half of the note's cost for a batch of 100 (issue 18)."""
    return json.dumps({"outcomes": [
        {"contribution_id": None if o.contribution_id is None else str(o.contribution_id),
         "errors": o.errors, "index": o.index, "status": o.status} for o in outcomes]},
        default=str, sort_keys=True).encode()


def _outcome(stored: Mapping[str, Any]) -> ItemOutcome:
    found = stored.get("contribution_id")
    return ItemOutcome(int(stored["index"]), str(stored["status"]),
                       None if found is None else UUID(found), dict(stored.get("errors", {})))


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

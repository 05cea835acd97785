"""The ledger application as the API runs it: replies and idempotency rows ride each append.

`LedgerApplication.record(*aggregates, extra_rows=...)` commits extra rows with the
events. A request's claim (its reply and, with an Idempotency-Key, the row that stores
it) is request-scoped, like the audit context: `claiming(claim)` sets it in a context
variable for the duration of one command, and `record` adds the claim's row to that
command's append. Commands therefore keep their plain signatures.

It also holds the batch command for contributions, which appends every new posting of a
batch in one transaction (see `post_contributions`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError

from api.idempotency import Claim
from api.sql import SupportTables
from ledger.application import ExtraRows, LedgerApplication, Receipt
from ledger.contribution import Contribution
from ledger.errors import InvalidInput, NotFound
from ledger.ruleset_document import RuleSetDocument
from persistence.records import Appended, ExtraRow

# A posting's facts; two postings with the same source keys and these values are one.
POSTING_FIELDS = (
    "customer_id", "booked_on", "interest_income", "deposit_earnings", "fee_income", "risk_cost",
)
MAX_BATCH_ATTEMPTS = 3  # a race with a concurrent poster of the same keys is retried twice
MAX_KNOWN_CUSTOMERS = 100_000
MAX_CACHED_RULESETS = 256

_claim: ContextVar[Claim | None] = ContextVar("ledger_append_claim", default=None)


@dataclass(frozen=True)
class ItemOutcome:
    """What became of one item of a batch."""

    index: int
    status: str  # created, duplicate, conflict or invalid
    contribution_id: UUID | None = None
    errors: dict[str, list[str]] = field(default_factory=dict)


class ApiLedgerApplication(LedgerApplication):
    """LedgerApplication plus per-request claims, append metrics and the batch command."""

    def __init__(self, env: dict[str, str] | None = None) -> None:
        super().__init__(env)
        self.on_recorded: Callable[[Receipt], None] | None = None
        # Customers are never removed, so once seen a customer id stays valid.
        self._known_customers: set[str] = set()
        self._rulesets: dict[str, RuleSetDocument] = {}
        self._tables = SupportTables(self.recorder)

    def ruleset(self, version: str) -> RuleSetDocument:
        """A drafted version never changes (VersionsAreDraftedOnce), so each version is
        read from the rule book once per process, not on every command and answer."""
        found = self._rulesets.get(version)
        if found is None:
            found = super().ruleset(version)
            if len(self._rulesets) < MAX_CACHED_RULESETS:
                self._rulesets[version] = found
        return found

    @contextmanager
    def claiming(self, claim: Claim) -> Iterator[None]:
        """Within this block, appends carry `claim`'s reply and idempotency row."""
        token = _claim.set(claim)
        try:
            yield
        finally:
            _claim.reset(token)

    def record(self, *aggregates: Aggregate, extra_rows: ExtraRows | None = None,
               note: Any = None) -> Receipt:
        claim = _claim.get()
        if claim is None:
            receipt = super().record(*aggregates, extra_rows=extra_rows)
        else:
            finish = claim.prepare(aggregates, note)  # reads happen before the append lock

            def rows(appended: Sequence[Appended]) -> Sequence[ExtraRow]:
                own = list(extra_rows(appended)) if extra_rows else []
                return own + claim.complete(finish, appended)

            receipt = super().record(*aggregates, extra_rows=rows)
        if self.on_recorded is not None:
            self.on_recorded(receipt)
        return receipt

    # --- contributions in bulk -----------------------------------------------------

    def post_contributions(
        self, items: Sequence[Mapping[str, Any] | InvalidInput]
    ) -> tuple[list[ItemOutcome], Receipt]:
        """Posts a batch: every new, valid posting in one append; the rest are reported.

        One append (not one per item) so that the batch's events and its idempotency
        record commit together, and the append lock is taken once per batch.
        """
        for attempt in range(1, MAX_BATCH_ATTEMPTS + 1):
            outcomes, fresh = self._classify(items)
            try:
                return outcomes, self._settle(fresh, outcomes)
            except IntegrityError:
                # Another writer posted some of these keys meanwhile: classify again.
                if attempt == MAX_BATCH_ATTEMPTS:
                    raise
        raise AssertionError("unreachable")

    def _settle(self, fresh: list[Contribution], outcomes: list[ItemOutcome]) -> Receipt:
        if fresh:
            return self.record(*fresh, note=outcomes)
        claim = _claim.get()
        if claim is not None:
            claim.settle((), outcomes)
        return Receipt()

    def _classify(
        self, items: Sequence[Mapping[str, Any] | InvalidInput]
    ) -> tuple[list[ItemOutcome], list[Contribution]]:
        built = [self._build(item) for item in items]
        postings = [b for b in built if isinstance(b, Contribution)]
        # One query finds the keys already posted; only those are loaded and compared.
        stored_ids = self._tables.existing_originators([p.id for p in postings])
        outcomes: list[ItemOutcome] = []
        fresh: dict[UUID, Contribution] = {}
        for index, (item, posting) in enumerate(zip(items, built, strict=True)):
            if isinstance(posting, InvalidInput):
                outcomes.append(ItemOutcome(index, "invalid", errors=posting.errors))
                continue
            assert isinstance(item, Mapping)
            stored = fresh.get(posting.id)
            if stored is None and posting.id in stored_ids:
                stored = self.stored_posting(posting.id)
            if stored is None:
                fresh[posting.id] = posting
                outcomes.append(ItemOutcome(index, "created", posting.id))
            else:
                outcomes.append(ItemOutcome(index, compare_postings(stored, item), posting.id))
        return outcomes, list(fresh.values())

    def _build(self, item: Mapping[str, Any] | InvalidInput) -> Contribution | InvalidInput:
        if isinstance(item, InvalidInput):
            return item
        try:
            return self._new_posting(item)
        except InvalidInput as refused:
            return refused

    def _new_posting(self, item: Mapping[str, Any]) -> Contribution:
        customer_id = item["customer_id"]
        if customer_id not in self._known_customers:
            try:
                self.customer(customer_id)
            except NotFound as missing:
                raise InvalidInput({"customer_id": [missing.detail]}) from None
            if len(self._known_customers) >= MAX_KNOWN_CUSTOMERS:
                self._known_customers.clear()
            self._known_customers.add(customer_id)
        return Contribution.post(**item)

    def stored_posting(self, contribution_id: UUID) -> Contribution | None:
        """The posting already recorded under this id, if any."""
        try:
            stored: Any = self.repository.get(contribution_id)
        except AggregateNotFoundError:
            return None
        return stored if isinstance(stored, Contribution) else None


def compare_postings(stored: Contribution, requested: Mapping[str, Any]) -> str:
    """"duplicate" when the request repeats the stored posting, "conflict" otherwise."""
    for name in POSTING_FIELDS:
        if getattr(stored, name) != requested.get(name, 0 if name == "risk_cost" else None):
            return "conflict"
    return "duplicate"

"""A synthetic bank quarter, built by the domain's own methods, for the bench and the tests.

Managers with targets; ten customers each, assigned; deductions, one in ten disputed and
half of those upheld (the deduction voided); the rest contribution postings. `quarter`
yields the aggregates in the order they are appended, a bounded group at a time, so the
bench's loader (bench/store.py) and `seed` below (through `LedgerApplication.record`,
as tests/projections/test_rebuild_survives_kill.py uses it) append the same shape.
Iterate it inside `acting_as(AUDIT)`: the events take their audit fields when built.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator, Sequence
from datetime import date, timedelta
from decimal import Decimal

from eventsourcing.domain import Aggregate

from ledger.application import LedgerApplication
from ledger.audit import AuditContext, acting_as
from ledger.contribution import Contribution
from ledger.customer import Customer
from ledger.deduction import Deduction
from ledger.dispute import Dispute
from ledger.manager import Manager

AUDIT = AuditContext(actor="bench-seed", role="operator", request_id="bench-seed")
QUARTER = date(2026, 1, 1)
CODES = (("B1", 1), ("C7", 5), ("S3", 20), ("C9", 2))
EVENTS_PER_MANAGER = 400
CUSTOMERS_PER_MANAGER = 10
POSTING_CHUNK = 5_000
"""Postings built at a time, so memory stays bounded however many events are asked for."""
SAVE_BATCH = 500
"""Aggregates per `record()` in `seed` (bounded transactions)."""


def managers_for(events: int) -> int:
    return max(events // EVENTS_PER_MANAGER, 2)


def people(managers: int, customers: int) -> list[Aggregate]:
    """Every manager (with a 2026Q1 target), then every customer (assigned round-robin)."""
    found: list[Aggregate] = []
    for m in range(managers):
        manager = Manager.register(business_id=f"M{m:05d}", name=f"Manager {m}",
                                   grade="ABC"[m % 3], unit="Branch")
        manager.set_target(period="2026Q1", incremental=Decimal(50000 + m), reason="plan")
        found.append(manager)
    for c in range(customers):
        customer = Customer.register(
            business_id=f"C{c:06d}", name=f"Customer {c}", customer_class="good",
            industry="retail", chain=None, group=None,
            last_year_contribution=Decimal(100000 + 37 * c),
        )
        customer.assign(manager_id=f"M{c % managers:05d}", effective_on=QUARTER,
                        reason="opening")
        found.append(customer)
    return found


def postings(count: int, customers: int, rng: random.Random, tag: str) -> list[Aggregate]:
    return [
        Contribution.post(
            customer_id=f"C{rng.randrange(customers):06d}",
            booked_on=QUARTER + timedelta(days=rng.randrange(90)),
            interest_income=Decimal(rng.randrange(1, 10_000_00)) / 100,
            deposit_earnings=Decimal(rng.randrange(0, 1_000_00)) / 100,
            fee_income=Decimal(rng.randrange(0, 500_00)) / 100,
            source_system="SEED", external_id=f"{tag}-{n}",
        )
        for n in range(count)
    ]


def deductions(count: int, managers: int, rng: random.Random) -> list[Deduction]:
    found = []
    for _ in range(count):
        code, points = CODES[rng.randrange(len(CODES))]
        found.append(Deduction.record(
            manager_id=f"M{rng.randrange(managers):05d}", rule_code=code, occurrences=1,
            aggravated=False, effective_on=QUARTER + timedelta(days=rng.randrange(90)),
            description="seeded", recorded_by="seed", points_per_occurrence=points,
            ruleset_version="2026.1", aggravatable=False, disqualifying=False,
        ))
    return found


def disputes(recorded: Sequence[Deduction]) -> list[Aggregate]:
    """Disputes on every tenth deduction; half of them upheld (the deduction voided)."""
    changed: list[Aggregate] = []
    for n, deduction in enumerate(recorded[::10]):
        dispute = Dispute.file(
            deduction_id=deduction.id, owner_manager_id=deduction.manager_id,
            filed_by_manager_id=deduction.manager_id, reason="seeded",
            recorded_on=QUARTER, today=QUARTER, file_within_days=3650, decide_within_days=10,
        )
        if n % 2 == 0:
            dispute.decide(outcome="upheld", reason="seeded", decided_by="reviewer",
                           recorded_by="seed", current_points=1, today=QUARTER)
            deduction.void(dispute_id=dispute.id, reason="seeded")
        changed.append(dispute)
    return changed


def pending(group: Sequence[Aggregate]) -> int:
    return sum(len(aggregate.pending_events) for aggregate in group)


def quarter(events: int, rng_seed: int = 7) -> Iterator[list[Aggregate]]:
    """About `events` events' worth of aggregates, in groups, in the order to append them.

    The first group is every manager and customer (all of them known before anything
    else happens); then the deductions with their disputes; then postings, POSTING_CHUNK
    at a time, until `events` is reached. Each group is handed over and forgotten here.
    """
    rng = random.Random(rng_seed)
    managers = managers_for(events)
    customers = managers * CUSTOMERS_PER_MANAGER
    group = people(managers, customers)
    built = pending(group)
    yield group
    recorded = deductions(max(events - built, 0) // 20, managers, rng)
    group = [*recorded, *disputes(recorded)]
    del recorded
    built += pending(group)
    yield group
    tag = uuid.uuid4().hex[:8]
    while built < events:
        group = postings(min(events - built, POSTING_CHUNK), customers, rng, f"{tag}{built}")
        built += len(group)
        yield group
    del group


def seed(app: LedgerApplication, events: int, rng_seed: int = 7) -> int:
    """Appends about `events` events of the quarter through `record()`, SAVE_BATCH
    aggregates per append; returns how many events were appended."""
    app.ensure_rulebook()
    appended = 0
    with acting_as(AUDIT):
        for group in quarter(events, rng_seed):
            for start in range(0, len(group), SAVE_BATCH):
                appended += len(app.record(*group[start:start + SAVE_BATCH]).events)
    return appended

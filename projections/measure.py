"""Rebuild rate and peak memory of the projections, measured on a synthetic bank.

A scratch database (PostgreSQL: created, migrated and dropped here, used as the service
role; or a temporary SQLite file) is filled with N events shaped like a bank's quarter:
managers with targets, customers and their assignments, contribution postings, deductions,
and disputes, some of them decided. Then a full live rebuild (facts + live figures) runs in
a *child process*, so that its peak resident memory is its own and not the seeding's; the
child reports its timings as JSON and the parent reads the child's peak RSS from the OS.

Run it through `scripts/rebuild_rate` (a thin entry point).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from eventsourcing.domain import Aggregate

from ledger.application import LedgerApplication
from ledger.audit import AuditContext, acting_as
from ledger.contribution import Contribution
from ledger.customer import Customer
from ledger.deduction import Deduction
from ledger.dispute import Dispute
from ledger.manager import Manager
from persistence.schema import upgrade
from persistence.url import environment_for

DEFAULT_EVENTS = 100_000
DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
SAVE_BATCH = 500
"""Aggregates saved per append while seeding (bounded transactions)."""
AUDIT = AuditContext(actor="rebuild-rate", role="operator", request_id="measure-rebuild")
QUARTER = date(2026, 1, 1)
CODES = (("B1", 1), ("C7", 5), ("S3", 20), ("C9", 2))


# --- seeding ------------------------------------------------------------------------------


def _save(app: LedgerApplication, aggregates: Sequence[Aggregate]) -> int:
    saved = 0
    for start in range(0, len(aggregates), SAVE_BATCH):
        receipt = app.record(*aggregates[start:start + SAVE_BATCH])
        saved += len(receipt.events)
    return saved


def _people(managers: int, customers: int) -> tuple[list[Manager], list[Customer]]:
    people = []
    for m in range(managers):
        manager = Manager.register(business_id=f"M{m:05d}", name=f"Manager {m}", grade="ABC"[m % 3],
                                   unit="Branch")
        manager.set_target(period="2026Q1", incremental=Decimal(50000 + m), reason="plan")
        people.append(manager)
    clients = []
    for c in range(customers):
        customer = Customer.register(
            business_id=f"C{c:06d}", name=f"Customer {c}", customer_class="good",
            industry="retail", chain=None, group=None,
            last_year_contribution=Decimal(100000 + 37 * c),
        )
        customer.assign(manager_id=f"M{c % managers:05d}", effective_on=QUARTER, reason="opening")
        clients.append(customer)
    return people, clients


def _postings(count: int, customers: int, rng: random.Random, tag: str) -> list[Contribution]:
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


def _deductions(count: int, managers: int, rng: random.Random) -> list[Deduction]:
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


def _disputes(deductions: Sequence[Deduction], rng: random.Random) -> list[Aggregate]:
    """Disputes on every tenth deduction; half of them upheld (the deduction voided)."""
    changed: list[Aggregate] = []
    for n, deduction in enumerate(deductions[::10]):
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
    del rng
    return changed


def seed(app: LedgerApplication, events: int, rng_seed: int = 7) -> int:
    """Appends about `events` events of a synthetic bank; returns how many were appended."""
    rng = random.Random(rng_seed)
    app.ensure_rulebook()
    managers = max(events // 400, 2)
    customers = managers * 10
    with acting_as(AUDIT):
        people, clients = _people(managers, customers)
        appended = _save(app, people) + _save(app, clients)
        remaining = max(events - appended, 0)
        deductions = _deductions(remaining // 20, managers, rng)
        disputes = _disputes(deductions, rng)
        appended += _save(app, deductions) + _save(app, disputes)
        tag = uuid.uuid4().hex[:8]
        while appended < events:
            batch = min(events - appended, 10 * SAVE_BATCH)
            appended += _save(app, _postings(batch, customers, rng, tag + str(appended)))
    return appended


# --- the rebuild, in a child process ------------------------------------------------------


def rebuild_once(url: str, page: int) -> dict[str, Any]:
    """Runs a full live rebuild here and reports its timings (the child's side)."""
    from projections import runner

    app = LedgerApplication(env=environment_for(url))
    marks: dict[str, float] = {}

    def stage(name: str, total: int) -> Any:
        marks[name] = time.perf_counter()
        return lambda _n: None

    started = time.perf_counter()
    position = runner.rebuild_live(app, page=page, progress=stage)
    finished = time.perf_counter()
    facts_seconds = marks.get("managers", finished) - started
    return {
        "events": position,
        "seconds": round(finished - started, 3),
        "facts_seconds": round(facts_seconds, 3),
        "figures_seconds": round(finished - marks.get("managers", finished), 3),
        "events_per_second": round(position / (finished - started)),
        "facts_events_per_second": round(position / facts_seconds) if facts_seconds else None,
        "page": page,
    }


def measure_child(url: str, page: int) -> dict[str, Any]:
    """Runs `rebuild_once` in a child process; adds the child's peak RSS in MiB."""
    command = [sys.executable, "-m", "projections.measure", "--rebuild-only", url,
               "--page", str(page)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    # ru_maxrss of children is the largest child so far; ours is the only one measured.
    result["peak_rss_mib"] = round(max(peak_kib, before) / 1024, 1)
    return result


# --- databases ----------------------------------------------------------------------------


@contextmanager
def scratch_postgres(admin_url: str, role: str) -> Iterator[tuple[str, Callable[[], None]]]:
    """A migrated scratch database, dropped afterwards; yields the service role's URL and
    a function that vacuums the log as the owner."""
    from persistence.measure import admin_execute, with_database

    dbname = f"ledger_rebuild_rate_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin_execute(admin_url, f"CREATE DATABASE {dbname}")
    owner_url = with_database(admin_url, dbname)
    try:
        upgrade(owner_url)
        yield with_database(admin_url, dbname, user=role), lambda: admin_execute(
            owner_url, "VACUUM ANALYZE events"
        )
    finally:
        admin_execute(
            admin_url,
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            f"WHERE datname = '{dbname}' AND pid <> pg_backend_pid()",
            f"DROP DATABASE IF EXISTS {dbname}",
        )


@contextmanager
def scratch_sqlite() -> Iterator[tuple[str, Callable[[], None]]]:
    directory = tempfile.mkdtemp(prefix="ledger-rebuild-rate-")
    try:
        url = f"sqlite:///{os.path.join(directory, 'ledger.db')}"
        upgrade(url)
        yield url, lambda: None
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def measure(url: str, events: int, page: int, settle: Callable[[], None]) -> dict[str, Any]:
    app = LedgerApplication(env=environment_for(url))
    started = time.perf_counter()
    appended = seed(app, events)
    seeded = time.perf_counter() - started
    app.close()
    # A real log was written long before it is replayed, and has been vacuumed since; the
    # first reader of freshly bulk-written rows pays for setting their hint bits instead.
    settle()
    result = measure_child(url, page)
    result["seed_seconds"] = round(seeded, 1)
    if result["events"] < appended:
        raise RuntimeError(f"rebuilt {result['events']} of {appended} events")
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=DEFAULT_EVENTS)
    parser.add_argument("--page", type=int, default=2000)
    parser.add_argument("--backend", choices=("postgres", "sqlite"), default="postgres")
    parser.add_argument(
        "--admin-url", default=os.environ.get("LEDGER_MEASURE_PG_ADMIN_URL", DEFAULT_ADMIN_URL)
    )
    parser.add_argument(
        "--service-role", default=os.environ.get("LEDGER_SERVICE_ROLE", "ledger_service")
    )
    parser.add_argument("--rebuild-only", metavar="URL", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.rebuild_only:
        print(json.dumps(rebuild_once(args.rebuild_only, args.page)))
        return 0
    if not 1 <= args.events <= 10_000_000:
        parser.error("--events must be between 1 and 10,000,000")
    scratch = (
        scratch_postgres(args.admin_url, args.service_role)
        if args.backend == "postgres" else scratch_sqlite()
    )
    with scratch as (url, settle):
        result = measure(url, args.events, args.page, settle)
    result["backend"] = args.backend
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

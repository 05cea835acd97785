"""A big log, loaded fast: real encoded events of a synthetic bank quarter, in large appends.

The shape is bench/seed.py's quarter (managers with targets; ten customers each, assigned;
deductions, one in ten disputed and half of those upheld; the rest contribution postings),
built with the domain methods and encoded by the application's own mapper. Instead of one
`record()` per few hundred aggregates, the stored events go to our recorder's
`insert_events` LOAD_BATCH at a time: the same chain, positions and recording times as any
append (one recording time per append, so `known_at` cuts fall between LOAD_BATCH-sized
steps), without the application's per-save work. The quarter arrives a bounded group at a
time, so memory stays bounded however many events are asked for.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from eventsourcing.domain import Aggregate

from bench import seed
from bench.report import say
from ledger.application import LedgerApplication
from ledger.audit import acting_as
from persistence.schema import upgrade
from persistence.scratch import admin_execute, scratch_database, with_database
from persistence.url import environment_for

LOAD_BATCH = 5_000
"""Events per append while loading (one statement of a few MB)."""
SCRATCH_PREFIX = "ledger_bench_store"


@dataclass(frozen=True)
class Store:
    """A loaded scratch database: the service role's URL, and what it holds."""

    url: str
    owner_url: str
    events: int
    managers: int
    load_seconds: float
    first_recorded: datetime
    """When every manager and customer had been recorded (earlier, some are unknown)."""
    last_recorded: datetime

    def settle(self) -> None:
        # A real log was written long before it is read, and has been vacuumed since; the
        # first reader of freshly bulk-written rows would pay for setting hint bits instead.
        admin_execute(self.owner_url, "VACUUM ANALYZE events", "VACUUM ANALYZE event_chain")

    def analyze(self) -> None:
        """Planner statistics for every table (the read models a rebuild has just filled),
        as autovacuum would have gathered them by the time a rebuilt ledger is queried."""
        admin_execute(self.owner_url, "ANALYZE")


class Loader:
    """Encodes aggregates' pending events and appends them LOAD_BATCH at a time."""

    def __init__(self, app: LedgerApplication) -> None:
        self.app = app
        self.pending: list[Any] = []
        self.appended = 0

    def add(self, aggregates: Sequence[Aggregate]) -> None:
        to_stored = self.app.mapper.to_stored_event
        for aggregate in aggregates:
            self.pending.extend(to_stored(e) for e in aggregate.collect_events())
            if len(self.pending) >= LOAD_BATCH:
                self.flush()

    def flush(self) -> None:
        while self.pending:
            batch, self.pending = self.pending[:LOAD_BATCH], self.pending[LOAD_BATCH:]
            self.app.recorder.insert_events(batch)
            self.appended += len(batch)


def fill(app: LedgerApplication, events: int) -> tuple[int, datetime]:
    """Appends about `events` events of bench/seed.py's quarter; returns the number of
    managers and when the last of them (and of their customers) was recorded."""
    app.ensure_rulebook()
    loader = Loader(app)
    with acting_as(seed.AUDIT):
        groups = seed.quarter(events)
        loader.add(next(groups))  # every manager and customer
        loader.flush()
        head = int(app.recorder.max_notification_id() or 0)
        everyone_known = app.recorder.select_log(head - 1, 1)[0].recorded_at  # type: ignore[attr-defined]
        for group in groups:
            loader.add(group)
        loader.flush()
    return seed.managers_for(events), everyone_known


def last_recorded(url: str) -> datetime:
    import psycopg2

    conn = psycopg2.connect(url)
    try:
        with conn.cursor() as curs:
            curs.execute("SELECT max(recorded_at) FROM events")
            last: datetime = curs.fetchone()[0]
            return last
    finally:
        conn.close()


@contextmanager
def loaded(admin_url: str, role: str, events: int) -> Iterator[Store]:
    """A scratch PostgreSQL database holding about `events` events; dropped afterwards."""
    with scratch_database(admin_url, SCRATCH_PREFIX) as dbname:
        owner_url = with_database(admin_url, dbname)
        upgrade(owner_url)
        url = with_database(admin_url, dbname, user=role)
        app = LedgerApplication(env=environment_for(url))
        try:
            say(f"store: loading {events:,} events")
            started = time.perf_counter()
            managers, everyone_known = fill(app, events)
            seconds = time.perf_counter() - started
            head = int(app.recorder.max_notification_id() or 0)
        finally:
            app.close()
        store = Store(url, owner_url, head, managers, round(seconds, 1), everyone_known,
                      last_recorded(url))
        say(f"store: {head:,} events in {seconds:.0f} s; vacuuming")
        store.settle()
        yield store

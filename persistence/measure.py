"""Append rates of our event store beside raw-driver baselines, measured in one run.

For each back end (SQLite in a temporary file; PostgreSQL in a scratch database created,
migrated and dropped here, written as the service role) four rates are measured:

- ours, 1 event per commit: `LedgerApplication.record(manager)` for N new managers;
- ours, 100 events per commit: `LedgerApplication.record(*managers)` with 100 new managers;
- raw, 1 event per commit: one INSERT and a COMMIT per event, on the bare driver;
- raw, 100 events per commit: `executemany` (SQLite) / `execute_values` (psycopg2).

The raw baselines insert the same rows (real Manager events, same topic and state sizes)
into a plain table with the event table's columns, primary key and unique constraint, but
no secondary indexes, no hash chain, no append lock and no NOTIFY. Aggregates and raw rows
are built before the clock starts; each timing covers only the saves. Results are reported
as events per second and as ratios (ours / raw), never as bare claims.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg2
import psycopg2.extras

from ledger.application import LedgerApplication
from ledger.audit import AuditContext, acting_as
from ledger.manager import Manager
from persistence.records import to_micros
from persistence.schema import upgrade
from persistence.url import environment_for, libpq_dsn

DEFAULT_EVENTS = 10_000
BATCH = 100
WARM_UP = 20
DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
AUDIT = AuditContext(actor="append-rates", role="operator", request_id="measure-append-rates")

SQLITE_RAW_TABLE = """CREATE TABLE raw_events (
    position INTEGER PRIMARY KEY,
    originator_id TEXT NOT NULL,
    originator_version INTEGER NOT NULL,
    topic TEXT NOT NULL,
    state BLOB NOT NULL,
    recorded_at INTEGER NOT NULL,
    UNIQUE (originator_id, originator_version)
)"""

POSTGRES_RAW_TABLE = """CREATE TABLE raw_events (
    position bigint PRIMARY KEY,
    originator_id uuid NOT NULL,
    originator_version bigint NOT NULL,
    topic text NOT NULL,
    state bytea NOT NULL,
    recorded_at timestamptz NOT NULL,
    UNIQUE (originator_id, originator_version)
)"""

RAW_COLUMNS = "(position, originator_id, originator_version, topic, state, recorded_at)"

Row = tuple[Any, ...]


@dataclass(frozen=True)
class Rate:
    backend: str
    path: str
    per_commit: int
    events: int
    seconds: float

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else float("inf")

    @property
    def key(self) -> str:
        shape = "per_event" if self.per_commit == 1 else f"batch{self.per_commit}"
        return f"{self.backend}.{self.path}.{shape}"


def timed(run: Callable[[], None]) -> float:
    started = time.perf_counter()
    run()
    return time.perf_counter() - started


def chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def new_managers(prefix: str, count: int) -> list[Manager]:
    """New, unsaved managers, each with one pending event carrying the audit fields."""
    with acting_as(AUDIT):
        return [
            Manager.register(
                business_id=f"{prefix}-{n}", name=f"Manager {n}", grade="B", unit="Branch 1"
            )
            for n in range(count)
        ]


def sample_rows(app: LedgerApplication, count: int) -> list[Row]:
    """Rows shaped like the log's, from real Manager events (topic, state as stored)."""
    rows: list[Row] = []
    now = datetime.now(UTC)
    for position, manager in enumerate(new_managers(f"raw-{uuid.uuid4().hex[:6]}", count), 1):
        for pending in manager.collect_events():
            stored = app.mapper.to_stored_event(pending)
            rows.append(
                (position, stored.originator_id, stored.originator_version, stored.topic,
                 stored.state, now)
            )
    return rows


def measure_ours(app: LedgerApplication, backend: str, events: int) -> list[Rate]:
    """Our application: N saves of one event, and N/100 saves of 100 events."""
    for manager in new_managers(f"warm-{backend}", WARM_UP):
        app.record(manager)
    singles = new_managers(f"one-{backend}", events)
    batched = new_managers(f"hundred-{backend}", events)

    def one_per_commit() -> None:
        for manager in singles:
            app.record(manager)

    def hundred_per_commit() -> None:
        for chunk in chunks(batched, BATCH):
            app.record(*chunk)

    rates = [
        Rate(backend, "ours", 1, events, timed(one_per_commit)),
        Rate(backend, "ours", BATCH, events, timed(hundred_per_commit)),
    ]
    # The rates count what the log really holds, not what was asked for.
    appended = app.recorder.max_notification_id() or 0
    if appended != WARM_UP + 2 * events:
        msg = f"{backend}: expected {WARM_UP + 2 * events} events in the log, found {appended}"
        raise RuntimeError(msg)
    return rates


# --- SQLite ---------------------------------------------------------------------------


def library_synchronous(app: LedgerApplication) -> int:
    """The `PRAGMA synchronous` level of the library's own SQLite connections."""
    datastore = app.recorder.datastore  # type: ignore[attr-defined]
    with datastore.transaction(commit=False) as curs:
        curs.execute("PRAGMA synchronous")
        return int(curs.fetchone()[0])


SYNCHRONOUS_NAMES = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}


def measure_sqlite(events: int) -> tuple[list[Rate], dict[str, Any]]:
    directory = tempfile.mkdtemp(prefix="ledger-append-rates-")
    try:
        url = f"sqlite:///{os.path.join(directory, 'ledger.db')}"
        upgrade(url)
        app = LedgerApplication(env=environment_for(url))
        try:
            synchronous = library_synchronous(app)
            rates = measure_ours(app, "sqlite", events)
            rows = sample_rows(app, 2 * events)
        finally:
            app.close()
        rates += measure_raw_sqlite(os.path.join(directory, "raw.db"), rows, synchronous)
        return rates, {"sqlite_synchronous": SYNCHRONOUS_NAMES.get(synchronous, synchronous)}
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def measure_raw_sqlite(path: str, rows: list[Row], synchronous: int) -> list[Rate]:
    conn = sqlite3.connect(path, isolation_level=None)  # autocommit; we BEGIN/COMMIT
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={int(synchronous)}")
        conn.execute(SQLITE_RAW_TABLE)
        rows = [(p, o.hex, v, t, s, to_micros(r)) for p, o, v, t, s, r in rows]
        half = len(rows) // 2
        singles, batched = rows[:half], rows[half:]
        insert = f"INSERT INTO raw_events {RAW_COLUMNS} VALUES (?,?,?,?,?,?)"

        def one_per_commit() -> None:
            for row in singles:
                conn.execute("BEGIN")
                conn.execute(insert, row)
                conn.execute("COMMIT")

        def hundred_per_commit() -> None:
            for chunk in chunks(batched, BATCH):
                conn.execute("BEGIN")
                conn.executemany(insert, chunk)
                conn.execute("COMMIT")

        return [
            Rate("sqlite", "raw", 1, len(singles), timed(one_per_commit)),
            Rate("sqlite", "raw", BATCH, len(batched), timed(hundred_per_commit)),
        ]
    finally:
        conn.close()


# --- PostgreSQL -----------------------------------------------------------------------


def with_database(url: str, dbname: str, user: str | None = None) -> str:
    parts = urlsplit(libpq_dsn(url))
    netloc = parts.netloc
    if user is not None:
        netloc = f"{user}@{netloc.rsplit('@', 1)[-1]}"
    return urlunsplit((parts.scheme, netloc, f"/{dbname}", parts.query, parts.fragment))


def admin_execute(admin_url: str, *statements: str) -> None:
    conn = psycopg2.connect(admin_url, connect_timeout=5)
    conn.autocommit = True
    try:
        with conn.cursor() as curs:
            for statement in statements:
                curs.execute(statement)
    finally:
        conn.close()


@contextmanager
def scratch_database(admin_url: str) -> Iterator[str]:
    """A new database, created here and dropped afterwards whatever happens."""
    dbname = f"ledger_append_rates_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin_execute(admin_url, f"CREATE DATABASE {dbname}")
    try:
        yield dbname
    finally:
        admin_execute(
            admin_url,
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            f"WHERE datname = '{dbname}' AND pid <> pg_backend_pid()",
            f"DROP DATABASE IF EXISTS {dbname}",
        )


def measure_postgres(events: int, admin_url: str, role: str) -> tuple[list[Rate], dict[str, Any]]:
    with scratch_database(admin_url) as dbname:
        owner_url = with_database(admin_url, dbname)
        service_url = with_database(admin_url, dbname, user=role)
        upgrade(owner_url)
        admin_execute(
            owner_url, POSTGRES_RAW_TABLE, f"GRANT SELECT, INSERT ON raw_events TO {role}"
        )
        app = LedgerApplication(env=environment_for(service_url))
        try:
            rates = measure_ours(app, "postgres", events)
            rows = sample_rows(app, 2 * events)
        finally:
            app.close()
        rates += measure_raw_postgres(service_url, rows)
        conn = psycopg2.connect(service_url)
        try:
            with conn.cursor() as curs:
                curs.execute("SELECT current_user, current_setting('synchronous_commit')")
                user, synchronous_commit = curs.fetchone()
        finally:
            conn.close()
        return rates, {"postgres_user": user, "postgres_synchronous_commit": synchronous_commit}


def measure_raw_postgres(service_url: str, rows: list[Row]) -> list[Rate]:
    conn = psycopg2.connect(service_url)
    try:
        half = len(rows) // 2
        singles, batched = rows[:half], rows[half:]
        insert = f"INSERT INTO raw_events {RAW_COLUMNS} VALUES (%s,%s,%s,%s,%s,%s)"
        with conn.cursor() as curs:

            def one_per_commit() -> None:
                for row in singles:
                    curs.execute(insert, row)
                    conn.commit()

            def hundred_per_commit() -> None:
                for chunk in chunks(batched, BATCH):
                    psycopg2.extras.execute_values(
                        curs, f"INSERT INTO raw_events {RAW_COLUMNS} VALUES %s", chunk,
                        page_size=BATCH,
                    )
                    conn.commit()

            return [
                Rate("postgres", "raw", 1, len(singles), timed(one_per_commit)),
                Rate("postgres", "raw", BATCH, len(batched), timed(hundred_per_commit)),
            ]
    finally:
        conn.close()


# --- report ---------------------------------------------------------------------------

PATH_LABELS = {
    "ours": "ours: LedgerApplication.record",
    "raw": "raw driver, plain table",
}


def ratios(rates: Sequence[Rate]) -> dict[str, float]:
    by_key = {r.key: r.events_per_second for r in rates}
    found: dict[str, float] = {}
    for rate in rates:
        if rate.path != "ours":
            continue
        raw = by_key.get(rate.key.replace(".ours.", ".raw."))
        if raw:
            found[rate.key.replace(".ours.", ".") + ".ours_over_raw"] = round(
                rate.events_per_second / raw, 3
            )
    return found


def table(rates: Sequence[Rate]) -> str:
    ratio = ratios(rates)
    lines = [
        f"{'backend':<9} {'path':<31} {'events/commit':>13} {'events':>7} "
        f"{'seconds':>8} {'events/s':>9} {'ours/raw':>8}"
    ]
    for r in rates:
        key = r.key.replace(".ours.", ".") + ".ours_over_raw"
        shown = f"{ratio[key]:.3f}" if r.path == "ours" and key in ratio else ""
        lines.append(
            f"{r.backend:<9} {PATH_LABELS[r.path]:<31} {r.per_commit:>13} {r.events:>7} "
            f"{r.seconds:>8.2f} {r.events_per_second:>9.0f} {shown:>8}"
        )
    return "\n".join(lines)


def order(rates: list[Rate]) -> list[Rate]:
    return sorted(rates, key=lambda r: (r.backend != "sqlite", r.per_commit, r.path != "raw"))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="append_rates",
        description="Events/second of our event store beside raw-driver baselines, one run.",
    )
    parser.add_argument(
        "--events", type=int, default=DEFAULT_EVENTS,
        help=f"events per measurement (default {DEFAULT_EVENTS}); batch measurements use "
        f"events/{BATCH} commits",
    )
    parser.add_argument(
        "--admin-url", default=os.environ.get("LEDGER_MEASURE_PG_ADMIN_URL", DEFAULT_ADMIN_URL),
        help="PostgreSQL URL of a role that may CREATE DATABASE (the scratch database's owner); "
        "env LEDGER_MEASURE_PG_ADMIN_URL",
    )
    parser.add_argument(
        "--service-role", default=os.environ.get("LEDGER_SERVICE_ROLE", "ledger_service"),
        help="the role the migrations grant SELECT/INSERT on the log; the appends run as it",
    )
    parser.add_argument("--skip-postgres", action="store_true", help="measure SQLite only")
    args = parser.parse_args(argv)
    if args.events < BATCH or args.events % BATCH:
        parser.error(f"--events must be a positive multiple of {BATCH}")

    started = time.perf_counter()
    rates, settings = measure_sqlite(args.events)
    if not args.skip_postgres:
        try:
            pg_rates, pg_settings = measure_postgres(args.events, args.admin_url, args.service_role)
        except psycopg2.OperationalError as e:
            print(f"PostgreSQL not reachable at {args.admin_url}: {e}".strip(), file=sys.stderr)
            print("(use --skip-postgres to measure SQLite only)", file=sys.stderr)
            return 2
        rates += pg_rates
        settings.update(pg_settings)
    rates = order(rates)
    elapsed = time.perf_counter() - started

    print(f"append rates: {args.events} events per measurement, {BATCH} per batch commit")
    print(table(rates))
    print(
        "raw = same rows into a plain table (same columns, primary key and unique constraint; "
        "no secondary indexes, chain, lock or NOTIFY); settings: "
        + ", ".join(f"{k}={v}" for k, v in settings.items())
        + f"; total {elapsed:.1f} s"
    )
    print(
        json.dumps(
            {
                "events": args.events,
                "batch": BATCH,
                "unit": "events_per_second",
                "rates": {r.key: round(r.events_per_second, 1) for r in rates},
                "ratios": ratios(rates),
                "settings": settings,
            },
            sort_keys=True,
        )
    )
    return 0

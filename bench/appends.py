"""Append rates: our persistence modules, the library's own recorders and the bare drivers.

Three contenders per back end and shape (1 event per commit, 100 per commit):

- ours: `LedgerApplication.record(...)` on `persistence.postgres` / `persistence.sqlite`
  (hash chain, recording time, append lock, NOTIFY; as the service role on PostgreSQL);
- library: the same `LedgerApplication`, with the library's own persistence module
  (`eventsourcing.postgres` over psycopg 3 / `eventsourcing.sqlite`), `CREATE_TABLE=true`
  in its own scratch database or file, as the database owner (its `LOCK TABLE ... EXCLUSIVE`
  needs UPDATE/DELETE rights). `record()` passes an `append_hook` keyword, which the library
  ignores: checked below by counting the events it stored;
- raw: the rows of the same events on the bare driver into a plain table (primary key and
  unique constraint; no secondary index, chain, lock or NOTIFY): INSERT + COMMIT per event,
  `execute_values` / `executemany` per batch.

Aggregates and raw rows are built before any clock starts; the application paths still
encode their events inside the timing, as any save does. The run is split into rounds and
each round runs every contender in a rotated order, so a noisy neighbour that slows one
round slows all three; rates are total events over total seconds.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast
from urllib.parse import urlsplit

import psycopg2
import psycopg2.extras

from bench.report import Goal, Section, ratio, say
from ledger.application import LedgerApplication
from ledger.audit import AuditContext, acting_as
from ledger.manager import Manager
from ledger.store import LedgerStore
from persistence.records import to_micros
from persistence.schema import upgrade
from persistence.scratch import admin_execute, scratch_database, with_database
from persistence.url import environment_for

BATCH = 100
WARM_UP_COMMITS = 5
PATHS = ("raw", "library", "ours")
SCRATCH_PREFIX = "ledger_bench_appends"
AUDIT = AuditContext(actor="bench-appends", role="operator", request_id="bench-appends")

# The raw baselines' table: the log's columns, primary key and unique constraint, and
# nothing else (no secondary index, chain, lock or NOTIFY).
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
SYNCHRONOUS_NAMES = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}

Row = tuple[Any, ...]


@dataclass
class Contender:
    """One path at one shape: its commits, prepared in advance, and the time they took."""

    backend: str
    path: str
    per_commit: int
    units: Sequence[Any]
    commit: Callable[[Any], None]
    seconds: float = 0.0
    events: int = 0
    round_seconds: list[float] = field(default_factory=list)

    @property
    def shape(self) -> str:
        return "per_event" if self.per_commit == 1 else f"batch{self.per_commit}"

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0

    def warm_up(self) -> None:
        for unit in self.units[:WARM_UP_COMMITS]:
            self.commit(unit)

    def run_round(self, number: int, rounds: int) -> None:
        timed = self.units[WARM_UP_COMMITS:]
        share = timed[number * len(timed) // rounds:(number + 1) * len(timed) // rounds]
        commit = self.commit
        started = time.perf_counter()
        for unit in share:
            commit(unit)
        elapsed = time.perf_counter() - started
        self.seconds += elapsed
        self.round_seconds.append(elapsed)
        self.events += len(share) * self.per_commit


def race(contenders: Sequence[Contender], rounds: int) -> None:
    """Runs every contender's share of each round, rotating who goes first."""
    for contender in contenders:
        contender.warm_up()
    for number in range(rounds):
        shift = number % len(contenders)
        for contender in [*contenders[shift:], *contenders[:shift]]:
            contender.run_round(number, rounds)


def new_managers(prefix: str, count: int) -> list[Manager]:
    """New, unsaved managers, each with one pending event carrying the audit fields."""
    with acting_as(AUDIT):
        return [
            Manager.register(
                business_id=f"{prefix}-{n}", name=f"Manager {n}", grade="B", unit="Branch 1"
            )
            for n in range(count)
        ]


class OnTheLibrarysRecorder(LedgerApplication):
    """The same commands on the library's own recorder, for the baseline only: appends need
    nothing of the ledger's store port, which that recorder does not offer."""

    @staticmethod
    def store_of(recorder: object) -> LedgerStore:
        return cast(LedgerStore, recorder)


def sample_rows(app: LedgerApplication, count: int) -> list[Row]:
    """Rows shaped like the log's, from real Manager events (topic, state as stored)."""
    rows: list[Row] = []
    now = datetime.now(UTC)
    for position, manager in enumerate(new_managers(f"raw-{uuid.uuid4().hex[:6]}", count), 1):
        for pending in manager.collect_events():
            stored = app.mapper.to_stored_event(pending)
            rows.append((position, stored.originator_id, stored.originator_version,
                         stored.topic, stored.state, now))
    return rows


def units_for(path: str, per_event: int, batched: int) -> tuple[list[Any], list[Any]]:
    """New managers for an application path: singles, and BATCH-sized tuples."""
    singles = [(m,) for m in new_managers(f"{path}-one", per_event + WARM_UP_COMMITS)]
    many = new_managers(f"{path}-batch", batched + WARM_UP_COMMITS * BATCH)
    return singles, [tuple(many[i:i + BATCH]) for i in range(0, len(many), BATCH)]


def app_pair(backend: str, path: str, app: LedgerApplication, per_event: int,
             batched: int) -> list[Contender]:
    def save(unit: Sequence[Any]) -> None:
        app.record(*unit)

    singles, batches = units_for(path, per_event, batched)
    return [Contender(backend, path, 1, singles, save),
            Contender(backend, path, BATCH, batches, save)]


def raw_rows(app: LedgerApplication, per_event: int, batched: int) -> tuple[list[Any], list[Any]]:
    rows = sample_rows(app, per_event + batched + WARM_UP_COMMITS * (1 + BATCH))
    singles = rows[:per_event + WARM_UP_COMMITS]
    rest = rows[len(singles):]
    return singles, [rest[i:i + BATCH] for i in range(0, len(rest), BATCH)]


def appended(app: LedgerApplication) -> int:
    return int(app.recorder.max_notification_id() or 0)


def expect(what: str, found: int, wanted: int) -> None:
    # The rates count what the stores really hold, not what was asked for.
    if found != wanted:
        raise RuntimeError(f"{what}: expected {wanted} events stored, found {found}")


def total_events(contenders: Sequence[Contender], path: str) -> int:
    return sum(len(c.units) * c.per_commit for c in contenders if c.path == path)


# --- SQLite ---------------------------------------------------------------------------


def library_synchronous(app: LedgerApplication) -> int:
    """The `PRAGMA synchronous` level of the library's own SQLite connections."""
    datastore = app.recorder.datastore  # type: ignore[attr-defined]
    with datastore.transaction(commit=False) as curs:
        curs.execute("PRAGMA synchronous")
        return int(curs.fetchone()[0])


def sqlite_contenders(directory: str, per_event: int, batched: int,
                      stack: ExitStack) -> tuple[list[Contender], dict[str, Any]]:
    url = f"sqlite:///{os.path.join(directory, 'ours.db')}"
    upgrade(url)
    ours = LedgerApplication(env=environment_for(url))
    stack.callback(ours.close)
    library = OnTheLibrarysRecorder(env={
        "PERSISTENCE_MODULE": "eventsourcing.sqlite",
        "SQLITE_DBNAME": os.path.join(directory, "library.db"),
        "CREATE_TABLE": "true",
    })
    stack.callback(library.close)
    synchronous = library_synchronous(ours)
    conn = sqlite3.connect(os.path.join(directory, "raw.db"), isolation_level=None)
    stack.callback(conn.close)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={int(synchronous)}")
    conn.execute(SQLITE_RAW_TABLE)
    contenders = [*sqlite_raw(conn, ours, per_event, batched),
                  *app_pair("sqlite", "library", library, per_event, batched),
                  *app_pair("sqlite", "ours", ours, per_event, batched)]

    def check() -> None:
        expect("sqlite ours", appended(ours), total_events(contenders, "ours"))
        expect("sqlite library", appended(library), total_events(contenders, "library"))
        found = conn.execute("SELECT count(*) FROM raw_events").fetchone()[0]
        expect("sqlite raw", found, total_events(contenders, "raw"))

    stack.callback(check)
    return contenders, {"sqlite_synchronous": SYNCHRONOUS_NAMES.get(synchronous, synchronous),
                        "sqlite_journal_mode": "wal"}


def sqlite_raw(conn: sqlite3.Connection, app: LedgerApplication, per_event: int,
               batched: int) -> list[Contender]:
    singles, batches = raw_rows(app, per_event, batched)

    def encoded(row: Sequence[Any]) -> tuple[Any, ...]:
        position, originator, version, topic, state, recorded_at = row
        return (position, originator.hex, version, topic, state, to_micros(recorded_at))

    insert = f"INSERT INTO raw_events {RAW_COLUMNS} VALUES (?,?,?,?,?,?)"

    def one(row: Sequence[Any]) -> None:
        conn.execute("BEGIN")
        conn.execute(insert, row)
        conn.execute("COMMIT")

    def many(rows: Sequence[Sequence[Any]]) -> None:
        conn.execute("BEGIN")
        conn.executemany(insert, rows)
        conn.execute("COMMIT")

    return [
        Contender("sqlite", "raw", 1, [encoded(r) for r in singles], one),
        Contender("sqlite", "raw", BATCH, [[encoded(r) for r in b] for b in batches], many),
    ]


# --- PostgreSQL -----------------------------------------------------------------------


def library_postgres_env(admin_url: str, dbname: str) -> dict[str, str]:
    """The library's own keys (it takes no DSN), as the database's owner."""
    parts = urlsplit(admin_url)
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": dbname,
        "POSTGRES_HOST": parts.hostname or "127.0.0.1",
        "POSTGRES_PORT": str(parts.port or 5432),
        "POSTGRES_USER": parts.username or "postgres",
        "POSTGRES_PASSWORD": parts.password or "",
        "CREATE_TABLE": "true",
    }


def postgres_contenders(admin_url: str, role: str, per_event: int, batched: int,
                        stack: ExitStack) -> tuple[list[Contender], dict[str, Any]]:
    ours_db = stack.enter_context(scratch_database(admin_url, SCRATCH_PREFIX))
    library_db = stack.enter_context(scratch_database(admin_url, SCRATCH_PREFIX))
    upgrade(with_database(admin_url, ours_db))
    admin_execute(with_database(admin_url, ours_db), POSTGRES_RAW_TABLE,
                  f"GRANT SELECT, INSERT ON raw_events TO {role}")
    service_url = with_database(admin_url, ours_db, user=role)
    ours = LedgerApplication(env=environment_for(service_url))
    stack.callback(ours.close)
    library = OnTheLibrarysRecorder(env=library_postgres_env(admin_url, library_db))
    stack.callback(library.close)
    conn = psycopg2.connect(service_url)
    stack.callback(conn.close)
    contenders = [*postgres_raw(conn, ours, per_event, batched),
                  *app_pair("postgres", "library", library, per_event, batched),
                  *app_pair("postgres", "ours", ours, per_event, batched)]

    def check() -> None:
        expect("postgres ours", appended(ours), total_events(contenders, "ours"))
        expect("postgres library", appended(library), total_events(contenders, "library"))
        with conn.cursor() as curs:
            curs.execute("SELECT count(*) FROM raw_events")
            expect("postgres raw", curs.fetchone()[0], total_events(contenders, "raw"))
        conn.commit()

    stack.callback(check)
    with conn.cursor() as curs:
        curs.execute("SELECT current_setting('synchronous_commit'), "
                     "current_setting('server_version')")
        synchronous_commit, version = curs.fetchone()
    conn.commit()
    return contenders, {"postgres_synchronous_commit": synchronous_commit,
                        "postgres_version": version, "postgres_ours_user": role,
                        "postgres_library_user": urlsplit(admin_url).username or "postgres"}


def postgres_raw(conn: Any, app: LedgerApplication, per_event: int,
                 batched: int) -> list[Contender]:
    singles, batches = raw_rows(app, per_event, batched)
    curs = conn.cursor()
    insert = f"INSERT INTO raw_events {RAW_COLUMNS} VALUES (%s,%s,%s,%s,%s,%s)"
    insert_many = f"INSERT INTO raw_events {RAW_COLUMNS} VALUES %s"

    def one(row: Sequence[Any]) -> None:
        curs.execute(insert, row)
        conn.commit()

    def many(rows: Sequence[Sequence[Any]]) -> None:
        psycopg2.extras.execute_values(curs, insert_many, rows, page_size=BATCH)
        conn.commit()

    return [Contender("postgres", "raw", 1, singles, one),
            Contender("postgres", "raw", BATCH, batches, many)]


# --- the section ----------------------------------------------------------------------


@contextmanager
def temporary_directory() -> Iterator[str]:
    directory = tempfile.mkdtemp(prefix="ledger-bench-appends-")
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def run(admin_url: str | None, role: str, per_event: int, batched: int,
        rounds: int) -> Section:
    section = Section("append", "Appends through the application (events/s)",
                      ("backend", "path", "events/commit", "events", "seconds", "events/s",
                       "ours/this"))
    settings: dict[str, Any] = {"rounds": rounds, "batch": BATCH}
    for backend in ("sqlite", "postgres"):
        if backend == "postgres" and admin_url is None:
            continue
        say(f"appends on {backend}: {per_event} single saves and {batched} events in batches "
            f"of {BATCH}, per path, in {rounds} interleaved rounds")
        with ExitStack() as stack:
            if backend == "sqlite":
                directory = stack.enter_context(temporary_directory())
                contenders, found = sqlite_contenders(directory, per_event, batched, stack)
            else:
                contenders, found = postgres_contenders(admin_url or "", role, per_event,
                                                        batched, stack)
            settings.update(found)
            for shape in (1, BATCH):
                race([c for c in contenders if c.per_commit == shape], rounds)
        # Leaving the stack ran the checks: every store holds exactly what was timed.
        describe(section, contenders)
    section.metrics["settings"] = settings
    section.notes.append(
        "ours = LedgerApplication on our module (chain, recorded_at, append lock, NOTIFY); "
        "library = the same application on the library's module (eventsourcing.postgres via "
        "psycopg 3 / eventsourcing.sqlite); raw = the same rows on the bare driver into a "
        "plain table. Interleaved rounds; rates = events / seconds summed over rounds."
    )
    return section


def describe(section: Section, contenders: Sequence[Contender]) -> None:
    by = {(c.path, c.per_commit): c for c in contenders}
    for shape in (1, BATCH):
        ours = by[("ours", shape)]
        for path in PATHS:
            c = by[(path, shape)]
            key = f"{c.backend}.{c.path}.{c.shape}"
            section.metrics[f"{key}.events_per_s"] = round(c.rate, 1)
            section.rows.append((c.backend, c.path, shape, c.events, round(c.seconds, 2),
                                 round(c.rate, 1), ratio(ours.rate, c.rate)))
        for base in ("raw", "library"):
            other = by[(base, shape)]
            key = f"{ours.backend}.{ours.shape}.ours_over_{base}"
            section.metrics[key] = ratio(ours.rate, other.rate)
            paired = zip(ours.round_seconds, other.round_seconds, strict=True)
            rounds = [o / s for s, o in paired if s]
            section.metrics[key + ".per_round_range"] = [round(min(rounds), 3),
                                                          round(max(rounds), 3)]
        section.metrics[f"{ours.backend}.{ours.shape}.library_over_raw"] = ratio(
            by[("library", shape)].rate, by[("raw", shape)].rate)
        judge(section, ours.backend, ours.shape)


# The goals (issue 18), named as the JSON line's metrics: ours over the bare
# driver per back end and shape, and, for PostgreSQL batches, ours over the library.
OVER_RAW_GOALS = {"per_event": 0.6, f"batch{BATCH}": 0.8}
OVER_LIBRARY_GOALS = {("postgres", f"batch{BATCH}"): 2.0}


def judge(section: Section, backend: str, shape: str) -> None:
    for base, target in (("raw", OVER_RAW_GOALS.get(shape)),
                         ("library", OVER_LIBRARY_GOALS.get((backend, shape)))):
        if target is None:
            continue
        key = f"{backend}.{shape}.ours_over_{base}"
        section.goals.append(Goal(f"append.{key}", section.metrics[key], target, "x"))

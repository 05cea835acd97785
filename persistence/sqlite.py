"""SQLite persistence: the library's SQLite recorders, extended with our event-log table.

The library keys notifications by rowid; we store an explicit `position`, the recording
time and the hash-chain link, and run appends in `BEGIN IMMEDIATE` transactions so that
writers in several processes (gunicorn workers) serialise on SQLite's write lock before
they read the head they extend. Tables come from `migrations/`.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from itertools import count
from typing import Any
from uuid import UUID

from eventsourcing import sqlite as library_sqlite
from eventsourcing.persistence import (
    AggregateRecorder,
    ApplicationRecorder,
    ListenNotifySubscription,
    Notification,
    ProcessRecorder,
    StoredEvent,
    Subscription,
    Tracking,
    Transcoder,
)
from eventsourcing.sqlite import (
    SQLiteAggregateRecorder,
    SQLiteApplicationRecorder,
    SQLiteConnection,
    SQLiteCursor,
    SQLiteDatastore,
    SQLiteTrackingRecorder,
    SQLiteTransaction,
)
from eventsourcing.utils import strtobool

from ledger.store import Appended, StoredRequest
from persistence.records import (
    HEAD_COLUMNS,
    IDEMPOTENCY_COLUMNS,
    PREPARED,
    ChainInput,
    Head,
    LogRow,
    Planned,
    Prepared,
    append_of,
    appended_of,
    from_micros,
    idempotency_values,
    originator_text,
    plan_links,
    plan_seals,
    prepare_append,
    to_micros,
)
from persistence.seal import Seal
from persistence.transcoder import transcoder_of


class ImmediateTransaction(SQLiteTransaction):
    """Like the library's transaction, but takes SQLite's write lock at BEGIN."""

    def __enter__(self) -> SQLiteCursor:
        cursor = self.connection.cursor()
        cursor.execute("BEGIN IMMEDIATE")
        return cursor


@contextlib.contextmanager
def write_transaction(datastore: SQLiteDatastore) -> Iterator[SQLiteCursor]:
    connection: SQLiteConnection
    with datastore.get_connection(commit=True) as connection:
        with ImmediateTransaction(connection, commit=True) as curs, curs:
            yield curs


def _migrate(datastore: SQLiteDatastore) -> None:
    from persistence.schema import upgrade  # noqa: PLC0415 - only when asked to create

    upgrade("sqlite:///" + datastore.pool.db_name.removeprefix("file:"))


class SqliteAggregateRecorder(SQLiteAggregateRecorder):
    """Stores events without positions: used for snapshots."""

    def __init__(self, datastore: SQLiteDatastore, events_table_name: str = "snapshots"):
        super().__init__(datastore, events_table_name)

    def construct_create_table_statements(self) -> list[str]:
        return []

    def create_table(self) -> None:
        _migrate(self.datastore)


class SqliteApplicationRecorder(SqliteAggregateRecorder, SQLiteApplicationRecorder):
    """The event log on SQLite: positions, recording time and chain links, atomically."""

    def __init__(self, datastore: SQLiteDatastore, events_table_name: str = "events"):
        SqliteAggregateRecorder.__init__(self, datastore, events_table_name)

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        # Digested before BEGIN IMMEDIATE takes the write lock: nothing of it needs the head.
        prepared = prepare_append(stored_events)
        with write_transaction(self.datastore) as c:
            return self._insert_events(c, stored_events, **kwargs, **{PREPARED: prepared})

    def _insert_events(
        self, c: SQLiteCursor, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        if not stored_events:
            return []
        prepared = kwargs.get(PREPARED) or prepare_append(stored_events)
        append = append_of(kwargs)
        head = self._head(c)
        if append is not None and append.assumed is not None:
            append.check_assumed(self._version_of(c, append.assumed.originator_id))
        planned = plan_links(head, datetime.now(UTC), prepared)
        seals = plan_seals(head, stored_events, planned.links, prepared.keyring)
        self._write_events(c, prepared, planned, seals)
        if append is not None:
            if append.idempotency is not None:
                values = idempotency_values(append.idempotency, planned)
                c.execute(f"INSERT INTO idempotency ({', '.join(IDEMPOTENCY_COLUMNS)}) "
                          f"VALUES ({', '.join('?' * len(values))})",
                          [_sqlite_value(v) for v in values])
            # Handed back only once the statements succeeded; the commit follows.
            append.assigned.extend(appended_of(prepared, planned))
        return list(range(planned.first, planned.last + 1))

    def _head(self, c: SQLiteCursor) -> Head:
        c.execute(
            "SELECT e.position, e.recorded_at, ch.link, ch.key_id "
            f"FROM {self.events_table_name} e "
            "LEFT JOIN event_chain ch ON ch.position = e.position "
            "ORDER BY e.position DESC LIMIT 1"
        )
        row = c.fetchone()
        if row is None:
            return Head()
        return Head(position=row[0], recorded_at=from_micros(row[1]), link=bytes(row[2]),
                    key_id=row[3])

    def _version_of(self, c: SQLiteCursor, originator_id: UUID) -> int | None:
        """An assumed aggregate's last version, under the write lock (ledger.store.Assumed)."""
        c.execute(f"SELECT max(originator_version) FROM {self.events_table_name} "
                  "WHERE originator_id = ?", (originator_id.hex,))
        row = c.fetchone()
        return None if row is None or row[0] is None else int(row[0])

    def _write_events(
        self, c: SQLiteCursor, prepared: Prepared, planned: Planned, seals: Sequence[Seal | None],
    ) -> None:
        recorded_micros = to_micros(planned.recorded_at)  # one time for the append
        c.executemany(
            f"INSERT INTO {self.events_table_name} (position, originator_id, "
            "originator_version, topic, state, recorded_at) VALUES (?,?,?,?,?,?)",
            [
                (position, originator, s.originator_version, s.topic, s.state, recorded_micros)
                for position, originator, s in zip(
                    count(planned.first), prepared.originators, prepared.stored_events)
            ],
        )
        c.executemany(
            "INSERT INTO event_chain (position, link, key_id, seal) VALUES (?,?,?,?)",
            [(position, link, *_seal_values(seal))
             for position, link, seal in zip(count(planned.first), planned.links, seals)],
        )

    def select_notifications(
        self,
        start: int | None,
        limit: int,
        stop: int | None = None,
        topics: Sequence[str] = (),
        *,
        inclusive_of_start: bool = True,
    ) -> Sequence[Notification]:
        clauses: list[str] = []
        params: list[Any] = []
        if start is not None:
            clauses.append("position >= ?" if inclusive_of_start else "position > ?")
            params.append(start)
        if stop is not None:
            clauses.append("position <= ?")
            params.append(stop)
        if topics:
            clauses.append(f"topic IN ({','.join('?' * len(topics))})")
            params.extend(topics)
        where = (" WHERE " + " AND ".join(clauses)) if clauses else ""
        params.append(limit)
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                "SELECT position, originator_id, originator_version, topic, state "
                f"FROM {self.events_table_name}{where} ORDER BY position LIMIT ?",
                params,
            )
            return [
                Notification(
                    id=row[0],
                    originator_id=self.convert_originator_id(row[1]),
                    originator_version=row[2],
                    topic=row[3],
                    state=bytes(row[4]),
                )
                for row in c.fetchall()
            ]

    def max_notification_id(self) -> int | None:  # type: ignore[override]
        with self.datastore.transaction(commit=False) as c:
            c.execute(f"SELECT MAX(position) FROM {self.events_table_name}")
            value = c.fetchone()[0]
            return None if value is None else int(value)

    def subscribe(
        self, gt: int | None = None, topics: Sequence[str] = ()
    ) -> Subscription[ApplicationRecorder]:
        return PollingSubscription(recorder=self, gt=gt, topics=topics)

    def select_log(self, after: int, limit: int) -> list[LogRow]:
        """The log after a position, in order, with recording times and chain links."""
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                "SELECT e.position, e.originator_id, e.originator_version, e.topic, e.state, "
                f"e.recorded_at, ch.link FROM {self.events_table_name} e "
                "LEFT JOIN event_chain ch ON ch.position = e.position "
                "WHERE e.position > ? ORDER BY e.position LIMIT ?",
                (after, limit),
            )
            return [
                LogRow(r[0], self.convert_originator_id(r[1]), r[2], r[3], bytes(r[4]),
                       from_micros(r[5]), None if r[6] is None else bytes(r[6]))
                for r in c.fetchall()
            ]

    def select_chain_inputs(self, after: int, limit: int) -> list[ChainInput]:
        """What verify hashes, page by page (SQLite has no SHA-256, so it is done here)."""
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                "SELECT e.position, e.originator_id, e.originator_version, e.topic, e.state, "
                f"e.recorded_at, ch.link, ch.key_id, ch.seal FROM {self.events_table_name} e "
                "LEFT JOIN event_chain ch ON ch.position = e.position "
                "WHERE e.position > ? ORDER BY e.position LIMIT ?",
                (after, limit),
            )
            return [
                ChainInput(r[0], r[1], r[2], r[3], hashlib.sha256(r[4]).digest(), r[5], r[6],
                           r[7], None if r[8] is None else bytes(r[8]))
                for r in c.fetchall()
            ]

    def select_heads(self, limit: int) -> list[tuple[Any, ...]]:
        """The signed heads kept in `chain_heads`, highest position first (see head.py)."""
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                f"SELECT {', '.join(HEAD_COLUMNS)} FROM chain_heads "
                "ORDER BY position DESC, exported_at DESC LIMIT ?",
                (limit,),
            )
            return [tuple(r) for r in c.fetchall()]

    def select_links(self, after: int, up_to: int | None, limit: int) -> list[tuple[int, bytes]]:
        """Chain links after a position (up to one, if given), in order."""
        bound = "" if up_to is None else " AND position <= ?"
        params = (after,) if up_to is None else (after, up_to)
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                f"SELECT position, link FROM event_chain WHERE position > ?{bound} "
                "ORDER BY position LIMIT ?",
                (*params, limit),
            )
            return [(r[0], bytes(r[1])) for r in c.fetchall()]

    def select_recorded(self, originator_id: UUID | str) -> list[tuple[int, int, datetime]]:
        """(version, position, recorded_at) of each event of one aggregate, in order."""
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                "SELECT originator_version, position, recorded_at "
                f"FROM {self.events_table_name} WHERE originator_id = ? "
                "ORDER BY originator_version",
                (originator_text(originator_id),),
            )
            return [(r[0], r[1], from_micros(r[2])) for r in c.fetchall()]

    def position_known_at(self, instant: datetime) -> int:
        """The last position recorded at or before `instant` (0 before the first event)."""
        with self.datastore.transaction(commit=False) as c:
            # As on PostgreSQL: the last position of the latest recording time at or
            # before `instant` (recording times never decrease along the log).
            c.execute(
                f"SELECT max(position) FROM {self.events_table_name} WHERE recorded_at = "
                f"(SELECT max(recorded_at) FROM {self.events_table_name} WHERE recorded_at <= ?)",
                (to_micros(instant),),
            )
            value = c.fetchone()[0]
            return 0 if value is None else int(value)


    def select_appended(self, first: int, last: int) -> list[Appended]:
        """What was assigned to the events at positions first..last, in order."""
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                "SELECT e.position, e.recorded_at, ch.link, e.originator_id, "
                f"e.originator_version, e.topic FROM {self.events_table_name} e "
                "JOIN event_chain ch ON ch.position = e.position "
                "WHERE e.position BETWEEN ? AND ? ORDER BY e.position",
                (first, last),
            )
            return [Appended(r[0], from_micros(r[1]), bytes(r[2]),
                             self.convert_originator_id(r[3]), r[4], r[5])
                    for r in c.fetchall()]

    def existing_originators(self, ids: Sequence[UUID]) -> set[UUID]:
        """Which of these aggregate ids have events, in one query (not one per id)."""
        if not ids:
            return set()
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                f"SELECT DISTINCT originator_id FROM {self.events_table_name} "
                f"WHERE originator_id IN ({','.join('?' * len(ids))})",
                [i.hex for i in ids],
            )
            return {UUID(hex=str(r[0])) for r in c.fetchall()}

    def find_request(self, scope: str, key: str) -> StoredRequest | None:
        """The idempotency record of (scope, key), if one was stored."""
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                "SELECT request_hash, status_code, response, first_position, position "
                "FROM idempotency WHERE scope = ? AND idem_key = ?",
                (scope, key),
            )
            row = c.fetchone()
        if row is None:
            return None
        return StoredRequest(str(row[0]), int(row[1]), bytes(row[2]), row[3], row[4])


def _seal_values(seal: Seal | None) -> tuple[str | None, bytes | None]:
    return (None, None) if seal is None else (seal.key_id, seal.mac)


def _sqlite_value(value: Any) -> Any:
    # SQLite has no timestamp type: instants are stored as epoch microseconds.
    if isinstance(value, datetime):
        return to_micros(value)
    if isinstance(value, UUID):
        return value.hex
    return value


class PollingSubscription(ListenNotifySubscription[SqliteApplicationRecorder]):
    """SQLite cannot notify across processes, so a follower polls every 100 ms."""

    POLL_INTERVAL = 0.1

    def __init__(
        self, recorder: SqliteApplicationRecorder, gt: int | None = None, topics: Sequence[str] = ()
    ) -> None:
        super().__init__(recorder=recorder, gt=gt, topics=topics)
        self._ticker = threading.Thread(target=self._tick, daemon=True)
        self._ticker.start()

    def _tick(self) -> None:
        while not self._has_been_stopped:
            self._has_been_notified.set()
            time.sleep(self.POLL_INTERVAL)

    def __exit__(self, *args: object, **kwargs: Any) -> None:
        try:
            super().__exit__(*args, **kwargs)
        finally:
            self._ticker.join()


class SqliteTrackingRecorder(SQLiteTrackingRecorder):
    """The library's single-row tracking recorder, on the table our migrations create."""

    def construct_create_table_statements(self) -> list[str]:
        return []

    def create_table(self) -> None:
        _migrate(self.datastore)


class SqliteProcessRecorder(SqliteTrackingRecorder, SqliteApplicationRecorder, ProcessRecorder):
    def __init__(self, datastore: SQLiteDatastore) -> None:
        # The cooperative chain of __init__ reaches the application recorder's too.
        super().__init__(datastore)

    def _insert_events(
        self, c: SQLiteCursor, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        returning = SqliteApplicationRecorder._insert_events(self, c, stored_events, **kwargs)
        tracking: Tracking | None = kwargs.get("tracking")
        if tracking is not None:
            self._insert_tracking(c, tracking)
        return returning


# The library finds a module's factory by scanning it for factory classes, so the
# library's own factory is referenced through its module, never imported by name.
class Factory(library_sqlite.SQLiteFactory):
    """Builds our SQLite recorders; tables are created only when CREATE_TABLE says so."""

    aggregate_recorder_class = SqliteAggregateRecorder
    application_recorder_class = SqliteApplicationRecorder
    tracking_recorder_class = SqliteTrackingRecorder
    process_recorder_class = SqliteProcessRecorder  # type: ignore[assignment]

    def transcoder(self) -> Transcoder:
        # The library's JSON, byte for byte, a third cheaper to encode (persistence/transcoder.py).
        return transcoder_of(self.env.get(self.TRANSCODER_TOPIC))

    def aggregate_recorder(self, purpose: str = "events") -> AggregateRecorder:
        recorder = self.aggregate_recorder_class(self.datastore, "snapshots")
        if self.env_create_table():
            recorder.create_table()
        return recorder

    def env_create_table(self) -> bool:
        # Production never creates tables implicitly: migrations do (DESIGN §8).
        return bool(strtobool(self.env.get(self.CREATE_TABLE) or "no"))

    def process_recorder(self) -> ProcessRecorder:
        recorder = SqliteProcessRecorder(self.datastore)
        if self.env_create_table():
            recorder.create_table()
        return recorder


__all__ = [
    "Factory",
    "SqliteAggregateRecorder",
    "SqliteApplicationRecorder",
    "SqliteProcessRecorder",
    "SqliteTrackingRecorder",
]

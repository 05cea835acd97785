"""PostgreSQL persistence through psycopg2, on the eventsourcing library's recorder interfaces.

Why our own module rather than the library's (see DESIGN §8):
- the hash-chain link, the recording time and any idempotency record commit in the same
  transaction as the events they belong to;
- appends are ordered by a transaction-scoped advisory lock instead of `LOCK TABLE ...
  EXCLUSIVE`, so the service role needs only SELECT and INSERT on the event log;
- positions are assigned as head + 1 under that lock: gap-free, and equal to commit order;
- a batch goes in one prepared statement, each column as one array (persistence/arrays.py).
Tables come from `migrations/`; nothing here creates them unless CREATE_TABLE asks for it.
"""

from __future__ import annotations

import contextlib
import select
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import Any, NamedTuple
from uuid import UUID

import psycopg2
import psycopg2.errors
import psycopg2.extensions
import psycopg2.extras
from eventsourcing.persistence import (
    AggregateRecorder,
    ApplicationRecorder,
    Connection,
    ConnectionPool,
    Cursor,
    DatabaseError,
    DataError,
    InfrastructureFactory,
    IntegrityError,
    InterfaceError,
    InternalError,
    ListenNotifySubscription,
    Notification,
    NotSupportedError,
    OperationalError,
    PersistenceError,
    ProcessRecorder,
    ProgrammingError,
    StoredEvent,
    Subscription,
    Tracking,
    TrackingRecorder,
    Transcoder,
)
from eventsourcing.utils import Environment, EnvType, resolve_topic, strtobool

from ledger.store import Append, Appended, StoredRequest
from persistence.arrays import bigint_array, bytea_array, text_array
from persistence.records import (
    HEAD_COLUMNS,
    IDEMPOTENCY_COLUMNS,
    ChainInput,
    Head,
    LogRow,
    Planned,
    Prepared,
    append_of,
    appended_of,
    idempotency_known_values,
    plan_links,
    plan_seals,
    prepare_append,
)
from persistence.seal import Seal, announced_key
from persistence.transcoder import transcoder_of

APPEND_LOCK_KEY = 7_300_417_001
"""The advisory-lock key that serialises appends to the event log (any fixed bigint)."""

NOTIFY_CHANNEL = "ledger_events"

# The stubs leave register_uuid untyped; it takes no arguments here.
psycopg2.extras.register_uuid()  # type: ignore[no-untyped-call]

_ERROR_MAP: tuple[tuple[type[Exception], type[PersistenceError]], ...] = (
    (psycopg2.IntegrityError, IntegrityError),
    (psycopg2.DataError, DataError),
    (psycopg2.OperationalError, OperationalError),
    (psycopg2.InternalError, InternalError),
    (psycopg2.ProgrammingError, ProgrammingError),
    (psycopg2.NotSupportedError, NotSupportedError),
    (psycopg2.InterfaceError, InterfaceError),
    (psycopg2.DatabaseError, DatabaseError),
    (psycopg2.Error, PersistenceError),
)


def translate(error: Exception) -> PersistenceError:
    """Map a psycopg2 error onto the library's error tree (which callers catch)."""
    for source, target in _ERROR_MAP:
        if isinstance(error, source):
            return target(error)
    return PersistenceError(error)


class PgCursor(Cursor):
    def __init__(self, cursor: psycopg2.extensions.cursor) -> None:
        self.raw = cursor

    def execute(self, statement: str | bytes, params: Any = None) -> None:
        self.raw.execute(statement, params)

    def fetchall(self) -> Any:
        return self.raw.fetchall()

    def fetchone(self) -> Any:
        return self.raw.fetchone()


class TxCursor:
    """A psycopg2 cursor that opens its transaction with the first statement it sends,
    and can close it with the last (`commit=True`), saving two round trips.

    When a statement finds its connection dead and nothing of the transaction can have
    committed (it is a read, or a write's first statement, and carries no COMMIT), the
    cursor moves to a fresh connection and sends it again, once. Anything later fails:
    whether the server committed is then unknown, and only the caller can tell.
    """

    def __init__(
        self,
        conn: PgConnection,
        *,
        begin: bool,
        renew: Callable[[], PgConnection] | None = None,
    ) -> None:
        self.conn = conn
        self.raw = conn.raw.cursor()
        self.began = False
        self.committed = False
        self._begin = begin
        self._renew = renew

    def prepare(self, name: str, statement: str) -> bool:
        """Makes `EXECUTE name` available on this cursor's connection (once per session);
        False when it is not, because the transaction began before it was asked for.

        Sent on its own, before the transaction's first statement: a prepared statement
        outlives the transaction it was created in, so it is not created inside one.
        """
        if name in self.conn.prepared:
            return True
        if self.began:
            return False
        try:
            self.raw.execute(f"PREPARE {name} AS {statement}")
        except psycopg2.Error:
            if not self._may_resend(commit=False):
                raise
            self._move()
            return self.prepare(name, statement)  # the new connection may have it already
        self.conn.prepared[name] = statement
        return True

    def execute(
        self, statement: str | bytes, params: Any = None, *, commit: bool = False,
        then: bytes = b"",
    ) -> None:
        """Sends `statement` (with BEGIN before it, on a transaction's first), and COMMIT
        after it when `commit`; `then`, a read after the COMMIT, rides along (its rows
        are the ones fetched)."""
        sql = self.raw.mogrify(statement, params) if params is not None else statement
        if isinstance(sql, str):
            sql = sql.encode()
        if self._begin and not self.began:
            sql = b"BEGIN; " + sql
            self.began = True
        elif self._begin:
            self._renew = None  # the transaction has done work on this connection
        if commit:
            sql += b"; COMMIT" + then
        try:
            self.raw.execute(sql)
        except psycopg2.Error:
            if not self._may_resend(commit=commit):
                raise
            self._move()
            self.raw.execute(sql)
        self.committed = commit

    def _may_resend(self, *, commit: bool) -> bool:
        # Only a connection psycopg2 has found dead (closed == 2) is worth a new one: any
        # other error would recur there. A statement carrying COMMIT may have committed.
        return self._renew is not None and not commit and self.raw.connection.closed == 2

    def _move(self) -> None:
        """Onto a fresh connection, with the statements this one had prepared."""
        renew, self._renew = self._renew, None
        assert renew is not None, "resent twice"
        carried = dict(self.conn.prepared)
        self.conn = renew()
        self.raw = self.conn.raw.cursor()
        for name, statement in carried.items():
            if name not in self.conn.prepared:
                self.raw.execute(f"PREPARE {name} AS {statement}")
                self.conn.prepared[name] = statement

    def mogrify(self, statement: str | bytes, params: Any) -> bytes:
        return bytes(self.raw.mogrify(statement, params))

    def fetchone(self) -> Any:
        return self.raw.fetchone()

    def fetchall(self) -> Any:
        return self.raw.fetchall()

    @property
    def rowcount(self) -> int:
        return int(self.raw.rowcount)


class PgConnection(Connection[PgCursor]):
    def __init__(
        self, raw: psycopg2.extensions.connection, max_age: float | None, generation: int = 0
    ) -> None:
        super().__init__(max_age=max_age)
        self.raw = raw
        self.prepared: dict[str, str] = {}
        """Statements prepared in this session, by name (re-prepared if a cursor moves)."""
        self.generation = generation
        """The pool's generation when this connection was last known to be alive."""
        self.idle_since = time.monotonic()

    @property
    def closed(self) -> bool:
        # psycopg2 marks a connection closed when it finds the server gone; the library's
        # pool reads this flag, and must not hand out or keep a connection that is dead.
        return super().closed or bool(self.raw.closed)

    def commit(self) -> None:
        self.raw.commit()

    def rollback(self) -> None:
        self.raw.rollback()

    def cursor(self) -> PgCursor:
        return PgCursor(self.raw.cursor())

    def _close(self) -> None:
        self.raw.close()
        super()._close()


class PgConnectionPool(ConnectionPool[PgConnection]):
    """The library's fair, bounded pool, filled with psycopg2 connections that are checked
    before each use, cheaply.

    The library's `pre_ping` costs a round trip per checkout (about 60 µs on loopback)
    and pings while holding the pool's lock. Here a checkout pings only when there is
    reason to doubt: the server has written to the idle socket (a backend that was
    terminated, or a server shutting down, says so before it closes), another connection
    of this pool was found dead since this one was last known alive, or it has been idle
    longer than `ping_after_idle` (a server that vanished says nothing). Otherwise the
    check is a zero-timeout poll of the socket: about 2 µs.
    """

    def __init__(
        self,
        dsn: str,
        *,
        connect_timeout: int = 5,
        lock_timeout: int = 10,
        ping_after_idle: float = 30.0,
        **kwargs: Any,
    ) -> None:
        self.dsn = dsn
        self.connect_timeout = connect_timeout
        self.lock_timeout = lock_timeout
        self.ping_after_idle = ping_after_idle
        # Bumped whenever a connection is found dead. Racing bumps may count as one; that
        # is enough, since all that matters is that the number moves.
        self.generation = 0
        super().__init__(**kwargs)

    def _create_connection(self) -> PgConnection:
        try:
            raw = psycopg2.connect(self.dsn, connect_timeout=self.connect_timeout)
        except psycopg2.Error as e:
            raise translate(e) from e
        try:
            raw.autocommit = True  # transactions are spelled out: see PgDatastore.transaction
            # The bound on waiting for the append lock (or any lock), set once for the
            # session: a `SET LOCAL` in every append cost a statement in its first round trip.
            with raw.cursor() as curs:
                curs.execute("SET lock_timeout = %s", (f"{int(self.lock_timeout)}s",))
        except psycopg2.Error as e:
            raw.close()
            raise translate(e) from e
        return PgConnection(raw, max_age=self.max_age, generation=self.generation)

    def get_connection(
        self, timeout: float | None = None, *, is_writer: bool | None = None
    ) -> PgConnection:
        """A pooled connection that passes the check, else a new one. Bounded: each
        failed check discards a pooled connection, and the pool holds `pool_size`."""
        for _ in range(self.pool_size):
            conn = super().get_connection(timeout, is_writer=is_writer)
            if self._usable(conn):
                return conn
            self.discard(conn)
        return super().get_connection(timeout, is_writer=is_writer)

    def put_connection(self, conn: PgConnection) -> None:
        # A connection left in a transaction, or one found dead, is never pooled again.
        raw = conn.raw
        if raw.closed or raw.info.transaction_status != _IDLE:
            self.discard(conn)
            return
        conn.idle_since = time.monotonic()
        super().put_connection(conn)

    def discard(self, conn: PgConnection) -> None:
        """Closes a checked-out connection and gives its place back to the pool."""
        if conn.raw.closed == 2:  # found dead: doubt every other pooled connection too
            self.generation += 1
        conn.close()
        super().put_connection(conn)

    def _usable(self, conn: PgConnection) -> bool:
        raw = conn.raw
        if raw.closed or raw.info.transaction_status != _IDLE:
            return False
        if (
            conn.generation == self.generation
            and time.monotonic() - conn.idle_since < self.ping_after_idle
            and not _has_input(raw)
        ):
            return True
        return self._ping(conn)

    def _ping(self, conn: PgConnection) -> bool:
        generation = self.generation
        try:
            with conn.raw.cursor() as curs:
                curs.execute("SELECT 1")
        except psycopg2.Error:
            return False
        conn.generation = generation
        return True


_IDLE = psycopg2.extensions.TRANSACTION_STATUS_IDLE


def _has_input(raw: psycopg2.extensions.connection) -> bool:
    """Has the server written to this idle connection? An idle session is owed nothing,
    so anything there (an error before a close, the close itself) means trouble. poll()
    rather than select(), which fails for file descriptors past 1023."""
    poller = select.poll()
    poller.register(raw.fileno(), select.POLLIN)
    return bool(poller.poll(0))


class _Lease:
    """The pooled connection one transaction uses; renewed at most once, if found dead."""

    def __init__(self, pool: PgConnectionPool) -> None:
        self.pool = pool
        self.conn = pool.get_connection()
        self.held = True

    def renew(self) -> PgConnection:
        # The dead one goes first: a pool with no room to spare could not lend a second.
        self.release()
        self.conn = self.pool.get_connection()
        self.held = True
        return self.conn

    def release(self) -> None:
        if self.held:
            self.held = False
            self.pool.put_connection(self.conn)


class PgDatastore:
    def __init__(
        self,
        dsn: str,
        *,
        pool_size: int = 5,
        max_overflow: int = 10,
        pool_timeout: float = 30.0,
        lock_timeout: int = 10,
        ping_after_idle: float = 30.0,
    ) -> None:
        self.dsn = dsn
        self.lock_timeout = lock_timeout
        self.pool = PgConnectionPool(
            dsn,
            lock_timeout=lock_timeout,
            ping_after_idle=ping_after_idle,
            pool_size=pool_size,
            max_overflow=max_overflow,
            pool_timeout=pool_timeout,
            # Not the library's pre-ping (a round trip per checkout, under the pool's
            # lock): PgConnectionPool checks each checkout cheaply instead.
            pre_ping=False,
        )

    @contextlib.contextmanager
    def connection(self) -> Iterator[PgConnection]:
        conn = self.pool.get_connection()
        try:
            yield conn
        finally:
            self.pool.put_connection(conn)

    @contextlib.contextmanager
    def transaction(self, *, commit: bool) -> Iterator[TxCursor]:
        """A cursor for one transaction, or for single-statement reads when not committing.

        Connections run in autocommit mode and transactions are spelled out in SQL, so
        that BEGIN rides along with the first statement and COMMIT with the last one
        (`execute(..., commit=True)`): an append costs two round trips, a read one.
        Every psycopg2 error, from the checkout to the COMMIT, leaves as the library's
        (a lost connection as OperationalError or InterfaceError).
        """
        lease = _Lease(self.pool)
        curs: TxCursor | None = None
        try:
            curs = TxCursor(lease.conn, begin=commit, renew=lease.renew)
            yield curs
            if commit and not curs.committed:
                curs.raw.execute("COMMIT")
        except psycopg2.Error as e:
            self._abandon(lease)
            raise translate(e) from e
        except BaseException:
            self._abandon(lease)
            raise
        finally:
            if curs is not None and not curs.raw.closed:
                curs.raw.close()
            lease.release()

    @staticmethod
    def _abandon(lease: _Lease) -> None:
        # Roll back an open transaction block; a connection that cannot is closed instead,
        # so the pool replaces it rather than handing out a connection mid-transaction.
        conn = lease.conn
        if not lease.held or conn.raw.closed:
            return
        if conn.raw.info.transaction_status == _IDLE:
            return
        try:
            with conn.raw.cursor() as curs:
                curs.execute("ROLLBACK")
        except psycopg2.Error:
            conn.close()

    def close(self) -> None:
        self.pool.close()


APPEND_MANY = (
    "WITH event AS (INSERT INTO {events} (position, originator_id, originator_version, "
    "topic, state, recorded_at) SELECT <first>::bigint + n, o::uuid, v, t, s, "
    "<recorded_at>::timestamptz FROM unnest(<originators>::text[], <versions>::bigint[], "
    "<topics>::text[], <states>::bytea[]) WITH ORDINALITY AS e (o, v, t, s, n)) "
    "INSERT INTO event_chain (position, link, key_id, seal) SELECT <first>::bigint + n, l, k, "
    "m FROM unnest(<links>::bytea[], <key_ids>::text[], <seals>::bytea[]) "
    "WITH ORDINALITY AS c (l, k, m, n)"
)
"""An append of several events: its events and their links, each column as one array."""

APPEND_MANY_PARAMS = ("originators", "versions", "topics", "states", "first", "recorded_at",
                      "links", "key_ids", "seals")
"""Its parameters, those quoted before the append lock first (the head decides the rest)."""


def _numbered(statement: str, params: Sequence[str] = APPEND_MANY_PARAMS) -> str:
    """A statement's <name> parameters as PREPARE's $1, $2... (in `params` order)."""
    for number, name in enumerate(params, start=1):
        statement = statement.replace(f"<{name}>", f"${number}")
    return statement


HELD_BACK = "ledger append held back"
"""What a one-trip append's guard fails with (a cast error: plain SQL has no RAISE): the
head is sealed, or the assumed read is outdated. Nothing is written; two trips decide."""

ONE_TRIP = (
    "WITH last_event AS (SELECT position, recorded_at FROM {events} "
    "ORDER BY position DESC LIMIT 1), "
    "last_link AS (SELECT link, key_id FROM event_chain ORDER BY position DESC LIMIT 1), "
    # The head, and a cast that fails (HELD_BACK) unless the guard lets the append through:
    # the head is not sealed, and an assumed aggregate is at the version the command read.
    "head AS (SELECT coalesce(e.position, 0) + 1 AS position, "
    "coalesce(l.link, decode(repeat('00', 32), 'hex')) AS previous, "
    "CASE WHEN e.recorded_at IS NULL THEN clock_timestamp() ELSE greatest(clock_timestamp(), "
    "e.recorded_at + interval '1 microsecond') END AS recorded_at, "
    "CASE WHEN l.key_id IS NULL AND (<assumed>::uuid IS NULL OR (SELECT max(originator_version) "
    "FROM {events} WHERE originator_id = <assumed>::uuid) IS NOT DISTINCT FROM "
    "<assumed_version>::bigint) THEN 0 ELSE "
    f"('{HELD_BACK} at ' || coalesce(e.position, 0))::int END AS held_back "
    "FROM (SELECT 1) AS one LEFT JOIN last_event e ON true LEFT JOIN last_link l ON true), "
    "event AS (INSERT INTO {events} (position, originator_id, originator_version, topic, "
    "state, recorded_at) SELECT position + held_back, <originator>::uuid, <version>::bigint, "
    "<topic>::text, <state>::bytea, recorded_at FROM head){request} "
    # The link as persistence.records.link_from_parts computes it: H(previous link,
    # position, the event's part, recorded_micros), the part computed by the client.
    "INSERT INTO event_chain (position, link) SELECT position, sha256(previous || "
    "int8send(position) || <part>::bytea || "
    "int8send((extract(epoch FROM recorded_at) * 1000000)::bigint)) FROM head"
)
"""An unsealed append of one event as one statement: the head read, the event, its link."""

ONE_TRIP_REQUEST = (
    ", request AS (INSERT INTO idempotency (scope, idem_key, request_hash, status_code, "
    "response, first_position, position, recorded_at) SELECT <scope>::text, <idem_key>::text, "
    "<request_hash>::text, <status_code>::integer, <response>::bytea, position, position, "
    "recorded_at FROM head)"
)
"""The idempotency row of a one-trip append, as one more part of its statement."""

ONE_TRIP_PARAMS = ("originator", "version", "topic", "state", "part", "assumed",
                   "assumed_version", "scope", "idem_key", "request_hash", "status_code",
                   "response")


def _named(statement: str) -> str:
    """A statement's <name> parameters as psycopg2's %(name)s."""
    for name in APPEND_MANY_PARAMS:
        statement = statement.replace(f"<{name}>", f"%({name})s")
    return statement


class _Quoted:
    """SQL that psycopg2 has quoted already (by `mogrify`), passed through a later
    `mogrify` as it is: psycopg2 asks a parameter's `__conform__` for its adapter. So the
    parameters that do not depend on the head are quoted before the append lock is taken
    (the states: most of a batch's bytes), and only the head's are quoted under it."""

    __slots__ = ("sql",)

    def __init__(self, sql: bytes) -> None:
        self.sql = sql

    def __conform__(self, protocol: object) -> _Quoted:
        return self

    def getquoted(self) -> bytes:
        return self.sql


class _TripLost(Exception):  # noqa: N818  (a signal inside the recorder, never raised out)
    """A one-trip append's connection was lost: whether it committed is unknown."""


class _SecondTrip(NamedTuple):
    """An append's second round trip before the lock: its statement (named parameters),
    and the values of those the head does not decide, quoted (`_Quoted`)."""

    statement: str
    known: dict[str, _Quoted]
    one: bool
    """Its events go by the one-event statement."""


def _head_values(
    trip: _SecondTrip, planned: Planned, seals: Sequence[Seal | None]
) -> dict[str, Any]:
    """The second round trip's parameters that the head decided, for either statement
    of the events (one event: `position`...`seal`; several: `first`...`seals`) and the
    idempotency row."""
    values: dict[str, Any] = {"recorded_at": planned.recorded_at,
                              "first_position": planned.first, "last_position": planned.last}
    if trip.one:
        (link,), (seal,) = planned.links, seals
        values["position"], values["link"] = planned.first, link
        values["key_id"], values["seal"] = _seal_values(seal)
        return values
    values["first"] = planned.first - 1
    values["links"] = bytea_array(planned.links)
    values["key_ids"] = text_array([None if seal is None else seal.key_id for seal in seals])
    values["seals"] = bytea_array([None if seal is None else seal.mac for seal in seals])
    return values


def _seal_values(seal: Seal | None) -> tuple[str | None, bytes | None]:
    return (None, None) if seal is None else (seal.key_id, seal.mac)


def _uuid_or_text(value: Any) -> UUID | str:
    return value if isinstance(value, UUID) else str(value)


class PgAggregateRecorder(AggregateRecorder):
    """Stores events without positions: used for snapshots."""

    def __init__(self, datastore: PgDatastore, events_table_name: str = "snapshots") -> None:
        self.datastore = datastore
        self.events_table_name = events_table_name

    def create_table(self) -> None:
        from persistence.schema import upgrade  # noqa: PLC0415 - only when asked to create

        upgrade(self.datastore.dsn)

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        with self.datastore.transaction(commit=True) as curs:
            self._insert_plain(curs, stored_events)
        return None

    def _insert_plain(self, curs: TxCursor, stored_events: Sequence[StoredEvent]) -> None:
        if not stored_events:
            return
        values = b",".join(
            curs.mogrify("(%s,%s,%s,%s)", (s.originator_id, s.originator_version, s.topic, s.state))
            for s in stored_events
        )
        curs.execute(
            f"INSERT INTO {self.events_table_name} "
            "(originator_id, originator_version, topic, state) VALUES ".encode() + values,
            commit=True,
        )

    def select_events(
        self,
        originator_id: UUID | str,
        *,
        gt: int | None = None,
        lte: int | None = None,
        desc: bool = False,
        limit: int | None = None,
    ) -> Sequence[StoredEvent]:
        statement = (
            "SELECT originator_id, originator_version, topic, state "
            f"FROM {self.events_table_name} WHERE originator_id = %s"
        )
        params: list[Any] = [originator_id]
        if gt is not None:
            statement += " AND originator_version > %s"
            params.append(gt)
        if lte is not None:
            statement += " AND originator_version <= %s"
            params.append(lte)
        statement += " ORDER BY originator_version " + ("DESC" if desc else "ASC")
        if limit is not None:
            statement += " LIMIT %s"
            params.append(limit)
        # Each shape is prepared once per connection: an aggregate's replay and the rule
        # book's probe are most of a command's reads, and need no planning each time.
        shape = "".join("1" if f else "0" for f in (gt is not None, lte is not None, desc,
                                                     limit is not None))
        name = f"select_events_{self.events_table_name}_{shape}"
        numbered = statement
        for n in range(1, len(params) + 1):
            numbered = numbered.replace("%s", f"${n}", 1)
        with self.datastore.transaction(commit=False) as curs:
            if curs.prepare(name, numbered):
                curs.execute(f"EXECUTE {name} ({', '.join(['%s'] * len(params))})", params)
            else:
                curs.execute(statement, params)
            return [
                StoredEvent(
                    originator_id=_uuid_or_text(row[0]),
                    originator_version=row[1],
                    topic=row[2],
                    state=bytes(row[3]),
                )
                for row in curs.fetchall()
            ]


class PgApplicationRecorder(PgAggregateRecorder, ApplicationRecorder):
    """The event log: gap-free positions in commit order, hash-chained, atomic extras."""

    read_ahead_pages = 2
    """Pages `verify` reads at once (persistence/verify.py): the server digests the states
    of one page while this process hashes another (1.4x the rate of one at a time)."""

    def __init__(self, datastore: PgDatastore, events_table_name: str = "events") -> None:
        super().__init__(datastore, events_table_name)
        # The lock, then (in a statement of its own, so that it sees every append that
        # committed before the lock was granted) the clock and the head: the last event's
        # position and recording time in one index probe, and the last link.
        # Prepared once per connection, so an append's first round trip is parsed and
        # planned once per session rather than once per append.
        statement_suffix = "".join(c if c.isalnum() else "_" for c in events_table_name)
        self.head_statement_name = f"ledger_head_of_{statement_suffix}"
        # Its last value is the version of the aggregate the command assumed current ($1,
        # NULL when none: see ledger.store.Assumed), read under the same lock.
        self.head_statement = (
            "SELECT clock_timestamp(), head.position, head.recorded_at, last.link, "
            "last.key_id, (SELECT max(originator_version) FROM "
            f"{events_table_name} WHERE originator_id = $1::uuid) "
            "FROM (SELECT 1) AS one LEFT JOIN (SELECT position, recorded_at "
            f"FROM {events_table_name} ORDER BY position DESC LIMIT 1) AS head ON true "
            "LEFT JOIN (SELECT link, key_id FROM event_chain ORDER BY position DESC LIMIT 1) "
            "AS last ON true"
        )
        # One event (a single command's usual append) is inserted by a prepared statement
        # too: the event and its link in one statement.
        self.append_one_name = f"ledger_append_one_to_{statement_suffix}"
        # Its parameters: the event's own four ($1-$4, quoted before the append lock),
        # then position, recording time, link and seal (the head's, quoted under it).
        self.append_one = (
            f"WITH event AS (INSERT INTO {events_table_name} (position, originator_id, "
            "originator_version, topic, state, recorded_at) VALUES ($5, $1, $2, $3, $4, $6)) "
            "INSERT INTO event_chain (position, link, key_id, seal) VALUES ($5, $7, $8, $9)"
        )
        self.append_one_execute = (
            f"EXECUTE {self.append_one_name} (%(event)s, %(position)s, %(recorded_at)s, "
            "%(link)s, %(key_id)s, %(seal)s)"
        )
        # Several events go in one prepared statement as well, whatever their number: one
        # array per column, unnested by the server, positions counted on from the first.
        # Against one multi-row VALUES per table (a statement of 900 literals to adapt,
        # parse and plan for 100 events) it took 1.9-2.1 ms per 100 events instead of
        # 2.4-2.6 ms (bare psycopg2, in turns; COPY 1.8-2.0 ms, but in two more round trips).
        self.append_many_name = f"ledger_append_many_to_{statement_suffix}"
        self.append_many = _numbered(APPEND_MANY.format(events=events_table_name))
        self.append_many_unprepared = _named(APPEND_MANY.format(events=events_table_name))
        self.append_many_execute = (
            f"EXECUTE {self.append_many_name} ({', '.join(f'%({p})s' for p in APPEND_MANY_PARAMS)})"
        )
        # The idempotency row, completed under the lock by its positions and time.
        self.idempotency_insert = (
            f"INSERT INTO idempotency ({', '.join(IDEMPOTENCY_COLUMNS)}) VALUES (%(request)s, "
            "%(first_position)s, %(last_position)s, %(recorded_at)s)"
        )
        lock = f"SELECT pg_advisory_xact_lock({APPEND_LOCK_KEY}); "
        self.lock_statement = lock + f"EXECUTE {self.head_statement_name} (%s)"
        self.lock_statement_unprepared = lock + self.head_statement.replace("$1", "%s")
        # The append in one round trip (see `_insert_in_one_trip`), with or without an
        # idempotency row, and the read of what it assigned, after its COMMIT.
        self.one_trip_names = {request: f"ledger_append_{'request_' if request else ''}"
                               f"one_trip_to_{statement_suffix}" for request in (False, True)}
        self.one_trip = {request: _numbered(ONE_TRIP.format(
            events=events_table_name, request=ONE_TRIP_REQUEST if request else ""),
            ONE_TRIP_PARAMS) for request in (False, True)}
        self.one_trip_execute = {
            request: f"{lock}EXECUTE {self.one_trip_names[request]} ("
            + ", ".join(f"%({p})s" for p in ONE_TRIP_PARAMS[:None if request else 7])
            + f"); NOTIFY {NOTIFY_CHANNEL}" for request in (False, True)}
        self.read_back_name = f"ledger_read_back_{statement_suffix}"
        self.read_back = (
            "SELECT e.position, e.recorded_at, c.link FROM "
            f"{events_table_name} e JOIN event_chain c ON c.position = e.position "
            "WHERE e.originator_id = $1::uuid AND e.originator_version = $2"
        )
        self.sealed = False
        """Whether this recorder has seen a sealed head: every later append is sealed too
        (a key announced stays in force until another is), so takes two round trips."""

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        # One event (a command's usual append) in one round trip, unless it is sealed or
        # carries a tracking row (a process recorder's, which the two trips' statements
        # insert). Several take two: the server chaining them (a recursive statement) cost
        # more than the round trip saved (bench appends, batch100 ours/raw 0.60-0.66
        # against 0.73-0.80 by two trips, in turns).
        if (len(stored_events) == 1 and not self.sealed and kwargs.get("tracking") is None
                and announced_key(stored_events[0]) is None):
            try:
                positions = self._insert_in_one_trip(stored_events, append_of(kwargs))
            except _TripLost:
                return self._append_again(stored_events, **kwargs)
            if positions is not None:
                return positions
        return self._insert_in_two_trips(stored_events, **kwargs)

    def _insert_in_two_trips(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        with self.datastore.transaction(commit=True) as curs:
            curs.prepare(self.head_statement_name, self.head_statement)
            if len(stored_events) == 1:
                curs.prepare(self.append_one_name, self.append_one)
            else:
                curs.prepare(self.append_many_name, self.append_many)
            return self._insert_events(curs, stored_events, **kwargs)

    def _append_again(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        """After a one-trip append lost its connection, not knowing whether it committed.

        Appended again by two trips, which wait on the append lock for the lost
        transaction, should its backend still run it: once that has settled, either it
        committed, and the events' unique (originator_id, originator_version) refuses
        them a second time, or it did not, and they land once. Refused, the events found
        at their ids and versions are this append's when their stored bytes are these.
        """
        try:
            return self._insert_in_two_trips(stored_events, **kwargs)
        except IntegrityError:
            landed = self._landed(stored_events)
            if landed is None:
                raise
            append = append_of(kwargs)
            if append is not None:
                append.assigned.extend(landed)
            return [a.position for a in landed]

    def _landed(self, stored_events: Sequence[StoredEvent]) -> list[Appended] | None:
        """What the log assigned to these events, if it holds exactly these (else None)."""
        first = stored_events[0]
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(
                "SELECT e.position, e.recorded_at, c.link, e.originator_id, "
                "e.originator_version, e.topic, e.state FROM "
                f"(SELECT position FROM {self.events_table_name} WHERE originator_id = %s "
                f"AND originator_version = %s) AS f JOIN {self.events_table_name} e "
                "ON e.position BETWEEN f.position AND f.position + %s - 1 "
                "JOIN event_chain c ON c.position = e.position ORDER BY e.position",
                (first.originator_id, first.originator_version, len(stored_events)))
            rows = curs.fetchall()
        found = [(_uuid_or_text(r[3]), r[4], r[5], bytes(r[6])) for r in rows]
        if found != [(s.originator_id, s.originator_version, s.topic, s.state)
                     for s in stored_events]:
            return None
        return [Appended(r[0], r[1], bytes(r[2]), _uuid_or_text(r[3]), r[4], r[5])
                for r in rows]

    def _insert_events(
        self,
        curs: TxCursor,
        stored_events: Sequence[StoredEvent],
        **kwargs: Any,
    ) -> Sequence[int] | None:
        if not stored_events:
            return []
        append = append_of(kwargs)
        # Before the lock: the states' digests, the keys, and the second round trip's
        # statement with every value that does not depend on the head quoted (the events'
        # own columns, the idempotency row's own values). The lock serialises every
        # writer, so each microsecond spent under it is spent by all of them in turn.
        prepared = prepare_append(stored_events)
        trip = self._second_trip(curs, prepared, append)
        # Everything from here to COMMIT happens while holding the append lock, so
        # the head we read is the head we extend, and positions equal commit order.
        now, head = self._locked_head(curs, append)
        planned = plan_links(head, now, prepared)
        seals = plan_seals(head, stored_events, planned.links, prepared.keyring)
        # The second and last round trip: the events, their chain links, any extra rows,
        # the wake-up for followers (delivered only on commit), and the COMMIT itself.
        values = {**trip.known, **_head_values(trip, planned, seals)}
        curs.execute(curs.mogrify(trip.statement, values), commit=True)
        if append is not None:  # the lock is released: what was assigned, for the receipt
            append.assigned.extend(appended_of(prepared, planned))
        return list(range(planned.first, planned.last + 1))

    def _insert_in_one_trip(
        self, stored_events: Sequence[StoredEvent], append: Append | None
    ) -> list[int] | None:
        """An unsealed append in one round trip: the lock, then one statement that reads
        the head and inserts the events, their links (computed by the server, from each
        event's part computed here: the same bytes `plan_links` hashes) and the
        idempotency row, NOTIFY, COMMIT, and after it the read of what was assigned. The
        lock is held for the server's work alone, never across a round trip.

        None when nothing was written because the statement's guard held it back: the
        head is sealed (seals need the chain key, which the server never holds) or the
        assumed read is outdated. The two-trip append then decides, under its lock.
        """
        prepared = prepare_append(stored_events)
        request = append is not None and append.idempotency is not None
        (event,) = stored_events
        values: dict[str, Any] = {
            "originator": prepared.originators[0], "version": event.originator_version,
            "topic": event.topic, "state": event.state, "part": prepared.parts[0],
            "assumed": None if append is None or append.assumed is None
            else append.assumed.originator_id.hex,
            "assumed_version": None if append is None or append.assumed is None
            else append.assumed.version,
        }
        if append is not None and append.idempotency is not None:
            known = idempotency_known_values(append.idempotency)
            values.update(zip(("scope", "idem_key", "request_hash", "status_code", "response"),
                              known, strict=True))
        try:
            with self.datastore.transaction(commit=True) as curs:
                name = self.one_trip_names[request]
                curs.prepare(name, self.one_trip[request])
                curs.prepare(self.read_back_name, self.read_back)
                read_back = curs.mogrify(f"; EXECUTE {self.read_back_name} (%s, %s)", (
                    prepared.originators[0], event.originator_version))
                curs.execute(self.one_trip_execute[request], values, commit=True,
                             then=read_back)
                rows = curs.fetchall()
        except DataError as e:
            if HELD_BACK in str(e):
                return None  # rolled back: nothing of it was written
            raise
        except (OperationalError, InterfaceError) as e:
            # No SQLSTATE: the connection was lost, not refused by the server (a lock
            # timeout has one, and wrote nothing), so whether it committed is unknown.
            if getattr(e.args[0] if e.args else None, "pgcode", None) is None:
                raise _TripLost from e
            raise
        assert len(rows) == len(stored_events), "the append's rows read back"
        planned = Planned(rows[0][0], rows[-1][0], rows[0][1], [bytes(r[2]) for r in rows])
        if append is not None:
            append.assigned.extend(appended_of(prepared, planned))
        return [r[0] for r in rows]

    def _locked_head(self, curs: TxCursor, append: Append | None) -> tuple[datetime, Head]:
        """The first round trip: the append lock, then the server's clock and the head;
        an outdated assumed read raises here, before anything is written."""
        # The assumed id as SQL without a mogrify (5-9 µs a call): a UUID's hex needs no quoting.
        assumed = ("NULL" if append is None or append.assumed is None
                   else f"'{append.assumed.originator_id.hex}'")
        if curs.prepare(self.head_statement_name, self.head_statement):
            curs.execute(self.lock_statement % assumed)
        else:  # A process recorder's transaction began with its tracking row.
            curs.execute(self.lock_statement_unprepared % assumed)
        now, position, recorded_at, link, key_id, assumed_version = curs.fetchone()
        self.sealed = self.sealed or key_id is not None
        if append is not None:
            append.check_assumed(assumed_version)
        return now, Head(position or 0, recorded_at, bytes(link or bytes(32)), key_id)

    def _second_trip(
        self, curs: TxCursor, prepared: Prepared, append: Append | None
    ) -> _SecondTrip:
        """The second round trip's statement, with everything the head does not decide
        quoted already; `_head_values` completes it under the lock, in one mogrify."""
        statement, known = self._event_rows(curs, prepared)
        one = statement == self.append_one_execute
        statements = [statement]
        if append is not None and append.idempotency is not None:
            values = idempotency_known_values(append.idempotency)
            known["request"] = _Quoted(curs.mogrify(", ".join(["%s"] * len(values)), values))
            statements.append(self.idempotency_insert)
        statements.append(f"NOTIFY {NOTIFY_CHANNEL}")
        return _SecondTrip("; ".join(statements), known, one)

    def _event_rows(self, curs: TxCursor, prepared: Prepared) -> tuple[str, dict[str, _Quoted]]:
        """The events' statement and their own columns, quoted."""
        stored = prepared.stored_events
        if len(stored) == 1 and curs.prepare(self.append_one_name, self.append_one):
            (s,) = stored
            event = curs.mogrify("%s, %s, %s, %s", (prepared.originators[0],
                                                   s.originator_version, s.topic, s.state))
            return self.append_one_execute, {"event": _Quoted(event)}
        columns = (
            ("originators", text_array(prepared.originators)),
            ("versions", bigint_array([s.originator_version for s in stored])),
            ("topics", text_array([s.topic for s in stored])),
            ("states", bytea_array([s.state for s in stored])),
        )
        known = {name: _Quoted(curs.mogrify("%s", (value,))) for name, value in columns}
        if curs.prepare(self.append_many_name, self.append_many):
            return self.append_many_execute, known
        return self.append_many_unprepared, known

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
            clauses.append("position >= %s" if inclusive_of_start else "position > %s")
            params.append(start)
        if stop is not None:
            clauses.append("position <= %s")
            params.append(stop)
        if topics:
            clauses.append("topic = ANY(%s)")
            params.append(list(topics))
        where = (" WHERE " + " AND ".join(clauses)) if clauses else ""
        params.append(limit)
        statement = (
            "SELECT position, originator_id, originator_version, topic, state "
            f"FROM {self.events_table_name}{where} ORDER BY position LIMIT %s"
        )
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(statement, params)
            return [
                Notification(
                    id=row[0],
                    originator_id=_uuid_or_text(row[1]),
                    originator_version=row[2],
                    topic=row[3],
                    state=bytes(row[4]),
                )
                for row in curs.fetchall()
            ]

    def max_notification_id(self) -> int | None:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(
                f"SELECT position FROM {self.events_table_name} ORDER BY position DESC LIMIT 1"
            )
            row = curs.fetchone()
            return None if row is None else int(row[0])

    def subscribe(
        self, gt: int | None = None, topics: Sequence[str] = ()
    ) -> Subscription[ApplicationRecorder]:
        return PgSubscription(recorder=self, gt=gt, topics=topics)

    def select_log(self, after: int, limit: int) -> list[LogRow]:
        """The log after a position, in order, with recording times and chain links."""
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(
                "SELECT e.position, e.originator_id, e.originator_version, e.topic, e.state, "
                f"e.recorded_at, c.link FROM {self.events_table_name} e "
                "LEFT JOIN event_chain c ON c.position = e.position AND c.position > %s "
                "WHERE e.position > %s ORDER BY e.position LIMIT %s",
                (after, after, limit),
            )
            return [
                LogRow(r[0], _uuid_or_text(r[1]), r[2], r[3], bytes(r[4]), r[5],
                       None if r[6] is None else bytes(r[6]))
                for r in curs.fetchall()
            ]

    def select_chain_inputs(self, after: int, limit: int) -> list[ChainInput]:
        """What verify hashes, page by page: the state's digest is computed in the database
        so the states themselves never cross the wire."""
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(
                "SELECT e.position, replace(e.originator_id::text, '-', ''), "
                "e.originator_version, e.topic, sha256(e.state), "
                "(extract(epoch FROM e.recorded_at) * 1000000)::bigint, c.link, c.key_id, "
                f"c.seal FROM {self.events_table_name} e "
                "LEFT JOIN event_chain c ON c.position = e.position AND c.position > %s "
                "WHERE e.position > %s ORDER BY e.position LIMIT %s",
                (after, after, limit),
            )
            return [
                ChainInput(r[0], r[1], r[2], r[3], bytes(r[4]), r[5], r[6] and bytes(r[6]),
                           r[7], r[8] and bytes(r[8]))
                for r in curs.fetchall()
            ]

    def select_heads(self, limit: int) -> list[tuple[Any, ...]]:
        """The signed heads kept in `chain_heads`, highest position first (see head.py)."""
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(
                f"SELECT {', '.join(HEAD_COLUMNS)} FROM chain_heads "
                "ORDER BY position DESC, exported_at DESC LIMIT %s",
                (limit,),
            )
            return [tuple(r) for r in curs.fetchall()]

    def select_links(self, after: int, up_to: int | None, limit: int) -> list[tuple[int, bytes]]:
        """Chain links after a position (up to one, if given), in order."""
        bound = "" if up_to is None else " AND position <= %s"
        params = (after,) if up_to is None else (after, up_to)
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(
                f"SELECT position, link FROM event_chain WHERE position > %s{bound} "
                "ORDER BY position LIMIT %s",
                (*params, limit),
            )
            return [(r[0], bytes(r[1])) for r in curs.fetchall()]

    def select_recorded(self, originator_id: UUID | str) -> list[tuple[int, int, datetime]]:
        """(version, position, recorded_at) of each event of one aggregate, in order."""
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(
                "SELECT originator_version, position, recorded_at "
                f"FROM {self.events_table_name} WHERE originator_id = %s "
                "ORDER BY originator_version",
                (originator_id,),
            )
            return [(r[0], r[1], r[2]) for r in curs.fetchall()]

    def position_known_at(self, instant: datetime) -> int:
        """The last position recorded at or before `instant` (0 before the first event)."""
        with self.datastore.transaction(commit=False) as curs:
            # Recording times never decrease along the log (plan_append), so the last
            # position recorded by `instant` is the last one of the latest recording time
            # at or before it: one append's events, found through the recorded_at index.
            # (`max(position) WHERE recorded_at <= t` walks the primary key back from the
            # head instead, past every event recorded after t: 0.4 s at 1M events.) The
            # OFFSET 0 keeps the planner from turning the outer max into that same walk.
            curs.execute(
                f"SELECT max(position) FROM (SELECT position FROM {self.events_table_name} "
                f"WHERE recorded_at = (SELECT max(recorded_at) FROM {self.events_table_name} "
                "WHERE recorded_at <= %s) OFFSET 0) AS last_append",
                (instant,),
            )
            value = curs.fetchone()[0]
            return 0 if value is None else int(value)


    def select_appended(self, first: int, last: int) -> list[Appended]:
        """What was assigned to the events at positions first..last, in order."""
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(
                "SELECT e.position, e.recorded_at, c.link, e.originator_id, "
                f"e.originator_version, e.topic FROM {self.events_table_name} e "
                "JOIN event_chain c ON c.position = e.position "
                "WHERE e.position BETWEEN %s AND %s ORDER BY e.position",
                (first, last),
            )
            return [Appended(r[0], r[1], bytes(r[2]), _uuid_or_text(r[3]), r[4], r[5])
                    for r in curs.fetchall()]

    def existing_originators(self, ids: Sequence[UUID]) -> set[UUID]:
        """Which of these aggregate ids have events, in one query (not one per id)."""
        if not ids:
            return set()
        with self.datastore.transaction(commit=False) as curs:
            # One index probe per id, whatever the planner's statistics say: `= ANY(...)`
            # on a log without statistics (a fresh or just-loaded one) was planned as a
            # parallel sequential scan, 14-49 ms per batch against 0.6 ms.
            curs.execute(
                "SELECT k.id FROM unnest(%s::uuid[]) AS k(id) WHERE EXISTS "
                f"(SELECT FROM {self.events_table_name} e WHERE e.originator_id = k.id)",
                (list(ids),),
            )
            return {UUID(str(r[0])) for r in curs.fetchall()}

    def find_request(self, scope: str, key: str) -> StoredRequest | None:
        """The idempotency record of (scope, key), if one was stored."""
        with self.datastore.transaction(commit=False) as curs:
            # Every command with an Idempotency-Key asks this first: prepared once per
            # connection, as the rule book's probe and the aggregates' reads are.
            if curs.prepare("find_request", "SELECT request_hash, status_code, response, "
                            "first_position, position FROM idempotency "
                            "WHERE scope = $1 AND idem_key = $2"):
                curs.execute("EXECUTE find_request (%s, %s)", (scope, key))
            else:
                curs.execute(
                    "SELECT request_hash, status_code, response, first_position, position "
                    "FROM idempotency WHERE scope = %s AND idem_key = %s",
                    (scope, key),
                )
            row = curs.fetchone()
        if row is None:
            return None
        return StoredRequest(str(row[0]), int(row[1]), bytes(row[2]), row[3], row[4])


class PgSubscription(ListenNotifySubscription[PgApplicationRecorder]):
    """Follows the log: pulls pages after each NOTIFY, and at least once a second."""

    FALLBACK_WAKE_SECONDS = 1.0

    def __init__(
        self, recorder: PgApplicationRecorder, gt: int | None = None, topics: Sequence[str] = ()
    ) -> None:
        # LISTEN before the first pull starts, so no append can slip between the two.
        self._listener = psycopg2.connect(recorder.datastore.dsn)
        self._listener.autocommit = True
        self._listener.cursor().execute(f"LISTEN {NOTIFY_CHANNEL}")
        super().__init__(recorder=recorder, gt=gt, topics=topics)
        self._listen_thread = threading.Thread(target=self._listen, daemon=True)
        self._listen_thread.start()

    def __exit__(self, *args: object, **kwargs: Any) -> None:
        try:
            super().__exit__(*args, **kwargs)
        finally:
            self._listen_thread.join()

    def _listen(self) -> None:
        try:
            waited = 0.0
            while not self._has_been_stopped and not self._thread_error:
                # Wake every 0.1 s so that stop() is noticed promptly.
                if select.select([self._listener], [], [], 0.1) != ([], [], []):
                    self._listener.poll()
                    self._listener.notifies.clear()
                    waited = self.FALLBACK_WAKE_SECONDS
                waited += 0.1
                if waited >= self.FALLBACK_WAKE_SECONDS:
                    waited = 0.0
                    self._has_been_notified.set()
        except BaseException as e:  # noqa: BLE001 - handed to the iterating thread
            if self._thread_error is None:
                self._thread_error = e
            self.stop()
        finally:
            self._listener.close()


class PgTrackingRecorder(TrackingRecorder):
    """One row per upstream application name: the last position it has processed."""

    def __init__(self, datastore: PgDatastore, tracking_table_name: str = "tracking") -> None:
        self.datastore = datastore
        self.tracking_table_name = tracking_table_name
        self.insert_tracking_statement = (
            f"INSERT INTO {tracking_table_name} AS t (application_name, notification_id) "
            "VALUES (%s, %s) ON CONFLICT (application_name) DO UPDATE "
            "SET notification_id = EXCLUDED.notification_id "
            "WHERE t.notification_id < EXCLUDED.notification_id RETURNING notification_id"
        )

    def create_table(self) -> None:
        from persistence.schema import upgrade  # noqa: PLC0415 - only when asked to create

        upgrade(self.datastore.dsn)

    def insert_tracking(self, tracking: Tracking) -> None:
        with self.datastore.transaction(commit=True) as curs:
            self._insert_tracking(curs, tracking)

    def _insert_tracking(self, curs: TxCursor, tracking: Tracking) -> None:
        curs.execute(
            self.insert_tracking_statement,
            (tracking.application_name, tracking.notification_id),
        )
        if curs.fetchone() is None:
            # Not moved forward: this position (or a later one) was recorded already.
            msg = f"Already tracked {tracking.application_name} {tracking.notification_id}"
            raise IntegrityError(msg)

    def max_tracking_id(self, application_name: str) -> int | None:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(
                f"SELECT notification_id FROM {self.tracking_table_name} "
                "WHERE application_name = %s",
                (application_name,),
            )
            row = curs.fetchone()
            return None if row is None else int(row[0])


class PgProcessRecorder(PgTrackingRecorder, PgApplicationRecorder, ProcessRecorder):
    def __init__(self, datastore: PgDatastore) -> None:
        PgTrackingRecorder.__init__(self, datastore)
        PgApplicationRecorder.__init__(self, datastore)

    def _insert_events(
        self,
        curs: TxCursor,
        stored_events: Sequence[StoredEvent],
        **kwargs: Any,
    ) -> Sequence[int] | None:
        tracking: Tracking | None = kwargs.get("tracking")
        if tracking is not None:
            self._insert_tracking(curs, tracking)
        return super()._insert_events(curs, stored_events, **kwargs)


class Factory(InfrastructureFactory[PgTrackingRecorder]):
    """Builds our PostgreSQL recorders from the environment (`POSTGRES_DSN`, pool sizes)."""

    POSTGRES_DSN = "POSTGRES_DSN"
    POSTGRES_POOL_SIZE = "POSTGRES_POOL_SIZE"
    POSTGRES_MAX_OVERFLOW = "POSTGRES_MAX_OVERFLOW"
    POSTGRES_LOCK_TIMEOUT = "POSTGRES_LOCK_TIMEOUT"
    CREATE_TABLE = "CREATE_TABLE"

    aggregate_recorder_class = PgAggregateRecorder
    application_recorder_class = PgApplicationRecorder
    tracking_recorder_class = PgTrackingRecorder
    process_recorder_class = PgProcessRecorder

    def __init__(self, env: Environment | EnvType | None) -> None:
        super().__init__(env)
        dsn = self.env.get(self.POSTGRES_DSN)
        if not dsn:
            msg = f"{self.POSTGRES_DSN} is not set"
            raise OSError(msg)
        self.datastore = PgDatastore(
            dsn,
            pool_size=int(self.env.get(self.POSTGRES_POOL_SIZE) or 5),
            max_overflow=int(self.env.get(self.POSTGRES_MAX_OVERFLOW) or 10),
            lock_timeout=int(self.env.get(self.POSTGRES_LOCK_TIMEOUT) or 10),
        )

    def transcoder(self) -> Transcoder:
        # The library's JSON, byte for byte, a third cheaper to encode (persistence/transcoder.py).
        return transcoder_of(self.env.get(self.TRANSCODER_TOPIC))

    def aggregate_recorder(self, purpose: str = "events") -> AggregateRecorder:
        # Only snapshots are stored without positions; the log itself is the app recorder.
        recorder = self.aggregate_recorder_class(self.datastore, "snapshots")
        self._maybe_create(recorder)
        return recorder

    def application_recorder(self) -> ApplicationRecorder:
        cls = self._topic_or(self.APPLICATION_RECORDER_TOPIC, self.application_recorder_class)
        recorder: ApplicationRecorder = cls(self.datastore)
        self._maybe_create(recorder)
        return recorder

    def tracking_recorder(
        self, tracking_recorder_class: type[PgTrackingRecorder] | None = None
    ) -> PgTrackingRecorder:
        cls = tracking_recorder_class or self._topic_or(
            self.TRACKING_RECORDER_TOPIC, self.tracking_recorder_class
        )
        recorder = cls(self.datastore)
        self._maybe_create(recorder)
        return recorder

    def process_recorder(self) -> ProcessRecorder:
        cls = self._topic_or(self.PROCESS_RECORDER_TOPIC, self.process_recorder_class)
        recorder: ProcessRecorder = cls(self.datastore)
        self._maybe_create(recorder)
        return recorder

    def _topic_or(self, key: str, default: type[Any]) -> type[Any]:
        topic = self.env.get(key)
        return resolve_topic(topic) if topic else default

    def _maybe_create(self, recorder: Any) -> None:
        # Production never creates tables implicitly: migrations do (DESIGN §8).
        if strtobool(self.env.get(self.CREATE_TABLE) or "no"):
            recorder.create_table()

    def close(self) -> None:
        self.datastore.close()

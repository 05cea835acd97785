"""How projection workers share the log: who owns which view, and the wake-up on append.

On PostgreSQL each worker keeps one connection of its own that LISTENs on the channel the
append path NOTIFYs in its committing transaction, and holds a session-level advisory lock
per view it owns. A lock is held by one session at a time, so of several workers exactly
one applies a view; the others wait, and the lock passes to one of them as soon as the
owner's session ends: a clean stop, a crash, kill -9 (the server sees the socket close) or
a lost network (then after TCP keepalive gives up). Ownership is for efficiency only:
correctness never rests on it, since every page commits by compare-and-set of its tracking
row (projections.database.advance), so two workers that both think they own a view still
apply each page once.

SQLite has no sessions to lock with and no LISTEN: every worker may try every view (the
compare-and-set decides), and waits by sleeping.
"""

from __future__ import annotations

import os
import select
import socket
import time
from typing import Any, Protocol

import psycopg2
import psycopg2.extensions
from sqlalchemy import Connection, text

from persistence.postgres import NOTIFY_CHANNEL
from persistence.url import backend_of, libpq_dsn

LOCK_NAMESPACE = 7_300_419
"""The first key of every view lock (`pg_try_advisory_lock(int, int)`): the two-key form
is a separate key space from the append lock's one bigint key."""
CONNECT_SECONDS = 5
KEEPALIVE: dict[str, Any] = {"keepalives": 1, "keepalives_idle": 10, "keepalives_interval": 5,
             "keepalives_count": 3}
"""A worker cut off from the server notices within ~25 s and its locks are released."""


class Coordinator(Protocol):
    """What a projection worker asks about the others."""

    def owns(self, view: str) -> bool:
        """True when this worker may apply `view` now (it holds, or just took, its lock)."""
        ...

    def wait(self, seconds: float) -> None:
        """Returns on the next append, or after `seconds`."""
        ...

    def close(self) -> None: ...


class Sleeping:
    """SQLite: no locks (the compare-and-set arbitrates) and no notifications (poll)."""

    def owns(self, view: str) -> bool:
        return True

    def wait(self, seconds: float) -> None:
        time.sleep(seconds)

    def close(self) -> None:
        return None


class Listening:
    """PostgreSQL: LISTEN for appends and one advisory lock per owned view, on one session."""

    def __init__(self, url: str, label: str = "") -> None:
        self.dsn = libpq_dsn(url)
        # Who holds a lock, as pg_stat_activity shows it (at most 63 bytes are kept).
        self.name = f"ledger-projections {os.getpid()} {label} {socket.gethostname()}"[:63]
        self._conn: psycopg2.extensions.connection | None = None
        self._owned: set[str] = set()

    def owns(self, view: str) -> bool:
        if view in self._owned and self._alive():
            return True
        try:
            with self._session().cursor() as curs:
                curs.execute("SELECT pg_try_advisory_lock(%s, hashtext(%s))",
                             (LOCK_NAMESPACE, view))
                row = curs.fetchone()
        except psycopg2.Error:
            self._drop()  # Reconnect next time; meanwhile this worker owns nothing.
            return False
        if row is not None and row[0]:
            self._owned.add(view)
            return True
        return False

    def wait(self, seconds: float) -> None:
        try:
            conn = self._session()
            if select.select([conn], [], [], seconds) != ([], [], []):
                conn.poll()
                conn.notifies.clear()
        except (psycopg2.Error, OSError):
            self._drop()
            time.sleep(min(seconds, 1.0))  # The server is away: do not spin.

    def close(self) -> None:
        self._drop()

    def _session(self) -> psycopg2.extensions.connection:
        if self._conn is None or self._conn.closed:
            conn = psycopg2.connect(self.dsn, connect_timeout=CONNECT_SECONDS,
                                    application_name=self.name, **KEEPALIVE)
            conn.autocommit = True
            with conn.cursor() as curs:
                # Before the first catch-up, so no append slips between the two.
                curs.execute(f"LISTEN {NOTIFY_CHANNEL}")
            self._conn = conn
        return self._conn

    def _alive(self) -> bool:
        """A lock lives as long as its session: a worker whose session broke owns nothing."""
        conn = self._conn
        if conn is None or conn.closed:
            self._owned.clear()
            return False
        try:
            conn.poll()  # Reads pending notifications; raises when the session is gone.
        except (psycopg2.Error, OSError):
            self._drop()
            return False
        return True

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        self._owned.clear()
        if conn is not None and not conn.closed:
            try:
                conn.close()
            except psycopg2.Error:
                pass  # Already broken: closing is all that was left to do.


def coordinator_for(url: str, label: str = "") -> Coordinator:
    """The coordinator for the projection writer's database URL; `label` names the session
    (the view a worker's thread follows)."""
    return Listening(url, label) if backend_of(url) == "postgresql" else Sleeping()


def owners(conn: Connection, views: list[str]) -> dict[str, int]:
    """The server process id of the session holding each view's lock (PostgreSQL only).
    pg_locks is readable by every role, so any connection (the service's) may ask."""
    if conn.dialect.name != "postgresql":
        return {}
    rows = conn.execute(text(
        "SELECT v.name, l.pid FROM unnest(CAST(:views AS text[])) AS v(name) JOIN pg_locks l "
        "ON l.locktype = 'advisory' AND l.granted AND l.classid = :namespace "
        "AND l.objid = CAST(hashtext(v.name) AS oid) AND l.objsubid = 2"),
        {"views": views, "namespace": LOCK_NAMESPACE})
    return {str(name): int(pid) for name, pid in rows}

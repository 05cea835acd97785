"""A consistent copy of the whole store, and its restoration (DESIGN §16, `ledger backup`).

Both back ends copy one snapshot of every table — the log, its chain, the signed heads,
the idempotency keys, the tokens and the read models with their tracking positions — so a
copy taken while the service appends is a ledger as it stood at one instant: `ledger
verify` accepts it, and its read models agree with its log.

- SQLite: the online backup API, in one step (`pages=-1`), which reads the source under
  one shared lock, so no append can land half in the copy.
- PostgreSQL: `pg_dump --format=custom`, which reads everything in one repeatable-read
  transaction; `pg_restore` brings it back with its grants, in one transaction.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from pathlib import Path

import psycopg2

from persistence.url import backend_of, libpq_dsn, sqlite_path

# PostgreSQL's client tools: on PATH, or where Debian installs the server's version.
PG_BIN_DIRS = ("/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/16/bin")
TOOL_TIMEOUT_SECONDS = 3600  # a dump or restore that runs longer than an hour has hung
CONNECT_TIMEOUT_SECONDS = 5


class BackupError(Exception):
    """A backup or restore that could not be done; the message says why."""


def backup(url: str, file: Path) -> None:
    """Writes a consistent copy of the store at `url` to `file`, never over an existing one."""
    if file.exists():
        raise BackupError(f"{file} exists; a backup never overwrites a file")
    if backend_of(url) == "sqlite":
        _sqlite_copy(sqlite_path(url), file)
    else:
        _run(_tool("pg_dump"), "--format=custom", f"--file={file}", libpq_dsn(url))


def restore(url: str, file: Path) -> None:
    """Restores `file` into the store at `url`, which must hold no events yet.

    An empty target is required so that a restore can never silently replace a live log.
    """
    if not file.is_file():
        raise BackupError(f"{file} is not a backup file")
    if backend_of(url) == "sqlite":
        target = sqlite_path(url)
        if _sqlite_events(target):
            raise BackupError(f"{target} already holds events; restore into an empty ledger")
        _sqlite_copy(str(file), Path(target))
        return
    if _postgres_events(url):
        raise BackupError("the target database already holds events; restore into an "
                          "empty ledger")
    # --clean drops the empty schema a migrated target already has, then recreates it.
    _run(_tool("pg_restore"), "--clean", "--if-exists", "--single-transaction",
         "--exit-on-error", f"--dbname={libpq_dsn(url)}", str(file))


def _sqlite_copy(source: str, target: Path) -> None:
    if not os.path.exists(source):
        raise BackupError(f"{source} does not exist")
    target.parent.mkdir(parents=True, exist_ok=True)
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst, pages=-1)
    finally:
        dst.close()
        src.close()


def _sqlite_events(path: str) -> int:
    if not os.path.exists(path):
        return 0
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        found = conn.execute(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'events'"
        ).fetchone()[0]
        return int(conn.execute("SELECT count(*) FROM events").fetchone()[0]) if found else 0
    finally:
        conn.close()


def _postgres_events(url: str) -> int:
    conn = psycopg2.connect(libpq_dsn(url), connect_timeout=CONNECT_TIMEOUT_SECONDS)
    try:
        with conn, conn.cursor() as curs:
            curs.execute("SELECT to_regclass('events') IS NOT NULL")
            row = curs.fetchone()
            if row is None or not row[0]:
                return 0
            curs.execute("SELECT count(*) FROM events")
            counted = curs.fetchone()
            return int(counted[0]) if counted else 0
    finally:
        conn.close()


def _tool(name: str) -> str:
    found = shutil.which(name) or next(
        (str(Path(d) / name) for d in PG_BIN_DIRS if (Path(d) / name).is_file()), None)
    if found is None:
        raise BackupError(f"{name} is not installed (PostgreSQL's client tools)")
    return found


def _run(*command: str) -> None:
    done = subprocess.run(command, capture_output=True, text=True, check=False,
                          timeout=TOOL_TIMEOUT_SECONDS)
    if done.returncode != 0:
        raise BackupError(f"{Path(command[0]).name} failed: {done.stderr.strip()}")

"""PostgreSQL for tests that break it: a database of their own on the shared server, whose
service backends they may terminate, and a private cluster they may stop and start.

The machine's shared server is never stopped, and only the backends of a test's own
scratch database are ever terminated: other tests (and other people) use the rest. The
private cluster is made with `initdb`, listens on a free loopback port with its socket in
its own directory, and is removed with everything in it when the test is done. `initdb`
and `pg_ctl` refuse to run as root, so as root they run as the `postgres` OS user.
"""

from __future__ import annotations

import atexit
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg2
import pytest
from dbsupport import ADMIN_URL, SCRATCH_PREFIX, SERVICE_ROLE, in_ci, require_postgres

from persistence.schema import upgrade
from persistence.scratch import create_database, scratch_database, with_database

BINDIR = Path(os.environ.get("LEDGER_TEST_PG_BINDIR", "/usr/lib/postgresql/15/bin"))
OS_USER = "postgres"
DATABASE = "ledger"
START_SECONDS = 30


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Cluster:
    """One initdb'd data directory and the server on it (started and stopped at will)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.data = root / "data"
        self.port = _free_port()
        self.admin_url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, tool: str, *args: str) -> None:
        command = [str(BINDIR / tool), *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", OS_USER, "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{tool} failed ({done.returncode}): {done.stderr[-2000:]}")

    def init(self) -> None:
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust",
                  "-E", "UTF8", "--locale=C", "--no-sync")

    def start(self) -> None:
        options = (f"-p {self.port} -c listen_addresses=127.0.0.1 "
                   f"-c unix_socket_directories={self.root} -c max_connections=50")
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.root / "server.log"),
                  "-o", options, "-w", "-t", str(START_SECONDS), "start")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def url(self, user: str | None = None) -> str:
        """The ledger database's URL, as `user` (the superuser when None)."""
        return with_database(self.admin_url, DATABASE, user=user)

    def migrate(self) -> None:
        """The ledger database, migrated; the migrations create the service role."""
        create_database(self.admin_url, DATABASE)
        upgrade(self.url())

    def service_url(self) -> str:
        return self.url(SERVICE_ROLE)


def _require_tools() -> None:
    missing = [tool for tool in ("initdb", "pg_ctl") if not (BINDIR / tool).exists()]
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        missing.append("runuser")
    if missing:
        message = f"no {', '.join(missing)} under {BINDIR} (set LEDGER_TEST_PG_BINDIR)"
        if in_ci():
            pytest.fail(message + " (CI=true: failing instead of skipping)", pytrace=False)
        pytest.skip(message)


@contextmanager
def private_cluster() -> Iterator[Cluster]:
    """A started, migrated cluster; stopped (immediately) and deleted afterwards."""
    _require_tools()
    root = Path(tempfile.mkdtemp(prefix="ledger-pgcluster-"))
    if os.geteuid() == 0:
        shutil.chown(root, OS_USER, OS_USER)
    cluster = Cluster(root)

    def remove() -> None:
        if cluster.running():
            try:
                cluster.stop("immediate")
            except RuntimeError:
                pass  # already stopped, or stopping: the directory goes either way
        shutil.rmtree(root, ignore_errors=True)

    atexit.register(remove)  # should the test process be interrupted before the finally
    try:
        cluster.init()
        cluster.start()
        cluster.migrate()
        yield cluster
    finally:
        remove()
        atexit.unregister(remove)


@contextmanager
def own_database() -> Iterator[tuple[str, str, str]]:
    """(name, owner URL, service URL) of a new, migrated database on the shared server.

    Named like every scratch database of the suite, so a killed run's leftover is dropped
    by the next (dbsupport._drop_stale_databases)."""
    require_postgres()
    with scratch_database(ADMIN_URL, SCRATCH_PREFIX) as dbname:
        owner = with_database(ADMIN_URL, dbname)
        upgrade(owner)
        yield dbname, owner, with_database(ADMIN_URL, dbname, user=SERVICE_ROLE)


def terminate_service_backends(dbname: str) -> int:
    """Terminates the service role's sessions in `dbname`, and no others; how many."""
    conn = psycopg2.connect(with_database(ADMIN_URL, dbname), connect_timeout=5)
    conn.autocommit = True
    try:
        with conn.cursor() as curs:
            curs.execute(
                "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = %s AND usename = %s AND pid <> pg_backend_pid()",
                (dbname, SERVICE_ROLE))
            return int(curs.fetchone()[0])
    finally:
        conn.close()

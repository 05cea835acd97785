"""PostgreSQL for tests that break it: a database of their own on the shared server, whose
service backends they may terminate, and a private cluster they may stop and start, or a
private primary with a streaming hot standby of it (`replicated_clusters`).

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
MAX_CONNECTIONS = 50
STANDBY_MAX_CONNECTIONS = 120
"""A standby needs max_connections at least the primary's; API processes with their pools,
workers and the test's own sessions fit in this."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Cluster:
    """One initdb'd data directory and the server on it (started and stopped at will)."""

    def __init__(self, root: Path, max_connections: int = MAX_CONNECTIONS) -> None:
        self.root = root
        self.data = root / "data"
        self.port = _free_port()
        self.max_connections = max_connections
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
                   f"-c unix_socket_directories={self.root} "
                   f"-c max_connections={self.max_connections}")
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

    def base_backup_of(self, primary: Cluster) -> None:
        """This cluster's data directory as a streaming standby of `primary`: pg_basebackup
        with -R writes standby.signal and primary_conninfo; hot_standby is on by default."""
        self._run("pg_basebackup", "-D", str(self.data), "-h", "127.0.0.1",
                  "-p", str(primary.port), "-U", "postgres", "-R", "-X", "stream",
                  "--checkpoint=fast", "--no-sync")

    def in_recovery(self) -> bool:
        conn = psycopg2.connect(self.admin_url, connect_timeout=5)
        try:
            with conn.cursor() as curs:
                curs.execute("SELECT pg_is_in_recovery()")
                return bool(curs.fetchone()[0])
        finally:
            conn.close()


def _require_tools(*tools: str) -> None:
    missing = [tool for tool in ("initdb", "pg_ctl", *tools) if not (BINDIR / tool).exists()]
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        missing.append("runuser")
    if missing:
        message = f"no {', '.join(missing)} under {BINDIR} (set LEDGER_TEST_PG_BINDIR)"
        if in_ci():
            pytest.fail(message + " (CI=true: failing instead of skipping)", pytrace=False)
        pytest.skip(message)


@contextmanager
def _removed_afterwards(root: Path, *clusters: Cluster) -> Iterator[None]:
    """Stops the clusters (immediately) and deletes `root` when the block ends, even on
    failure, and at exit should the test process be interrupted before that."""

    def remove() -> None:
        for cluster in clusters:
            if cluster.running():
                try:
                    cluster.stop("immediate")
                except RuntimeError:
                    pass  # already stopped, or stopping: the directory goes either way
        shutil.rmtree(root, ignore_errors=True)

    atexit.register(remove)
    try:
        yield
    finally:
        remove()
        atexit.unregister(remove)


@contextmanager
def private_cluster() -> Iterator[Cluster]:
    """A started, migrated cluster; stopped (immediately) and deleted afterwards."""
    _require_tools()
    root = Path(tempfile.mkdtemp(prefix="ledger-pgcluster-"))
    if os.geteuid() == 0:
        shutil.chown(root, OS_USER, OS_USER)
    cluster = Cluster(root)
    with _removed_afterwards(root, cluster):
        cluster.init()
        cluster.start()
        cluster.migrate()
        yield cluster


@contextmanager
def replicated_clusters() -> Iterator[tuple[Cluster, Cluster]]:
    """(primary, standby): a migrated primary and a hot standby streaming from it, on two
    free loopback ports, both stopped (immediately) and deleted afterwards, even on failure.

    The standby is a base backup taken after the migrations; what the primary commits
    from then on reaches it by streaming replication, and it refuses every write."""
    _require_tools("pg_basebackup")
    root = Path(tempfile.mkdtemp(prefix="ledger-pgreplica-"))
    (root / "primary").mkdir()
    (root / "standby").mkdir()
    if os.geteuid() == 0:
        for path in (root, root / "primary", root / "standby"):
            shutil.chown(path, OS_USER, OS_USER)
    primary = Cluster(root / "primary", STANDBY_MAX_CONNECTIONS)
    standby = Cluster(root / "standby", STANDBY_MAX_CONNECTIONS)
    with _removed_afterwards(root, standby, primary):
        primary.init()
        primary.start()
        primary.migrate()
        standby.base_backup_of(primary)
        standby.start()
        if not standby.in_recovery():
            raise RuntimeError("the standby is not in recovery: it would not follow the primary")
        yield primary, standby


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

"""Databases for tests: a fresh, migrated SQLite file or PostgreSQL database per test run.

PostgreSQL is real (never mocked). When no server is reachable the PostgreSQL tests skip
loudly on a laptop, but fail under CI=true, so CI can never pass without them.
"""

from __future__ import annotations

import atexit
import os
import tempfile
from functools import cache

import psycopg2
import pytest

from persistence.schema import upgrade
from persistence.scratch import create_database, drop_database, scratch_name, with_database

ADMIN_URL = os.environ.get("LEDGER_TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
SERVICE_ROLE = os.environ.get("LEDGER_SERVICE_ROLE", "ledger_service")
PROJECTION_ROLE = os.environ.get("LEDGER_PROJECTION_ROLE", "ledger_projector")
LOG_TABLES = (
    "events", "event_chain", "snapshots", "tracking", "idempotency",
    "chain_heads",  # migration 0007: the signed heads plain verify compares the log with
    # Read models (migration 0002; projections.tables.READ_MODEL_TABLES).
    "rm_managers", "rm_grades", "rm_targets", "rm_customers", "rm_holdings",
    "rm_contributions", "rm_deductions", "rm_deduction_changes", "rm_disputes",
    "rm_dispute_steps", "rm_adjustments", "rm_adjustment_changes", "rm_rulesets",
    "rm_ruleset_publications", "rm_views", "rm_figures",
    "rm_period_closings",  # migration 0005
    "rm_tracking",  # migration 0008
    "rm_indicator_reports",  # migration 0009
    "rm_assessment_plans", "rm_assessment_sheets",  # migration 0010
    "rm_disqualification_steps",  # migration 0011
    "api_tokens",  # `ledger demo` refuses a database holding tokens (0008)
)
SCRATCH_PREFIX = "ledger_test"
"""Scratch databases are `ledger_test_<pid>_<random>` (persistence.scratch.scratch_name)."""
SKIP_MESSAGE = "PostgreSQL is not reachable at {url}: {error}"


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


@cache
def _postgres_problem() -> str | None:
    try:
        psycopg2.connect(ADMIN_URL, connect_timeout=3).close()
    except psycopg2.Error as e:
        return SKIP_MESSAGE.format(url=ADMIN_URL, error=str(e).strip())
    return None


def require_postgres() -> None:
    """Skip (laptop) or fail (CI) when PostgreSQL cannot be reached."""
    problem = _postgres_problem()
    if problem is None:
        return
    if in_ci():
        pytest.fail(problem + " (CI=true: failing instead of skipping)", pytrace=False)
    pytest.skip(problem + " -- PostgreSQL tests SKIPPED")


def _pid_is_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _drop_stale_databases() -> None:
    """Drop scratch databases left by test runs that were killed (their pid is gone)."""
    conn = psycopg2.connect(ADMIN_URL)
    try:
        with conn.cursor() as curs:
            curs.execute("SELECT datname FROM pg_database WHERE datname LIKE %s",
                         (SCRATCH_PREFIX.replace("_", r"\_") + r"\_%",))
            names = [row[0] for row in curs.fetchall()]
    finally:
        conn.close()
    for name in names:
        pid = name.split("_")[2]
        if pid.isdigit() and not _pid_is_alive(int(pid)):
            drop_database(ADMIN_URL, name)


@cache
def postgres_database() -> str:
    """Create and migrate one database for this test process; dropped at exit."""
    require_postgres()
    _drop_stale_databases()
    dbname = scratch_name(SCRATCH_PREFIX)
    create_database(ADMIN_URL, dbname)
    atexit.register(drop_database, ADMIN_URL, dbname)
    upgrade(with_database(ADMIN_URL, dbname))
    return dbname


def postgres_admin_url() -> str:
    return with_database(ADMIN_URL, postgres_database())


def postgres_service_url() -> str:
    """The URL the service uses: the migrations' service role, with SELECT/INSERT on the log."""
    return with_database(ADMIN_URL, postgres_database(), user=SERVICE_ROLE)


def postgres_projection_url() -> str:
    """The projection writer's URL: the only role that may write the read models (0008)."""
    return with_database(ADMIN_URL, postgres_database(), user=PROJECTION_ROLE)


def reset_postgres() -> None:
    """Empty every table, as the administrator (the service role may not)."""
    conn = psycopg2.connect(postgres_admin_url())
    try:
        with conn, conn.cursor() as curs:
            # The log refuses TRUNCATE unless the maintenance path is taken explicitly.
            curs.execute("SET LOCAL ledger.maintenance = 'on'")
            curs.execute(f"TRUNCATE {', '.join(LOG_TABLES)}")
    finally:
        conn.close()


def fresh_sqlite_url() -> str:
    """A new, migrated SQLite file."""
    path = os.path.join(tempfile.mkdtemp(prefix="ledger-test-"), "ledger.db")
    url = f"sqlite:///{path}"
    upgrade(url)
    return url

"""Configuration, only from the environment (DESIGN §10)."""

from __future__ import annotations

import os

from persistence.url import default_url, environment_for

PROJECTION_URL = "LEDGER_PROJECTION_DATABASE_URL"
"""The key of the writer's URL in an application's environment (set only when configured)."""
READ_URL = "LEDGER_READ_DATABASE_URL"
"""The key of the query side's URL (a hot standby) in an application's environment."""
WORKERS = "LEDGER_PROJECTION_WORKERS"
"""The key of who writes the read models: `embedded` (queries catch up inline) or `external`."""
WORKER_MODES = ("embedded", "external")


def database_url() -> str:
    """LEDGER_DATABASE_URL, or a SQLite file under ./var/ when unset."""
    return os.environ.get("LEDGER_DATABASE_URL") or default_url()


def admin_database_url() -> str:
    """The URL migrations run with: an owner of the schema, not the service role."""
    return os.environ.get("LEDGER_ADMIN_DATABASE_URL") or database_url()


def projection_database_url() -> str | None:
    """LEDGER_PROJECTION_DATABASE_URL: the projection writer's role, which alone may write
    the read models. Unset, persistence.engines derives it from the service URL."""
    return os.environ.get("LEDGER_PROJECTION_DATABASE_URL") or None


def projection_role() -> str:
    """LEDGER_PROJECTION_ROLE: the PostgreSQL role migration 0008 lets write read models."""
    role = os.environ.get("LEDGER_PROJECTION_ROLE", "ledger_projector")
    if not role.replace("_", "").isalnum():
        raise ValueError(f"LEDGER_PROJECTION_ROLE must be a plain identifier, not {role!r}")
    return role


def read_database_url() -> str | None:
    """LEDGER_READ_DATABASE_URL: where queries read (a streaming standby of the primary).
    Unset, queries read LEDGER_DATABASE_URL."""
    return os.environ.get(READ_URL) or None


def projection_workers() -> str:
    """LEDGER_PROJECTION_WORKERS: `external` when `ledger projections run` processes keep the
    read models and API processes must never write them; `embedded` (the default without a
    read replica) lets a query catch the read models up inline. A replica cannot be written,
    so with LEDGER_READ_DATABASE_URL the default is `external`."""
    mode = os.environ.get(WORKERS) or ("external" if read_database_url() else "embedded")
    if mode not in WORKER_MODES:
        raise ValueError(f"{WORKERS} must be one of {', '.join(WORKER_MODES)}, not {mode!r}")
    if mode == "embedded" and read_database_url():
        raise ValueError(f"{READ_URL} needs {WORKERS}=external: a standby cannot be written")
    return mode


def application_environment() -> dict[str, str]:
    env = environment_for(database_url())
    projection_url = projection_database_url()
    if projection_url:
        env[PROJECTION_URL] = projection_url
    read_url = read_database_url()
    if read_url:
        env[READ_URL] = read_url
    env[WORKERS] = projection_workers()
    timezone = os.environ.get("LEDGER_TIMEZONE")
    if timezone:
        env["TIMEZONE"] = timezone
    return env

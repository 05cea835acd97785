"""Configuration, only from the environment (DESIGN §10)."""

from __future__ import annotations

import os

from persistence.url import default_url, environment_for


def database_url() -> str:
    """LEDGER_DATABASE_URL, or a SQLite file under ./var/ when unset."""
    return os.environ.get("LEDGER_DATABASE_URL") or default_url()


def admin_database_url() -> str:
    """The URL migrations run with: an owner of the schema, not the service role."""
    return os.environ.get("LEDGER_ADMIN_DATABASE_URL") or database_url()


def application_environment() -> dict[str, str]:
    env = environment_for(database_url())
    timezone = os.environ.get("LEDGER_TIMEZONE")
    if timezone:
        env["TIMEZONE"] = timezone
    return env

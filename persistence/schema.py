"""Applies the migrations in `migrations/` with Alembic, and reports whether they are current."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine

import migrations
from persistence.url import backend_of, libpq_dsn, sqlite_path


def sqlalchemy_url(url: str) -> str:
    if backend_of(url) == "postgresql":
        return "postgresql+psycopg2://" + libpq_dsn(url).split("://", 1)[1]
    return "sqlite:///" + sqlite_path(url)


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(Path(migrations.__file__).parent))
    # ConfigParser treats % as interpolation; a password may contain one.
    config.set_main_option("sqlalchemy.url", sqlalchemy_url(url).replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    if backend_of(url) == "sqlite":
        Path(sqlite_path(url)).parent.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(url), revision)


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config("sqlite:///:memory:")).get_current_head()


def current_revision(url: str) -> str | None:
    engine = create_engine(sqlalchemy_url(url))
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()


def is_current(url: str) -> bool:
    return current_revision(url) == head_revision()

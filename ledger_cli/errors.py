"""How the `ledger` command fails: one clear line and an exit code, never a traceback.

`LedgerGroup` is the top of the command tree; whatever a command raises goes through
`explain` once, instead of a try/except in every command:

- a refusal by the ledger (a LedgerError: unknown manager, invalid input, a rule) prints
  its title and detail, exit 1;
- a database that is missing, not migrated, or unreachable prints what to do, exit 3.

`@reads_only` marks commands that only read (verify, status, show, diff, token list): they
refuse a SQLite file that does not exist rather than let the driver create an empty one,
and a database whose migrations were never applied. Both exit 3.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from dataclasses import asdict, is_dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar
from uuid import UUID

import click

DATABASE_EXIT = 3
"""Exit code when the database is missing, unmigrated or away (1 is a refusal, 2 usage)."""
UNMIGRATED_MARKS = ("no such table", 'relation "', "undefinedtable")

F = TypeVar("F", bound=Callable[..., Any])


class DatabaseNotReady(click.ClickException):
    exit_code = DATABASE_EXIT


class LedgerGroup(click.Group):
    """The `ledger` group: every command's failure explained in one line."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except Exception as error:
            explained = explain(error)
            if explained is None:
                raise
            raise explained from error


def explain(error: Exception) -> click.ClickException | None:
    """The one line for a failure the operator can act on; None for a bug (traceback)."""
    import eventsourcing.persistence as es  # noqa: PLC0415 - keep --help fast
    import sqlalchemy.exc as sa  # noqa: PLC0415

    from ledger.errors import LedgerError  # noqa: PLC0415

    if isinstance(error, LedgerError):
        return click.ClickException(f"{error.title}: {error.detail}")
    if not isinstance(error, (es.PersistenceError, sa.SQLAlchemyError)):
        return None
    first_line = (str(error).strip().splitlines() or [type(error).__name__])[0][:300]
    if any(mark in first_line.lower() for mark in UNMIGRATED_MARKS):
        return DatabaseNotReady(f"the database is not migrated ({first_line}); "
                                "run `ledger db upgrade`")
    away = (es.OperationalError, es.InterfaceError, sa.OperationalError, sa.InterfaceError,
            sa.TimeoutError)
    if isinstance(error, away):
        return DatabaseNotReady(f"the database is unavailable: {first_line}")
    return None  # any other database error is a bug: its traceback helps


def reads_only(command: F) -> F:
    """Before a reading command: the database must exist and be migrated (it is never
    created by asking it something)."""

    @functools.wraps(command)
    def checked(*args: Any, **kwargs: Any) -> Any:
        require_migrated_database()
        return command(*args, **kwargs)

    return checked  # type: ignore[return-value]


def require_migrated_database() -> None:
    from persistence.config import database_url  # noqa: PLC0415
    from persistence.schema import current_revision  # noqa: PLC0415
    from persistence.url import backend_of, sqlite_path  # noqa: PLC0415

    url = database_url()
    if backend_of(url) == "sqlite":
        path = sqlite_path(url)
        if ":memory:" not in path and not Path(path).is_file():
            raise DatabaseNotReady(f"no database at {path} (nothing was created): check "
                                   "LEDGER_DATABASE_URL, or create it with `ledger db upgrade`")
    try:
        revision = current_revision(url)
    except Exception as error:
        raise explain(error) or error from error
    if revision is None:
        raise DatabaseNotReady("the database is not migrated: run `ledger db upgrade`")


json_option = click.option("--json", "as_json", is_flag=True,
                           help="print the result as one JSON document")


def echo_json(value: Any) -> None:
    """A result as JSON: decimals and ids as strings, dates and instants in ISO 8601."""
    click.echo(json.dumps(value, default=_plain, ensure_ascii=False, indent=2))


def _plain(value: Any) -> Any:
    if isinstance(value, (Decimal, UUID)):
        return str(value)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON")

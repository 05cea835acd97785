"""Turns `LEDGER_DATABASE_URL` into the eventsourcing library's environment settings."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

DEFAULT_SQLITE_PATH = Path("var") / "ledger.db"


def default_url() -> str:
    return f"sqlite:///{DEFAULT_SQLITE_PATH}"


def backend_of(url: str) -> str:
    """'sqlite' or 'postgresql'; anything else is refused with the accepted forms."""
    scheme = urlsplit(url).scheme.split("+")[0]
    if scheme in ("postgres", "postgresql"):
        return "postgresql"
    if scheme == "sqlite":
        return "sqlite"
    msg = f"LEDGER_DATABASE_URL must start with sqlite:/// or postgresql://, not {scheme!r}"
    raise ValueError(msg)


def sqlite_path(url: str) -> str:
    """The file path of a `sqlite:///relative` or `sqlite:////absolute` URL."""
    path = url.split("://", 1)[1]
    return path[1:] if path.startswith("/") else path


def libpq_dsn(url: str) -> str:
    """libpq accepts postgresql:// URIs as they are, minus any SQLAlchemy driver suffix."""
    scheme, rest = url.split("://", 1)
    return "postgresql://" + rest if "+" in scheme or scheme == "postgres" else url


def environment_for(url: str) -> dict[str, str]:
    """The eventsourcing environment that selects and configures our persistence module."""
    if backend_of(url) == "postgresql":
        return {"PERSISTENCE_MODULE": "persistence.postgres", "POSTGRES_DSN": libpq_dsn(url)}
    path = sqlite_path(url)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    return {"PERSISTENCE_MODULE": "persistence.sqlite", "SQLITE_DBNAME": path}

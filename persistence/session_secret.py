"""The workspace's session secret (DESIGN §10, §15): `LEDGER_SECRET_KEY` signs the session
cookies of the pages under /app/.

The variable holds the secret itself (at least MIN_LENGTH characters). Unset, the embedded
SQLite default generates one once beside the SQLite file (`persistence.secret_files`);
with PostgreSQL a missing secret is a configuration error naming the variable, and
`ledger serve` refuses to start. There is no default in code.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from persistence.secret_files import beside_sqlite, generated_once

VARIABLE = "LEDGER_SECRET_KEY"
SQLITE_SUFFIX = ".secret-key"
MIN_LENGTH = 32
"""A shorter secret could be guessed offline from one signed cookie."""


class SessionSecretMissing(RuntimeError):
    """The workspace cannot sign sessions: raised naming what to set."""


def session_secret(env: dict[str, str]) -> str:
    """The secret from the environment, or the one generated beside the SQLite file."""
    named = os.environ.get(VARIABLE, "").strip()
    if named:
        return _checked(named, VARIABLE)
    path = beside_sqlite(env, SQLITE_SUFFIX)
    if path is None:
        raise SessionSecretMissing(
            f"{VARIABLE} is not set: with PostgreSQL the workspace needs a secret of at "
            f"least {MIN_LENGTH} characters to sign its session cookies "
            "(`python -c 'import secrets; print(secrets.token_urlsafe(48))'` makes one)")
    return _checked(generated_once(path, write_secret).read_text().strip(), str(path))


def write_secret(path: Path) -> str:
    """Writes a new random secret to `path` (mode 0600, never over an existing file)."""
    secret = secrets.token_urlsafe(48)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600, exist_ok=False)
    path.write_text(secret + "\n")
    return secret


def _checked(secret: str, source: str) -> str:
    if len(secret) < MIN_LENGTH:
        raise SessionSecretMissing(f"{source}: the session secret must be at least "
                                   f"{MIN_LENGTH} characters")
    return secret

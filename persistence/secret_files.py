"""Where a secret lives when the environment names none (DESIGN §10).

On the embedded SQLite default a missing secret is generated once beside the SQLite file
(mode 0600) and reused, so a demo runs without set-up; with PostgreSQL nothing is
generated, because a production service that invented its own secret would hold one
nobody has registered. The statement key and the workspace's session secret both follow
this rule; each module says what its secret is and how it is made.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path


def beside_sqlite(env: dict[str, str], suffix: str) -> Path | None:
    """The file next to the embedded SQLite database, or None when there is no such file
    (PostgreSQL, or SQLite in memory)."""
    sqlite_file = env.get("SQLITE_DBNAME")
    if not sqlite_file or sqlite_file == ":memory:" or "mode=memory" in str(sqlite_file):
        return None
    return Path(str(sqlite_file) + suffix)


def generated_once(path: Path, write: Callable[[Path], object]) -> Path:
    """`path`, written by `write` first if it does not exist yet. `write` must create the
    file exclusively (mode 0600): when another worker wins the race, theirs is used."""
    if not path.exists():
        try:
            write(path)
        except FileExistsError:
            pass
    return path

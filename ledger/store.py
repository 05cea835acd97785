"""What the ledger needs from its event store: the port that persistence/ implements.

The core saves through the library's `Application.save`, which hands its keyword arguments
down to the recorder's `insert_events`. An `Append` travels that way: it carries the
request's idempotency record into the append's transaction, and brings back what the
append assigned to each event (position, recording time, chain link). Everything else the
core reads from the store beyond the library's interface is named in `LedgerStore`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple, Protocol, runtime_checkable
from uuid import UUID

APPEND = "append"
"""The keyword under which `Application.save(..., append=Append(...))` reaches the recorder."""


class Appended(NamedTuple):
    """What the ledger assigned to one stored event when it appended it.

    A tuple, not a frozen dataclass: every save builds one per event, and a frozen
    dataclass's `__init__` (one `object.__setattr__` per field) cost 0.5-0.8 µs of it.
    """

    position: int
    recorded_at: datetime
    link: bytes
    originator_id: UUID | str
    originator_version: int
    topic: str


@dataclass(frozen=True)
class IdempotencyRecord:
    """A request's idempotency key, stored in the same transaction as the events it caused.

    `note` is what the command learned besides its events (policy warnings, a batch's
    per-item outcomes), encoded before the append; the events themselves are found again
    by the positions the recorder stores with the row, so a replay rebuilds the first
    answer from the log and nothing is serialised while the append lock is held.
    """

    scope: str
    key: str
    request_hash: str
    status_code: int
    note: bytes = b"null"


@dataclass(frozen=True)
class Assumed:
    """An aggregate the command read without proving it current (the kept rule book): the
    append extends the log only if that aggregate is still at `version` under its lock."""

    originator_id: UUID
    version: int


class OutdatedRead(Exception):  # noqa: N818  (a signal to judge again, not a failure)
    """The append found an assumed aggregate at another version and wrote nothing: the
    command was judged by an outdated read and must run again with a fresh one."""


@dataclass
class Append:
    """One append's extras: the idempotency record and any assumed read in, the assigned
    positions out."""

    idempotency: IdempotencyRecord | None = None
    assigned: list[Appended] = field(default_factory=list)
    assumed: Assumed | None = None

    def check_assumed(self, version: int | None) -> None:
        """Under the append lock, before anything is written: `version` is the assumed
        aggregate's last version in the log (None: no events, or nothing assumed)."""
        if self.assumed is not None and version != self.assumed.version:
            raise OutdatedRead(f"{self.assumed.originator_id} is at version {version}, "
                               f"the command read version {self.assumed.version}")


@dataclass(frozen=True)
class StoredRequest:
    """An idempotency record as stored: the first request's hash, status and events.

    Records written before replays were rebuilt from the log (first_position None) hold
    the whole first response in `note`.
    """

    request_hash: str
    status_code: int
    note: bytes
    first_position: int | None
    last_position: int | None


@runtime_checkable
class LedgerStore(Protocol):
    """What the application reads from its recorder beyond the library's interface."""

    def select_recorded(self, originator_id: UUID | str) -> list[tuple[int, int, datetime]]:
        """(version, position, recorded_at) of each event of one aggregate, in order."""
        ...

    def select_appended(self, first: int, last: int) -> list[Appended]:
        """What was assigned to the events at positions first..last, in order."""
        ...

    def position_known_at(self, instant: datetime) -> int:
        """The last position recorded at or before `instant` (0 before the first event)."""
        ...

    def existing_originators(self, ids: Sequence[UUID]) -> set[UUID]:
        """Which of these aggregate ids have events, in one query."""
        ...

    def find_request(self, scope: str, key: str) -> StoredRequest | None:
        """The idempotency record of (scope, key), if one was stored."""
        ...

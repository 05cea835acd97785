"""What an append assigns to each stored event, and the hash chain that links them.

Both back ends share this module so that a log written on SQLite and one written on
PostgreSQL chain identically, and so that `verify` has exactly one definition of a link.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple
from uuid import UUID

from eventsourcing.persistence import StoredEvent

from ledger.store import APPEND, Append, Appended, IdempotencyRecord
from persistence.seal import Seal, keyring_from_environment, seals_for

GENESIS_LINK = bytes(32)
"""The link before the first event: 32 zero bytes."""

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Head:
    """The last appended event as seen under the append lock (or the empty log)."""

    position: int = 0
    recorded_at: datetime | None = None
    link: bytes = GENESIS_LINK
    key_id: str | None = None
    """The chain key that sealed the head (None: the log is not sealed yet)."""


class ChainInput(NamedTuple):
    """What one link is computed from, as `verify` reads it (digests, not states), with
    the link stored for it, if any, and its seal (the keyed layer, persistence/seal.py)."""

    position: int
    originator: str
    originator_version: int
    topic: str
    state_digest: bytes
    recorded_micros: int
    stored_link: bytes | None
    key_id: str | None = None
    seal: bytes | None = None


@dataclass(frozen=True)
class LogRow:
    """One stored event as the log holds it, with its position, recording time and link."""

    position: int
    originator_id: UUID | str
    originator_version: int
    topic: str
    state: bytes
    recorded_at: datetime
    link: bytes | None


IDEMPOTENCY_COLUMNS = (
    "scope", "idem_key", "request_hash", "status_code", "response",
    "first_position", "position", "recorded_at",
)
"""The columns of an idempotency row, in the order `idempotency_values` gives them."""


HEAD_COLUMNS = ("position", "link", "recorded_at", "exported_at", "public_key", "signature")
"""The columns of `chain_heads` (a signed head, persistence/head.py), in order."""


def append_of(kwargs: Mapping[str, Any]) -> Append | None:
    """The `Append` a save passed down, if any (see ledger.store)."""
    append = kwargs.get(APPEND)
    return append if isinstance(append, Append) else None


def idempotency_values(record: IdempotencyRecord, assigned: Sequence[Appended]) -> tuple[Any, ...]:
    """The row that stores `record` beside the events it caused (first and last position)."""
    first, last = assigned[0], assigned[-1]
    return (record.scope, record.key, record.request_hash, record.status_code, record.note,
            first.position, last.position, last.recorded_at)


def to_micros(instant: datetime) -> int:
    """Microseconds since the epoch: the one form of a recording time that enters a link."""
    delta = instant.astimezone(UTC) - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_micros(micros: int) -> datetime:
    return EPOCH + timedelta(microseconds=micros)


def originator_text(originator_id: UUID | str) -> str:
    return originator_id.hex if isinstance(originator_id, UUID) else originator_id


def state_digest(state: bytes) -> bytes:
    return hashlib.sha256(state).digest()


_POSITION = struct.Struct(">q")
_LENGTH = struct.Struct(">I")


def link_from_parts(
    previous: bytes,
    position: int,
    originator: str,
    originator_version: int,
    topic: str,
    digest_of_state: bytes,
    recorded_micros: int,
) -> bytes:
    """The chain formula on already-normalised parts (the fast path `verify` uses).

    Variable fields are length-prefixed so that no two different events hash the same.
    """
    originator_bytes = originator.encode()
    topic_bytes = topic.encode()
    return hashlib.sha256(
        b"".join((
            previous,
            _POSITION.pack(position),
            _LENGTH.pack(len(originator_bytes)),
            originator_bytes,
            _POSITION.pack(originator_version),
            _LENGTH.pack(len(topic_bytes)),
            topic_bytes,
            digest_of_state,
            _POSITION.pack(recorded_micros),
        ))
    ).digest()


def chain_link(
    previous: bytes,
    position: int,
    originator_id: UUID | str,
    originator_version: int,
    topic: str,
    digest_of_state: bytes,
    recorded_at: datetime,
) -> bytes:
    """H(previous link, position, originator id, version, topic, H(state), recorded_at).

    The state enters only as its digest, so a redacted or encrypted payload still
    verifies against its stored digest. The recording time is chained too, because
    every `known_at` answer depends on it.
    """
    return link_from_parts(
        previous,
        position,
        originator_text(originator_id),
        originator_version,
        topic,
        digest_of_state,
        to_micros(recorded_at),
    )


def plan_append(head: Head, now: datetime, stored_events: Sequence[StoredEvent]) -> list[Appended]:
    """Assign gap-free positions, a non-decreasing recording time and chain links.

    Must be called while holding the append lock, with `head` read under that lock.
    All events of one append share one recording time, and each append's time is later
    than the previous one's (by at least a microsecond, even if the clock stepped back),
    so "recorded at or before t" always cuts the log between two whole appends.
    """
    recorded_at = now
    if head.recorded_at is not None:
        recorded_at = max(now, head.recorded_at + timedelta(microseconds=1))
    link = head.link
    appended = []
    # chain_link's formula, with the append's one recording time converted once.
    recorded_micros = to_micros(recorded_at)
    for offset, stored in enumerate(stored_events, start=1):
        position = head.position + offset
        link = link_from_parts(
            link,
            position,
            originator_text(stored.originator_id),
            stored.originator_version,
            stored.topic,
            state_digest(stored.state),
            recorded_micros,
        )
        appended.append(
            Appended(
                position=position,
                recorded_at=recorded_at,
                link=link,
                originator_id=stored.originator_id,
                originator_version=stored.originator_version,
                topic=stored.topic,
            )
        )
    return appended


def plan_seals(
    head: Head, stored_events: Sequence[StoredEvent], appended: Sequence[Appended]
) -> list[Seal | None]:
    """The keyed layer of an append planned by `plan_append`, under the same lock.

    The key in force is the head's, unless the append announces another; the keys come
    from LEDGER_CHAIN_KEY_FILE. Raises ChainKeyUnavailable (and so appends nothing) when
    the key in force is not held here, rather than append what verify must call forged.
    """
    links = [a.link for a in appended]
    return seals_for(head.key_id, links, stored_events, keyring_from_environment())

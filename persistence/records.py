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
from itertools import count
from typing import Any, NamedTuple
from uuid import UUID

from eventsourcing.persistence import StoredEvent

from ledger.store import APPEND, Append, Appended, IdempotencyRecord
from persistence.seal import Keyring, Seal, keyring_from_environment, seals_for

GENESIS_LINK = bytes(32)
"""The link before the first event: 32 zero bytes."""

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class Head(NamedTuple):
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


PREPARED = "prepared_append"
"""The keyword under which a recorder's `insert_events` hands its `_insert_events` the
append's `Prepared` part, computed before the append lock was taken."""


def append_of(kwargs: Mapping[str, Any]) -> Append | None:
    """The `Append` a save passed down, if any (see ledger.store)."""
    append = kwargs.get(APPEND)
    return append if isinstance(append, Append) else None


def idempotency_values(record: IdempotencyRecord, planned: Planned) -> tuple[Any, ...]:
    """The row that stores `record` beside the events it caused (first and last position)."""
    return (*idempotency_known_values(record), *idempotency_planned_values(planned))


def idempotency_known_values(record: IdempotencyRecord) -> tuple[Any, ...]:
    """The idempotency row's values known before the append lock is taken, in column order."""
    return (record.scope, record.key, record.request_hash, record.status_code, record.note)


def idempotency_planned_values(planned: Planned) -> tuple[Any, ...]:
    """The idempotency row's values the head decides (its last columns, in order)."""
    return (planned.first, planned.last, planned.recorded_at)


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


def event_part(
    originator: str, originator_version: int, topic: str, digest_of_state: bytes
) -> bytes:
    """An event's own part of its link's input: what lies between the previous link and
    position and the recording time, none of which depends on where the event lands.
    Variable fields are length-prefixed so that no two different events hash the same."""
    originator_bytes = originator.encode()
    topic_bytes = topic.encode()
    return b"".join((
        _LENGTH.pack(len(originator_bytes)),
        originator_bytes,
        _POSITION.pack(originator_version),
        _LENGTH.pack(len(topic_bytes)),
        topic_bytes,
        digest_of_state,
    ))


def link_from_parts(
    previous: bytes,
    position: int,
    originator: str,
    originator_version: int,
    topic: str,
    digest_of_state: bytes,
    recorded_micros: int,
) -> bytes:
    """The chain formula on already-normalised parts (the fast path `verify` uses):
    H(previous link, position, the event's part, recorded_micros)."""
    return hashlib.sha256(
        b"".join((
            previous,
            _POSITION.pack(position),
            event_part(originator, originator_version, topic, digest_of_state),
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


class Prepared(NamedTuple):
    """What an append computes before it takes the append lock: nothing in it depends on
    the head, so the lock is not held while the states are digested (persistence/*.py
    take the lock after `prepare_append`)."""

    stored_events: Sequence[StoredEvent]
    originators: list[str]
    """Each event's originator id as the chain hashes it (`originator_text`)."""
    parts: list[bytes]
    """Each event's `event_part`."""
    keyring: Keyring
    """The chain keys held here (LEDGER_CHAIN_KEY_FILE), for `plan_seals`."""


class Planned(NamedTuple):
    """What the head decides for an append: positions first..last, one recording time,
    and each event's link."""

    first: int
    last: int
    recorded_at: datetime
    links: list[bytes]


def prepare_append(stored_events: Sequence[StoredEvent]) -> Prepared:
    """The head-independent half of `plan_append`, for before the append lock."""
    originators = [originator_text(s.originator_id) for s in stored_events]
    parts = [event_part(o, s.originator_version, s.topic, state_digest(s.state))
             for o, s in zip(originators, stored_events, strict=True)]
    return Prepared(stored_events, originators, parts, keyring_from_environment())


def plan_links(head: Head, now: datetime, prepared: Prepared) -> Planned:
    """Assign gap-free positions, a non-decreasing recording time and chain links.

    Must be called while holding the append lock, with `head` read under that lock.
    All events of one append share one recording time, and each append's time is later
    than the previous one's (by at least a microsecond, even if the clock stepped back),
    so "recorded at or before t" always cuts the log between two whole appends.
    """
    recorded_at = now
    if head.recorded_at is not None:
        recorded_at = max(now, head.recorded_at + timedelta(microseconds=1))
    # link_from_parts's formula, with the append's one recording time packed once and
    # each event's part computed before the lock (prepare_append).
    packed_micros = _POSITION.pack(to_micros(recorded_at))
    pack, sha256 = _POSITION.pack, hashlib.sha256
    link = head.link
    links = []
    for position, part in enumerate(prepared.parts, start=head.position + 1):
        link = sha256(b"".join((link, pack(position), part, packed_micros))).digest()
        links.append(link)
    return Planned(head.position + 1, head.position + len(links), recorded_at, links)


def appended_of(prepared: Prepared, planned: Planned) -> list[Appended]:
    """What the append assigned to each event, once it is planned (built after the lock
    is released, where the back end allows: the caller needs it only after COMMIT)."""
    recorded_at = planned.recorded_at
    return [Appended(position, recorded_at, link, s.originator_id, s.originator_version, s.topic)
            for position, link, s in zip(count(planned.first), planned.links,
                                         prepared.stored_events)]


def plan_append(head: Head, now: datetime, stored_events: Sequence[StoredEvent]) -> list[Appended]:
    """`plan_links` and `appended_of` in one, for callers that prepare nothing ahead."""
    prepared = prepare_append(stored_events)
    return appended_of(prepared, plan_links(head, now, prepared))


def plan_seals(
    head: Head, stored_events: Sequence[StoredEvent], links: Sequence[bytes], keyring: Keyring,
) -> list[Seal | None]:
    """The keyed layer of an append planned by `plan_links`, under the same lock.

    The key in force is the head's, unless the append announces another; the keys come
    from LEDGER_CHAIN_KEY_FILE. Raises ChainKeyUnavailable (and so appends nothing) when
    the key in force is not held here, rather than append what verify must call forged.
    """
    return seals_for(head.key_id, links, stored_events, keyring)

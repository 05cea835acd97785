"""Base aggregate whose events all carry audit fields, and the transcodings they need."""

from __future__ import annotations

from dataclasses import field
from datetime import date

from eventsourcing.domain import Aggregate
from eventsourcing.persistence import (
    DatetimeAsISO,
    DecimalAsStr,
    JSONTranscoder,
    Transcoding,
    UUIDAsHex,
)

from ledger.audit import current_audit


def _actor() -> str:
    return current_audit().actor


def _role() -> str:
    return current_audit().role


def _request_id() -> str:
    return current_audit().request_id


def _source_system() -> str | None:
    return current_audit().source_system


def _external_id() -> str | None:
    return current_audit().external_id


class LedgerAggregate(Aggregate):
    """Base of every ledger aggregate: its events record who acted and why."""

    class Event(Aggregate.Event):
        """Base of every ledger event.

        The audit fields are not constructor arguments (init=False): they are
        read from the audit context when the event is created, so no command
        method can forget them. Replay restores them from the stored state
        without calling the constructor, so they keep their original values.
        """

        actor: str = field(default_factory=_actor, init=False)
        role: str = field(default_factory=_role, init=False)
        request_id: str = field(default_factory=_request_id, init=False)
        source_system: str | None = field(default_factory=_source_system, init=False)
        external_id: str | None = field(default_factory=_external_id, init=False)

    class Created(Event, Aggregate.Created):
        """Base of every ledger creation event, so it carries the audit fields too."""


class DateAsISO(Transcoding):
    """Stores `datetime.date` values as ISO strings (`2026-03-31`)."""

    type = date
    name = "date_iso"

    def encode(self, obj: date) -> str:
        return obj.isoformat()

    def decode(self, data: str) -> date:
        return date.fromisoformat(data)


def register_transcodings(transcoder: JSONTranscoder) -> None:
    """Registers every transcoding ledger events need (re-registering is harmless)."""
    for transcoding in (UUIDAsHex(), DecimalAsStr(), DatetimeAsISO(), DateAsISO()):
        transcoder.register(transcoding)

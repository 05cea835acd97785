"""The chain key's history: which key seals the log from which position on.

The key itself never enters the log, only its public id (16 hex digits). The recorder
seals each announcing event with the key it announces, and every later event with that
key until the next rotation (persistence/seal.py; docs/tamper-evidence.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import event

from ledger.base import LedgerAggregate
from ledger.rules import FieldErrors, Rule, check

KEY_ID_DIGITS = 16
CHAIN_KEY_ID = uuid5(NAMESPACE_URL, "urn:ledger:chain-key")
"""The one aggregate that records the chain key's history (fixed forever)."""


def chain_key_id() -> UUID:
    return CHAIN_KEY_ID


@dataclass(frozen=True)
class AKeyIsRotatedToAnotherKey(Rule):
    """Rotating to the key already in force would retire nothing."""

    key_id: str
    in_force: str

    def is_broken(self) -> bool:
        return self.key_id == self.in_force

    def explain(self) -> str:
        return f"key {self.key_id} is already in force"


def _key_id_errors(key_id: object) -> None:
    errors = FieldErrors()
    if not (isinstance(key_id, str) and len(key_id) == KEY_ID_DIGITS
            and all(c in "0123456789abcdef" for c in key_id)):
        errors.add("key_id", f"must be {KEY_ID_DIGITS} lower-case hex digits")
    errors.raise_if_any()


class ChainKey(LedgerAggregate):
    """Introduced once, with the first key; rotated to a new key as often as needed."""

    class Introduced(LedgerAggregate.Created):
        key_id: str
        reason: str

    class Rotated(LedgerAggregate.Event):
        key_id: str
        retired_key_id: str
        reason: str

    def __init__(self, key_id: str, reason: str) -> None:
        # Body of the Introduced event: assigns only, because it re-runs on every replay.
        self.key_id = key_id
        self.retired: list[str] = []

    @classmethod
    def introduce(cls, key_id: str, reason: str) -> ChainKey:
        """The first key: from this event on, every event is sealed."""
        _key_id_errors(key_id)
        errors = FieldErrors()
        errors.text("reason", reason)
        errors.raise_if_any()
        return cls._create(cls.Introduced, id=chain_key_id(), key_id=key_id, reason=reason)

    def rotate(self, key_id: str, reason: str) -> None:
        """From this event on, `key_id` seals the log; the key in force is retired."""
        _key_id_errors(key_id)
        errors = FieldErrors()
        errors.text("reason", reason)
        errors.raise_if_any()
        check(AKeyIsRotatedToAnotherKey(key_id, self.key_id))
        self._rotate(key_id=key_id, retired_key_id=self.key_id, reason=reason)

    @event(Rotated)
    def _rotate(self, key_id: str, retired_key_id: str, reason: str) -> None:
        self.retired.append(retired_key_id)
        self.key_id = key_id

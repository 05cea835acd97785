"""Idempotent commands: a repeated request replays its first response and appends nothing.

A command's response is built while its events are appended, and with an
`Idempotency-Key` it is stored in the same transaction (table `idempotency`), so either
both the events and the stored response exist or neither does. A refused request stores
nothing, so retrying it runs it again. The same key with another request is 409.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError
from flask import Response, g, request

from api.errors import problem
from api.sql import SupportTables
from ledger.application import Receipt
from ledger.errors import DuplicateFact, InvalidInput
from persistence.records import Appended, ExtraRow

if TYPE_CHECKING:
    from api.ledger_app import ApiLedgerApplication

HEADER = "Idempotency-Key"
MAX_KEY = 200
REPLAYED_HEADER = "Idempotent-Replayed"


@dataclass(frozen=True)
class Reply:
    status: int
    body: dict[str, Any]


Finish = Callable[[Receipt], Reply]
"""Completes a reply from what the append assigned; runs inside the append: no I/O."""

Describe = Callable[[Sequence[Aggregate], Any], Finish]
"""Describes the saved aggregates (may read) before the append; `Any` is the command's note."""


@dataclass(frozen=True)
class Key:
    """A client's idempotency key, scoped to the token's subject, with the request's hash."""

    scope: str
    key: str
    fingerprint: str


@dataclass(frozen=True)
class Stored:
    fingerprint: str
    status: int
    body: bytes


class Claim:
    """One command's reply and, when the client sent a key, the row that records it."""

    def __init__(self, describe: Describe, key: Key | None) -> None:
        self.describe = describe
        self.key = key
        self.body: bytes | None = None
        self.status = 0
        self.appended = False

    def prepare(self, aggregates: Sequence[Aggregate], note: Any) -> Finish:
        return self.describe(aggregates, note)

    def complete(self, finish: Finish, appended: Sequence[Appended]) -> list[ExtraRow]:
        """Called inside the append: builds the reply and the row that stores it."""
        self._set(finish(Receipt.of(appended)))
        self.appended = True
        if self.key is None or self.body is None:
            return []
        last = appended[-1]
        return [ExtraRow("idempotency", {
            "scope": self.key.scope, "idem_key": self.key.key,
            "request_hash": self.key.fingerprint, "status_code": self.status,
            "response": self.body, "position": last.position, "recorded_at": last.recorded_at,
        })]

    def settle(self, aggregates: Sequence[Aggregate], note: Any) -> None:
        """A command that appended nothing still answers (e.g. a batch of duplicates)."""
        self._set(self.prepare(aggregates, note)(Receipt()))

    def response(self) -> Response:
        if self.body is None:
            raise RuntimeError("the command neither appended nor settled its reply")
        return Response(self.body, self.status, mimetype="application/json")

    def _set(self, reply: Reply) -> None:
        self.status = reply.status
        self.body = json.dumps(reply.body, ensure_ascii=False, default=str).encode()


class IdempotencyRecords:
    """Reads the `idempotency` table (rows are written only by appends)."""

    def __init__(self, tables: SupportTables) -> None:
        self.tables = tables

    def find(self, key: Key) -> Stored | None:
        row = self.tables.one(
            "SELECT request_hash, status_code, response FROM idempotency "
            "WHERE scope = ? AND idem_key = ?",
            (key.scope, key.key),
        )
        return None if row is None else Stored(str(row[0]), int(row[1]), bytes(row[2]))


def request_key(scope: str) -> Key | None:
    """The request's Idempotency-Key, or None; a malformed key is invalid input."""
    raw = request.headers.get(HEADER)
    if raw is None:
        return None
    if not 0 < len(raw) <= MAX_KEY or not raw.isprintable() or not raw.isascii():
        raise InvalidInput({HEADER: [f"must be 1 to {MAX_KEY} printable ASCII characters"]})
    return Key(scope=scope, key=raw, fingerprint=fingerprint())


def fingerprint() -> str:
    """What makes two requests "the same": method, path and the body's JSON meaning."""
    data = request.get_data(cache=True)
    try:
        body = json.dumps(json.loads(data, parse_float=Decimal), sort_keys=True,
                          separators=(",", ":"), default=str) if data else ""
    except (ValueError, UnicodeDecodeError):
        body = data.hex()  # not JSON: the bytes themselves (the request is refused anyway)
    return hashlib.sha256(f"{request.method} {request.path}\n{body}".encode()).hexdigest()


def execute(
    ledger: ApiLedgerApplication,
    records: IdempotencyRecords,
    run: Callable[[ApiLedgerApplication], object],
    describe: Describe,
) -> Response:
    """Runs one command under the request's key: first time, replay, or conflict."""
    key = request_key(g.principal.subject)
    stored = records.find(key) if key else None
    if key and stored:
        return replay(stored, key)
    claim = Claim(describe, key)
    try:
        with ledger.claiming(claim):
            run(ledger)
    except (DuplicateFact, IntegrityError):
        # A concurrent request with the same key may have won the race for its row.
        stored = records.find(key) if key else None
        if key and stored:
            return replay(stored, key)
        raise
    if key and not claim.appended and (stored := records.find(key)):
        return replay(stored, key)
    return claim.response()


def replay(stored: Stored, key: Key) -> Response:
    if stored.fingerprint != key.fingerprint:
        return problem(
            409, f"{HEADER} {key.key!r} was used for a different request",
            slug="idempotency-key-reused", title="Idempotency key reused",
        )
    response = Response(stored.body, stored.status, mimetype="application/json")
    response.headers[REPLAYED_HEADER] = "true"
    return response

"""Idempotent commands: a repeated request replays its first answer and appends nothing.

With an `Idempotency-Key` the command's application method receives an
`IdempotencyRecord` as an ordinary argument and saves it with its events, in the same
transaction (table `idempotency`), so either both the events and the key exist or
neither does. The key's row is also the lookup: a command runs first, and the stored
record is read only when it appended nothing (its key's row already there, or a refusal
by what the first run changed), which saves a round trip on every first request.
The record holds the request's hash and what the command learned besides its events;
the recorder adds the positions of the events. A repeat is answered from the log: the
aggregates as that append left them, its receipt, and the same reply function
the first answer went through. A refused request stores nothing, so retrying it runs it
again. The same key with another request is 409.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from eventsourcing.persistence import IntegrityError
from flask import Response, current_app, g, request

from api.errors import problem
from ledger.application import LedgerApplication, Made
from ledger.errors import InvalidInput, LedgerError
from ledger.store import IdempotencyRecord, StoredRequest

HEADER = "Idempotency-Key"
MAX_KEY = 200
REPLAYED_HEADER = "Idempotent-Replayed"
LEDGER = "ledger"

Reply = Callable[..., Any]
"""Turns what a command made (and the request's own arguments) into the resource to dump."""


@dataclass(frozen=True)
class Key:
    """A client's idempotency key, scoped to the token's subject, with the request's hash."""

    scope: str
    key: str
    fingerprint: str

    def record(self, status_code: int) -> IdempotencyRecord:
        return IdempotencyRecord(self.scope, self.key, self.fingerprint, status_code)


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


def idempotent(status: int, reply: Reply) -> Callable[[Callable[..., Made[Any]]], Any]:
    """Runs a command route under the request's key: first time, replay, or conflict.

    The route receives `idempotency` (a record, or None without a key) to hand to its
    one application method, and returns what that method made; `reply` turns it into
    the resource that the route's response schema dumps.
    """

    def decorator(route: Callable[..., Made[Any]]) -> Any:
        @functools.wraps(route)
        def run(*args: Any, **kwargs: Any) -> Any:
            app: LedgerApplication = current_app.extensions[LEDGER]
            return app.judged(lambda: attempt(app, *args, **kwargs))

        def attempt(app: LedgerApplication, *args: Any, **kwargs: Any) -> Any:
            key = request_key(g.principal.subject)
            try:
                made = route(*args, idempotency=key and key.record(status), **kwargs)
            except (LedgerError, IntegrityError):
                # The key is looked up only when the command did not append: a repeat
                # either fails on its key's row in the append (IntegrityError) or is
                # refused by what its first run changed; both answer from the record.
                if key is not None and (stored := _stored(app, key)) is not None:
                    return _replay(app, stored, key, reply, args, kwargs)
                raise
            if key is not None and not made.receipt.events and (stored := _stored(app, key)):
                return _replay(app, stored, key, reply, args, kwargs)
            return reply(made, *args, **kwargs), 200 if made.result == "duplicate" else status

        return run

    return decorator


def _stored(app: LedgerApplication, key: Key) -> StoredRequest | None:
    return app.store.find_request(key.scope, key.key)


def _replay(
    app: LedgerApplication, stored: StoredRequest, key: Key, reply: Reply,
    args: tuple[Any, ...], kwargs: dict[str, Any],
) -> Any:
    if stored.request_hash != key.fingerprint:
        return problem(
            409, f"{HEADER} {key.key!r} was used for a different request",
            slug="idempotency-key-reused", title="Idempotency key reused",
        )
    replayed = {REPLAYED_HEADER: "true"}
    if stored.first_position is None:
        # Stored before replays were rebuilt from the log: the whole first response.
        return Response(stored.note, stored.status_code, replayed, mimetype="application/json")
    return reply(app.replayed(stored), *args, **kwargs), stored.status_code, replayed

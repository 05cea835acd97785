"""Bearer tokens: created and revoked by operators, stored only as their SHA-256.

A token is 32 random bytes (`secrets.token_urlsafe`), so a fast hash is enough: there is
nothing to guess. The plain token is shown once, when it is created, and never stored.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from eventsourcing.persistence import ApplicationRecorder

from api.sql import SupportTables
from ledger.errors import InvalidInput

ROLES = ("integrator", "manager", "supervisor", "approver", "auditor", "operator", "admin")
TOKEN_PREFIX = "lt_"
MAX_SUBJECT = 200
MAX_MANAGER_ID = 64
MAX_TOKEN = 200

# One token per role for `ledger demo`; the subjects match the actors in ledger.demo.
DEMO_PRINCIPALS: tuple[tuple[str, str, str | None], ...] = (
    ("integrator", "demo-credit", None),
    ("manager", "demo-m1", "M1"),
    ("supervisor", "demo-reviewer", None),
    ("approver", "demo-approver", None),
    ("auditor", "demo-auditor", None),
    ("operator", "demo-operator", None),
    ("admin", "demo-admin", None),
)


@dataclass(frozen=True)
class Principal:
    """Who a valid token speaks for."""

    subject: str
    role: str
    manager_id: str | None = None


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class TokenStore:
    """The `api_tokens` table."""

    def __init__(self, recorder: ApplicationRecorder) -> None:
        self.tables = SupportTables(recorder)

    def create(self, *, role: str, subject: str, manager_id: str | None = None) -> str:
        """Creates a token and returns it; only its digest is kept."""
        _check_principal(role, subject, manager_id)
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        self.tables.change(
            "INSERT INTO api_tokens (token_hash, role, subject, manager_id, created_at) "
            "VALUES (?, ?, ?, ?, ?)",
            (digest(token), role, subject, manager_id, datetime.now(UTC)),
        )
        return token

    def principal(self, token: str) -> Principal | None:
        """The principal of a live token; None for an unknown or revoked one."""
        if not token or len(token) > MAX_TOKEN:
            return None
        row = self.tables.one(
            "SELECT role, subject, manager_id FROM api_tokens "
            "WHERE token_hash = ? AND revoked_at IS NULL",
            (digest(token),),
        )
        return None if row is None else Principal(subject=row[1], role=row[0], manager_id=row[2])

    def revoke(self, token: str) -> bool:
        """Revokes one token; False when it was unknown or already revoked."""
        return self._revoke("token_hash = ?", digest(token)) > 0

    def revoke_subject(self, subject: str) -> int:
        """Revokes every live token of a subject; returns how many."""
        return self._revoke("subject = ?", subject)

    def _revoke(self, where: str, value: str) -> int:
        return self.tables.change(
            f"UPDATE api_tokens SET revoked_at = ? WHERE {where} AND revoked_at IS NULL",
            (datetime.now(UTC), value),
        )


def create_demo_tokens(recorder: ApplicationRecorder) -> dict[str, str]:
    """Creates one fresh token per role for the demo bank (role -> token)."""
    store = TokenStore(recorder)
    return {
        role: store.create(role=role, subject=subject, manager_id=manager_id)
        for role, subject, manager_id in DEMO_PRINCIPALS
    }


def _check_principal(role: str, subject: str, manager_id: str | None) -> None:
    problems: dict[str, list[str]] = {}
    if role not in ROLES:
        problems["role"] = [f"must be one of {', '.join(ROLES)}"]
    if not subject or subject != subject.strip() or len(subject) > MAX_SUBJECT:
        problems["subject"] = [f"must be non-blank, unpadded, at most {MAX_SUBJECT} characters"]
    if role == "manager" and not manager_id:
        problems["manager_id"] = ["a manager token must name its manager"]
    if role != "manager" and manager_id is not None:
        problems["manager_id"] = ["only a manager token names a manager"]
    if manager_id is not None and not 0 < len(manager_id) <= MAX_MANAGER_ID:
        problems.setdefault("manager_id", []).append(f"at most {MAX_MANAGER_ID} characters")
    if problems:
        raise InvalidInput(problems)

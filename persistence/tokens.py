"""Bearer tokens: created and revoked by operators, stored only as their SHA-256.

A token is 32 random bytes (`secrets.token_urlsafe`), so a fast hash is enough: there is
nothing to guess. The plain token is shown once, when it is created, and never stored.
Both the `ledger token` commands and the API's authentication use this store; the table
comes from migration 0003.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from eventsourcing.application import Application
from sqlalchemy import Column, ColumnElement, Engine, MetaData, Table, Text, insert, select, update

from ledger.errors import InvalidInput
from persistence.columns import Instant
from persistence.engines import engine_for, reading, writing

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

api_tokens = Table(
    "api_tokens", MetaData(),
    Column("token_hash", Text, primary_key=True),
    Column("role", Text, nullable=False),
    Column("subject", Text, nullable=False),
    Column("manager_id", Text),
    Column("created_at", Instant, nullable=False),
    Column("revoked_at", Instant),
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

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @classmethod
    def of(cls, app: Application[Any]) -> TokenStore:
        """The token store beside the application's event store."""
        return cls(engine_for(app))

    def create(self, *, role: str, subject: str, manager_id: str | None = None) -> str:
        """Creates a token and returns it; only its digest is kept."""
        _check_principal(role, subject, manager_id)
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        with writing(self.engine) as conn:
            conn.execute(insert(api_tokens).values(
                token_hash=digest(token), role=role, subject=subject, manager_id=manager_id,
                created_at=datetime.now(UTC)))
        return token

    def principal(self, token: str) -> Principal | None:
        """The principal of a live token; None for an unknown or revoked one."""
        if not token or len(token) > MAX_TOKEN:
            return None
        columns = api_tokens.c
        with reading(self.engine) as conn:
            row = conn.execute(
                select(columns.role, columns.subject, columns.manager_id).where(
                    columns.token_hash == digest(token), columns.revoked_at.is_(None))
            ).first()
        return None if row is None else Principal(subject=row[1], role=row[0], manager_id=row[2])

    def revoke(self, token: str) -> bool:
        """Revokes one token; False when it was unknown or already revoked."""
        return self._revoke(api_tokens.c.token_hash == digest(token)) > 0

    def revoke_subject(self, subject: str) -> int:
        """Revokes every live token of a subject; returns how many."""
        return self._revoke(api_tokens.c.subject == subject)

    def _revoke(self, which: ColumnElement[bool]) -> int:
        with writing(self.engine) as conn:
            result = conn.execute(
                update(api_tokens).where(which, api_tokens.c.revoked_at.is_(None))
                .values(revoked_at=datetime.now(UTC)))
        return int(result.rowcount)

    def create_demo_tokens(self) -> dict[str, str]:
        """Creates one fresh token per role for the demo bank (role -> token)."""
        return {
            role: self.create(role=role, subject=subject, manager_id=manager_id)
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

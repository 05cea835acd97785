"""Bearer tokens: created and revoked by operators, stored only as their SHA-256.

A token is 32 random bytes (`secrets.token_urlsafe`), so a fast hash is enough: there is
nothing to guess. The plain token is shown once, when it is created, and never stored.
Every token expires (a default lifetime per role, at most MAX_LIFETIME) and records when
it was last used. Both the `ledger token` commands and the API's authentication use this
store; the table comes from migrations 0003 and 0008.

On PostgreSQL the service role may only read `api_tokens`: issuing, revoking and stamping
the last use go through the SECURITY DEFINER functions of migration 0008, so no role,
subject or expiry of an existing token can be changed through the service's connection.
"""

from __future__ import annotations

import hashlib
import itertools
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from eventsourcing.application import Application
from sqlalchemy import (
    Column,
    ColumnElement,
    Engine,
    MetaData,
    Table,
    Text,
    func,
    insert,
    select,
    update,
)

from ledger.errors import InvalidInput
from persistence.columns import Instant
from persistence.engines import engine_for, engine_for_url, reading, writing

ROLES = ("integrator", "manager", "supervisor", "approver", "auditor", "operator")
"""DESIGN §9's roles. `admin` is retired (docs/roles.md): no new token may carry it."""
TOKEN_PREFIX = "lt_"
MAX_SUBJECT = 200
MAX_MANAGER_ID = 64
MAX_TOKEN = 200
MAX_LIST = 1_000

# A machine's credential is rotated less often than a person's; nobody's lasts a year.
DEFAULT_LIFETIME = {role: timedelta(days=30) for role in ROLES} | {
    "integrator": timedelta(days=90)}
MAX_LIFETIME = timedelta(days=366)
DEMO_LIFETIME = timedelta(hours=12)
"""Demo tokens are for trying the API out today, not for keeping (within a day)."""
USE_STAMP_INTERVAL = timedelta(minutes=1)
"""`last_used_at` is written at most this often per token, not on every request."""
KEPT_TOKEN_SECONDS = 1.0
"""How long a process trusts a live token it has looked up, without asking again: a
revocation by another process (the CLI, another worker) refuses the token everywhere
within this time; one in this process, at its next request. Never past its expiry."""
MAX_KEPT_TOKENS = 10_000

# One token per role for `ledger demo`; the subjects match the actors in ledger.demo.
DEMO_PRINCIPALS: tuple[tuple[str, str, str | None], ...] = (
    ("integrator", "demo-credit", None),
    ("manager", "demo-m1", "M1"),
    ("supervisor", "demo-reviewer", None),
    ("approver", "demo-approver", None),
    ("auditor", "demo-auditor", None),
    ("operator", "demo-operator", None),
)

api_tokens = Table(
    "api_tokens", MetaData(),
    Column("token_hash", Text, primary_key=True),
    Column("role", Text, nullable=False),
    Column("subject", Text, nullable=False),
    Column("manager_id", Text),
    Column("created_at", Instant, nullable=False),
    Column("revoked_at", Instant),
    Column("expires_at", Instant),
    Column("last_used_at", Instant),
)


@dataclass(frozen=True)
class Principal:
    """Who a valid token speaks for."""

    subject: str
    role: str
    manager_id: str | None = None


@dataclass(frozen=True)
class TokenInfo:
    """What `ledger token list` shows of a token: never the token, only its hash's start."""

    token_id: str
    role: str
    subject: str
    manager_id: str | None
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None

    def state(self, now: datetime) -> str:
        if self.revoked_at is not None:
            return "revoked"
        return "live" if self.expires_at is not None and self.expires_at > now else "expired"


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


TOKEN_ID_LENGTH = 12
"""How much of the hash `ledger token list` shows: enough to tell tokens apart."""


_revocations = itertools.count(1)
_revoked_in_process = 0
"""Bumped by every revocation through any store of this process: what it kept, it asks again."""


def _note_revocation() -> None:
    global _revoked_in_process
    _revoked_in_process = next(_revocations)


@dataclass(frozen=True)
class _Kept:
    principal: Principal
    until: float  # time.monotonic()
    expires_at: datetime
    revocations: int


class TokenStore:
    """The `api_tokens` table."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        # A looked-up token costs a round trip and a transaction; each request brings one.
        self._kept: dict[str, _Kept] = {}
        # PostgreSQL writes go through migration 0008's functions; SQLite has no roles.
        self.through_functions = engine.dialect.name == "postgresql"

    @classmethod
    def of(cls, app: Application[Any]) -> TokenStore:
        """The token store beside the application's event store."""
        return cls(engine_for(app))

    @classmethod
    def of_url(cls, url: str) -> TokenStore:
        """The token store of the database at `url`, connected as that URL's role."""
        return cls(engine_for_url(url))

    def create(
        self, *, role: str, subject: str, manager_id: str | None = None,
        expires_in: timedelta | None = None,
    ) -> str:
        """Creates a token and returns it; only its digest is kept. It expires after
        `expires_in`, by default after its role's DEFAULT_LIFETIME."""
        lifetime = DEFAULT_LIFETIME.get(role) if expires_in is None else expires_in
        _check_principal(role, subject, manager_id, lifetime)
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        now = datetime.now(UTC)
        expires_at = now + (lifetime or MAX_LIFETIME)
        with writing(self.engine) as conn:
            if self.through_functions:
                conn.execute(select(func.ledger_issue_token(
                    digest(token), role, subject, manager_id, expires_at)))
            else:
                conn.execute(insert(api_tokens).values(
                    token_hash=digest(token), role=role, subject=subject,
                    manager_id=manager_id, created_at=now, expires_at=expires_at))
        return token

    def principal(self, token: str) -> Principal | None:
        """The principal of a live token; None for an unknown, revoked or expired one."""
        if not token or len(token) > MAX_TOKEN:
            return None
        return self.principal_of_digest(digest(token))

    def principal_of_digest(self, hashed: str) -> Principal | None:
        """The same lookup by the token's digest: the workspace's session keeps only the
        digest, so a stolen cookie is no bearer token for the API."""
        now = datetime.now(UTC)
        kept = self._kept.get(hashed)
        if (kept is not None and kept.until > time.monotonic() and kept.expires_at > now
                and kept.revocations == _revoked_in_process):
            return kept.principal
        revocations = _revoked_in_process  # read before the row: a later revocation is seen
        columns = api_tokens.c
        with reading(self.engine) as conn:
            row = conn.execute(
                select(columns.role, columns.subject, columns.manager_id, columns.last_used_at,
                       columns.expires_at)
                .where(columns.token_hash == hashed, columns.revoked_at.is_(None),
                       columns.expires_at > now)
            ).first()
        if row is None:
            self._kept.pop(hashed, None)
            return None
        if row[3] is None or row[3] < now - USE_STAMP_INTERVAL:
            self._stamp_use(hashed, now)
        principal = Principal(subject=row[1], role=row[0], manager_id=row[2])
        self._keep(hashed, _Kept(principal, time.monotonic() + KEPT_TOKEN_SECONDS, row[4],
                                 revocations))
        return principal

    def _keep(self, hashed: str, kept: _Kept) -> None:
        if len(self._kept) >= MAX_KEPT_TOKENS:
            self._kept.clear()  # bounded: the next requests ask the table again
        self._kept[hashed] = kept

    def _stamp_use(self, hashed: str, now: datetime) -> None:
        with writing(self.engine) as conn:
            if self.through_functions:
                conn.execute(select(func.ledger_token_used(hashed)))
            else:
                conn.execute(update(api_tokens).where(api_tokens.c.token_hash == hashed)
                             .values(last_used_at=now))

    def listing(self, *, include_ended: bool = False) -> list[TokenInfo]:
        """Tokens, newest first: live ones, or all with `include_ended` (at most MAX_LIST)."""
        columns = api_tokens.c
        query = select(api_tokens).order_by(columns.created_at.desc()).limit(MAX_LIST)
        if not include_ended:
            query = query.where(columns.revoked_at.is_(None),
                                columns.expires_at > datetime.now(UTC))
        with reading(self.engine) as conn:
            rows = conn.execute(query).mappings().all()
        return [TokenInfo(
            token_id=row["token_hash"][:TOKEN_ID_LENGTH], role=row["role"],
            subject=row["subject"], manager_id=row["manager_id"], created_at=row["created_at"],
            expires_at=row["expires_at"], last_used_at=row["last_used_at"],
            revoked_at=row["revoked_at"]) for row in rows]

    def revoke(self, token: str) -> bool:
        """Revokes one token; False when it was unknown or already revoked."""
        if self.through_functions:
            return self._call(func.ledger_revoke_token(digest(token)), revoking=True) > 0
        return self._revoke(api_tokens.c.token_hash == digest(token)) > 0

    def revoke_subject(self, subject: str) -> int:
        """Revokes every live token of a subject; returns how many."""
        if self.through_functions:
            return self._call(func.ledger_revoke_subject_tokens(subject), revoking=True)
        return self._revoke(api_tokens.c.subject == subject)

    def _call(self, function: Any, *, revoking: bool = False) -> int:
        with writing(self.engine) as conn:
            found = int(conn.execute(select(function)).scalar() or 0)
        if revoking:
            _note_revocation()  # after the commit: a lookup kept before it is asked again
        return found

    def _revoke(self, which: ColumnElement[bool]) -> int:
        with writing(self.engine) as conn:
            result = conn.execute(
                update(api_tokens).where(which, api_tokens.c.revoked_at.is_(None))
                .values(revoked_at=datetime.now(UTC)))
        _note_revocation()  # after the commit: a lookup kept before it is asked again
        return int(result.rowcount)

    def create_demo_tokens(self) -> dict[str, str]:
        """Creates one fresh token per role for the demo bank (role -> token); each
        expires after DEMO_LIFETIME."""
        return {
            role: self.create(role=role, subject=subject, manager_id=manager_id,
                              expires_in=DEMO_LIFETIME)
            for role, subject, manager_id in DEMO_PRINCIPALS
        }


def _check_principal(
    role: str, subject: str, manager_id: str | None, lifetime: timedelta | None
) -> None:
    problems: dict[str, list[str]] = {}
    if role not in ROLES:
        problems["role"] = [f"must be one of {', '.join(ROLES)}"]
    if lifetime is not None and not timedelta(0) < lifetime <= MAX_LIFETIME:
        problems["expires_in"] = [f"must be positive and at most {MAX_LIFETIME.days} days"]
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

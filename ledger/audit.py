"""Who is acting: the audit context every event records, held in a context variable."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True)
class AuditContext:
    """The principal behind a command, and for integrations the source record."""

    actor: str
    role: str
    request_id: str
    source_system: str | None = None
    external_id: str | None = None


# Work done outside any request (migrations, the first rule-set publication)
# is attributed to "system" rather than left blank, so no event lacks an actor.
SYSTEM = AuditContext(actor="system", role="system", request_id="-")

_current: ContextVar[AuditContext] = ContextVar("ledger_audit_context", default=SYSTEM)


def current_audit() -> AuditContext:
    """Returns the audit context of the code that is running now."""
    return _current.get()


@contextmanager
def acting_as(ctx: AuditContext) -> Iterator[AuditContext]:
    """Runs the enclosed block as `ctx`, restoring the previous context afterwards."""
    token = _current.set(ctx)
    try:
        yield ctx
    finally:
        _current.reset(token)

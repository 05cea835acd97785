"""Who is calling: bearer tokens on every /api route, roles per route, managers' own data.

Authentication runs before anything else under /api (401 before 403 before 422), and
each route says which roles may call it, exactly as DESIGN §9's table does. No role may
call every route: the former `admin` bypass let one person decide, approve and close
alone, which §9's separation of duties forbids (docs/roles.md). The acting principal
becomes the audit context of every event the request appends. `/metrics`, outside /api,
asks for an operations token itself (`guard_operations`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any, cast

from flask import Flask, Response, current_app, g, request

from api.errors import problem
from ledger.audit import AuditContext, acting_as
from ledger.errors import NotPermitted
from persistence.tokens import Principal, TokenStore

TOKENS = "ledger.tokens"
OPERATIONS_ROLES = ("operator",)
"""Who may read /metrics: per-route request counts tell an outsider what the bank does."""
API_PREFIX = "/api/"
BEARER_SCHEME = {"type": "http", "scheme": "bearer", "description": "`ledger token create`"}


def register_authentication(app: Flask) -> None:
    app.before_request(_authenticate)


def _authenticate() -> Response | None:
    if not request.path.startswith(API_PREFIX):
        return None
    found = _bearer_principal()
    if found is None:
        return _unauthenticated()
    g.principal = found
    return None


def _bearer_principal() -> Principal | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    store: TokenStore = current_app.extensions[TOKENS]
    return store.principal(token.strip()) if scheme.lower() == "bearer" else None


def _unauthenticated() -> Response:
    return problem(401, "send a valid, unrevoked, unexpired token: Authorization: Bearer "
                   "<token>", slug="unauthenticated", headers={"WWW-Authenticate": "Bearer"})


def _wrong_role(role: str, roles: Sequence[str]) -> Response:
    return problem(403, f"role {role} may not do this; allowed: {', '.join(roles)}",
                   slug="wrong-role", title="Wrong role")


def guard_operations() -> Response | None:
    """The refusal for a request to an operations route without an operator's token."""
    found = _bearer_principal()
    if found is None:
        return _unauthenticated()
    g.principal = found
    return None if found.role in OPERATIONS_ROLES else _wrong_role(found.role, OPERATIONS_ROLES)


def allow(
    blueprint: Any, roles: Sequence[str]
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Refuses other roles with 403, and runs the route as the token's principal."""

    def decorator(view: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            who: Principal = g.principal
            if who.role not in roles:
                return _wrong_role(who.role, roles)
            audit = AuditContext(actor=who.subject, role=who.role, request_id=g.request_id)
            with acting_as(audit):
                return view(*args, **kwargs)

        documented = blueprint.doc(security=[{"bearerAuth": []}], **{"x-roles": list(roles)})
        return cast(Callable[..., Any], documented(guarded))

    return decorator


def require_own(manager_id: str) -> None:
    """A manager sees and acts on only their own data; other roles are checked by route."""
    who: Principal = g.principal
    if who.role == "manager" and who.manager_id != manager_id:
        raise NotPermitted("a manager sees only their own data", rule="ManagersSeeTheirOwnData")


def acting_manager_id() -> str | None:
    """The manager the token speaks for, if it is a manager's token."""
    who: Principal = g.principal
    return who.manager_id if who.role == "manager" else None


def with_source(source_system: str | None, external_id: str | None) -> Any:
    """The audit context plus an integration's source keys, for events it posts."""
    who: Principal = g.principal
    return acting_as(AuditContext(
        actor=who.subject, role=who.role, request_id=g.request_id,
        source_system=source_system, external_id=external_id,
    ))

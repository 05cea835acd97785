"""Who is calling: bearer tokens on every /api route, roles per route, managers' own data.

Authentication runs before anything else under /api (401 before 403 before 422), and
each route says which roles may call it. `admin` may call every route, always under its
own name and role, so the log still shows that an administrator acted. The acting
principal becomes the audit context of every event the request appends.
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
ADMIN = "admin"
API_PREFIX = "/api/"
BEARER_SCHEME = {"type": "http", "scheme": "bearer", "description": "`ledger token create`"}


def register_authentication(app: Flask) -> None:
    app.before_request(_authenticate)


def _authenticate() -> Response | None:
    if not request.path.startswith(API_PREFIX):
        return None
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    store: TokenStore = current_app.extensions[TOKENS]
    found = store.principal(token.strip()) if scheme.lower() == "bearer" else None
    if found is None:
        return problem(401, "send a valid, unrevoked token: Authorization: Bearer <token>",
                       slug="unauthenticated", headers={"WWW-Authenticate": "Bearer"})
    g.principal = found
    return None


def allow(
    blueprint: Any, roles: Sequence[str]
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Refuses other roles with 403, and runs the route as the token's principal."""

    def decorator(view: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            who: Principal = g.principal
            if who.role != ADMIN and who.role not in roles:
                return problem(403, f"role {who.role} may not do this; allowed: "
                               f"{', '.join(roles)}", slug="wrong-role", title="Wrong role")
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

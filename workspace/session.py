"""Who is signed in to the workspace, and what they may open (DESIGN §15).

Signing in exchanges an API token for a session: the signed, HttpOnly, SameSite=Strict
cookie keeps only the token's digest, and every request looks the token up again, so a
revoked or expired token ends the session at once. The roles of each page are the API's
roles for the same data, and a manager sees only their own pages
(`ManagersSeeTheirOwnData`, as in `api.auth.require_own`).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any, TypeVar, cast

from flask import Flask, current_app, g, redirect, request, session, url_for
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface, SessionMixin
from werkzeug.exceptions import Forbidden, ServiceUnavailable
from werkzeug.wrappers import Response as BaseResponse

from api.auth import TOKENS
from api.common import ledger as _ledger
from api.scores_and_pay import read_side as _read_side
from ledger.application import LedgerApplication
from ledger.audit import AuditContext, acting_as
from ledger.errors import NotPermitted
from persistence.session_secret import SessionSecretMissing, session_secret
from persistence.tokens import Principal, TokenStore, digest
from projections.read_side import ReadSide

PREFIX = "/app"
SECRET_PROBLEM = "workspace.secret_problem"
SESSION_LIFETIME = timedelta(hours=12)
"""A workday: the session ends then even if the token lives on (TB: bound everything)."""
DIGEST = "token_digest"
SECURE_COOKIES = "LEDGER_SECURE_COOKIES"

F = TypeVar("F", bound=Callable[..., Any])


class WorkspaceSessions(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, for /app/ only: the API stays cookie-free."""

    def open_session(self, app: Flask, request: Any) -> SecureCookieSession | None:
        if not _in_workspace(request.path) or app.extensions.get(SECRET_PROBLEM):
            return None
        return super().open_session(app, request)

    def save_session(self, app: Flask, session: SessionMixin, response: Any) -> None:
        if _in_workspace(request.path) and not app.extensions.get(SECRET_PROBLEM):
            super().save_session(app, session, response)


def _in_workspace(path: str) -> bool:
    return path == PREFIX or path.startswith(PREFIX + "/")


def register_sessions(app: Flask) -> None:
    """The session cookie's secret and flags; without a secret the pages answer 503."""
    try:
        app.secret_key = session_secret(dict(_ledger_env(app)))
    except SessionSecretMissing as missing:
        app.extensions[SECRET_PROBLEM] = str(missing)
    app.config.update(
        SESSION_COOKIE_NAME="ledger_session", SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict", SESSION_COOKIE_PATH=PREFIX,
        PERMANENT_SESSION_LIFETIME=SESSION_LIFETIME,
        # Behind TLS (ledger serve speaks plain HTTP; TLS ends in front of it) the cookie
        # should travel over HTTPS only.
        SESSION_COOKIE_SECURE=os.environ.get(SECURE_COOKIES, "").lower() in ("1", "true"),
    )
    app.session_interface = WorkspaceSessions()


def _ledger_env(app: Flask) -> dict[str, str]:
    ledger_app: LedgerApplication = app.extensions["ledger"]
    return {key: str(value) for key, value in ledger_app.env.items()}


def refuse_without_secret() -> None:
    """Before every page: no session can be signed without LEDGER_SECRET_KEY."""
    problem = current_app.extensions.get(SECRET_PROBLEM)
    if problem:
        raise ServiceUnavailable(problem)


# --- signing in and out -----------------------------------------------------------------


def sign_in_with(token: str) -> Principal | None:
    """Starts a session for a live token; None (and no session) for any other."""
    found = _tokens().principal(token.strip())
    session.clear()
    if found is not None:
        session.permanent = True
        session[DIGEST] = digest(token.strip())
    return found


def sign_out() -> None:
    session.clear()


def signed_in() -> Principal | None:
    """The principal of the session's token, looked up on every request (revocation and
    expiry end a session at once)."""
    if "workspace_principal" not in g:
        hashed = session.get(DIGEST)
        g.workspace_principal = (_tokens().principal_of_digest(hashed)
                                 if isinstance(hashed, str) else None)
    return cast(Principal | None, g.workspace_principal)


def _tokens() -> TokenStore:
    store: TokenStore = current_app.extensions[TOKENS]
    return store


# --- who may open a page ------------------------------------------------------------------


def pages_for(*roles: str) -> Callable[[F], F]:
    """Not signed in: to the sign-in page and back. Another role: a 403 page. Allowed: the
    page runs as the principal, who becomes the audit context of any event it appends."""

    def decorator(view: F) -> F:
        @functools.wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            who = signed_in()
            if who is None:
                return _to_sign_in()
            if who.role not in roles:
                raise Forbidden(f"role {who.role} may not open this page; "
                                f"allowed: {', '.join(roles)}")
            g.principal = who  # the request log names who asked, as for the API
            with acting(who):
                return view(*args, **kwargs)

        return cast(F, guarded)

    return decorator


@contextmanager
def acting(who: Principal) -> Iterator[None]:
    with acting_as(AuditContext(actor=who.subject, role=who.role,
                                request_id=g.get("request_id", "-"))):
        yield


def _to_sign_in() -> BaseResponse:
    return redirect(url_for("workspace.sign_in_form", next=request.full_path.rstrip("?")))


def own_manager_or_403(manager_id: str) -> None:
    """A manager opens only their own pages; other roles are checked by page."""
    who = signed_in()
    if who is not None and who.role == "manager" and who.manager_id != manager_id:
        raise NotPermitted("a manager sees only their own data", rule="ManagersSeeTheirOwnData")


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a path inside the workspace, never another site."""
    if target and _in_workspace(target.split("?", 1)[0]) and not target.startswith("//"):
        return target
    return url_for("workspace.landing")


# --- what the pages ask ---------------------------------------------------------------------


def ledger() -> LedgerApplication:
    """The process's one ledger application: the API's own object."""
    return _ledger()


def read_side() -> ReadSide:
    """The process's one read side: the API's own object."""
    return _read_side()

"""What guards every page: CSRF tokens on every form, the content security policy, and
refusals rendered as pages rather than problem+json.

Flask-WTF's CSRFProtect checks only the workspace's forms (the API authenticates by bearer
token, which a browser never sends by itself, so it needs no CSRF token). The policy
forbids inline scripts and styles, so no template may carry `<script>` bodies, `style=`
attributes or `<style>` blocks.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, Response, current_app, render_template
from flask_wtf.csrf import CSRFProtect, generate_csrf  # type: ignore[import-untyped]
from markupsafe import Markup, escape
from werkzeug.exceptions import HTTPException

from api.errors import classify
from ledger.errors import InvalidInput, LedgerError
from workspace.session import refuse_without_secret

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'"
)
"""The same policy issue 20 sets app-wide on HTML answers; set here too so the pages hold
it on their own."""
CSRF = "workspace.csrf"


def guard(blp: Blueprint) -> None:
    """The blueprint's own hooks, set once when it is made (an app registers it later)."""
    blp.before_request(refuse_without_secret)
    blp.before_request(_check_csrf)
    blp.after_request(_headers)
    blp.register_error_handler(HTTPException, _http_refusal)
    blp.register_error_handler(LedgerError, _ledger_refusal)


def register_protection(app: Flask) -> None:
    # Checked by the blueprint only, after the secret check, not by the app for the API.
    app.config.update(WTF_CSRF_CHECK_DEFAULT=False, WTF_CSRF_TIME_LIMIT=None)
    app.extensions[CSRF] = CSRFProtect(app)
    app.jinja_env.globals["csrf_field"] = csrf_field


def _check_csrf() -> None:
    csrf: CSRFProtect = current_app.extensions[CSRF]
    csrf.protect()


def csrf_field() -> Markup:
    """The hidden input every form of the workspace carries (none without a secret: then
    the only page is the 503 that names it, and no form could be accepted anyway)."""
    if not current_app.secret_key:
        return Markup("")
    return Markup('<input type="hidden" name="csrf_token" value="{}">').format(
        escape(generate_csrf()))


def _headers(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    if response.mimetype == "text/html":
        # A figure page shows one person's pay: no shared cache may keep it.
        response.headers["Cache-Control"] = "no-store"
    return response


def _http_refusal(error: HTTPException) -> Any:
    status = error.code or 500
    return render_template("error.html", status=status, title=error.name,
                           detail=error.description, errors={}), status


def _ledger_refusal(error: LedgerError) -> Any:
    status, _slug = classify(error)
    errors = error.errors if isinstance(error, InvalidInput) else {}
    return render_template("error.html", status=status, title=error.title,
                           detail=error.detail, rule=error.rule, errors=errors), status

"""Signing in and out, the landing page, and the language switch (DESIGN §15).

`GET /app/sign-in` shows a form posting a field named `token` to `POST /app/sign-in`; the
token is one `ledger token create` (or `ledger demo`) printed, checked exactly as the API
checks a bearer token.
"""

from __future__ import annotations

from typing import Any

from flask import abort, make_response, redirect, render_template, request, url_for

from workspace import blp
from workspace.i18n import COOKIE, LANGUAGES, translated
from workspace.session import safe_next, sign_in_with, sign_out, signed_in

LANGUAGE_COOKIE_AGE = 365 * 24 * 3600
MAX_TOKEN_FIELD = 200


@blp.get("/sign-in")
def sign_in_form() -> Any:
    """The sign-in form."""
    return render_template("sign_in.html", next=request.args.get("next", ""), error=None)


@blp.post("/sign-in")
def sign_in() -> Any:
    token = request.form.get("token", "")[:MAX_TOKEN_FIELD + 1]
    target = request.form.get("next", "")
    if len(token) > MAX_TOKEN_FIELD or sign_in_with(token) is None:
        error = translated("This token is unknown, revoked or expired.")
        return render_template("sign_in.html", next=target, error=error), 401
    return redirect(safe_next(target))


@blp.post("/sign-out")
def sign_out_page() -> Any:
    sign_out()
    return redirect(url_for("workspace.sign_in_form"))


@blp.get("/")
def landing() -> Any:
    """Where each role starts; a manager starts at their own quarter."""
    who = signed_in()
    if who is None:
        return redirect(url_for("workspace.sign_in_form"))
    if who.role == "manager" and who.manager_id:
        return redirect(url_for("workspace.manager_quarter", manager_id=who.manager_id))
    return render_template("landing.html")


@blp.get("/<path:unknown>")
def no_such_page(unknown: str) -> Any:
    """Any other path under /app/: a 404 page, not the API's problem report."""
    abort(404)


@blp.post("/language")
def switch_language() -> Any:
    """Keeps the chosen language in a cookie (a preference, not a credential)."""
    chosen = request.form.get(COOKIE, "")
    response = make_response(redirect(safe_next(request.form.get("next"))))
    if chosen in LANGUAGES:
        response.set_cookie(COOKIE, chosen, max_age=LANGUAGE_COOKIE_AGE, httponly=True,
                            samesite="Strict", path="/app")
    return response

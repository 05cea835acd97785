"""HTTP conventions every answer follows (issue 20): what a browser may do with a page, and
what a cache may keep.

- `X-Content-Type-Options: nosniff` on everything: an answer is what its type says.
- On HTML answers (the API reference, problem pages, the workspace under /app/) the one
  Content-Security-Policy below: scripts, styles and forms of this origin only, no framing.
- Pay and personal data (`@no_store` routes): `Cache-Control: no-store`, nowhere kept.
- A GET answered at an explicit `known_at` in the past, with every other default fixed, can
  never change (the log only grows, and what was known then stays known): it carries an
  `ETag` and `Cache-Control: public, max-age=…, immutable`, and `If-None-Match` gets a 304.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from flask import Flask, Response, current_app, request

CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
       "form-action 'self'; frame-ancestors 'none'")
IMMUTABLE = "public, max-age=31536000, immutable"
NO_STORE = "no-store"
SETTLED = timedelta(minutes=1)
"""How far in the past `known_at` must be to be settled: a transaction that began before it
may still commit events stamped before it for a moment (an append takes milliseconds)."""
NO_STORE_ATTRIBUTE = "ledger_no_store"
DEFAULTED = ("as_of",)
"""Query parameters whose default is today: an answer relying on one changes tomorrow."""
_PATH_PARAMETER = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")

F = TypeVar("F", bound=Callable[..., Any])


def no_store(view: F) -> F:
    """Marks a route whose answers hold pay or personal data: no cache may keep them."""
    setattr(view, NO_STORE_ATTRIBUTE, True)
    return view


def register_http_conventions(app: Flask) -> None:
    app.after_request(_conventions)


def _conventions(response: Response) -> Response:
    response.headers["X-Content-Type-Options"] = "nosniff"
    if response.mimetype == "text/html":
        response.headers["Content-Security-Policy"] = CSP
    view = current_app.view_functions.get(request.endpoint or "")
    if getattr(view, NO_STORE_ATTRIBUTE, False):
        response.headers["Cache-Control"] = NO_STORE
    elif _settled_answer(response):
        response.headers["Cache-Control"] = IMMUTABLE
        response.add_etag()
        response.make_conditional(request)
    return response


def _settled_answer(response: Response) -> bool:
    if request.method != "GET" or response.status_code != 200 or request.url_rule is None:
        return False
    known_at = _instant(request.args.get("known_at"))
    if known_at is None or known_at > datetime.now(UTC) - SETTLED:
        return False
    accepted = _query_parameters(current_app, request.url_rule.rule, request.method.lower())
    return all(name in request.args for name in DEFAULTED if name in accepted)


def _instant(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment.astimezone(UTC) if moment.tzinfo is not None else None


def _query_parameters(app: Flask, rule: str, method: str) -> frozenset[str]:
    return _parameter_table(app).get((openapi_path(rule), method), frozenset())


def openapi_path(rule: str) -> str:
    """A Flask rule as the OpenAPI document writes its path: <uuid:x> becomes {x}."""
    return _PATH_PARAMETER.sub(r"{\1}", rule)


def _parameter_table(app: Flask) -> dict[tuple[str, str], frozenset[str]]:
    table: dict[tuple[str, str], frozenset[str]] | None = app.extensions.get(_TABLE)
    if table is None:
        table = _build_table(app)
        app.extensions[_TABLE] = table
    return table


_TABLE = "ledger.query_parameters"


def _build_table(app: Flask) -> dict[tuple[str, str], frozenset[str]]:
    spec = app.extensions["ledger.api"].spec.to_dict()
    table: dict[tuple[str, str], frozenset[str]] = {}
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            if isinstance(operation, dict) and "responses" in operation:
                table[(path, method)] = frozenset(
                    p["name"] for p in operation.get("parameters", []) if p.get("in") == "query")
    return table

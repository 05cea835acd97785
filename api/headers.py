"""HTTP conventions every answer follows (issue 20): what a browser may do with a page, and
what a cache may keep.

- `X-Content-Type-Options: nosniff` on everything: an answer is what its type says.
- On HTML answers (the API reference, problem pages, the workspace under /app/) the one
  Content-Security-Policy below: scripts, styles and forms of this origin only, no framing.
- Pay and personal data: `Cache-Control: no-store`, kept by no cache. Pay is any answer
  whose documented schema holds money (a `Money` field, format decimal); personal data are
  the people and their customers (PERSONAL_DATA), and the signed statements.
- A GET answered at an explicit `known_at` in the past, with every other default fixed, can
  never change (the log only grows, and what was known then stays known): it carries an
  `ETag` and `Cache-Control: public, max-age=…, immutable`, and `If-None-Match` gets a 304.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Flask, Response, current_app, request

from api.pagination import link_next_page

CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
       "form-action 'self'; frame-ancestors 'none'")
IMMUTABLE = "public, max-age=31536000, immutable"
NO_STORE = "no-store"
SETTLED = timedelta(seconds=10)
"""How far in the past `known_at` must be to be settled: an append stamps its events when it
takes the head of the log and commits a few milliseconds later, so for that moment a reader
could miss an event stamped before its `known_at`; ten seconds leave ample room."""
PERSONAL_DATA = frozenset({
    "/api/v1/managers", "/api/v1/managers/{manager_id}", "/api/v1/customers",
    "/api/v1/customers/{customer_id}", "/api/v1/customers/{customer_id}/holder",
    "/api/v1/managers/{manager_id}/portfolio", "/api/v1/managers/{manager_id}/statement",
    "/api/v1/managers/{manager_id}/statement.json", "/api/v1/reassignments",
    # Pay the schema does not type as money: rankings by pay, a closing's frozen pay.
    "/api/v1/reports/rankings", "/api/v1/periods/{period}",
})
"""Answers naming people or their customers, or pay in a free-form shape (OpenAPI paths; a
test checks each exists)."""
DEFAULTED = ("as_of",)
"""Query parameters whose default is today: an answer relying on one changes tomorrow."""
_PATH_PARAMETER = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")



@dataclass(frozen=True)
class Operation:
    """What the conventions need to know of one operation, read from the OpenAPI document."""

    query: frozenset[str]
    holds_pay_or_personal_data: bool


def register_http_conventions(app: Flask) -> None:
    app.after_request(_conventions)
    app.after_request(link_next_page)


def _conventions(response: Response) -> Response:
    response.headers["X-Content-Type-Options"] = "nosniff"
    if response.mimetype == "text/html":  # a page that set its own (stricter) policy keeps it
        response.headers.setdefault("Content-Security-Policy", CSP)
    operation = _operation(current_app)
    if operation is not None and operation.holds_pay_or_personal_data:
        response.headers["Cache-Control"] = NO_STORE
    elif operation is not None and _settled_answer(response, operation):
        response.headers["Cache-Control"] = IMMUTABLE
        response.add_etag()
        response.make_conditional(request)
    return response


def _settled_answer(response: Response, operation: Operation) -> bool:
    if request.method != "GET" or response.status_code != 200:
        return False
    known_at = _instant(request.args.get("known_at"))
    if known_at is None or known_at > datetime.now(UTC) - SETTLED:
        return False
    return all(name in request.args for name in DEFAULTED if name in operation.query)


def _instant(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment.astimezone(UTC) if moment.tzinfo is not None else None


def _operation(app: Flask) -> Operation | None:
    if request.url_rule is None:
        return None
    return _operation_table(app).get((openapi_path(request.url_rule.rule),
                                      request.method.lower()))


def openapi_path(rule: str) -> str:
    """A Flask rule as the OpenAPI document writes its path: <uuid:x> becomes {x}."""
    return _PATH_PARAMETER.sub(r"{\1}", rule)


_TABLE = "ledger.operations"


def _operation_table(app: Flask) -> dict[tuple[str, str], Operation]:
    table: dict[tuple[str, str], Operation] | None = app.extensions.get(_TABLE)
    if table is None:  # built once, from the document (two threads may both build it)
        table = operation_table(app.extensions["ledger.api"].spec.to_dict())
        app.extensions[_TABLE] = table
    return table


def operation_table(spec: dict[str, Any]) -> dict[tuple[str, str], Operation]:
    table: dict[tuple[str, str], Operation] = {}
    schemas = spec.get("components", {}).get("schemas", {})
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            if isinstance(operation, dict) and "responses" in operation:
                answer = operation["responses"].get("200", {})
                table[(path, method)] = Operation(
                    frozenset(p["name"] for p in operation.get("parameters", [])
                              if p.get("in") == "query"),
                    path in PERSONAL_DATA or _holds_money(answer, schemas, set()))
    return table


def _holds_money(node: Any, schemas: dict[str, Any], seen: set[str]) -> bool:
    """True when a schema (through its references) has a decimal-string money field."""
    if isinstance(node, dict):
        if node.get("format") == "decimal":
            return True
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
            name = ref.rsplit("/", 1)[-1]
            if name in seen:
                return False
            seen.add(name)
            return _holds_money(schemas.get(name), schemas, seen)
        return any(_holds_money(v, schemas, seen) for v in node.values())
    if isinstance(node, list):
        return any(_holds_money(v, schemas, seen) for v in node)
    return False

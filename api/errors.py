"""Problem details (RFC 9457): one table from the ledger's errors to HTTP, and the handlers.

Every refusal, whether the ledger's or HTTP's own (unknown route, body too large, bad
JSON), answers `application/problem+json` with `type`, `title`, `status` and `detail`;
validation problems add `errors` (field -> messages). No domain error becomes a 500, and
neither does a database that is away: that is a 503 with `Retry-After`.
"""

from __future__ import annotations

import http
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import marshmallow as ma
import sqlalchemy.exc as sa
from apispec import BasePlugin
from eventsourcing.persistence import IntegrityError, InterfaceError, OperationalError
from flask import Flask, Response, current_app, g, request
from flask_smorest import Api  # type: ignore[import-untyped]
from flask_smorest.utils import prepare_response  # type: ignore[import-untyped]
from werkzeug.exceptions import HTTPException

from ledger.errors import (
    Conflict,
    DeadlinePassed,
    DuplicateFact,
    InvalidInput,
    LedgerError,
    NotFound,
    NotPermitted,
    RuleViolation,
)

PROBLEM_JSON = "application/problem+json"
PROBLEM_BASE = "/problems/"
MAX_MESSAGES = 200  # bound a problem report even for a batch full of mistakes
RETRY_AFTER_SECONDS = 1
"""A lost connection is replaced on the next checkout, so a second is enough to wait."""
UNAVAILABLE = "database-unavailable"

# The one table: most specific class first, since the first match wins.
STATUS_OF: tuple[tuple[type[Exception], int, str], ...] = (
    (InvalidInput, 422, "invalid-input"),
    (NotFound, 404, "not-found"),
    (NotPermitted, 403, "not-permitted"),
    (DeadlinePassed, 409, "deadline-passed"),
    (DuplicateFact, 409, "duplicate-fact"),
    (RuleViolation, 409, "rule-violation"),
    (Conflict, 409, "conflict"),
    (LedgerError, 409, "refused"),
    # Two writers changed the same aggregate at once: the later one is refused whole.
    (IntegrityError, 409, "concurrent-change"),
    # The database is away or busy: the connection was lost (a restart, a terminated
    # backend), none could be made or lent in time, or a lock wait ran out. The event
    # store's (ours and the library's), then SQLAlchemy's (read models, tokens).
    (OperationalError, 503, UNAVAILABLE),
    (InterfaceError, 503, UNAVAILABLE),
    (sa.OperationalError, 503, UNAVAILABLE),
    (sa.InterfaceError, 503, UNAVAILABLE),
    (sa.TimeoutError, 503, UNAVAILABLE),
)


class ProblemSchema(ma.Schema):
    """An RFC 9457 problem report (documentation only; `problem()` builds the body)."""

    class Meta:
        unknown = ma.INCLUDE  # extension members are allowed by the RFC

    type = ma.fields.String(required=True)
    title = ma.fields.String(required=True)
    status = ma.fields.Integer(required=True)
    detail = ma.fields.String(required=True)
    instance = ma.fields.String()
    request_id = ma.fields.String()
    errors = ma.fields.Dict(
        keys=ma.fields.String(), values=ma.fields.List(ma.fields.String()),
        metadata={"description": "field -> messages (422 only)"},
    )
    rule = ma.fields.String(allow_none=True, metadata={"description": "the business rule"})
    current_state = ma.fields.String(allow_none=True)


def problem(
    status: int,
    detail: str,
    *,
    slug: str | None = None,
    title: str | None = None,
    headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> Response:
    """A problem+json response; `extra` adds members such as `errors` or `rule`."""
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + slug if slug else "about:blank",
        "title": title or http.HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "instance": request.path,
        "request_id": g.get("request_id", "-"),
    }
    body.update({k: v for k, v in extra.items() if v is not None})
    response = Response(json.dumps(body, ensure_ascii=False), status, mimetype=PROBLEM_JSON)
    response.headers.update(headers or {})
    return response


def classify(error: Exception) -> tuple[int, str]:
    """The status and problem type of a refusal, from the one table."""
    for cls, status, slug in STATUS_OF:
        if isinstance(error, cls):
            return status, slug
    return 409, "refused"


def ledger_problem(error: Exception) -> Response:
    """The problem report for a refusal by the ledger, a concurrent change, or a database
    that is away."""
    status, slug = classify(error)
    if slug == UNAVAILABLE:
        return unavailable_problem(error)
    if not isinstance(error, LedgerError):
        return problem(status, "another request changed this data first; retry", slug=slug,
                       title="Concurrent change")
    errors = error.errors if isinstance(error, InvalidInput) else None
    return problem(
        status, error.detail, slug=slug, title=error.title, errors=errors, rule=error.rule,
        current_state=getattr(error, "current_state", None),
    )


def unavailable_problem(error: Exception) -> Response:
    """503: nothing was committed, or (a connection lost at COMMIT) it is unknown whether
    it was, which the same Idempotency-Key settles on the retry."""
    # The first line only: SQLAlchemy's message goes on with the statement and parameters.
    first_line = (str(error).strip().splitlines() or [""])[0][:200]
    current_app.logger.warning("database unavailable: %s: %s", type(error).__name__,
                               first_line)
    return problem(503, "the database is unavailable; retry shortly, with the same "
                   "Idempotency-Key for a command", slug=UNAVAILABLE,
                   title="Database unavailable",
                   headers={"Retry-After": str(RETRY_AFTER_SECONDS)})


def flatten_messages(messages: Any, prefix: str = "") -> dict[str, list[str]]:
    """marshmallow's nested messages as flat `field.path -> messages` (location dropped)."""
    if isinstance(messages, Mapping):
        flat: dict[str, list[str]] = {}
        for key, value in messages.items():
            flat.update(flatten_messages(value, f"{prefix}.{key}" if prefix else str(key)))
        return flat
    if isinstance(messages, (list, tuple)):
        return {prefix or "body": [str(m) for m in messages][:MAX_MESSAGES]}
    return {prefix or "body": [str(messages)]}


def _validation_errors(error: HTTPException) -> dict[str, list[str]] | None:
    data = getattr(error, "data", None) or {}
    messages = data.get("errors") or data.get("messages")
    if messages is None:
        return None
    # webargs keys messages by location first ("json", "query"); the field names suffice.
    if isinstance(messages, Mapping) and set(messages) <= {"json", "query", "headers", "view_args"}:
        merged: dict[str, list[str]] = {}
        for part in messages.values():
            merged.update(flatten_messages(part))
        return dict(list(merged.items())[:MAX_MESSAGES])
    return flatten_messages(messages)


class LedgerApi(Api):  # type: ignore[misc]  # flask-smorest ships no type hints
    """flask-smorest's Api, answering and documenting every error as problem+json."""

    ERROR_SCHEMA = ProblemSchema

    def handle_http_exception(self, error: HTTPException) -> Response:
        status = error.code or 500
        errors = _validation_errors(error)
        headers = dict((getattr(error, "data", None) or {}).get("headers") or {})
        if status == 400 and errors:
            return problem(400, "the request body is not readable JSON", slug="unreadable-json",
                           headers=headers)
        if status == 422:
            detail = "; ".join(f"{k}: {', '.join(v)}" for k, v in (errors or {}).items())
            return problem(422, detail or "invalid input", slug="invalid-input",
                           title="Invalid input", errors=errors or {}, headers=headers)
        if status >= 500:
            return problem(status, "the server could not answer; the request id is logged")
        return problem(status, error.description or http.HTTPStatus(status).phrase,
                       headers=headers)

    def _init_spec(self, *, extra_plugins: Any = None, **options: Any) -> None:
        from api.examples import WorkedExamples  # noqa: PLC0415 - after the operationIds

        super()._init_spec(
            extra_plugins=[*(extra_plugins or ()), ProblemResponses(), WorkedExamples()],
            **options)

    def _register_responses(self) -> None:
        for status in http.HTTPStatus:
            response: dict[str, Any] = {"description": status.phrase}
            if status >= 400:
                response["schema"] = self.ERROR_SCHEMA
            prepare_response(response, self.spec, PROBLEM_JSON)
            self.spec.components.response(status.name, response, lazy=True)
        default = {"description": "A problem report", "schema": self.ERROR_SCHEMA}
        prepare_response(default, self.spec, PROBLEM_JSON)
        self.spec.components.response(self.DEFAULT_ERROR_RESPONSE_NAME, default, lazy=True)
        for name, documented in DOCUMENTED_PROBLEMS.items():
            self.spec.components.response(name, documented.response(self.ERROR_SCHEMA))


@dataclass(frozen=True)
class DocumentedProblem:
    """A refusal as the OpenAPI document names it on each operation that can answer it."""

    status: int
    description: str
    slug: str
    detail: str
    headers: tuple[str, ...] = ()

    def response(self, schema: type[ma.Schema]) -> dict[str, Any]:
        example = {"type": PROBLEM_BASE + self.slug,
                   "title": self.slug.replace("-", " ").capitalize(),
                   "status": self.status, "detail": self.detail,
                   "instance": "/api/v1/managers/M1/score", "request_id": "8c1f…"}
        return {
            "description": f"{self.description} (see {PROBLEM_BASE}{self.slug})",
            "content": {PROBLEM_JSON: {"schema": schema, "example": example}},
            **({"headers": {h: {"schema": {"type": "string"}} for h in self.headers}}
               if self.headers else {}),
        }


DOCUMENTED_PROBLEMS: dict[str, DocumentedProblem] = {
    "Unauthenticated": DocumentedProblem(
        401, "No valid, unrevoked, unexpired bearer token", "unauthenticated",
        "send a valid, unrevoked, unexpired token: Authorization: Bearer <token>",
        ("WWW-Authenticate",)),
    "WrongRole": DocumentedProblem(
        403, "The token's role may not call this operation (x-roles), or a manager asked "
        "for another manager's data", "wrong-role",
        "role manager may not do this; allowed: supervisor"),
    "NotFound": DocumentedProblem(404, "A resource named in the path does not exist",
                                  "not-found", "no manager M9"),
    "Refused": DocumentedProblem(
        409, "A business rule refused the command, or another request changed the same data "
        "first, or the Idempotency-Key was used for another request", "rule-violation",
        "a dispute may be filed within 5 business days of the deduction"),
    "Invalid": DocumentedProblem(422, "A field is missing, malformed or out of range; "
                                 "`errors` names each", "invalid-input",
                                 "points: must be between 1 and 1000"),
    "Unavailable": DocumentedProblem(
        503, "The database is away or busy, or the read models lag; retry after Retry-After "
        "seconds (with the same Idempotency-Key for a command)", UNAVAILABLE,
        "the database is unavailable; retry shortly", ("Retry-After",)),
}
"""Component responses: `LedgerBlueprint.allow` puts 401 and 403 on every protected
operation, `command` 409 and 422 on every command; ProblemResponses adds the rest."""


class ProblemResponses(BasePlugin):
    """Completes each operation as it is registered: a unique operationId (the view's name,
    for client generators), 404 where the path names a resource, 503 wherever the database
    is asked, 422 where there are parameters to get wrong."""

    def __init__(self) -> None:
        self.operation_ids: set[str] = set()

    def operation_helper(self, path: str | None = None,
                         operations: dict[str, Any] | None = None, **kwargs: Any) -> None:
        rule = kwargs.get("rule")
        for method, operation in (operations or {}).items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            operation.setdefault("operationId", self._operation_id(rule, method))
            responses = operation["responses"]
            if path and "{" in path:
                _document(responses, 404, "NotFound")
            if path and path.startswith("/api/"):
                _document(responses, 503, "Unavailable")
            if operation.get("parameters") or "requestBody" in operation or "{" in (path or ""):
                _document(responses, 422, "Invalid")

    def _operation_id(self, rule: Any, method: str) -> str:
        name = str(getattr(rule, "endpoint", method)).rsplit(".", 1)[-1]
        blueprint = str(getattr(rule, "endpoint", "")).split(".", 1)[0].lower()
        candidate = _camel(name)
        if candidate in self.operation_ids:
            candidate = _camel(f"{blueprint}_{name}_{method}")
        self.operation_ids.add(candidate)
        return candidate


def _document(responses: dict[Any, Any], status: int, name: str) -> None:
    """Adds a response unless the operation documents that status already (flask-smorest
    keys its own by int, the document by text)."""
    if status not in responses and str(status) not in responses:
        responses[str(status)] = name


def _camel(name: str) -> str:
    first, *rest = [part for part in name.replace("-", "_").split("_") if part]
    return first + "".join(part[:1].upper() + part[1:] for part in rest)


def register_error_handlers(app: Flask) -> None:
    """Every class of the table becomes its problem report (HTTP errors are LedgerApi's)."""
    for cls, _status, _slug in STATUS_OF:
        app.register_error_handler(cls, ledger_problem)

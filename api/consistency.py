"""Read your writes over HTTP (DESIGN §8–§9): `Ledger-Position` and `Consistent-After`.

Every command's answer carries `Ledger-Position`, the log position its events committed
at (for a command that appended nothing, such as a duplicate, the head after it). A client
that sends that number back as `Consistent-After` on a query is answered once the read
models, wherever they are read (a streaming standby), hold that position: bounded, else
503 with Retry-After. Without the header a query waits for the primary's head as of its
receipt. Every figure's answer tells the position it reflects in `Ledger-Position` and the
time it waited in `Server-Timing: consistency;dur=<ms>`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from apispec import APISpec, BasePlugin
from flask import Flask, Response, current_app, g, has_request_context, request

from api.idempotency import LEDGER
from ledger.errors import InvalidInput

POSITION_HEADER = "Ledger-Position"
CONSISTENT_AFTER = "Consistent-After"
TIMING_HEADER = "Server-Timing"
MAX_POSITION_DIGITS = 18
"""A log position fits a signed 64-bit integer (TB: bound everything)."""


class RequestConsistency:
    """The read side's `Consistency` for queries served over HTTP: the request's header in,
    the position answered and the wait out (kept on `flask.g` until the answer is sent)."""

    source = CONSISTENT_AFTER

    def floor(self) -> int | None:
        if not has_request_context():
            return None  # A command checking a rule outside a request: every event.
        raw = request.headers.get(CONSISTENT_AFTER)
        if raw is None:
            return None
        text = raw.strip()
        if not text.isascii() or not text.isdigit() or len(text) > MAX_POSITION_DIGITS:
            raise InvalidInput({CONSISTENT_AFTER: [
                "must be a log position: a whole number such as a command's Ledger-Position"]})
        return int(text)

    def answered(self, position: int, waited: float) -> None:
        if not has_request_context():
            return
        g.ledger_read_position = max(position, g.get("ledger_read_position", 0))
        g.ledger_read_waited = g.get("ledger_read_waited", 0.0) + waited


def positioned(run: Callable[..., Any]) -> Callable[..., Any]:
    """A command route that remembers the position it committed, for the answer's header."""

    @functools.wraps(run)
    def answer(*args: Any, **kwargs: Any) -> Any:
        result = run(*args, **kwargs)
        position = _committed(result)
        if position is not None:
            g.ledger_position = position
        return result

    return answer


def _committed(result: Any) -> int | None:
    """The last position among the answer's events; the head when it has none; None for a
    refusal (a reused idempotency key answers a problem, not a commit)."""
    body, status = result, 200
    if isinstance(result, tuple):
        body, status = result[0], result[1] if len(result) > 1 else 200
    if isinstance(body, Response):
        status = body.status_code
    if status >= 400:
        return None
    events = body.get("events") if isinstance(body, dict) else None
    positions = [e.get("position") if isinstance(e, dict) else getattr(e, "position", None)
                 for e in events or ()]
    found = [p for p in positions if isinstance(p, int)]
    if found:
        return max(found)
    return int(current_app.extensions[LEDGER].recorder.max_notification_id() or 0)


def _headers(response: Response) -> Response:
    position = g.get("ledger_position")
    if position is None:
        position = g.get("ledger_read_position")
        if position is not None:
            waited_ms = g.get("ledger_read_waited", 0.0) * 1000
            response.headers[TIMING_HEADER] = f"consistency;dur={waited_ms:.1f}"
    if position is not None:
        response.headers[POSITION_HEADER] = str(position)
    return response


def register_consistency_headers(app: Flask) -> None:
    app.after_request(_headers)


# --- the OpenAPI document ---------------------------------------------------------------

POSITION_DOC = {"schema": {"type": "integer", "minimum": 0}, "description":
                "The log position the answer reflects: for a command, the position its "
                "events committed at, to send back as Consistent-After."}
TIMING_DOC = {"schema": {"type": "string", "example": "consistency;dur=12.5"}, "description":
              "How long the query waited for the read models, in milliseconds."}
CONSISTENT_AFTER_DOC = {
    "in": "header", "name": CONSISTENT_AFTER, "required": False,
    "schema": {"type": "integer", "minimum": 0},
    "description": "A command's Ledger-Position: the answer includes that write (waiting, "
                   "bounded, for the read models; else 503 with Retry-After). Without it, "
                   "every event acknowledged before the query was received. Queries that "
                   "read no read model (the log, rule sets) ignore it.",
}


class ConsistencyHeaders(BasePlugin):
    """Documents the headers above on every /api operation: Ledger-Position on each
    command's success, Consistent-After and the answer's headers on each query."""

    def init_spec(self, spec: APISpec) -> None:
        self.spec = spec

    def operation_helper(self, path: str | None = None,
                         operations: dict[str, Any] | None = None, **kwargs: Any) -> None:
        if not path or not path.startswith("/api/"):
            return
        for method, operation in (operations or {}).items():
            if not isinstance(operation, dict):
                continue
            query = method.lower() == "get"
            if query:
                operation.setdefault("parameters", []).append(dict(CONSISTENT_AFTER_DOC))
            for code, response in (operation.get("responses") or {}).items():
                if str(code).startswith("2") and isinstance(response, dict):
                    headers = response.setdefault("headers", {})
                    headers[POSITION_HEADER] = dict(POSITION_DOC)
                    if query:
                        headers[TIMING_HEADER] = dict(TIMING_DOC)


def document_consistency_headers(spec: APISpec) -> None:
    """Before the blueprints are registered: operations are completed as they arrive."""
    plugin = ConsistencyHeaders()
    plugin.init_spec(spec)
    spec.plugins = [*spec.plugins, plugin]

"""Operating the API: request ids, JSON request logs, Prometheus metrics, /readyz, /docs.

Metrics are per process unless PROMETHEUS_MULTIPROC_DIR is set (then every gunicorn
worker writes there and /metrics sums them), because a scrape reaches one worker only.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import time
import uuid
from typing import Any

from eventsourcing.persistence import PersistenceError
from flask import Flask, Response, current_app, g, request
from markupsafe import escape
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from sqlalchemy.exc import SQLAlchemyError

from api.auth import guard_operations
from ledger.application import Receipt
from persistence.privileges import excess_privileges
from persistence.schema import is_current

REQUEST_ID_HEADER = "X-Request-ID"
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
METRICS = "ledger.metrics"
DATABASE_URL = "ledger.database_url"
LOGGER = "ledger.api"
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
HTTP_METHODS = ("get", "put", "post", "delete", "patch")
DOCS_INTRO = ('<p>Machine-readable: <a href="/openapi.json">/openapi.json</a>. Every /api route '
              "needs <code>Authorization: Bearer &lt;token&gt;</code>; errors are "
              "<code>application/problem+json</code>.</p>")


class Metrics:
    """Requests and latency by route, and events appended by type."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        registry = None if os.environ.get(MULTIPROC_ENV) else self.registry
        self.requests = Counter("ledger_http_requests", "HTTP requests answered",
                                ["method", "route", "status"], registry=registry)
        self.latency = Histogram("ledger_http_request_seconds", "Time to answer a request",
                                 ["method", "route"], registry=registry)
        self.events = Counter("ledger_events_appended", "Events appended to the log",
                              ["type"], registry=registry)

    def count_events(self, receipt: Receipt) -> None:
        for event in receipt.events:
            self.events.labels(event.type).inc()

    def exposition(self) -> bytes:
        if os.environ.get(MULTIPROC_ENV):
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
            return bytes(generate_latest(registry))
        return bytes(generate_latest(self.registry))


class JsonLogFormatter(logging.Formatter):
    """One JSON object per line: easy to ship and to search by request id."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {"ts": self.formatTime(record), "level": record.levelname,
                 "msg": record.getMessage()}
        entry.update(getattr(record, "fields", {}))
        return json.dumps(entry, ensure_ascii=False, default=str)


def request_logger() -> logging.Logger:
    logger = logging.getLogger(LOGGER)
    if not logger.handlers:  # once per process, however many apps tests build
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonLogFormatter())
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
    return logger


def database_url_of(env: dict[str, str]) -> str:
    if env.get("PERSISTENCE_MODULE") == "persistence.postgres":
        return env["POSTGRES_DSN"]
    return "sqlite:///" + env["SQLITE_DBNAME"]


def register_operations(app: Flask, env: dict[str, str], metrics: Metrics) -> None:
    app.extensions[METRICS] = metrics
    app.extensions[DATABASE_URL] = database_url_of(env)
    app.before_request(_start)
    app.after_request(_finish)
    app.add_url_rule("/readyz", "readyz", readyz)
    app.add_url_rule("/metrics", "metrics", metrics_text)
    app.add_url_rule("/docs", "docs", docs)


def _start() -> None:
    g.started = time.perf_counter()
    given = request.headers.get(REQUEST_ID_HEADER, "")
    g.request_id = given if _REQUEST_ID.fullmatch(given) else uuid.uuid4().hex


def _finish(response: Response) -> Response:
    response.headers[REQUEST_ID_HEADER] = g.get("request_id", "-")
    elapsed = time.perf_counter() - g.get("started", time.perf_counter())
    route = request.url_rule.rule if request.url_rule else "unmatched"
    metrics: Metrics = current_app.extensions[METRICS]
    metrics.requests.labels(request.method, route, str(response.status_code)).inc()
    metrics.latency.labels(request.method, route).observe(elapsed)
    who = g.get("principal")
    request_logger().info("request", extra={"fields": {
        "request_id": g.get("request_id"), "method": request.method, "path": request.path,
        "route": route, "status": response.status_code, "ms": round(elapsed * 1000, 2),
        "subject": who.subject if who else None, "role": who.role if who else None,
    }})
    return response


def readyz() -> Response:
    """Ready: the database answers, its migrations are current, and the service role
    holds no more than SELECT and INSERT on the append-only tables. While the database
    is away the other checks are not tried (null): each would only wait for it again."""
    if not _database_answers():
        return _readiness({"database": False, "migrations": None, "append_only": None},
                          headers={"Retry-After": "1"})
    excess = _excess_privileges()
    checks: dict[str, bool | None] = {
        "database": True,
        "migrations": _migrations_current(),
        "append_only": not excess,
    }
    return _readiness(checks, excess_privileges=excess or None)


def _readiness(checks: dict[str, bool | None], headers: dict[str, str] | None = None,
               **extra: Any) -> Response:
    ready = all(checks.values())
    body: dict[str, Any] = {"status": "ready" if ready else "not ready", "checks": checks}
    body.update({k: v for k, v in extra.items() if v is not None})
    return Response(json.dumps(body), 200 if ready else 503, headers=headers,
                    mimetype="application/json")


def _excess_privileges() -> list[str]:
    try:
        return excess_privileges(current_app.extensions["ledger"].recorder)
    except PersistenceError:
        return ["privileges could not be read"]


def _database_answers() -> bool:
    try:
        current_app.extensions["ledger"].recorder.max_notification_id()
    except (PersistenceError, SQLAlchemyError):
        return False
    return True


def _migrations_current() -> bool:
    try:
        return is_current(current_app.extensions[DATABASE_URL])
    except SQLAlchemyError:
        return False


def metrics_text() -> Response:
    """Prometheus text exposition, for an operator's token (api.auth.OPERATIONS_ROLES)."""
    refused = guard_operations()
    if refused is not None:
        return refused
    metrics: Metrics = current_app.extensions[METRICS]
    return Response(metrics.exposition(), mimetype=CONTENT_TYPE_LATEST)


def docs() -> Response:
    """Human API docs, rendered here from the OpenAPI document (no CDN, works offline)."""
    spec = current_app.extensions["ledger.api"].spec.to_dict()
    parts = [f"<h1>{escape(spec['info']['title'])} {escape(spec['info']['version'])}</h1>",
             DOCS_INTRO]
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            if method in HTTP_METHODS:  # beside the methods sit the path's parameters
                parts.append(_operation_html(path, method, operation))
    page = "<!doctype html><meta charset=utf-8><title>API</title>" + "".join(parts)
    return Response(page, mimetype="text/html")


def _operation_html(path: str, method: str, operation: dict[str, Any]) -> str:
    roles = ", ".join(operation.get("x-roles", [])) or "-"
    body = operation.get("requestBody", {}).get("content", {}).get("application/json", {})
    schema = body.get("schema", {}).get("$ref", "").rsplit("/", 1)[-1] or "-"
    codes = ", ".join(operation.get("responses", {}))
    return (f"<h3><code>{escape(method.upper())} {escape(path)}</code></h3>"
            f"<p>{escape(operation.get('summary', ''))}</p>"
            f"<ul><li>roles: {escape(roles)}</li><li>body: {escape(schema)}</li>"
            f"<li>answers: {escape(codes)}</li></ul>")

"""Operating the API: request ids, JSON request logs, Prometheus metrics, /readyz.

Metrics are per process unless PROMETHEUS_MULTIPROC_DIR is set: `ledger serve` sets it up
(ledger_cli/serving.py), every gunicorn worker writes there and /metrics sums them, because
a scrape reaches one worker only. Each request is logged once, as it ends, with its
request id; a request that failed with an unexpected error is answered a problem 500, and
its one line carries the traceback (`exc_info`).
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import time
import uuid
from collections.abc import Iterable
from typing import Any

from eventsourcing.persistence import PersistenceError
from flask import Flask, Response, current_app, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import QueuePool
from werkzeug.exceptions import HTTPException

from api.auth import guard_operations
from api.errors import problem
from api.idempotency import REPLAYED_HEADER
from api.logs import json_handler
from ledger.application import LedgerApplication, Receipt
from persistence.privileges import excess_privileges
from persistence.schema import is_current

REQUEST_ID_HEADER = "X-Request-ID"
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
METRICS = "ledger.metrics"
DATABASE_URL = "ledger.database_url"
LOGGER = "ledger.api"
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


class Metrics:
    """Requests and latency by route, events appended by type, append latency, idempotent
    replays and connection-pool use; projection lag is read from the database per scrape."""

    def __init__(self, ledger: LedgerApplication | None = None) -> None:
        self.ledger = ledger
        self.registry = CollectorRegistry(auto_describe=True)
        registry = None if os.environ.get(MULTIPROC_ENV) else self.registry
        self.requests = Counter("ledger_http_requests", "HTTP requests answered",
                                ["method", "route", "status"], registry=registry)
        self.latency = Histogram("ledger_http_request_seconds", "Time to answer a request",
                                 ["method", "route"], registry=registry)
        self.events = Counter("ledger_events_appended", "Events appended to the log",
                              ["type"], registry=registry)
        self.append_seconds = Histogram("ledger_append_seconds",
                                        "Time to append one command's events (one transaction)",
                                        registry=registry, buckets=APPEND_BUCKETS)
        self.replays = Counter("ledger_idempotent_replays",
                               "Commands answered from their Idempotency-Key, nothing appended",
                               ["route"], registry=registry)
        # livesum: the connections of the workers alive now, summed.
        self.pool_in_use = Gauge("ledger_db_connections_in_use",
                                 "Database connections lent out, by pool", ["pool"],
                                 registry=registry, multiprocess_mode="livesum")
        self.pool_capacity = Gauge("ledger_db_connections_capacity",
                                   "Connections a pool may lend (size + overflow)", ["pool"],
                                   registry=registry, multiprocess_mode="livesum")
        if registry is not None and ledger is not None:
            registry.register(ProjectionLag(ledger))

    def recorded(self, receipt: Receipt, seconds: float) -> None:
        for event in receipt.events:
            self.events.labels(event.type).inc()
        self.append_seconds.observe(seconds)

    def observe_pools(self) -> None:
        """Pool use as the request ends (cheap: counters the pools keep anyway)."""
        if self.ledger is None:
            return
        for name, in_use, capacity in pool_use(self.ledger):
            self.pool_in_use.labels(name).set(in_use)
            self.pool_capacity.labels(name).set(capacity)

    def exposition(self) -> bytes:
        if not os.environ.get(MULTIPROC_ENV):
            return bytes(generate_latest(self.registry))
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        if self.ledger is not None:
            registry.register(ProjectionLag(self.ledger))
        return bytes(generate_latest(registry))


APPEND_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class ProjectionLag(Collector):
    """Events each projection is behind the log's head, read from the database when
    scraped: one truth whichever worker answers (`ledger projections status` prints it)."""

    def __init__(self, ledger: LedgerApplication) -> None:
        self.ledger = ledger

    def collect(self) -> Iterable[Metric]:
        from projections import runner  # noqa: PLC0415 - the read side, built lazily

        lag = GaugeMetricFamily("ledger_projection_lag_events",
                                "Events the projection has yet to apply", labels=["projection"])
        position = GaugeMetricFamily("ledger_projection_position",
                                     "The last log position the projection applied",
                                     labels=["projection"])
        try:
            rows = runner.status(self.ledger)
        except (PersistenceError, SQLAlchemyError, ValueError):
            rows = []  # the database is away (or in memory): the figure is unknown, not 0
        for row in rows:
            lag.add_metric([row.name], row.lag)
            position.add_metric([row.name], row.position or 0)
        return [lag, position]


def pool_use(ledger: LedgerApplication) -> list[tuple[str, int, int]]:
    """(pool, connections lent, capacity) of the recorder's pool and the read side's."""
    from persistence.engines import engine_for  # noqa: PLC0415

    found: list[tuple[str, int, int]] = []
    recorder_pool = getattr(ledger.recorder, "pool", None)
    if recorder_pool is not None:
        found.append(("recorder", int(recorder_pool.num_in_use),
                      int(recorder_pool.pool_size + recorder_pool.max_overflow)))
    try:
        pool = engine_for(ledger).pool
    except ValueError:
        return found  # an in-memory SQLite: no read side
    if isinstance(pool, QueuePool):
        found.append(("read_side", pool.checkedout(), pool.size() + max(pool._max_overflow, 0)))
    return found


def request_logger() -> logging.Logger:
    logger = logging.getLogger(LOGGER)
    if not logger.handlers:  # once per process, however many apps tests build
        logger.addHandler(json_handler(sys.stderr))
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
    app.register_error_handler(Exception, _unexpected)
    app.add_url_rule("/readyz", "readyz", readyz)
    app.add_url_rule("/metrics", "metrics", metrics_text)


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
    if response.headers.get(REPLAYED_HEADER) == "true":
        metrics.replays.labels(route).inc()
    metrics.observe_pools()
    who = g.get("principal")
    failure: BaseException | None = g.get("failure")
    request_logger().log(logging.ERROR if failure else logging.INFO, "request", exc_info=failure,
                         extra={
        "request_id": g.get("request_id"), "method": request.method, "path": request.path,
        "route": route, "status": response.status_code, "ms": round(elapsed * 1000, 2),
        "subject": who.subject if who else None, "role": who.role if who else None,
    })
    return response


def _unexpected(error: Exception) -> Response:
    """A bug or an unforeseen failure: a problem 500, and its traceback kept for the
    request's one log line (Flask would log it apart, as lines of plain text)."""
    if isinstance(error, HTTPException):  # raised outside a blueprint: LedgerApi's answer
        return current_app.extensions["ledger.api"].handle_http_exception(error)  # type: ignore[no-any-return]
    g.failure = error
    return problem(500, "the server could not answer; the request id is logged")


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
    # content_type, not mimetype: CONTENT_TYPE_LATEST has its charset already.
    return Response(metrics.exposition(), content_type=CONTENT_TYPE_LATEST)

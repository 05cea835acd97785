"""HTTP's own refusals as problem+json, request ids, logs, metrics, readiness and the docs."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from dbsupport import fresh_sqlite_url
from flask import Flask

from api import LEDGER, create_app
from api.ops import LOGGER
from persistence.schema import upgrade
from persistence.tokens import TokenStore
from persistence.url import environment_for

if TYPE_CHECKING:
    from conftest import Harness

PROBLEM_JSON = "application/problem+json"
SECTION_9_PATHS = {
    "/api/v1/managers", "/api/v1/managers/{manager_id}/grade",
    "/api/v1/customers", "/api/v1/customers/{customer_id}/assignments",
    "/api/v1/managers/{manager_id}/targets/{period}", "/api/v1/contributions",
    "/api/v1/contributions/batch", "/api/v1/deductions", "/api/v1/deductions/{deduction_id}",
    "/api/v1/deductions/{deduction_id}/disputes", "/api/v1/disputes/{dispute_id}/comments",
    "/api/v1/disputes/{dispute_id}/decision", "/api/v1/disputes/{dispute_id}/appeal",
    "/api/v1/disputes/{dispute_id}/appeal/decision", "/api/v1/disputes/{dispute_id}",
    "/api/v1/disputes", "/api/v1/adjustments", "/api/v1/adjustments/{adjustment_id}/approval",
    "/api/v1/rulesets", "/api/v1/rulesets/{version}", "/api/v1/rulesets/{version}/publish",
    "/api/v1/periods/{period}/close", "/api/v1/managers/{manager_id}/score",
    "/api/v1/managers/{manager_id}/portfolio", "/api/v1/managers/{manager_id}/pay",
    "/api/v1/managers/{manager_id}/timeline", "/api/v1/audit/events", "/api/v1/audit/verify",
}


def test_unreadable_json_is_400(harness: Harness) -> None:
    response = harness.client.post("/api/v1/managers", data="{not json",
                                   headers=harness.headers("supervisor",
                                                           **{"Content-Type": "application/json"}))
    assert (response.status_code, response.mimetype) == (400, PROBLEM_JSON)
    assert response.get_json()["type"].endswith("unreadable-json")


def test_nan_and_a_body_that_is_not_json_are_refused(harness: Harness) -> None:
    nan = harness.client.post("/api/v1/managers", data='{"id": NaN}', headers=harness.headers(
        "supervisor", **{"Content-Type": "application/json"}))
    assert nan.status_code == 400
    text = harness.client.post("/api/v1/managers", data="id=M1", headers=harness.headers(
        "supervisor", **{"Content-Type": "text/plain"}))
    assert (text.status_code, text.mimetype) == (415, PROBLEM_JSON)


def test_a_body_over_the_limit_is_413_problem_json() -> None:
    app = create_app({"LEDGER_ENV": environment_for(fresh_sqlite_url()),
                      "MAX_CONTENT_LENGTH": 1024})
    token = TokenStore.of(app.extensions[LEDGER]).create(role="integrator", subject="i")
    body = {"items": [{"customer_id": "C1" * 100}] * 20}
    response = app.test_client().post("/api/v1/contributions/batch", json=body,
                                      headers={"Authorization": f"Bearer {token}"})
    assert (response.status_code, response.mimetype) == (413, PROBLEM_JSON)


def test_a_batch_over_1000_items_or_empty_is_refused(harness: Harness) -> None:
    item = harness.posting("C1", "1", "X")
    too_many = harness.refused(422, "post", "/contributions/batch", "integrator",
                               {"items": [item] * 1001})
    assert "items" in too_many["errors"]
    harness.refused(422, "post", "/contributions/batch", "integrator", {"items": []})


def test_missing_bad_and_revoked_tokens_are_401(harness: Harness) -> None:
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic abc"}):
        response = harness.client.get("/api/v1/rulesets", headers=headers)
        assert (response.status_code, response.mimetype) == (401, PROBLEM_JSON)
        assert response.headers["WWW-Authenticate"] == "Bearer"
    assert harness.get("/rulesets", "operator").status_code == 200
    assert TokenStore.of(harness.ledger).revoke(harness.tokens["operator"]) is True
    assert harness.get("/rulesets", "operator").status_code == 401


def test_authentication_comes_before_validation_and_roles_before_parsing(
    harness: Harness
) -> None:
    assert harness.post("/managers", {"junk": 1}, None).status_code == 401
    assert harness.post("/managers", {"junk": 1}, "integrator").status_code == 403


def test_unknown_routes_and_methods_are_problem_json(harness: Harness) -> None:
    missing = harness.get("/nothing-here", "auditor")
    assert (missing.status_code, missing.mimetype) == (404, PROBLEM_JSON)
    wrong = harness.client.delete("/api/v1/managers", headers=harness.headers("supervisor"))
    assert (wrong.status_code, wrong.mimetype) == (405, PROBLEM_JSON)


def test_the_request_id_is_echoed_or_generated(harness: Harness) -> None:
    given = harness.client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert given.headers["X-Request-ID"] == "abc-123"
    made = harness.client.get("/healthz", headers={"X-Request-ID": "bad id with spaces"})
    assert len(made.headers["X-Request-ID"]) == 32
    problem = harness.client.get("/api/v1/rulesets", headers={"X-Request-ID": "r-401"})
    assert problem.get_json()["request_id"] == "r-401"


@contextmanager
def request_log_output() -> Iterator[io.StringIO]:
    """What the request log's own handlers write while the block runs: the app's handlers,
    with their formatters, pointed at a buffer instead of stderr, then pointed back.

    pytest hangs its capturing handlers on non-propagating loggers too; those are not ours.
    """
    handlers = [h for h in logging.getLogger(LOGGER).handlers
                if isinstance(h, logging.StreamHandler)
                and not type(h).__module__.startswith("_pytest")]
    assert handlers, f"the app configured no stream handler on the {LOGGER!r} logger"
    buffer = io.StringIO()
    streams = [h.stream for h in handlers]
    for handler in handlers:
        handler.setStream(buffer)
    try:
        yield buffer
    finally:
        for handler, stream in zip(handlers, streams, strict=True):
            handler.setStream(stream)


def test_each_request_is_logged_as_one_json_line_with_its_request_id(harness: Harness) -> None:
    harness.client.get("/healthz")  # the first request installs the log's handler
    with request_log_output() as written:
        created = harness.post("/managers", {"id": "M7", "name": "Seven", "grade": "C",
                                             "unit": "Branch 3"}, "supervisor",
                               **{"X-Request-ID": "log-me-1"})
        refused = harness.client.get("/api/v1/rulesets", headers={"X-Request-ID": "log-me-2"})
    assert (created.status_code, refused.status_code) == (201, 401)
    text = written.getvalue()
    assert text.endswith("\n"), text
    lines = text.splitlines()
    assert len(lines) == 2, text  # one line per request, nothing else
    first, second = (json.loads(line) for line in lines)  # each line is one JSON object
    assert {k: first[k] for k in ("level", "msg", "request_id", "method", "path", "route",
                                  "status", "subject", "role")} == {
        "level": "INFO", "msg": "request", "request_id": "log-me-1", "method": "POST",
        "path": "/api/v1/managers", "route": "/api/v1/managers", "status": 201,
        "subject": "sup-1", "role": "supervisor"}
    assert isinstance(first["ms"], int | float) and first["ms"] >= 0
    assert first["ts"]
    assert {k: second[k] for k in ("request_id", "method", "path", "status", "subject")} == {
        "request_id": "log-me-2", "method": "GET", "path": "/api/v1/rulesets", "status": 401,
        "subject": None}


def test_readyz_checks_the_database_and_the_migrations(harness: Harness) -> None:
    ready = harness.client.get("/readyz")
    assert ready.status_code == 200
    assert ready.get_json()["checks"] == {"database": True, "migrations": True, "append_only": True}


def test_readyz_is_503_when_the_role_may_change_the_log() -> None:
    # The schema owner may UPDATE, DELETE and TRUNCATE the log: a service must not be.
    from dbsupport import postgres_admin_url

    app: Flask = create_app({"LEDGER_ENV": environment_for(postgres_admin_url())})
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["checks"]["append_only"] is False
    assert "postgres may UPDATE events" in body["excess_privileges"]


def test_readyz_is_503_while_migrations_are_behind() -> None:
    url = fresh_sqlite_url().replace("ledger.db", "behind.db")
    upgrade(url, "0002")
    app: Flask = create_app({"LEDGER_ENV": environment_for(url)})
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["checks"]["migrations"] is False


def test_metrics_count_requests_by_route_and_events_appended(harness: Harness) -> None:
    harness.register_worked_example()
    # Behind an operator's token (api.auth.OPERATIONS_ROLES); tests/api/test_roles.py has the rest.
    text = harness.client.get("/metrics", headers=harness.headers("operator")).get_data(
        as_text=True)
    assert ('ledger_http_requests_total{method="POST",route="/api/v1/customers",status="201"} 3.0'
            in text)
    assert 'ledger_http_request_seconds_count{method="POST",route="/api/v1/contributions"}' in text
    assert 'ledger_events_appended_total{type="Posted"} 3.0' in text


def test_the_openapi_document_has_every_route_of_section_9_and_the_docs_show_them(
    harness: Harness
) -> None:
    spec = harness.client.get("/openapi.json").get_json()
    assert SECTION_9_PATHS <= set(spec["paths"])
    assert spec["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    decide = spec["paths"]["/api/v1/disputes/{dispute_id}/decision"]["post"]
    assert decide["x-roles"] == ["supervisor"]
    assert "Idempotency-Key" in [p["name"] for p in decide["parameters"]]
    docs = harness.client.get("/docs")  # Swagger UI over the document: test_api_reference.py
    assert docs.mimetype == "text/html"
    assert "/docs/assets/swagger-ui-bundle.js" in docs.get_data(as_text=True)

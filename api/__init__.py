"""The HTTP API: a Flask app factory that gunicorn runs as `api:create_app()`."""

from __future__ import annotations

import os
from typing import Any

from flask import Flask, jsonify

from ledger.application import LedgerApplication
from persistence.config import application_environment

LEDGER = "ledger"
API = "ledger.api"
API_VERSION = "1.0.0"
MAX_BODY_BYTES = 2 * 1024 * 1024  # a full batch of 1000 postings is about 300 KB

OPENAPI_CONFIG: dict[str, Any] = {
    "API_TITLE": "Customer-manager assessment ledger",
    "API_VERSION": API_VERSION,
    "OPENAPI_VERSION": "3.0.3",
    "OPENAPI_URL_PREFIX": "/",
    "OPENAPI_JSON_PATH": "openapi.json",
}


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Builds the app and its one ledger application (per process: never at import time)."""
    app = Flask(__name__)
    app.config.update(OPENAPI_CONFIG)
    app.config["MAX_CONTENT_LENGTH"] = int(os.environ.get("LEDGER_MAX_BODY_BYTES", MAX_BODY_BYTES))
    app.config.update(config or {})
    env = app.config.get("LEDGER_ENV") or application_environment()
    ledger = LedgerApplication(env=env)
    app.extensions[LEDGER] = ledger
    _wire(app, ledger, env)

    @app.get("/healthz")
    def healthz() -> Any:
        """The process is alive."""
        return jsonify(status="ok")

    return app


def _wire(app: Flask, ledger: LedgerApplication, env: dict[str, str]) -> None:
    # Imported here so `import api` stays cheap and builds nothing.
    from api import (
        assessment,
        auth,
        common,
        consistency,
        errors,
        headers,
        ops,
        reference,
        scores_and_pay,
    )
    from ledger.ruleset_schema import SCHEMA_NAME, ruleset_json_schema
    from persistence.tokens import TokenStore

    app.json = common.LedgerJSONProvider(app)
    app.extensions[auth.TOKENS] = TokenStore.of(ledger)
    metrics = ops.Metrics(ledger)
    ledger.on_recorded = metrics.recorded
    ops.register_operations(app, env, metrics)  # request ids first: every answer carries one
    headers.register_http_conventions(app)  # after ops: its log line sees the final status
    app.register_blueprint(reference.blp)
    auth.register_authentication(app)
    app.before_request(common.refuse_unstorable_parameters)  # after the token: 401 first
    errors.register_error_handlers(app)
    scores_and_pay.register_lag_handler(app)
    consistency.register_consistency_headers(app)
    scores_and_pay.register_portfolio_reader(app)
    assessment.register_unit_reader(app)
    api = errors.LedgerApi(app)
    api.spec.components.security_scheme("bearerAuth", auth.BEARER_SCHEME)
    common.register_fields(api)
    consistency.document_consistency_headers(api.spec)
    api.spec.components.schema(SCHEMA_NAME, ruleset_json_schema())
    app.extensions[API] = api
    for blueprint in _blueprints():
        api.register_blueprint(blueprint, url_prefix="/api/v1")
    from workspace import register_workspace  # noqa: PLC0415  (the pages, DESIGN §15)

    register_workspace(app)


def _blueprints() -> list[Any]:
    from api import (
        adjustments,
        assessment,
        audit,
        contributions,
        customers,
        deductions,
        disputes,
        indicators,
        managers,
        periods,
        reassignments,
        reports,
        rulesets,
        scores_and_pay,
        standings,
        statements,
    )

    modules = (managers, customers, contributions, deductions, disputes, adjustments,
               rulesets, periods, scores_and_pay, audit, indicators, assessment, standings,
               reassignments)
    return [module.blp for module in (*modules, reports, statements)]

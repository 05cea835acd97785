"""The HTTP API: a Flask app factory that gunicorn runs as `api:create_app()`."""

from __future__ import annotations

from typing import Any

from flask import Flask, jsonify

from ledger.application import LedgerApplication
from ledger.config import application_environment

LEDGER = "ledger"


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Builds the app and its one LedgerApplication (per process: never at import time)."""
    app = Flask(__name__)
    app.config.update(config or {})
    env = app.config.get("LEDGER_ENV") or application_environment()
    app.extensions[LEDGER] = LedgerApplication(env=env)

    @app.get("/healthz")
    def healthz() -> Any:
        """The process is alive."""
        return jsonify(status="ok")

    return app

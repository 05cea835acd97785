"""The service's app with one route that fails as a bug would (for the 500 log test)."""

from __future__ import annotations

from flask import Flask

import api


def create_app() -> Flask:
    app = api.create_app()

    @app.get("/boom")
    def boom() -> str:
        raise RuntimeError("forced failure for the log test")

    return app

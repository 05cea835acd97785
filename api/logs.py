"""Logs: one JSON object per line, for the app and for gunicorn alike (issue 20).

Every record goes through `JsonFormatter` (python-json-logger): `ts`, `level`, `logger`,
`msg`, the request id of the request it was logged in, the record's own fields, and a
traceback as the `exc_info` field, never as lines of its own. `ledger serve` names these
classes in gunicorn's `logconfig_dict` (ledger_cli/serving.py), so gunicorn's error log
is JSON too; gunicorn's access log stays silent, because the app writes the one access line
per request itself (api.ops), with the request id, route and principal gunicorn cannot know.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import g, has_request_context
from pythonjsonlogger.json import JsonFormatter as _PythonJsonFormatter

FIELDS = "%(asctime)s %(levelname)s %(name)s %(message)s"
RENAMED = {"asctime": "ts", "levelname": "level", "name": "logger", "message": "msg"}


class RequestIdFilter(logging.Filter):
    """Puts the current request's id on every record logged while it is answered."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = g.get("request_id") if has_request_context() else None
        return True


class JsonFormatter(_PythonJsonFormatter):
    """python-json-logger with the ledger's field names; non-ASCII text as it is."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("rename_fields", RENAMED)
        kwargs.setdefault("json_ensure_ascii", False)
        kwargs.setdefault("json_default", str)
        super().__init__(FIELDS, **kwargs)


def json_handler(stream: Any) -> logging.Handler:
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestIdFilter())
    return handler

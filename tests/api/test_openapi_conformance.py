"""Schemathesis against /openapi.json: no 5xx, and every answer matches the document.

Each operation gets a bounded number of generated requests (EXAMPLES), sent as `admin`
(admitted by every route) on a ledger holding the worked example, so that generated
requests reach the commands and queries, not only the authentication.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from dbsupport import fresh_sqlite_url
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api import LEDGER, create_app
from persistence.url import environment_for

EXAMPLES = 40
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_headers_conformance, response_schema_conformance]
AUTH: dict[str, str] = {}


@pytest.fixture(scope="module")
def api_schema() -> Iterator[Any]:
    from persistence.tokens import TokenStore

    app = create_app({"LEDGER_ENV": environment_for(fresh_sqlite_url())})
    ledger = app.extensions[LEDGER]
    ledger.ensure_rulebook()
    from ledger.demo import load_demo

    load_demo(ledger)
    AUTH["Authorization"] = "Bearer " + TokenStore.of(ledger).create(
        role="admin", subject="schemathesis")
    yield schemathesis.openapi.from_wsgi("/openapi.json", app)
    ledger.close()


def test_every_operation_answers_as_documented_and_never_5xx(api_schema: Any) -> None:
    failed: dict[str, str] = {}
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 29
    for operation in operations:
        try:
            _fuzz(operation)
        except Exception as failure:  # noqa: BLE001 - collect every operation's failure
            failed[operation.label] = str(failure)[:2000]
    assert not failed, "\n\n".join(f"{label}:\n{text}" for label, text in failed.items())


def _fuzz(operation: Any) -> None:
    @given(case=operation.as_strategy())
    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck),
              database=None)
    def run(case: Any) -> None:
        case.call_and_validate(headers=AUTH, checks=CHECKS)

    run()

"""Schemathesis against /openapi.json: no 5xx, and every answer matches the document.

Every operation is fuzzed as each role it admits (its `x-roles`), with positive cases
(valid by the document: they must answer as documented) and negative ones (invalid: they
must never be a 5xx), on a ledger holding the demo bank so that generated requests reach
the commands and queries, not only the authentication. The budget is small and seeded so a
failure reproduces; `scripts/fuzz` runs the same with a larger one (bench/fuzz.py).
"""

from __future__ import annotations

import functools
from typing import Any

from bench.fuzz import DEFAULT_SEED, demo_ledger, fuzz

EXAMPLES = 6
ROLES_FUZZED = {"integrator", "manager", "supervisor", "approver", "auditor", "operator"}


def test_every_operation_as_every_role_it_admits_answers_as_documented_and_never_5xx() -> None:
    with demo_ledger() as (app, tokens):
        assert set(tokens) == ROLES_FUZZED
        findings = fuzz(app, tokens, EXAMPLES, DEFAULT_SEED)
    assert findings.requests >= 29 * EXAMPLES, "fewer cases ran than operations exist"
    assert not findings.failures, f"seed {DEFAULT_SEED}:\n\n" + "\n\n".join(
        f"{label}:\n{text}" for label, text in findings.failures.items())


# --- the document itself (issue 20) -------------------------------------------------------

HTTP_METHODS = ("get", "put", "post", "delete", "patch")


@functools.cache
def _document() -> dict[str, Any]:
    from dbsupport import fresh_sqlite_url

    from api import create_app
    from persistence.url import environment_for

    app = create_app({"LEDGER_ENV": environment_for(fresh_sqlite_url())})
    spec: dict[str, Any] = app.test_client().get("/openapi.json").get_json()
    return spec


def _operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(path, method, operation) for path, operations in spec["paths"].items()
            for method, operation in operations.items() if method in HTTP_METHODS]


def _problem_response(spec: dict[str, Any], answer: Any) -> dict[str, Any]:
    if "$ref" in answer:
        answer = spec["components"]["responses"][answer["$ref"].rsplit("/", 1)[-1]]
    content = answer["content"]["application/problem+json"]
    assert content["schema"] == {"$ref": "#/components/schemas/Problem"}
    return dict(content)


def test_every_protected_operation_documents_its_401_and_403_as_problem_json() -> None:
    spec = _document()
    protected = [(p, m, o) for p, m, o in _operations(spec) if o.get("security")]
    assert len(protected) >= 50
    for path, method, operation in protected:
        for status in ("401", "403", "503"):
            assert status in operation["responses"], f"{method} {path} lacks {status}"
            _problem_response(spec, operation["responses"][status])
        if "{" in path:
            assert "404" in operation["responses"], f"{method} {path} lacks 404"
        if "Idempotency-Key" in [p.get("name") for p in operation.get("parameters", [])]:
            assert {"409", "422"} <= set(operation["responses"]), f"{method} {path}"
    unauthenticated = spec["components"]["responses"]["Unauthenticated"]
    assert "WWW-Authenticate" in unauthenticated["headers"]
    example = _problem_response(spec, unauthenticated)["example"]
    assert example["type"] == "/problems/unauthenticated" and example["status"] == 401


def test_every_operation_has_a_unique_operation_id() -> None:
    ids = [operation.get("operationId") for _, _, operation in _operations(_document())]
    assert all(ids), "an operation has no operationId"
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)
    assert all(i.isidentifier() for i in ids), ids  # usable as method names by generators

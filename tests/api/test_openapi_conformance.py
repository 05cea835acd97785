"""Schemathesis against /openapi.json: no 5xx, and every answer matches the document.

Every operation is fuzzed as each role it admits (its `x-roles`), with positive cases
(valid by the document: they must answer as documented) and negative ones (invalid: they
must never be a 5xx), on a ledger holding the demo bank so that generated requests reach
the commands and queries, not only the authentication. The budget is small and seeded so a
failure reproduces; `scripts/fuzz` runs the same with a larger one (bench/fuzz.py).
"""

from __future__ import annotations

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

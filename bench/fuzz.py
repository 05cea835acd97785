"""Schemathesis over /openapi.json: every operation, as each role it admits, positive and
negative cases, on a ledger holding the demo bank; no answer may be a 5xx or break the
document.

The suite runs a small, seeded budget (tests/api/test_openapi_conformance.py); the long run
is `scripts/fuzz` (`python -m bench.fuzz --examples 40` is above 10,000 requests).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, seed, settings
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

DEFAULT_SEED = 20261201
# Positive cases must answer as documented; negative ones must at least never be a 5xx and
# answer in a documented content type (the problem report).
CHECKS = {
    GenerationMode.POSITIVE: [not_a_server_error, status_code_conformance,
                              content_type_conformance, response_headers_conformance,
                              response_schema_conformance],
    GenerationMode.NEGATIVE: [not_a_server_error, content_type_conformance],
}
# Who the fuzzer speaks as, per role: the demo bank's manager M1 for the manager role.
PRINCIPALS = {
    "integrator": ("fuzz-credit", None), "manager": ("fuzz-m1", "M1"),
    "supervisor": ("fuzz-reviewer", None), "approver": ("fuzz-approver", None),
    "auditor": ("fuzz-auditor", None), "operator": ("fuzz-operator", None),
}


@dataclass
class Findings:
    """What a run sent and what broke: operation label / role / mode -> the failure."""

    requests: int = 0
    cases: int = 0
    failures: dict[str, str] = field(default_factory=dict)


@contextmanager
def demo_ledger() -> Iterator[tuple[Any, dict[str, str]]]:
    """An app on a scratch SQLite file holding the demo bank, and a token per role."""
    from api import LEDGER, create_app
    from ledger.demo import load_demo
    from persistence.schema import upgrade
    from persistence.tokens import TokenStore
    from persistence.url import environment_for

    with tempfile.TemporaryDirectory(prefix="ledger-fuzz-") as scratch:
        url = f"sqlite:///{scratch}/fuzz.db"
        upgrade(url)
        app = create_app({"LEDGER_ENV": environment_for(url)})
        ledger = app.extensions[LEDGER]
        ledger.ensure_rulebook()
        load_demo(ledger)
        store = TokenStore.of(ledger)
        tokens = {role: store.create(role=role, subject=subject, manager_id=manager_id)
                  for role, (subject, manager_id) in PRINCIPALS.items()}
        try:
            yield app, tokens
        finally:
            ledger.close()


def fuzz(app: Any, tokens: dict[str, str], examples: int, rng_seed: int = DEFAULT_SEED,
         modes: Sequence[GenerationMode] = tuple(GenerationMode)) -> Findings:
    """Runs `examples` cases per operation, admitted role and mode; collects every failure."""
    schema = schemathesis.openapi.from_wsgi("/openapi.json", app)
    findings = Findings()
    for operation in (result.ok() for result in schema.get_all_operations()):
        for role in _roles_of(operation, tokens):
            for mode in modes:
                label = f"{operation.label} as {role} ({mode.value})"
                try:
                    _run(operation, tokens[role], mode, examples, rng_seed, findings)
                except Exception as failure:  # noqa: BLE001 - collect every operation's failure
                    findings.failures[label] = str(failure)[:2000]
    return findings


def _roles_of(operation: Any, tokens: dict[str, str]) -> list[str]:
    admitted = operation.definition.raw.get("x-roles") or []
    return [role for role in admitted if role in tokens]


def _run(operation: Any, token: str, mode: GenerationMode, examples: int, rng_seed: int,
         findings: Findings) -> None:
    headers = {"Authorization": f"Bearer {token}"}

    @seed(rng_seed)
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck),
              database=None, derandomize=False)
    def run(case: Any) -> None:
        findings.cases += 1
        findings.requests += 1
        case.call_and_validate(headers=headers, checks=CHECKS[mode])

    run()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--examples", type=int, default=40,
                        help="cases per operation, role and mode (default 40)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    args = parser.parse_args(argv)
    if not 1 <= args.examples <= 1000:
        parser.error("--examples must be between 1 and 1000")
    started = time.monotonic()
    with demo_ledger() as (app, tokens):
        findings = fuzz(app, tokens, args.examples, args.seed)
    print(f"{findings.requests} requests in {time.monotonic() - started:.0f} s, "
          f"seed {args.seed}: {len(findings.failures)} failing operation/role/mode")
    for label, failure in findings.failures.items():
        print(f"\n== {label}\n{failure}")
    return 1 if findings.failures else 0


if __name__ == "__main__":
    sys.exit(main())

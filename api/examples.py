"""The worked example of DESIGN §4 as the API reference's examples.

Manager M1 (grade B) holds C1–C3 all quarter 2026Q1 (last-year contributions 400000,
200000, 150000), has an incremental target of 50000, earns 120000, 60000 and 70000, and is
found in breach of B1, C7 and S3: score 740, actual pay 32365.00; M1 disputes S3 and the
reviewer upholds the dispute: 940 and 33815.00. Each request below is a step of it, keyed
by operationId; `WorkedExamples` puts them on the operations as the document is built.
"""

from __future__ import annotations

from typing import Any

from apispec import BasePlugin

JSON = "application/json"
Q1 = {"period": "2026Q1", "as_of": "2026-03-31"}

REQUEST_EXAMPLES: dict[str, dict[str, Any]] = {
    "registerManager": {"id": "M1", "name": "Li Wei", "grade": "B", "unit": "Branch 1"},
    "registerCustomer": {"id": "C1", "name": "Customer C1", "class": "good",
                         "industry": "manufacturing", "chain": None, "group": None,
                         "last_year_contribution": "400000"},
    "assignCustomer": {"manager_id": "M1", "effective_on": "2026-01-01", "reason": "opening"},
    "setTarget": {"incremental": "50000", "reason": "plan"},
    "postContribution": {"customer_id": "C1", "booked_on": "2026-02-15",
                         "interest_income": "120000", "deposit_earnings": "0",
                         "fee_income": "0", "source_system": "CREDIT", "external_id": "P1"},
    "recordDeduction": {"manager_id": "M1", "rule_code": "S3", "occurrences": 1,
                        "aggravated": False, "effective_on": "2026-02-01",
                        "description": "upheld customer complaint"},
    "fileDispute": {"reason": "the complaint was about another branch", "evidence": []},
    "decide": {"outcome": "upheld", "reason": "the complaint named another manager"},
}
"""A request body per operation: each is valid, and together they replay §4."""

QUERY_EXAMPLES: dict[str, dict[str, Any]] = {
    "score": Q1, "pay": Q1, "timeline": Q1, "portfolio": {"as_of": "2026-03-31"},
}
"""Query parameters of the figures the example asks for (score 740, pay 32365.00)."""


KNOWN_AT = "2026-04-01T00:00:00.000000Z"
SCORE = {"manager_id": "M1", "as_of": "2026-03-31", "known_at": KNOWN_AT, "period": "2026Q1",
         "score": 740, "rating": "satisfactory", "error_points": 26, "adjustment_points": 0,
         "disqualified": False, "ruleset_version": "2026.1"}
PAY = {"manager_id": "M1", "as_of": "2026-03-31", "known_at": KNOWN_AT, "period": "2026Q1",
       "base_salary": "27000.00", "stock_task": "187500.00", "incremental_task": "50000.00",
       "target": "237500.00", "actual": "250000.00", "performance_pay": "7250.00",
       "score": 740, "actual_pay": "32365.00", "ruleset_version": "2026.1", "status": "open",
       "closed_at": None, "frozen": False, "payable": "32365.00"}
RESPONSE_EXAMPLES: dict[str, dict[str, Any]] = {"score": SCORE, "pay": PAY}
"""M1's figures before the dispute: 1000 − 26 × 10 = 740; 27000 + 7250 × 0.740 = 32365.00
(tests/api/test_api_reference.py checks them against the app's own answer)."""

PATH_EXAMPLES = {"manager_id": "M1", "customer_id": "C1", "period": "2026Q1",
                 "version": "2026.1"}
"""Path parameters of the example: its manager, a customer, the quarter, the rule set."""


class WorkedExamples(BasePlugin):
    """Adds the examples above to the operations and paths they belong to."""

    def path_helper(self, path: str | None = None, operations: dict[str, Any] | None = None,
                    parameters: list[dict[str, Any]] | None = None,
                    **kwargs: Any) -> str | None:
        for parameter in parameters or []:
            if (isinstance(parameter, dict) and parameter.get("in") == "path"
                    and parameter.get("name") in PATH_EXAMPLES):
                parameter.setdefault("example", PATH_EXAMPLES[parameter["name"]])
        return None

    def operation_helper(self, path: str | None = None,
                         operations: dict[str, Any] | None = None, **kwargs: Any) -> None:
        for operation in (operations or {}).values():
            if not isinstance(operation, dict):
                continue
            name = operation.get("operationId")
            body = REQUEST_EXAMPLES.get(str(name))
            media = operation.get("requestBody", {}).get("content", {}).get(JSON)
            if body is not None and media is not None:
                media.setdefault("example", body)
            answer = RESPONSE_EXAMPLES.get(str(name))
            responses = operation.get("responses", {})
            shown = responses.get(200) or responses.get("200") or {}
            if answer is not None and isinstance(shown, dict) and JSON in shown.get("content", {}):
                shown["content"][JSON].setdefault("example", answer)
            for parameter in operation.get("parameters", []):
                query = QUERY_EXAMPLES.get(str(name), {})
                if isinstance(parameter, dict) and parameter.get("name") in query:
                    parameter.setdefault("example", query[parameter["name"]])

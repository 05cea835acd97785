"""The API reference (issue 20): Swagger UI served offline by the app, problem types that
resolve to pages, and an OpenAPI document a client generator can use."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from typing import TYPE_CHECKING, Any

from api.errors import STATUS_OF
from api.headers import CSP
from api.reference import PROBLEMS

if TYPE_CHECKING:
    from conftest import Harness

HTTP_METHODS = ("get", "put", "post", "delete", "patch")


class _Assets(HTMLParser):
    """Every URL a page names: scripts, styles, icons, images and links."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.inline_scripts = 0
        self._in_script_without_src = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        for name in ("src", "href"):
            if found.get(name):
                self.urls.append(str(found[name]))
        if "style" in found:
            self.inline_scripts += 1  # an inline style is refused by the CSP as well
        self._in_script_without_src = tag == "script" and not found.get("src")

    def handle_data(self, data: str) -> None:
        if self._in_script_without_src and data.strip():
            self.inline_scripts += 1


def test_the_docs_page_renders_offline_every_asset_it_names_is_served_by_the_app(
    harness: Harness,
) -> None:
    page = harness.client.get("/docs")
    assert page.status_code == 200 and page.mimetype == "text/html"
    parser = _Assets()
    parser.feed(page.get_data(as_text=True))
    assert parser.inline_scripts == 0  # the CSP allows no inline script
    assert len(parser.urls) >= 5
    for url in parser.urls:
        assert url.startswith("/"), f"{url} points outside the app"
        answer = harness.client.get(url)
        assert answer.status_code == 200, url
        assert answer.get_data(), url
    init = harness.client.get("/docs/assets/swagger-init.js").get_data(as_text=True)
    assert 'url: "/openapi.json"' in init  # the UI reads our document, not a sample's
    assert harness.client.get("/docs/assets/swagger-ui-bundle.js").mimetype in (
        "text/javascript", "application/javascript")
    assert harness.client.get("/docs/assets/..%2Fapi%2F__init__.py").status_code == 404


def test_pages_carry_the_csp_and_everything_nosniff(harness: Harness) -> None:
    for path in ("/docs", "/problems/", "/problems/invalid-input"):
        answer = harness.client.get(path)
        assert answer.headers["Content-Security-Policy"] == CSP, path
        assert answer.headers["X-Content-Type-Options"] == "nosniff", path
    for path in ("/healthz", "/openapi.json", "/api/v1/managers", "/no/such/route"):
        answer = harness.client.get(path)
        assert answer.headers["X-Content-Type-Options"] == "nosniff", path
        assert "Content-Security-Policy" not in answer.headers, path


def test_every_problem_type_resolves_to_a_page_explaining_it(harness: Harness) -> None:
    refused = harness.client.get("/api/v1/managers")  # no token: a problem report
    body = refused.get_json()
    assert body["type"] == "/problems/unauthenticated"
    page = harness.client.get(body["type"])
    assert page.status_code == 200 and "Bearer" in page.get_data(as_text=True)
    for problem in PROBLEMS:
        shown = harness.client.get(f"/problems/{problem.slug}")
        assert shown.status_code == 200, problem.slug
        assert problem.title in shown.get_data(as_text=True)
    assert harness.client.get("/problems/no-such-problem").status_code == 404
    slugs = {p.slug for p in PROBLEMS}
    # Every slug the code can answer is explained: those named as slug="…", and the table's.
    root = Path(__file__).resolve().parents[2]
    named = {m for path in (root / "api").glob("*.py")
             for m in re.findall(r'slug="([a-z-]+)"', path.read_text())}
    named |= {slug for _cls, _status, slug in STATUS_OF}
    assert named <= slugs, named - slugs


def _operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(path, method, operation) for path, operations in spec["paths"].items()
            for method, operation in operations.items() if method in HTTP_METHODS]


def test_the_documents_examples_replay_the_worked_example(harness: Harness) -> None:
    """Each request example of the reference is accepted, in the order of DESIGN §4."""
    spec = harness.client.get("/openapi.json").get_json()
    examples = {operation["operationId"]: (path, method, operation["requestBody"]["content"]
                                           ["application/json"]["example"])
                for path, method, operation in _operations(spec)
                if "example" in operation.get("requestBody", {}).get("content", {}).get(
                    "application/json", {})}
    assert len(examples) >= 8
    ids: dict[str, str] = {}
    steps = [("registerManager", "supervisor", {}), ("registerCustomer", "supervisor", {}),
             ("assignCustomer", "supervisor", {"customer_id": "C1"}),
             ("setTarget", "supervisor", {"manager_id": "M1", "period": "2026Q1"}),
             ("postContribution", "integrator", {}), ("recordDeduction", "supervisor", {}),
             ("fileDispute", "m1", {"deduction_id": "deduction"}),
             ("decide", "reviewer", {"dispute_id": "dispute"})]
    for operation_id, who, names in steps:
        path, method, body = examples[operation_id]
        for name, value in names.items():
            path = path.replace("{" + name + "}", ids.get(value, value))
        answer = getattr(harness.client, method)(path, json=body, headers=harness.headers(who))
        assert answer.status_code in (200, 201), (operation_id, answer.get_data(as_text=True))
        if operation_id in ("recordDeduction", "fileDispute"):
            ids["deduction" if operation_id == "recordDeduction" else "dispute"] = (
                answer.get_json()["id"])
    score = harness.ok(harness.get("/managers/M1/score", "auditor", period="2026Q1",
                                   as_of="2026-03-31"))
    assert score["score"] == 1000  # S3 disputed and upheld: nothing counts against M1


def test_the_documented_score_and_pay_are_the_apps_own_answers(harness: Harness) -> None:
    spec = harness.client.get("/openapi.json").get_json()
    documented = {operation["operationId"]: operation["responses"]["200"]["content"]
                  ["application/json"]["example"]
                  for _, _, operation in _operations(spec)
                  if operation.get("operationId") in ("score", "pay")}
    assert documented["score"]["score"] == 740 and documented["pay"]["actual_pay"] == "32365.00"
    harness.register_worked_example()
    harness.record_worked_example_deductions()
    query = {"period": "2026Q1", "as_of": "2026-03-31"}
    answers = {"score": harness.ok(harness.get("/managers/M1/score", "auditor", **query)),
               "pay": harness.ok(harness.get("/managers/M1/pay", "approver", **query))}
    for name, example in documented.items():
        assert set(example) <= set(answers[name]), name
        assert {k: answers[name][k] for k in example if k != "known_at"} == {
            k: v for k, v in example.items() if k != "known_at"}, name

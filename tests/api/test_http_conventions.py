"""HTTP conventions (issue 20): pages with `next` and a Link header, validators and
`immutable` on answers that can never change, `no-store` on pay and personal data."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest
from scorecards import section_2026_3

from api import headers
from api.headers import IMMUTABLE, PERSONAL_DATA
from persistence.tokens import TokenStore

if TYPE_CHECKING:
    from conftest import Harness

Q1 = {"period": "2026Q1", "as_of": "2026-03-31"}

LIST_ARRAYS = ("items", "customers")
"""A list operation answers its list under `items` (a portfolio: under `customers`)."""

CURSORS = {"next_after": "after", "next_offset": "offset"}
"""A page's cursor in the body, and the query parameter it becomes."""

# How the paging test calls each list operation: (who, query). A list operation added to
# the API without a line here fails `test_every_list_is_paged_without_gap_or_repeat`.
CALLS: dict[str, tuple[str, dict[str, Any]]] = {
    "/api/v1/managers": ("supervisor", {}),
    "/api/v1/units": ("supervisor", {}),
    "/api/v1/customers": ("supervisor", {}),
    "/api/v1/disputes": ("supervisor", {}),
    "/api/v1/rulesets": ("auditor", {}),
    "/api/v1/rulesets/{version}/diff": ("auditor", {"against": "live"}),
    "/api/v1/managers/{manager_id}/portfolio": ("auditor", {"as_of": "2026-03-31"}),
    "/api/v1/managers/{manager_id}/timeline": ("auditor", {"period": "2026Q1"}),
    "/api/v1/managers/{manager_id}/indicators": ("auditor", Q1),
    "/api/v1/audit/events": ("auditor", {}),
    "/api/v1/assessment-tasks": ("sup-li", {}),
    "/api/v1/standings": ("auditor", {"as_of": "2026-03-31"}),
    "/api/v1/reassignments": ("supervisor", {"on": "2026-05-01"}),
    "/api/v1/reports/pay-list": ("approver", Q1),
    "/api/v1/reports/rankings": ("approver", Q1),
}
PATH_VALUES = {"{manager_id}": "M1", "{version}": "2026.4"}
FEWER = {"/api/v1/standings": 1}
"""Lists this bank fills with fewer than two items: only M1 has a flag (the standings are
paged by the managers examined, flagged or not, so they still take several pages)."""


def _pages(harness: Harness, path: str, who: str, **query: Any) -> list[dict[str, Any]]:
    """Follows `next` from the first page to the last, checking the Link header each time."""
    pages, response = [], harness.get(path, who, **query)
    while True:
        body = harness.ok(response)
        pages.append(body)
        if body["next"] is None:
            assert "Link" not in response.headers
            return pages
        assert response.headers["Link"] == f'<{body["next"]}>; rel="next"'
        assert body["next"].startswith("/api/v1" + path + "?")
        response = harness.client.get(body["next"], headers=harness.headers(who))



def list_operations(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every GET of the OpenAPI document that answers a list, by path."""
    schemas = document["components"]["schemas"]

    def resolved(schema: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in schema:
            schema = schemas[schema["$ref"].rsplit("/", 1)[-1]]
        return schema

    found = {}
    for path, operations in document["paths"].items():
        answer = operations.get("get", {}).get("responses", {}).get("200", {})
        schema = answer.get("content", {}).get("application/json", {}).get("schema")
        if schema is None:
            continue
        properties = resolved(schema).get("properties", {})
        if any(resolved(properties.get(name, {})).get("type") == "array"
               for name in LIST_ARRAYS):
            found[path] = {"operation": operations["get"], "properties": properties}
    return found


def _list_of(body: dict[str, Any]) -> list[Any]:
    return next(body[name] for name in LIST_ARRAYS if name in body)


def a_bank_with_two_of_everything(harness: Harness) -> None:
    """At least two items in every list: managers, units, customers, disputes, rule sets,
    a diff's keys, a portfolio, a timeline, indicators, tasks, disqualified holders."""
    harness.register_worked_example()
    harness.record_worked_example_deductions()
    for n, customer in ((3, "C5"), (4, "C6")):
        harness.ok(harness.post("/managers", {"id": f"M{n}", "name": f"Manager {n}",
                                              "grade": "C", "unit": "Branch 2"},
                                "supervisor"), 201)
        harness.ok(harness.post("/customers", harness.customer(  # type: ignore[attr-defined]
            customer, "100000"), "supervisor"), 201)
        harness.ok(harness.post(f"/customers/{customer}/assignments", {
            "manager_id": f"M{n}", "effective_on": "2026-01-01", "reason": "opening"},
            "supervisor"))
        harness.ok(harness.post("/deductions", {
            "manager_id": f"M{n}", "rule_code": "E5", "occurrences": 1, "aggravated": False,
            "effective_on": "2026-03-01", "description": "collusion found in audit"},
            "supervisor"), 201)
    for code in ("B1", "C7", "S3"):
        harness.ok(harness.post("/deductions", harness.deduction(  # type: ignore[attr-defined]
            code, "M2"), "supervisor"), 201)
    for deduction in harness.ok(harness.get("/audit/events", "auditor"))["items"]:
        if deduction["type"] == "Deduction.Recorded" and len(_disputes(harness)) < 2:
            harness.post(f"/deductions/{deduction['originator_id']}/disputes",
                         {"reason": "not my customer"}, "m1")
    document = section_2026_3()
    document["qualitative_items"] = {
        "Q1": {"dimension": "teamwork", "title": "cooperation", "max": 10},
        "Q2": {"dimension": "teamwork", "title": "team support", "max": 10}}
    harness.ok(harness.post("/rulesets", {"version": "2026.3", "effective_from": "2026-01-01",
                                          "content": document}, "operator"), 201)
    harness.ok(harness.post("/rulesets/2026.3/publish", None, "operator"))
    # 2026.4, a draft: B1 costs 3 points more; M1 and M2 each have one.
    document["deductions"]["B1"]["points"] += 3
    document["version"] = "2026.4"
    harness.ok(harness.post("/rulesets", {"version": "2026.4", "effective_from": "2026-01-01",
                                          "content": document}, "operator"), 201)
    harness.tokens["sup-li"] = TokenStore.of(harness.ledger).create(
        role="supervisor", subject="sup-li", manager_id=None)
    harness.ok(harness.post("/assessment-plans", {
        "id": "P-2026Q1", "period": "2026Q1", "unit": "Branch 1", "items": ["Q1", "Q2"],
        "assessors": [{"subject": "sup-li", "weight": "1"}], "closes_on": "2026-12-31"},
        "supervisor"), 201)


def _disputes(harness: Harness) -> list[Any]:
    return list(harness.ok(harness.get("/disputes", "supervisor"))["items"])


class HttpConventions:
    """The same on both back ends."""

    def test_every_list_in_the_openapi_document_has_a_cursor_limit_and_next(
        self, harness: Harness,
    ) -> None:
        lists = list_operations(harness.client.get("/openapi.json").get_json())
        assert len(lists) >= len(CALLS), sorted(lists)
        for path, found in lists.items():
            properties = found["properties"]
            parameters = {p["name"] for p in found["operation"].get("parameters", [])
                          if p["in"] == "query"}
            cursors = [c for c in CURSORS if c in properties]
            assert "next" in properties and len(cursors) == 1, (path, sorted(properties))
            assert {"limit", CURSORS[cursors[0]]} <= parameters, (path, parameters)

    def test_every_list_is_paged_without_gap_or_repeat(self, harness: Harness) -> None:
        a_bank_with_two_of_everything(harness)
        lists = list_operations(harness.client.get("/openapi.json").get_json())
        assert set(lists) == set(CALLS), "add the new list to CALLS"
        for template, (who, query) in CALLS.items():
            path = template.removeprefix("/api/v1")
            for name, value in PATH_VALUES.items():
                path = path.replace(name, value)
            whole = harness.get(path, who, **query)
            body = harness.ok(whole)
            # A client that sends no cursor gets everything in one page, as before.
            assert body["next"] is None and "Link" not in whole.headers, template
            everything = _list_of(body)
            assert len(everything) >= FEWER.get(template, 2), (template, body)
            pages = _pages(harness, path, who, limit=1, **query)
            assert len(pages) >= 2, template
            assert [item for page in pages for item in _list_of(page)] == everything, template

    def test_a_cursor_that_names_nothing_or_is_malformed_is_refused(
        self, harness: Harness,
    ) -> None:
        a_bank_with_two_of_everything(harness)
        for path in ("/rulesets?after=nosuch", "/assessment-tasks?after=no-slash",
                     "/rulesets/2026.4/diff?against=live&after=no-slash",
                     "/rulesets/2026.4/diff?against=live&position=999999",
                     "/managers/M1/timeline?after=-1", "/units?limit=0",
                     "/managers/M1/indicators?period=2026Q1&after=nosuch",
                     "/managers/M1/portfolio?limit=1001"):
            who = "sup-li" if "tasks" in path else "auditor"
            before = harness.events()
            problem = harness.refused(422, "get", path, who)
            assert harness.events() == before
            field = path.rsplit("?", 1)[1].rsplit("&", 1)[-1].split("=")[0]
            assert field in problem["errors"], (path, problem)

    def test_a_list_read_at_a_cut_pins_the_cut_in_its_next_link(
        self, harness: Harness,
    ) -> None:
        a_bank_with_two_of_everything(harness)
        timeline = "/managers/M1/timeline"
        first = harness.ok(harness.get(timeline, "auditor", period="2026Q1", limit=1))
        assert f"known_at={first['known_at']}" in first["next"].replace("%3A", ":")
        assert f"as_of={first['as_of']}" in first["next"]
        # A step recorded after the first page is on no page that follows it...
        harness.ok(harness.post("/deductions", harness.deduction(  # type: ignore[attr-defined]
            "C7"), "supervisor"), 201)
        steps, url = list(first["items"]), first["next"]
        while url is not None:
            page = harness.ok(harness.client.get(url, headers=harness.headers("auditor")))
            steps, url = steps + page["items"], page["next"]
        then = harness.ok(harness.get(timeline, "auditor", period="2026Q1",
                                      known_at=first["known_at"], as_of=first["as_of"]))
        assert steps == then["items"]
        # ...but in the list read now.
        now = harness.ok(harness.get(timeline, "auditor", period="2026Q1"))
        assert len(now["items"]) == len(steps) + 1
        diff = harness.ok(harness.get("/rulesets/2026.4/diff", "auditor", against="live",
                                      limit=1))
        assert f"position={diff['position']}" in diff["next"]

    def test_lists_give_their_next_page_as_a_link_to_follow(self, harness: Harness) -> None:
        harness.register_worked_example()
        for n in range(3, 6):
            harness.ok(harness.post("/managers", {"id": f"M{n}", "name": f"Manager {n}",
                                                  "grade": "C", "unit": "Branch 2"},
                                    "supervisor"), 201)
        pages = _pages(harness, "/managers", "supervisor", limit=2)
        assert [[m["id"] for m in p["items"]] for p in pages] == [
            ["M1", "M2"], ["M3", "M4"], ["M5"]]
        # The other parameters ride along: the next page of Branch 2 is still of Branch 2.
        branch = _pages(harness, "/managers", "supervisor", limit=1, unit="Branch 2")
        assert [p["items"][0]["id"] for p in branch if p["items"]] == ["M3", "M4", "M5"]
        assert "unit=Branch+2" in branch[0]["next"]
        customers = _pages(harness, "/customers", "supervisor", limit=2)
        assert sum(len(p["items"]) for p in customers) == 3
        log = _pages(harness, "/audit/events", "auditor", limit=10)
        assert sum(len(p["items"]) for p in log) == harness.events()


    def test_standings_are_paged_by_manager(self, harness: Harness) -> None:
        harness.register_worked_example()
        for n in range(3, 6):
            harness.ok(harness.post("/managers", {"id": f"M{n}", "name": f"Manager {n}",
                                                  "grade": "C", "unit": "Branch 2"},
                                    "supervisor"), 201)
        pages = _pages(harness, "/standings", "auditor", limit=2, as_of="2026-03-31")
        assert [p["next_after"] for p in pages] == ["M2", "M4", None]
        assert all("as_of=2026-03-31" in p["next"] for p in pages[:-1])
        # Every page after the first is read at the first page's cut.
        assert all(f"known_at={pages[0]['known_at']}".replace(":", "%3A") in p["next"]
                   for p in pages[:-1])

    def test_the_dispute_queue_has_a_cursor(self, harness: Harness) -> None:
        harness.register_worked_example()
        filed = []
        for code in ("B1", "C7", "S3"):
            deduction = harness.ok(harness.post("/deductions", {
                "manager_id": "M1", "rule_code": code, "occurrences": 1, "aggravated": False,
                "effective_on": "2026-02-01", "description": "found in review"}, "supervisor"), 201)
            filed.append(harness.ok(harness.post(f"/deductions/{deduction['id']}/disputes",
                                                 {"reason": "not my customer"}, "m1"), 201)["id"])
        pages = _pages(harness, "/disputes", "supervisor", limit=2)
        assert [d["id"] for p in pages for d in p["items"]] == filed  # oldest first, each once
        assert len(pages[0]["items"]) == 2 and pages[0]["next_after"] is not None
        harness.refused(422, "get", "/disputes?after=-1", "supervisor")


    def test_an_answer_at_a_past_known_at_is_immutable_with_an_etag_and_304(
        self, harness: Harness, monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        harness.register_worked_example()
        harness.record_worked_example_deductions()
        past = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        # Not yet settled: an append stamped just before `past` might still be committing.
        assert "ETag" not in harness.get("/managers/M1/score", "auditor", known_at=past,
                                         **Q1).headers
        monkeypatch.setattr(headers, "SETTLED", timedelta(0))  # instead of waiting ten seconds
        first = harness.get("/managers/M1/score", "auditor", known_at=past, **Q1)
        assert first.status_code == 200
        assert first.headers["Cache-Control"] == IMMUTABLE
        etag = first.headers["ETag"]
        again = harness.client.get(
            "/api/v1/managers/M1/score", query_string={"known_at": past, **Q1},
            headers=harness.headers("auditor", **{"If-None-Match": etag}))
        assert again.status_code == 304 and again.get_data() == b""
        assert again.headers["ETag"] == etag
        # Now, or without a fixed as_of (today moves), the answer may change: no validator.
        for query in ({**Q1}, {"known_at": past, "period": "2026Q1"}):
            live = harness.get("/managers/M1/score", "auditor", **query)
            assert live.status_code == 200
            assert "ETag" not in live.headers and "Cache-Control" not in live.headers
        future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
        assert "ETag" not in harness.get("/managers/M1/score", "auditor", known_at=future,
                                         **Q1).headers


    def test_pay_and_personal_data_are_never_stored(self, harness: Harness) -> None:
        harness.register_worked_example()
        past = datetime.now(UTC).isoformat()
        for path, who, query in (("/managers/M1/pay", "approver", {**Q1, "known_at": past}),
                                 ("/managers", "supervisor", {}),
                                 ("/managers/M1", "supervisor", {}),
                                 ("/customers/C1", "supervisor", {}),
                                 ("/reports/pay-list", "approver", Q1)):
            answer = harness.get(path, who, **query)
            assert answer.status_code == 200, (path, answer.get_data(as_text=True))
            assert answer.headers["Cache-Control"] == "no-store", path
            assert "ETag" not in answer.headers, path
        score = harness.get("/managers/M1/score", "auditor", **Q1)
        assert "no-store" not in score.headers.get("Cache-Control", "")


    def test_every_path_named_personal_data_exists(self, harness: Harness) -> None:
        paths = set(harness.client.get("/openapi.json").get_json()["paths"])
        assert PERSONAL_DATA <= paths, PERSONAL_DATA - paths


class TestHttpConventionsOnSQLite(HttpConventions):
    pass


@pytest.mark.postgres
class TestHttpConventionsOnPostgreSQL(HttpConventions):
    @pytest.fixture
    def harness(self, postgres_harness: Harness) -> Harness:
        return postgres_harness

"""HTTP conventions (issue 20): pages with `next` and a Link header, validators and
`immutable` on answers that can never change, `no-store` on pay and personal data."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest

from api import headers
from api.headers import IMMUTABLE, PERSONAL_DATA

if TYPE_CHECKING:
    from conftest import Harness

Q1 = {"period": "2026Q1", "as_of": "2026-03-31"}


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



class HttpConventions:
    """The same on both back ends."""

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

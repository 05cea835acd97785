"""Read your writes (DESIGN §8–§9, issue 19): `Ledger-Position` on every command's answer,
`Consistent-After` on queries, and API processes that never write the read models when
projection workers keep them (LEDGER_PROJECTION_WORKERS=external).

The standby itself is tests/replication/test_replica.py; here the same rules hold on one
database, through the test client, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from sqlalchemy import select

from api.scores_and_pay import READ_SIDE, read_side_of
from persistence.config import WORKERS
from projections import runner
from projections import tables as t
from projections.database import engine_for, reading

if TYPE_CHECKING:
    from conftest import Harness

SCORE = "/managers/M1/score"
BOUND_SECONDS = 0.3
"""The read side's wait bound in these tests: short, so a 503 comes quickly."""


def external(h: Harness) -> Harness:
    """The harness's app as an API process beside projection workers."""
    h.ledger.env[WORKERS] = "external"
    h.app.extensions.pop(READ_SIDE, None)  # built again, reading the mode just set
    read_side_of(h.app).catch_up_timeout = BOUND_SECONDS
    return h


def register_m1(h: Harness) -> None:
    h.ok(h.post("/managers", {"id": "M1", "name": "Li Wei", "grade": "B", "unit": "Branch 1"},
                "supervisor"), 201)


def test_a_command_answers_the_position_its_events_committed_at_and_a_replay_the_same(
    harness: Harness,
) -> None:
    register_m1(harness)
    first = harness.post("/deductions", harness.deduction("B1"), "supervisor",
                         **{"Idempotency-Key": "k-1"})
    body = harness.ok(first, 201)
    assert int(first.headers["Ledger-Position"]) == body["events"][-1]["position"]
    assert int(first.headers["Ledger-Position"]) == harness.events()
    again = harness.post("/deductions", harness.deduction("B1"), "supervisor",
                         **{"Idempotency-Key": "k-1"})
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.headers["Ledger-Position"] == first.headers["Ledger-Position"]


def test_a_query_sent_back_a_position_answers_with_that_write_and_says_where_it_stands(
    harness: Harness,
) -> None:
    register_m1(harness)
    posted = harness.post("/deductions", harness.deduction("S3"), "supervisor")
    points = harness.ok(posted, 201)["points"]
    position = posted.headers["Ledger-Position"]
    sent = harness.headers("auditor", **{"Consistent-After": position})
    answer = harness.client.get("/api/v1" + SCORE, query_string={"period": "2026Q1"},
                                headers=sent)
    assert harness.ok(answer)["error_points"] == points
    assert int(answer.headers["Ledger-Position"]) >= int(position)
    assert answer.headers["Server-Timing"].startswith("consistency;dur=")


@pytest.mark.parametrize("bad", ["soon", "-1", "1.5", "9" * 19, "99999"])
def test_a_consistent_after_that_is_no_position_of_the_log_is_refused_naming_the_header(
    harness: Harness, bad: str,
) -> None:
    register_m1(harness)
    problem = harness.refused(422, "get", SCORE + "?period=2026Q1", "auditor",
                              **{"Consistent-After": bad})
    assert "Consistent-After" in problem["errors"]


def _score(h: Harness, **headers: str) -> tuple[int, dict[str, str], dict[str, object]]:
    answer = h.client.get("/api/v1" + SCORE, query_string={"period": "2026Q1"},
                          headers=h.headers("auditor", **headers))
    return answer.status_code, dict(answer.headers), answer.get_json()


def _facts_position(h: Harness) -> int | None:
    with reading(engine_for(h.ledger)) as conn:
        value = conn.execute(select(t.tracking.c.notification_id).where(
            t.tracking.c.application_name == runner.FACTS)).scalar()
    return None if value is None else int(value)


def assert_queries_wait_for_workers_and_never_write(h: Harness) -> None:
    # A manager registered, and no worker has run: the query waits its bound, then 503.
    register_m1(h)
    status, headers, problem = _score(h)
    assert status == 503 and int(headers["Retry-After"]) >= 1, problem
    assert _facts_position(h) is None, "the API process wrote the read models"
    # A worker's round (what `ledger projections run` does): now the query answers.
    runner.follow(h.ledger)
    status, _, body = _score(h)
    assert status == 200 and body["error_points"] == 0
    # A write the workers have not applied: neither header nor head gets a stale figure.
    posted = h.post("/deductions", h.deduction("S3"), "supervisor")
    points = h.ok(posted, 201)["points"]
    before = _facts_position(h)
    for sent in ({"Consistent-After": posted.headers["Ledger-Position"]}, {}):
        status, headers, problem = _score(h, **sent)
        assert status == 503 and headers["Content-Type"] == "application/problem+json", problem
    assert _facts_position(h) == before, "the API process wrote the read models"
    runner.follow(h.ledger)
    status, headers, body = _score(h, **{"Consistent-After": posted.headers["Ledger-Position"]})
    assert status == 200 and body["error_points"] == points
    assert headers["Ledger-Position"] == posted.headers["Ledger-Position"]


def test_with_workers_apart_queries_on_sqlite_wait_for_them_and_never_write(
    sqlite_harness: Harness,
) -> None:
    assert_queries_wait_for_workers_and_never_write(external(sqlite_harness))


@pytest.mark.postgres
def test_with_workers_apart_queries_on_postgres_wait_for_them_and_never_write(
    postgres_harness: Harness,
) -> None:
    assert_queries_wait_for_workers_and_never_write(external(postgres_harness))


def test_the_openapi_document_names_the_headers_on_commands_and_queries(harness: Harness) -> None:
    spec = harness.client.get("/openapi.json").get_json()
    query = spec["paths"]["/api/v1/managers/{manager_id}/score"]["get"]
    assert "Consistent-After" in [p["name"] for p in query["parameters"] if p["in"] == "header"]
    assert {"Ledger-Position", "Server-Timing"} <= set(query["responses"]["200"]["headers"])
    command = spec["paths"]["/api/v1/deductions"]["post"]
    assert "Ledger-Position" in command["responses"]["201"]["headers"]

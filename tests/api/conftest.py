"""Fixtures for the API tests: an app on a fresh database, tokens per principal, helpers."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from dbsupport import fresh_sqlite_url, postgres_service_url, reset_postgres
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from api import LEDGER, create_app
from persistence.tokens import TokenStore
from persistence.url import environment_for

PROBLEM_JSON = "application/problem+json"

# name -> (role, subject, manager id)
PRINCIPALS: dict[str, tuple[str, str, str | None]] = {
    "supervisor": ("supervisor", "sup-1", None),
    "reviewer": ("supervisor", "sup-2", None),
    "integrator": ("integrator", "credit-system", None),
    "m1": ("manager", "m1-user", "M1"),
    "m2": ("manager", "m2-user", "M2"),
    "approver": ("approver", "appr-1", None),
    "approver2": ("approver", "appr-2", None),
    "auditor": ("auditor", "aud-1", None),
    "operator": ("operator", "ops-1", None),
}


class Harness:
    """A test client that speaks as named principals and counts the log."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.ledger: Any = app.extensions[LEDGER]
        self.ledger.ensure_rulebook()
        self.client: FlaskClient = app.test_client()
        store = TokenStore.of(self.ledger)
        self.tokens = {name: store.create(role=r, subject=s, manager_id=m)
                       for name, (r, s, m) in PRINCIPALS.items()}

    def headers(self, who: str | None, **extra: str) -> dict[str, str]:
        auth = {"Authorization": f"Bearer {self.tokens[who]}"} if who else {}
        return {**auth, **extra}

    def post(self, path: str, body: Any, who: str | None, **headers: str) -> TestResponse:
        return self.client.post("/api/v1" + path, json=body, headers=self.headers(who, **headers))

    def put(self, path: str, body: Any, who: str | None, **headers: str) -> TestResponse:
        return self.client.put("/api/v1" + path, json=body, headers=self.headers(who, **headers))

    def get(self, path: str, who: str | None, **query: Any) -> TestResponse:
        return self.client.get("/api/v1" + path, query_string=query, headers=self.headers(who))

    def travel(self, days: int) -> None:
        """Moves the ledger's clock `days` ahead of real time, for deadlines. Recording
        times stay real: they come from the store, never from this clock."""
        shift = timedelta(days=days)
        self.ledger.clock = lambda: datetime.now(UTC) + shift

    def stop_clock_on(self, day: date) -> None:
        """The ledger's clock shows noon of `day` in the bank's time zone, and stays there."""
        instant = datetime(day.year, day.month, day.day, 12, tzinfo=ZoneInfo("Asia/Shanghai"))
        self.ledger.clock = lambda: instant

    def events(self) -> int:
        return int(self.ledger.recorder.max_notification_id() or 0)

    def ok(self, response: TestResponse, status: int = 200) -> Any:
        assert response.status_code == status, response.get_data(as_text=True)
        return response.get_json()

    def refused(self, status: int, method: str, path: str, who: str | None,
                body: Any = None, **headers: str) -> dict[str, Any]:
        """Sends a request that must be refused, and asserts it appended nothing."""
        before = self.events()
        call = getattr(self.client, method)
        response = call("/api/v1" + path, json=body, headers=self.headers(who, **headers))
        assert response.status_code == status, response.get_data(as_text=True)
        assert response.mimetype == PROBLEM_JSON
        problem: dict[str, Any] = response.get_json()
        assert problem["status"] == status
        assert {"type", "title", "detail"} <= set(problem)
        assert self.events() == before, "a refused request appended events"
        return problem

    # --- the worked example of DESIGN §4, as requests -------------------------------

    def register_worked_example(self) -> None:
        """M1 (grade B), C1–C3 assigned all quarter, target 50000, Q1 postings."""
        self.ok(self.post("/managers", {"id": "M1", "name": "Li Wei", "grade": "B",
                                        "unit": "Branch 1"}, "supervisor"), 201)
        self.ok(self.post("/managers", {"id": "M2", "name": "Zhang Min", "grade": "A",
                                        "unit": "Branch 1"}, "supervisor"), 201)
        for cid, last_year in (("C1", "400000"), ("C2", "200000"), ("C3", "150000")):
            self.ok(self.post("/customers", customer(cid, last_year), "supervisor"), 201)
            self.ok(self.post(f"/customers/{cid}/assignments", {
                "manager_id": "M1", "effective_on": "2026-01-01", "reason": "opening"},
                "supervisor"))
        self.ok(self.put("/managers/M1/targets/2026Q1", {"incremental": "50000", "reason": "plan"},
                         "supervisor"))
        for n, (cid, amount) in enumerate((("C1", "120000"), ("C2", "60000"),
                                           ("C3", "70000")), start=1):
            self.ok(self.post("/contributions", posting(cid, amount, f"P{n}"), "integrator"), 201)

    def record_worked_example_deductions(self) -> dict[str, str]:
        """B1, C7 and S3 against M1, recorded by sup-1; returns their ids by code."""
        ids = {}
        for code in ("B1", "C7", "S3"):
            body = self.ok(self.post("/deductions", deduction(code), "supervisor"), 201)
            ids[code] = body["id"]
        return ids


def customer(cid: str, last_year: str, customer_class: str = "good") -> dict[str, Any]:
    return {"id": cid, "name": f"Customer {cid}", "class": customer_class,
            "industry": "manufacturing", "chain": None, "group": None,
            "last_year_contribution": last_year}


def posting(cid: str, interest: str, external_id: str, **extra: Any) -> dict[str, Any]:
    return {"customer_id": cid, "booked_on": "2026-02-15", "interest_income": interest,
            "deposit_earnings": "0", "fee_income": "0", "source_system": "CREDIT",
            "external_id": external_id, **extra}


def deduction(code: str, manager_id: str = "M1", **extra: Any) -> dict[str, Any]:
    return {"manager_id": manager_id, "rule_code": code, "occurrences": 1, "aggravated": False,
            "effective_on": "2026-02-01", "description": f"{code} found in review", **extra}


@pytest.fixture
def sqlite_harness() -> Iterator[Harness]:
    app = create_app({"LEDGER_ENV": environment_for(fresh_sqlite_url())})
    yield Harness(app)
    app.extensions[LEDGER].close()


@pytest.fixture
def postgres_harness() -> Iterator[Harness]:
    reset_postgres()
    app = create_app({"LEDGER_ENV": environment_for(postgres_service_url())})
    yield Harness(app)
    app.extensions[LEDGER].close()


@pytest.fixture
def harness(sqlite_harness: Harness) -> Harness:
    return sqlite_harness


# Request bodies, reachable from tests through the harness (conftest is not importable).
Harness.customer = staticmethod(customer)  # type: ignore[attr-defined]
Harness.posting = staticmethod(posting)  # type: ignore[attr-defined]
Harness.deduction = staticmethod(deduction)  # type: ignore[attr-defined]

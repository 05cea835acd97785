"""The bank the workspace's page tests stand on: the app, a token per principal, the API to
set the bank up (DESIGN §4's worked example), and a signed-in browser per person.

Each person signs in through the sign-in form with their own cookie jar; a page is read as
that person, and a form is sent with the CSRF token its page carries.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlencode

from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from api import LEDGER
from persistence.tokens import TokenStore

# name -> (role, subject, manager id); sup-1 records every deduction, sup-2 reviews.
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
Q1 = {"period": "2026Q1", "as_of": "2026-03-31"}
CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def csrf_of(response: TestResponse) -> str:
    found = CSRF.search(response.get_data(as_text=True))
    assert found, "the page carries no CSRF token"
    return found.group(1)


def deduction(code: str, manager_id: str = "M1") -> dict[str, Any]:
    return {"manager_id": manager_id, "rule_code": code, "occurrences": 1, "aggravated": False,
            "effective_on": "2026-02-01", "description": f"{code} found in review"}


class Bank:
    """The app, a token per principal, the API as each of them, and a browser each."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.ledger: Any = app.extensions[LEDGER]
        self.ledger.ensure_rulebook()
        self.store = TokenStore.of(self.ledger)
        self.tokens = {name: self.store.create(role=r, subject=s, manager_id=m)
                       for name, (r, s, m) in PRINCIPALS.items()}
        self.api = app.test_client()
        self.browsers: dict[str, FlaskClient] = {}

    # --- the API, to set the bank up ---------------------------------------------------

    def call(self, method: str, path: str, who: str, body: Any = None, status: int = 200) -> Any:
        response = self.api.open("/api/v1" + path, method=method, json=body,
                                 headers={"Authorization": f"Bearer {self.tokens[who]}"})
        assert response.status_code == status, response.get_data(as_text=True)
        return response.get_json()

    def events(self) -> int:
        return int(self.ledger.recorder.max_notification_id() or 0)

    def worked_example(self) -> dict[str, str]:
        """DESIGN §4: M1 at 740 with B1, C7 and S3 recorded by sup-1; returns their ids."""
        self.call("POST", "/managers", "supervisor",
                  {"id": "M1", "name": "李伟", "grade": "B", "unit": "Branch 1"}, 201)
        self.call("POST", "/managers", "supervisor",
                  {"id": "M2", "name": "Zhang Min", "grade": "A", "unit": "Branch 1"}, 201)
        for cid, last_year in (("C1", "400000"), ("C2", "200000"), ("C3", "150000")):
            self.call("POST", "/customers", "supervisor", {
                "id": cid, "name": f"Customer {cid}", "class": "good",
                "industry": "manufacturing", "chain": None, "group": None,
                "last_year_contribution": last_year}, 201)
            self.call("POST", f"/customers/{cid}/assignments", "supervisor", {
                "manager_id": "M1", "effective_on": "2026-01-01", "reason": "opening"})
        self.call("PUT", "/managers/M1/targets/2026Q1", "supervisor",
                  {"incremental": "50000", "reason": "plan"})
        for n, (cid, amount) in enumerate((("C1", "120000"), ("C2", "60000"),
                                           ("C3", "70000")), start=1):
            self.call("POST", "/contributions", "integrator", {
                "customer_id": cid, "booked_on": "2026-02-15", "interest_income": amount,
                "deposit_earnings": "0", "fee_income": "0", "source_system": "CREDIT",
                "external_id": f"P{n}"}, 201)
        return {code: self.call("POST", "/deductions", "supervisor", deduction(code), 201)["id"]
                for code in ("B1", "C7", "S3")}

    # --- the pages, as a person in a browser -----------------------------------------

    def browser(self, who: str) -> FlaskClient:
        """A client with its own cookies, signed in through the sign-in form."""
        if who not in self.browsers:
            client = self.app.test_client()
            form = client.get("/app/sign-in")
            signed = client.post("/app/sign-in", data={
                "token": self.tokens[who], "csrf_token": csrf_of(form)})
            assert signed.status_code in (302, 303), signed.get_data(as_text=True)
            self.browsers[who] = client
        return self.browsers[who]

    def page(self, who: str, path: str, status: int = 200, **query: Any) -> str:
        if query and "?" in path:  # the path's own query, and more
            path, query = f"{path}&{urlencode(query)}", {}
        response = self.browser(who).get(path, query_string=query or None)
        assert response.status_code == status, (path, response.get_data(as_text=True)[:3000])
        return response.get_data(as_text=True)

    def post_form(self, who: str, form_page: str, action: str, fields: dict[str, str],
                  status: int) -> TestResponse:
        """Sends a form as its page carries it: with the page's CSRF token."""
        token = csrf_of(self.browser(who).get(form_page))
        response = self.browser(who).post(action, data={**fields, "csrf_token": token})
        assert response.status_code == status, response.get_data(as_text=True)[:3000]
        return response

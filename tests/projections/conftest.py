"""Fixtures for the projection scenarios: a ledger per back end and the worked example's steps."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from uuid import UUID

import pytest
from dbsupport import fresh_sqlite_url, postgres_service_url, reset_postgres

from ledger.application import LedgerApplication, Receipt
from ledger.audit import AuditContext, acting_as
from ledger.ruleset_document import default_document
from persistence.url import environment_for

SUPERVISOR = AuditContext(actor="sup-1", role="supervisor", request_id="req-1")
REVIEWER = AuditContext(actor="sup-2", role="supervisor", request_id="req-2")
OPERATOR = AuditContext(actor="op-1", role="operator", request_id="req-5")
M1 = AuditContext(actor="m1-user", role="manager", request_id="req-3")
CREDIT = AuditContext(
    actor="credit-system", role="integrator", request_id="req-4", source_system="CREDIT"
)
Q1 = date(2026, 1, 1)


@dataclass
class WorkedExample:
    """DESIGN §4, one step at a time, so a test can look at the figures after each step."""

    app: LedgerApplication
    deductions: dict[str, UUID] = field(default_factory=dict)
    receipts: dict[str, Receipt] = field(default_factory=dict)
    dispute_id: UUID | None = None

    def register(self) -> None:
        # M1 (grade B) holds C1, C2 and C3 all quarter, with an incremental target of 50000.
        with acting_as(SUPERVISOR):
            self.app.register_manager(business_id="M1", name="Manager One", grade="B", unit="U1")
            for cid, last_year in (("C1", 400000), ("C2", 200000), ("C3", 150000)):
                self.app.register_customer(
                    business_id=cid, name=f"Customer {cid}", customer_class="good",
                    industry="retail", chain=None, group=None,
                    last_year_contribution=Decimal(last_year),
                )
                self.app.assign_customer(cid, manager_id="M1", effective_on=Q1, reason="initial")
            self.receipts["target"] = self.app.set_target(
                "M1", period="2026Q1", incremental=Decimal(50000), reason="plan"
            ).receipt

    def post_contributions(self) -> None:
        with acting_as(CREDIT):
            for n, (cid, amount) in enumerate((("C1", 120000), ("C2", 60000), ("C3", 70000))):
                self.app.post_contribution(
                    customer_id=cid, booked_on=date(2026, 2, 15),
                    interest_income=Decimal(amount), deposit_earnings=Decimal(0),
                    fee_income=Decimal(0), source_system="CREDIT", external_id=f"P{n}",
                )

    def record_deductions(self) -> None:
        with acting_as(SUPERVISOR):
            for code in ("B1", "C7", "S3"):
                made = self.app.record_deduction(
                    manager_id="M1", rule_code=code, occurrences=1, aggravated=False,
                    effective_on=date(2026, 2, 1), description=f"{code} found in review",
                )
                self.deductions[code] = made.value.id
                self.receipts[code] = made.receipt

    def dispute_s3(self) -> None:
        with acting_as(M1):
            filed = self.app.file_dispute(
                self.deductions["S3"], filed_by_manager_id="M1", reason="not my customer"
            )
        self.dispute_id = filed.value.id
        self.receipts["filed"] = filed.receipt

    def uphold(self) -> None:
        assert self.dispute_id is not None
        with acting_as(REVIEWER):
            self.receipts["decided"] = self.app.decide_dispute(
                self.dispute_id, outcome="upheld", reason="evidence agrees"
            ).receipt

    def all_steps(self) -> None:
        self.register()
        self.post_contributions()
        self.record_deductions()
        self.dispute_s3()
        self.uphold()

    def draft_retroactive(self, version: str = "2026.2") -> Receipt:
        """2026.1 with points_to_score 10 → 20 and r_over 0.08 → 0.10, from 2026-01-01."""
        document = copy.deepcopy(default_document())
        document["version"] = version
        document["score"]["points_to_score"] = 20
        document["pay"]["r_over"] = "0.10"
        with acting_as(OPERATOR):
            self.receipts[f"drafted {version}"] = self.app.draft_ruleset(document).receipt
        return self.receipts[f"drafted {version}"]

    def publish(self, version: str = "2026.2") -> Receipt:
        with acting_as(OPERATOR):
            self.receipts[f"published {version}"] = self.app.publish_ruleset(version).receipt
        return self.receipts[f"published {version}"]

    def known_before(self, step: str) -> datetime:
        """An instant just before the named step was recorded."""
        recorded_at = self.receipts[step].recorded_at
        assert recorded_at is not None
        return recorded_at - timedelta(microseconds=1)


def sqlite_application() -> LedgerApplication:
    app = LedgerApplication(env=environment_for(fresh_sqlite_url()))
    app.ensure_rulebook()
    return app


def postgres_application() -> LedgerApplication:
    reset_postgres()
    app = LedgerApplication(env=environment_for(postgres_service_url()))
    app.ensure_rulebook()
    return app


@pytest.fixture
def example(app: LedgerApplication) -> WorkedExample:
    """The worked example on whichever ledger the test (or its class) provides as `app`."""
    return WorkedExample(app)


@pytest.fixture
def sqlite_ledger() -> LedgerApplication:
    """A ledger on a fresh, migrated SQLite file, with the default rule set published."""
    return sqlite_application()


@pytest.fixture
def postgres_ledger() -> LedgerApplication:
    """A ledger on the emptied test database, connected as the service role."""
    return postgres_application()

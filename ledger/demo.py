"""A small demo bank: the worked example of DESIGN §4 and a few neighbours around it."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from ledger.application import LedgerApplication
from ledger.audit import AuditContext, acting_as
from ledger.errors import NotFound

SUPERVISOR = AuditContext(actor="demo-supervisor", role="supervisor", request_id="demo")
REVIEWER = AuditContext(actor="demo-reviewer", role="supervisor", request_id="demo")
CREDIT = AuditContext(
    actor="demo-credit", role="integrator", request_id="demo", source_system="CREDIT"
)

Q1_START = date(2026, 1, 1)

MANAGERS = (("M1", "Li Wei", "B"), ("M2", "Zhang Min", "A"), ("M3", "Wang Fang", "C"))
# (id, class, group, last-year contribution, holder)
CUSTOMERS = (
    ("C1", "good", "G-East", 400000, "M1"),
    ("C2", "ordinary", None, 200000, "M1"),
    ("C3", "good", None, 150000, "M1"),
    ("C4", "premium", "G-North", 900000, "M2"),
    ("C5", "watch", None, 80000, "M3"),
)
# (customer, booked on, interest, deposit, fee)
POSTINGS = (
    ("C1", date(2026, 2, 10), 100000, 15000, 5000),
    ("C2", date(2026, 2, 11), 50000, 8000, 2000),
    ("C3", date(2026, 3, 2), 60000, 7000, 3000),
    ("C4", date(2026, 2, 20), 200000, 30000, 10000),
    ("C5", date(2026, 3, 5), 15000, 2000, 500),
)


def is_loaded(app: LedgerApplication) -> bool:
    try:
        app.manager("M1")
    except NotFound:
        return False
    return True


def load_demo(app: LedgerApplication) -> bool:
    """Loads the demo bank once; returns False when it was already there."""
    app.ensure_rulebook()
    if is_loaded(app):
        return False
    with acting_as(SUPERVISOR):
        _register_people(app)
    with acting_as(CREDIT):
        _post_contributions(app)
    _worked_example_deductions_and_dispute(app)
    return True


def _register_people(app: LedgerApplication) -> None:
    for business_id, name, grade in MANAGERS:
        app.register_manager(business_id=business_id, name=name, grade=grade, unit="Branch 1")
    for business_id, customer_class, group, last_year, holder in CUSTOMERS:
        app.register_customer(
            business_id=business_id, name=f"Customer {business_id}",
            customer_class=customer_class, industry="manufacturing", chain=None,
            group=group, last_year_contribution=Decimal(last_year),
        )
        app.assign_customer(business_id, manager_id=holder, effective_on=Q1_START, reason="opening")
    app.set_target("M1", period="2026Q1", incremental=Decimal(50000), reason="annual plan")
    app.set_target("M2", period="2026Q1", incremental=Decimal(80000), reason="annual plan")
    app.set_target("M3", period="2026Q1", incremental=Decimal(10000), reason="annual plan")


def _post_contributions(app: LedgerApplication) -> None:
    for n, (customer, booked_on, interest, deposit, fee) in enumerate(POSTINGS, start=1):
        app.post_contribution(
            customer_id=customer, booked_on=booked_on, interest_income=Decimal(interest),
            deposit_earnings=Decimal(deposit), fee_income=Decimal(fee),
            source_system="CREDIT", external_id=f"DEMO-{n}",
        )


def _worked_example_deductions_and_dispute(app: LedgerApplication) -> None:
    # M1's deductions are those of DESIGN §4: B1, C7 and S3 (26 points, score 740).
    with acting_as(SUPERVISOR):
        recorded = {}
        for code, text in (("B1", "visit not reported"), ("C7", "post-loan check late"),
                           ("S3", "customer complaint upheld")):
            recorded[code] = app.record_deduction(
                manager_id="M1", rule_code=code, occurrences=1, aggravated=False,
                effective_on=date(2026, 2, 1), description=text,
            ).value
        app.record_deduction(
            manager_id="M3", rule_code="C9", occurrences=2, aggravated=False,
            effective_on=date(2026, 3, 1), description="inspection reports late",
        )
    # M1 disputes S3 and a reviewer upholds it: the score becomes 940.
    m1 = AuditContext(actor="demo-m1", role="manager", request_id="demo")
    with acting_as(m1):
        dispute = app.file_dispute(
            recorded["S3"].id, filed_by_manager_id="M1", reason="complaint was about a colleague"
        ).value
    with acting_as(REVIEWER):
        app.decide_dispute(dispute.id, outcome="upheld", reason="complaint records agree")

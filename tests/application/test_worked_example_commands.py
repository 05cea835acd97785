"""Scenario: the worked example of DESIGN §4, as commands, on SQLite and on PostgreSQL."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from dbsupport import fresh_sqlite_url, postgres_service_url, reset_postgres
from eventsourcing.persistence import IntegrityError

from ledger.application import LedgerApplication
from ledger.audit import AuditContext, acting_as
from ledger.dispute import Dispute
from ledger.errors import DuplicateFact, InvalidInput, NotPermitted, RuleViolation
from ledger.store import IdempotencyRecord
from persistence.url import environment_for

SUPERVISOR = AuditContext(actor="sup-1", role="supervisor", request_id="req-1")
REVIEWER = AuditContext(actor="sup-2", role="supervisor", request_id="req-2")
M1 = AuditContext(actor="m1-user", role="manager", request_id="req-3")
CREDIT = AuditContext(
    actor="credit-system", role="integrator", request_id="req-4", source_system="CREDIT"
)


class SQLiteScenario:
    """Runs every scenario on a fresh SQLite file; subclassed for PostgreSQL."""

    @pytest.fixture
    def app(self) -> LedgerApplication:
        application = LedgerApplication(env=environment_for(fresh_sqlite_url()))
        application.ensure_rulebook()
        return application

    def count_events(self, app: LedgerApplication) -> int:
        return app.recorder.max_notification_id() or 0

    def test_the_worked_example_records_every_fact_as_an_event(
        self, app: LedgerApplication
    ) -> None:
        # A supervisor registers M1 (grade B) and three customers, and assigns them.
        with acting_as(SUPERVISOR):
            app.register_manager(business_id="M1", name="Manager One", grade="B", unit="Branch 1")
            for cid, last_year in (("C1", 400000), ("C2", 200000), ("C3", 150000)):
                app.register_customer(
                    business_id=cid, name=cid, customer_class="good", industry="retail",
                    chain=None, group=None, last_year_contribution=Decimal(last_year),
                )
                app.assign_customer(
                    cid, manager_id="M1", effective_on=date(2026, 1, 1), reason="initial"
                )
            app.set_target("M1", period="2026Q1", incremental=Decimal(50000), reason="plan")

        # The credit system posts Q1 contributions.
        with acting_as(CREDIT):
            for n, (cid, amount) in enumerate((("C1", 120000), ("C2", 60000), ("C3", 70000))):
                app.post_contribution(
                    customer_id=cid, booked_on=date(2026, 2, 15),
                    interest_income=Decimal(amount), deposit_earnings=Decimal(0),
                    fee_income=Decimal(0), source_system="CREDIT", external_id=f"P{n}",
                )

        # The supervisor records B1, C7 and S3.
        with acting_as(SUPERVISOR):
            deductions = {
                code: app.record_deduction(
                    manager_id="M1", rule_code=code, occurrences=1, aggravated=False,
                    effective_on=date(2026, 2, 1), description=f"{code} found in review",
                ).value
                for code in ("B1", "C7", "S3")
            }
        assert [d.error_points(2) for d in deductions.values()] == [1, 5, 20]

        # M1 disputes S3; a reviewer who did not record it upholds the dispute.
        with acting_as(M1):
            filed = app.file_dispute(
                deductions["S3"].id, filed_by_manager_id="M1", reason="not my customer"
            )
            dispute = filed.value
        assert dispute.status == "open"
        with acting_as(REVIEWER):
            decided = app.decide_dispute(dispute.id, outcome="upheld", reason="evidence agrees")

        # The decision and the correction are one append, after the filing.
        assert [e.type for e in decided.receipt.events] == ["Decided", "Voided"]
        assert decided.receipt.events[0].position > filed.receipt.events[0].position
        assert app.deduction(deductions["S3"].id).status == "voided"

        # Every event carries its actor and role, and positions run 1..N without gaps.
        notifications = app.recorder.select_notifications(start=None, limit=1000)
        assert [n.id for n in notifications] == list(range(1, len(notifications) + 1))
        voided = app.repository.get(deductions["S3"].id)
        assert voided.status == "voided"
        events = app.events.get(deductions["S3"].id)
        assert [(type(e).__name__, e.actor, e.role) for e in events] == [
            ("Recorded", "sup-1", "supervisor"), ("Disputed", "m1-user", "manager"),
            ("Voided", "sup-2", "supervisor"),
        ]

    def test_a_refused_command_appends_nothing(self, app: LedgerApplication) -> None:
        with acting_as(SUPERVISOR):
            app.register_manager(business_id="M1", name="One", grade="B", unit="U")
            before = self.count_events(app)
            with pytest.raises(InvalidInput) as refused:
                app.record_deduction(
                    manager_id="M1", rule_code="Z9", occurrences=1, aggravated=False,
                    effective_on=date(2026, 2, 1), description="unknown rule",
                )
            assert "rule_code" in refused.value.errors
            with pytest.raises(DuplicateFact):
                app.register_manager(business_id="M1", name="One", grade="B", unit="U")
        assert self.count_events(app) == before

    def test_a_manager_cannot_dispute_someone_elses_deduction(self, app: LedgerApplication) -> None:
        with acting_as(SUPERVISOR):
            app.register_manager(business_id="M1", name="One", grade="B", unit="U")
            deduction = app.record_deduction(
                manager_id="M1", rule_code="B1", occurrences=1, aggravated=False,
                effective_on=date(2026, 2, 1), description="visit not reported",
            ).value
        before = self.count_events(app)
        with acting_as(M1), pytest.raises(NotPermitted):
            app.file_dispute(deduction.id, filed_by_manager_id="M2", reason="mine? no")
        assert self.count_events(app) == before

    def test_two_filings_racing_for_one_deduction_append_one_dispute(
        self, app: LedgerApplication
    ) -> None:
        with acting_as(SUPERVISOR):
            app.register_manager(business_id="M1", name="One", grade="B", unit="U")
            deduction = app.record_deduction(
                manager_id="M1", rule_code="S3", occurrences=1, aggravated=False,
                effective_on=date(2026, 2, 1), description="complaint upheld",
            ).value
        # A second request read the deduction before the first filing was appended.
        stale = app.deduction(deduction.id)
        with acting_as(M1):
            app.file_dispute(deduction.id, filed_by_manager_id="M1", reason="first")
            before = self.count_events(app)
            late = Dispute.file(
                deduction_id=stale.id, owner_manager_id="M1", filed_by_manager_id="M1",
                reason="second", recorded_on=date.today(), today=date.today(),
                file_within_days=15, decide_within_days=10,
            )
            stale.open_dispute(dispute_id=late.id)  # the stale copy sees no dispute yet
            with pytest.raises(IntegrityError):
                app.record(late, stale)
            # Without the race, the rule itself refuses the second filing.
            with pytest.raises(RuleViolation) as refused:
                app.file_dispute(deduction.id, filed_by_manager_id="M1", reason="third")
        assert refused.value.rule == "ADeductionIsDisputedOnce"
        assert self.count_events(app) == before

    def test_premium_customers_go_only_to_grade_a(self, app: LedgerApplication) -> None:
        with acting_as(SUPERVISOR):
            app.register_manager(business_id="M1", name="One", grade="B", unit="U")
            app.register_customer(
                business_id="P1", name="Premium", customer_class="premium", industry="x",
                chain=None, group=None, last_year_contribution=Decimal(1),
            )
            with pytest.raises(RuleViolation) as refused:
                app.assign_customer(
                    "P1", manager_id="M1", effective_on=date(2026, 1, 1), reason="try"
                )
        assert refused.value.rule == "PremiumCustomersNeedTheRequiredGrade"

    def test_a_retried_posting_is_a_duplicate_not_a_second_fact(
        self, app: LedgerApplication
    ) -> None:
        with acting_as(SUPERVISOR):
            app.register_customer(
                business_id="C1", name="C1", customer_class="good", industry="x",
                chain=None, group=None, last_year_contribution=Decimal(1),
            )
        posting = dict(
            customer_id="C1", booked_on=date(2026, 2, 1), interest_income=Decimal("10.00"),
            deposit_earnings=Decimal(0), fee_income=Decimal(0),
            source_system="CREDIT", external_id="X1",
        )
        with acting_as(CREDIT):
            first = app.post_contribution(**posting)
            before = self.count_events(app)
            again = app.post_contribution(**posting)
            # The same keys and values: the same fact, answered as a duplicate, not stored.
            assert (again.result, again.receipt.events) == ("duplicate", ())
            assert again.value.id == first.value.id
            assert self.count_events(app) == before
            # The same keys with other values: PostingsAreIdentifiedByTheirSourceKeys.
            with pytest.raises(DuplicateFact) as refused:
                app.post_contribution(**{**posting, "interest_income": Decimal("11.00")})
        assert refused.value.rule == "PostingsAreIdentifiedByTheirSourceKeys"
        assert self.count_events(app) == before

    def test_an_idempotency_record_commits_with_the_events_or_not_at_all(
        self, app: LedgerApplication
    ) -> None:
        record = IdempotencyRecord("client", "k1", "h", 201)
        with acting_as(SUPERVISOR):
            made = app.register_manager(business_id="M1", name="One", grade="B", unit="U",
                                        idempotency=record)
            before = self.count_events(app)
            stored = app.store.find_request("client", "k1")
            assert stored is not None
            assert (stored.first_position, stored.last_position) == (before, before)
            assert app.replayed(stored).receipt == made.receipt
            # The same key again: the record conflicts, so the events roll back too.
            with pytest.raises(IntegrityError):
                app.record(_manager("M2"), idempotency=record)
        assert self.count_events(app) == before


def _manager(business_id: str):  # type: ignore[no-untyped-def]
    from ledger.manager import Manager

    return Manager.register(business_id=business_id, name="x", grade="A", unit="u")


class TestSQLite(SQLiteScenario):
    pass


class TestPostgreSQL(SQLiteScenario):
    @pytest.fixture
    def app(self) -> LedgerApplication:
        reset_postgres()
        application = LedgerApplication(env=environment_for(postgres_service_url()))
        application.ensure_rulebook()
        return application


def test_history_gives_each_event_its_position_and_recording_time() -> None:
    app = LedgerApplication(env=environment_for(fresh_sqlite_url()))
    app.ensure_rulebook()  # a grade change is checked against the rule set in force
    with acting_as(SUPERVISOR):
        first = app.register_manager(business_id="M1", name="One", grade="B", unit="U").receipt
        second = app.change_grade(
            "M1", grade="A", effective_on=date(2026, 4, 1), reason="promoted").receipt
    history = app.history(app.manager("M1").id)
    assert [r for _, r in history] == [*first.events, *second.events]
    assert [type(e).__name__ for e, _ in history] == ["Registered", "GradeChanged"]
    # "As known at" the first recording time cuts the log just after the first event.
    assert app.position_known_at(first.events[0].recorded_at) == first.events[0].position

"""Events through the library's Mapper: audit fields, Decimals and dates survive, replay agrees."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Any
from uuid import uuid4

import pytest
from eventsourcing.persistence import JSONTranscoder, Mapper

from ledger.adjustment import Adjustment
from ledger.audit import AuditContext, acting_as, current_audit
from ledger.base import LedgerAggregate, register_transcodings
from ledger.contribution import Contribution
from ledger.customer import Customer
from ledger.deduction import Deduction
from ledger.dispute import Dispute
from ledger.manager import Manager
from ledger.period import Period
from ledger.rulebook import RuleBook

SUPERVISOR = AuditContext("sup-1", "supervisor", "req-41")
INTEGRATOR = AuditContext("svc-credit", "integrator", "req-42", "credit", "D-9")
AUDIT_FIELDS = ("actor", "role", "request_id", "source_system", "external_id")


def a_manager() -> LedgerAggregate:
    manager = Manager.register(business_id="M1", name="Wang Fang", grade="B", unit="Branch 1")
    manager.change_grade(grade="A", effective_on=date(2026, 2, 1), reason="promotion")
    manager.set_target(period="2026Q1", incremental=Decimal("50000.00"), reason="plan")
    manager.set_target(period="2026Q1", incremental=Decimal("55000.50"), reason="revised")
    return manager


def a_customer() -> LedgerAggregate:
    customer = Customer.register(
        business_id="C1",
        name="Acme",
        customer_class="premium",
        industry="steel",
        chain=None,
        group="Acme Group",
        last_year_contribution=Decimal("400000.00"),
    )
    customer.assign(manager_id="M1", effective_on=date(2026, 1, 1), reason="new")
    customer.assign(manager_id="M2", effective_on=date(2026, 2, 1), reason="moved")
    return customer


def a_contribution() -> LedgerAggregate:
    return Contribution.post(
        customer_id="C1",
        booked_on=date(2026, 2, 10),
        interest_income=Decimal("120000.00"),
        deposit_earnings=Decimal("-10.25"),
        fee_income=Decimal("0"),
        risk_cost=Decimal("3.10"),
        source_system="credit",
        external_id="D-9",
    )


def a_deduction() -> LedgerAggregate:
    deduction = Deduction.record(
        manager_id="M1",
        rule_code="S3",
        occurrences=1,
        aggravated=False,
        effective_on=date(2026, 2, 3),
        description="upheld customer complaint",
        recorded_by="sup-1",
        points_per_occurrence=20,
        ruleset_version="2026.1",
        aggravatable=False,
        disqualifying=False,
        evidence=["complaint-5"],
        customer_id="C1",
    )
    deduction.open_dispute(dispute_id=uuid4())
    deduction.amend(points_total=8, dispute_id=uuid4(), reason="partly upheld")
    deduction.void(dispute_id=uuid4(), reason="appeal upheld")
    return deduction


def a_dispute() -> LedgerAggregate:
    dispute = Dispute.file(
        deduction_id=uuid4(),
        owner_manager_id="M1",
        filed_by_manager_id="M1",
        reason="not my customer",
        evidence=["assignment-letter"],
        recorded_on=date(2026, 3, 2),
        today=date(2026, 3, 4),
        file_within_days=15,
        decide_within_days=10,
    )
    dispute.comment(text="see letter", evidence=["letter-2"])
    dispute.decide(
        outcome="rejected",
        reason="no",
        decided_by="sup-2",
        recorded_by="sup-1",
        current_points=20,
        today=date(2026, 3, 9),
    )
    dispute.appeal(
        appellant_manager_id="M1",
        reason="please",
        today=date(2026, 3, 10),
        appeal_within_days=10,
        appeal_decide_within_days=15,
    )
    dispute.decide_appeal(
        outcome="partly_upheld",
        points=5,
        reason="half",
        decided_by="appr-1",
        recorded_by="sup-1",
        current_points=20,
        today=date(2026, 3, 20),
    )
    return dispute


def an_adjustment() -> LedgerAggregate:
    adjustment = Adjustment.propose(
        manager_id="M1", period="2026Q1", points=-40, reason="late reports", proposed_by="sup-1"
    )
    adjustment.approve(reason="agreed", approved_by="appr-1")
    adjustment.reverse(reason="wrong manager", reversed_by="appr-2")
    return adjustment


def a_rule_book() -> LedgerAggregate:
    book = RuleBook.open()
    content = {"pay": {"r_stock": Decimal("0.02")}, "effective_from": date(2026, 1, 1)}
    book.draft(version="2026.1", effective_from=date(2026, 1, 1), content=content)
    book.publish("2026.1")
    return book


def a_closed_period() -> LedgerAggregate:
    period = Period.open("2026Q1")
    period.close(reason="quarter end", today=date(2026, 4, 1),
                 freeze=lambda: {"M1": {"actual_pay": Decimal("32365.00")}})
    return period


BUILDERS: list[Callable[[], LedgerAggregate]] = [
    a_manager,
    a_customer,
    a_contribution,
    a_deduction,
    a_dispute,
    an_adjustment,
    a_rule_book,
    a_closed_period,
]


@pytest.fixture
def mapper() -> Mapper[Any]:
    transcoder = JSONTranscoder()
    register_transcodings(transcoder)
    return Mapper(transcoder=transcoder)


def through_the_store(mapper: Mapper[Any], events: list[Any]) -> list[Any]:
    return [mapper.to_domain_event(mapper.to_stored_event(event)) for event in events]


@pytest.mark.parametrize("build", BUILDERS, ids=lambda b: b.__name__)
def test_every_event_created_or_later_carries_the_acting_principal(
    build: Callable[[], LedgerAggregate],
) -> None:
    with acting_as(SUPERVISOR):
        events = build().collect_events()
    # Creation events inherit the audit fields too, not only the later ones.
    assert isinstance(events[0], LedgerAggregate.Created)
    for event in events:
        assert isinstance(event, LedgerAggregate.Event)
        assert (event.actor, event.role, event.request_id) == ("sup-1", "supervisor", "req-41")


@pytest.mark.parametrize("build", BUILDERS, ids=lambda b: b.__name__)
def test_every_event_survives_the_store_unchanged(
    build: Callable[[], LedgerAggregate], mapper: Mapper[Any]
) -> None:
    with acting_as(INTEGRATOR):
        events = list(build().collect_events())
    # Reloading happens under another principal: stored audit fields must not be refilled.
    with acting_as(AuditContext("someone-else", "auditor", "req-99")):
        reloaded = through_the_store(mapper, events)
    assert reloaded == events
    for event in reloaded:
        audit = tuple(getattr(event, name) for name in AUDIT_FIELDS)
        assert audit == ("svc-credit", "integrator", "req-42", "credit", "D-9")


@pytest.mark.parametrize("build", BUILDERS, ids=lambda b: b.__name__)
def test_replaying_stored_events_rebuilds_the_same_aggregate(
    build: Callable[[], LedgerAggregate], mapper: Mapper[Any]
) -> None:
    live = build()
    events = list(live.collect_events())
    rebuilt: Any = None
    for event in through_the_store(mapper, events):
        rebuilt = event.mutate(rebuilt)
    assert rebuilt == live


def test_decimals_and_dates_come_back_as_decimals_and_dates(mapper: Mapper[Any]) -> None:
    with acting_as(INTEGRATOR):
        posted = a_contribution().collect_events()[0]
    (reloaded,) = through_the_store(mapper, [posted])
    assert reloaded.deposit_earnings == Decimal("-10.25")
    assert type(reloaded.deposit_earnings) is Decimal
    assert type(reloaded.booked_on) is date and reloaded.booked_on == date(2026, 2, 10)
    assert (reloaded.actor, reloaded.source_system, reloaded.external_id) == (
        "svc-credit",
        "credit",
        "D-9",
    )


def test_audit_fields_are_stored_in_the_event_state(mapper: Mapper[Any]) -> None:
    with acting_as(INTEGRATOR):
        recorded = a_deduction().collect_events()[0]
    state = mapper.to_stored_event(recorded).state.decode()
    for fragment in ('"actor":"svc-credit"', '"role":"integrator"', '"request_id":"req-42"'):
        assert fragment in state
    assert '"source_system":"credit"' in state and '"external_id":"D-9"' in state


def test_outside_any_request_events_are_attributed_to_the_system() -> None:
    assert current_audit().actor == "system"
    event = a_closed_period().collect_events()[0]
    assert isinstance(event, LedgerAggregate.Event)
    assert (event.actor, event.role, event.request_id) == ("system", "system", "-")


def test_audit_fields_cannot_be_supplied_by_a_command_only_by_the_context() -> None:
    with pytest.raises(TypeError):
        Period.Opened(  # type: ignore[call-arg]
            originator_id=uuid4(),
            originator_version=1,
            timestamp=Period.Opened.create_timestamp(),
            originator_topic="ledger.period:Period",
            period="2026Q1",
            actor="forged",
        )

"""The customer aggregate: registration and effective-dated holders."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from ledger.customer import Customer
from ledger.errors import InvalidInput, RuleViolation
from ledger.ids import customer_id


def c1(**overrides: object) -> Customer:
    fields: dict[str, object] = dict(
        business_id="C1",
        name="Acme Steel",
        customer_class="good",
        industry="steel",
        chain="metals",
        group="Acme Group",
        last_year_contribution=Decimal("400000"),
    )
    fields.update(overrides)
    return Customer.register(**fields)  # type: ignore[arg-type]


def names(customer: Customer) -> list[str]:
    return [type(e).__name__ for e in customer.pending_events]


def test_a_registered_customer_has_its_class_and_last_years_contribution() -> None:
    customer = c1()
    assert customer.id == customer_id("C1")
    assert customer.customer_class == "good"
    assert customer.last_year_contribution == Decimal("400000")
    assert customer.holder is None
    assert names(customer) == ["Registered"]


def test_a_customer_may_have_no_known_chain_or_group() -> None:
    customer = c1(chain=None, group=None)
    assert customer.group is None


def test_registration_refuses_an_unknown_class_and_a_negative_contribution() -> None:
    with pytest.raises(InvalidInput) as refused:
        c1(customer_class="vip", last_year_contribution=Decimal("-5"))
    assert set(refused.value.errors) == {"class", "last_year_contribution"}


def test_registration_refuses_a_float_contribution() -> None:
    with pytest.raises(InvalidInput) as refused:
        c1(last_year_contribution=400000.0)
    assert list(refused.value.errors) == ["last_year_contribution"]


def test_the_first_holder_is_assigned_and_later_ones_are_reassigned() -> None:
    customer = c1()
    customer.assign(manager_id="M1", effective_on=date(2026, 1, 1), reason="new customer")
    customer.assign(manager_id="M2", effective_on=date(2026, 2, 15), reason="rebalancing")
    assert names(customer) == ["Registered", "Assigned", "Reassigned"]
    reassigned = customer.pending_events[-1]
    assert reassigned.from_manager_id == "M1"  # type: ignore[attr-defined]
    assert customer.holder == "M2"


def test_the_holder_on_a_day_follows_the_effective_dates() -> None:
    customer = c1()
    customer.assign(manager_id="M1", effective_on=date(2026, 1, 1), reason="new customer")
    customer.assign(manager_id="M2", effective_on=date(2026, 2, 15), reason="rebalancing")
    assert customer.holder_on(date(2025, 12, 31)) is None
    assert customer.holder_on(date(2026, 2, 14)) == "M1"
    assert customer.holder_on(date(2026, 2, 15)) == "M2"


def test_a_customer_cannot_be_reassigned_to_its_current_holder() -> None:
    customer = c1()
    customer.assign(manager_id="M1", effective_on=date(2026, 1, 1), reason="new customer")
    with pytest.raises(RuleViolation) as refused:
        customer.assign(manager_id="M1", effective_on=date(2026, 3, 1), reason="again")
    assert refused.value.rule == "NewHolderDiffersFromCurrent"
    assert names(customer) == ["Registered", "Assigned"]


def test_a_reassignment_cannot_take_effect_before_the_latest_assignment() -> None:
    customer = c1()
    customer.assign(manager_id="M1", effective_on=date(2026, 2, 1), reason="new customer")
    with pytest.raises(RuleViolation) as refused:
        customer.assign(manager_id="M2", effective_on=date(2026, 1, 31), reason="backdated")
    assert refused.value.rule == "ChangesTakeEffectInOrder"


def test_a_reassignment_may_take_effect_on_the_same_day_as_the_latest() -> None:
    customer = c1()
    customer.assign(manager_id="M1", effective_on=date(2026, 2, 1), reason="new customer")
    customer.assign(manager_id="M2", effective_on=date(2026, 2, 1), reason="correction")
    assert customer.holder_on(date(2026, 2, 1)) == "M2"


def test_an_assignment_needs_a_manager_a_date_and_a_reason() -> None:
    with pytest.raises(InvalidInput) as refused:
        c1().assign(manager_id="", effective_on=None, reason=" ")  # type: ignore[arg-type]
    assert set(refused.value.errors) == {"manager_id", "effective_on", "reason"}

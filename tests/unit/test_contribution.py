"""The contribution aggregate: one posting per source record."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from ledger.audit import AuditContext, acting_as
from ledger.contribution import Contribution
from ledger.errors import InvalidInput
from ledger.ids import contribution_id


def post(**overrides: object) -> Contribution:
    fields: dict[str, object] = dict(
        customer_id="C1",
        booked_on=date(2026, 2, 10),
        interest_income=Decimal("100000.00"),
        deposit_earnings=Decimal("15000.00"),
        fee_income=Decimal("5000.00"),
        source_system="core",
        external_id="TX-1",
    )
    fields.update(overrides)
    return Contribution.post(**fields)  # type: ignore[arg-type]


def test_a_posting_is_identified_by_its_source_keys() -> None:
    posting = post()
    assert posting.id == contribution_id("core", "TX-1")
    assert post().id == posting.id
    assert [type(e).__name__ for e in posting.pending_events] == ["Posted"]


def test_risk_cost_defaults_to_zero_and_the_amount_may_be_risk_adjusted() -> None:
    posting = post(risk_cost=Decimal("20000.00"))
    assert post().risk_cost == Decimal("0")
    assert posting.amount(risk_adjusted=False) == Decimal("120000.00")
    assert posting.amount(risk_adjusted=True) == Decimal("100000.00")


def test_a_reversal_may_carry_negative_income() -> None:
    reversal = post(interest_income=Decimal("-100000.00"), external_id="TX-1-REV")
    assert reversal.amount(risk_adjusted=False) == Decimal("-80000.00")


def test_risk_cost_cannot_be_negative() -> None:
    with pytest.raises(InvalidInput) as refused:
        post(risk_cost=Decimal("-1"))
    assert list(refused.value.errors) == ["risk_cost"]


def test_amounts_must_be_decimals_with_at_most_two_places() -> None:
    with pytest.raises(InvalidInput) as refused:
        post(interest_income=1.5, deposit_earnings=Decimal("0.001"), fee_income="5")
    assert set(refused.value.errors) == {"interest_income", "deposit_earnings", "fee_income"}


def test_a_posting_without_an_external_id_is_refused() -> None:
    with pytest.raises(InvalidInput) as refused:
        post(external_id="", source_system=None)
    assert set(refused.value.errors) == {"external_id", "source_system"}


def test_the_postings_own_source_keys_are_its_audit_source_keys() -> None:
    with acting_as(AuditContext("svc-core", "integrator", "req-7", "other", "other-id")):
        event = post().pending_events[0]
    assert isinstance(event, Contribution.Posted)
    assert (event.source_system, event.external_id) == ("core", "TX-1")
    assert event.actor == "svc-core"

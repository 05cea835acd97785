"""Input checks shared by commands: money, text, dates, bounds, storable objects."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pytest

from ledger.errors import InvalidInput
from ledger.rules import MAX_TEXT, FieldErrors


def problems(fill: FieldErrors) -> dict[str, list[str]]:
    with pytest.raises(InvalidInput) as refused:
        fill.raise_if_any()
    return refused.value.errors


def test_no_problems_means_no_refusal() -> None:
    errors = FieldErrors()
    errors.money("amount", Decimal("12.50"))
    errors.text("reason", "because")
    errors.day("on", date(2026, 1, 1))
    errors.raise_if_any()


def test_every_problem_is_listed_not_only_the_first() -> None:
    errors = FieldErrors()
    errors.money("amount", 1.5)
    errors.text("reason", "  ")
    errors.identifier("id", "")
    assert set(problems(errors)) == {"amount", "reason", "id"}


@pytest.mark.parametrize(
    "amount",
    [1.5, 1, "1.00", Decimal("NaN"), Decimal("Infinity"), Decimal("1.005"), Decimal("1e15")],
)
def test_money_must_be_a_finite_decimal_with_at_most_two_places(amount: object) -> None:
    errors = FieldErrors()
    errors.money("amount", amount, negative_allowed=True)
    assert list(problems(errors)) == ["amount"]


def test_trailing_zeros_beyond_two_places_do_not_make_an_amount_invalid() -> None:
    errors = FieldErrors()
    errors.money("amount", Decimal("1.500"))
    errors.raise_if_any()


def test_negative_money_is_refused_unless_allowed() -> None:
    errors = FieldErrors()
    errors.money("risk_cost", Decimal("-1"))
    assert list(problems(errors)) == ["risk_cost"]
    allowed = FieldErrors()
    allowed.money("fee_income", Decimal("-1"), negative_allowed=True)
    allowed.raise_if_any()


def test_a_datetime_is_not_accepted_as_a_date() -> None:
    errors = FieldErrors()
    errors.day("effective_on", datetime(2026, 1, 1))
    assert list(problems(errors)) == ["effective_on"]


def test_text_is_bounded() -> None:
    errors = FieldErrors()
    errors.text("reason", "x" * (MAX_TEXT + 1))
    assert list(problems(errors)) == ["reason"]


def test_a_boolean_is_not_a_whole_number() -> None:
    errors = FieldErrors()
    errors.whole_number("occurrences", True, minimum=1, maximum=10)
    assert list(problems(errors)) == ["occurrences"]


def test_stored_objects_refuse_floats_anywhere_inside() -> None:
    errors = FieldErrors()
    errors.mapping("content", {"pay": {"r_stock": 0.02}})
    assert list(problems(errors)) == ["content"]
    fine = FieldErrors()
    fine.mapping("content", {"pay": {"r_stock": "0.02", "rates": [Decimal("0.05"), 1, None]}})
    fine.raise_if_any()


def test_evidence_references_are_a_bounded_list_of_non_blank_strings() -> None:
    errors = FieldErrors()
    errors.references("evidence", ["doc-1", " "])
    assert list(problems(errors)) == ["evidence"]
    too_many = FieldErrors()
    too_many.references("evidence", [f"doc-{i}" for i in range(51)])
    assert list(problems(too_many)) == ["evidence"]


def test_a_period_check_returns_the_canonical_quarter_or_records_the_problem() -> None:
    errors = FieldErrors()
    assert errors.period("period", "2026Q2") == "2026Q2"
    assert errors.period("period", "2026-04") == ""
    assert list(problems(errors)) == ["period"]

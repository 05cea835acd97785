"""Grade changes against the portfolio, and base salary by days at each grade (DESIGN §16)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from ledger.calculation.pay import base_salary_by_days
from ledger.errors import RuleViolation
from ledger.manager import Manager
from ledger.ruleset_document import default_document, parse_ruleset

RULES = parse_ruleset(default_document())


def manager_a() -> Manager:
    return Manager.register(business_id="M2", name="Zhang Min", grade="A", unit="Branch 1")


def test_a_grade_below_the_requirement_is_refused_while_premium_customers_are_held() -> None:
    with pytest.raises(RuleViolation) as refused:
        manager_a().change_grade(grade="B", effective_on=date(2026, 2, 1), reason="review",
                                 premium_requires_grade="A", premium_customers=("C4", "C5"))
    assert refused.value.rule == "GradeKeepsThePremiumCustomersHeld"
    assert "C4, C5" in refused.value.detail


def test_without_premium_customers_or_requirement_the_grade_may_fall() -> None:
    for required, held in (("A", ()), (None, ("C4",))):
        manager = manager_a()
        manager.change_grade(grade="C", effective_on=date(2026, 2, 1), reason="review",
                             premium_requires_grade=required, premium_customers=held)
        assert manager.grade_on(date(2026, 2, 1)) == "C"


def test_base_salary_is_each_grades_salary_for_its_days() -> None:
    assert base_salary_by_days(RULES, (("B", 45), ("A", 45))) == Decimal("31500")
    assert base_salary_by_days(RULES, (("B", 90),)) == Decimal("27000")
    # 30 days at C and 61 at A of a 91-day quarter: not rounded until the pay figure.
    exact = base_salary_by_days(RULES, (("C", 30), ("A", 61)))
    assert exact.quantize(Decimal("0.01")) == Decimal("31054.95")


def test_a_grade_without_a_base_salary_is_refused() -> None:
    with pytest.raises(ValueError, match="no base salary"):
        base_salary_by_days(RULES, (("Z", 90),))

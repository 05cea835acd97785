"""Unit tests of the portfolio policy rules checked on every assignment (DESIGN §3.4)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest

from ledger.calculation.portfolio_policy import (
    Assignment,
    OneGroupOnePortfolio,
    PolicyRefusal,
    PolicyWarning,
    PremiumCustomersNeedTheRequiredGrade,
    SpanOfControl,
    check_assignment,
)
from ledger.ruleset_document import RuleSetDocument, load_default

RULES = load_default()
Holdings = Mapping[str, Sequence[tuple[str, str | None]]]

# Four managers and eight customers: the average is 2, so the span limit is 1.5 × 2 = 3.
BALANCED: Holdings = {
    "M1": [("C1", "G1"), ("C2", None)],
    "M2": [("C3", "G2"), ("C4", None)],
    "M3": [("C5", None), ("C6", None)],
    "M4": [("C7", None), ("C8", None)],
}


def portfolio_rules(**changes: Any) -> RuleSetDocument:
    return replace(RULES, portfolio=replace(RULES.portfolio, **changes))


def check(
    rules: RuleSetDocument = RULES,
    *,
    customer_id: str = "C9",
    customer_class: str = "good",
    customer_group: str | None = None,
    manager_grade: str = "B",
    manager_id: str = "M3",
    holdings: Holdings = BALANCED,
    active_managers: int = 4,
) -> list[PolicyWarning]:
    return check_assignment(
        rules,
        customer_id=customer_id,
        customer_class=customer_class,
        customer_group=customer_group,
        manager_grade=manager_grade,
        manager_id=manager_id,
        holdings_by_manager=holdings,
        active_managers=active_managers,
    )


def test_an_ordinary_assignment_passes_without_warnings() -> None:
    assert check() == []


@pytest.mark.parametrize("grade", ["B", "C"])
def test_a_premium_customer_is_refused_to_a_manager_below_grade_a(grade: str) -> None:
    with pytest.raises(PolicyRefusal) as refused:
        check(customer_class="premium", manager_grade=grade)
    assert refused.value.rule == "PremiumCustomersNeedTheRequiredGrade"
    assert "grade-A" in refused.value.detail


def test_a_premium_customer_may_go_to_a_grade_a_manager() -> None:
    assert check(customer_class="premium", manager_grade="A") == []


def test_a_rule_set_requiring_grade_b_admits_a_and_b_but_refuses_c() -> None:
    rules = portfolio_rules(premium_requires_grade="B")
    assert check(rules, customer_class="premium", manager_grade="A") == []
    assert check(rules, customer_class="premium", manager_grade="B") == []
    with pytest.raises(PolicyRefusal):
        check(rules, customer_class="premium", manager_grade="C")


def test_a_rule_set_without_a_premium_grade_admits_any_manager() -> None:
    rules = portfolio_rules(premium_requires_grade=None)
    assert check(rules, customer_class="premium", manager_grade="C") == []


def test_non_premium_customers_may_go_to_any_grade() -> None:
    assert check(customer_class="doubtful", manager_grade="C") == []


def test_splitting_a_group_across_portfolios_warns() -> None:
    warnings = check(customer_group="G1")
    assert [(w.code, w.rule) for w in warnings] == [("group_split", "OneGroupOnePortfolio")]
    assert "M1" in warnings[0].message


def test_joining_the_portfolio_that_holds_the_group_does_not_warn() -> None:
    assert check(customer_group="G1", manager_id="M1") == []


def test_moving_the_groups_only_customer_does_not_count_it_against_itself() -> None:
    assert check(customer_id="C3", customer_group="G2", manager_id="M3") == []


def test_a_rule_set_that_refuses_group_splits_refuses_the_assignment() -> None:
    with pytest.raises(PolicyRefusal) as refused:
        check(portfolio_rules(group_split="refuse"), customer_group="G1")
    assert refused.value.rule == "OneGroupOnePortfolio"


def test_a_rule_set_with_group_split_off_says_nothing() -> None:
    assert check(portfolio_rules(group_split="off"), customer_group="G1") == []


def test_a_customer_without_a_group_is_never_a_group_split() -> None:
    assert check(customer_group=None, holdings={"M1": [("C1", None)]}) == []


def test_a_group_split_warning_names_a_bounded_number_of_managers() -> None:
    holdings = {f"M{i}": [(f"C{i}", "G1")] for i in range(10)}
    warnings = check(
        customer_id="C99", customer_group="G1", manager_id="M99", holdings=holdings,
        active_managers=20,
    )
    assert warnings[0].message.count("M") <= 6
    assert "and 5 more" in warnings[0].message


def test_a_manager_above_the_span_of_control_after_the_move_warns() -> None:
    crowded = {**BALANCED, "M3": [("C5", None), ("C6", None), ("C9", None)]}
    warnings = check(customer_id="C10", holdings=crowded)
    # Ten customers over four managers: the limit is 1.5 × 2.5 = 3.75; M3 would hold 4.
    assert [(w.code, w.rule) for w in warnings] == [("span_of_control", "SpanOfControl")]
    assert "would hold 4" in warnings[0].message


def test_a_manager_exactly_at_the_span_limit_does_not_warn() -> None:
    # Nine customers over four managers: the limit is 1.5 × 2.25 = 3.375; M3 would hold 3.
    assert check(customer_id="C9", manager_id="M3") == []


def test_reassigning_a_customer_a_manager_already_holds_does_not_count_it_twice() -> None:
    full = {"M1": [("C1", None), ("C2", None), ("C3", None)], "M2": [("C4", None)]}
    # Four customers over two managers: the limit is 3; M1 holds 3 before and after.
    assert check(customer_id="C3", manager_id="M1", holdings=full, active_managers=2) == []


def test_holding_no_more_than_a_perfectly_balanced_share_never_warns() -> None:
    # Two customers over four managers: 1.5 × 0.5 = 0.75, but someone must hold one.
    assert check(manager_id="M1", holdings={"M1": [("C1", None)]}, active_managers=4) == [
        PolicyWarning(
            "span_of_control",
            "SpanOfControl",
            "M1 would hold 2 customers, above 1.5 × 2 customers ÷ 4 managers",
        )
    ]
    assert check(manager_id="M2", holdings={"M1": [("C1", None)]}, active_managers=4) == []


def test_a_rule_set_without_a_span_factor_never_warns_on_span() -> None:
    rules = portfolio_rules(span_factor=None)
    assert check(rules, manager_id="M1", holdings={"M1": [("C1", None)]}, active_managers=5) == []


def test_a_stricter_span_factor_warns_sooner() -> None:
    # Moving C2 from M1 to M3: still eight customers over four managers, and M3 would hold 3,
    # which is the limit at 1.5 × 2 but above it at 1 × 2.
    assert check(customer_id="C2", manager_id="M3") == []
    rules = portfolio_rules(span_factor=Decimal("1"))
    warnings = check(rules, customer_id="C2", manager_id="M3")
    assert [w.code for w in warnings] == ["span_of_control"]


def test_several_warnings_are_reported_together() -> None:
    crowded = {**BALANCED, "M3": [("C5", None), ("C6", None), ("C9", None)]}
    warnings = check(customer_id="C10", customer_group="G1", holdings=crowded)
    assert [w.code for w in warnings] == ["group_split", "span_of_control"]


def test_a_refusal_comes_before_any_warning() -> None:
    with pytest.raises(PolicyRefusal) as refused:
        check(customer_class="premium", customer_group="G1", manager_grade="C")
    assert refused.value.rule == "PremiumCustomersNeedTheRequiredGrade"


def test_each_rule_can_be_checked_alone() -> None:
    assignment = Assignment("C9", "premium", "G1", "A", "M3", BALANCED, 4)
    assert PremiumCustomersNeedTheRequiredGrade().check(RULES.portfolio, assignment) is None
    assert OneGroupOnePortfolio().check(RULES.portfolio, assignment) is not None
    assert SpanOfControl().check(RULES.portfolio, assignment) is None


def test_an_unknown_grade_or_no_active_manager_is_a_programming_error() -> None:
    with pytest.raises(ValueError):
        check(manager_grade="Z")
    with pytest.raises(ValueError):
        check(active_managers=0)

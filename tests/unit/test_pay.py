"""Unit tests of stock task, actual contribution and pay (DESIGN §3.3), with the §4 example."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.calculation.pay import (
    Holding,
    PayFigure,
    Posting,
    actual,
    attribute,
    days_held,
    holder_on_from,
    pay_exact,
    pay_for,
    performance_pay,
    stock_task,
)
from ledger.ruleset_document import RuleSetDocument, load_default

RULES = load_default()
Q1_FIRST, Q1_LAST = date(2026, 1, 1), date(2026, 3, 31)  # 90 days
D = Decimal


def held_all_quarter(customer_id: str, last_year: str) -> Holding:
    return Holding(customer_id, D(last_year), date(2025, 7, 1), None)


def posting(customer_id: str, amount: str, booked_on: date = date(2026, 2, 10),
            risk_cost: str = "0") -> Posting:
    # The whole amount as interest keeps the examples short; the three heads are summed anyway.
    return Posting(customer_id, booked_on, D(amount), D(0), D(0), D(risk_cost))


WORKED_HOLDINGS = [
    held_all_quarter("C1", "400000"),
    held_all_quarter("C2", "200000"),
    held_all_quarter("C3", "150000"),
]
WORKED_POSTINGS = [posting("C1", "120000"), posting("C2", "60000"), posting("C3", "70000")]


def worked_pay(score: int) -> PayFigure:
    return pay_for(RULES, "B", WORKED_HOLDINGS, WORKED_POSTINGS, D("50000"), score,
                   Q1_FIRST, Q1_LAST)


def with_risk_adjustment() -> RuleSetDocument:
    return replace(RULES, pay=replace(RULES.pay, risk_adjusted=True))


def test_the_worked_example_pays_32365_at_a_score_of_740() -> None:
    figure = worked_pay(740)
    assert figure.stock_task == D("187500.00")
    assert figure.incremental_task == D("50000.00")
    assert figure.target == D("237500.00")
    assert figure.actual == D("250000.00")
    assert figure.performance_pay == D("7250.00")
    assert figure.base_salary == D("27000.00")
    assert figure.actual_pay == D("32365.00")
    assert figure.score == 740
    assert figure.ruleset_version == "2026.1"


def test_the_worked_example_pays_33815_once_s3_is_voided_and_the_score_is_940() -> None:
    assert worked_pay(940).actual_pay == D("33815.00")


def test_every_pay_figure_carries_exactly_two_decimal_places() -> None:
    figure = worked_pay(740)
    for value in (figure.base_salary, figure.stock_task, figure.target, figure.actual_pay):
        assert value.as_tuple().exponent == -2


def test_the_explanation_shows_each_customers_share_and_each_band() -> None:
    lines = {line.label: line.amount for line in worked_pay(740).lines}
    assert lines["stock_task.C1"] == D("100000")
    assert lines["performance_pay.stock"] == D("3750")
    assert lines["performance_pay.incremental"] == D("2500")
    assert lines["performance_pay.over"] == D("1000")


def test_a_customer_held_all_quarter_is_held_every_day_of_it() -> None:
    assert days_held(held_all_quarter("C1", "1"), Q1_FIRST, Q1_LAST) == 90


def test_held_to_is_exclusive_so_the_day_of_a_move_belongs_to_the_new_holder() -> None:
    old = Holding("C1", D(1), date(2025, 1, 1), date(2026, 2, 15))
    new = Holding("C1", D(1), date(2026, 2, 15), None)
    assert days_held(old, Q1_FIRST, Q1_LAST) == 45  # 1 January to 14 February
    assert days_held(new, Q1_FIRST, Q1_LAST) == 45  # 15 February to 31 March
    assert not old.holds_on(date(2026, 2, 15)) and new.holds_on(date(2026, 2, 15))


def test_a_holding_outside_the_period_holds_no_days_of_it() -> None:
    before = Holding("C1", D(1), date(2025, 1, 1), date(2026, 1, 1))
    after = Holding("C1", D(1), date(2026, 4, 1), None)
    assert days_held(before, Q1_FIRST, Q1_LAST) == 0
    assert days_held(after, Q1_FIRST, Q1_LAST) == 0


def test_a_customer_held_half_the_quarter_counts_half_its_quarterly_share() -> None:
    half = Holding("C1", D("400000"), date(2026, 2, 15), None)
    assert stock_task([half], Q1_FIRST, Q1_LAST) == D("50000")


def test_the_stock_task_is_not_rounded() -> None:
    one_day = Holding("C1", D("1000"), date(2026, 3, 31), None)
    exact = stock_task([one_day], Q1_FIRST, Q1_LAST)
    assert exact.quantize(D("1e-20")) == D("2.77777777777777777778")
    assert exact != exact.quantize(D("0.01"))


def test_a_moved_customers_shares_add_up_to_the_full_quarterly_share() -> None:
    old = Holding("C1", D("400000"), date(2025, 1, 1), date(2026, 1, 20))
    new = Holding("C1", D("400000"), date(2026, 1, 20), None)
    total = stock_task([old], Q1_FIRST, Q1_LAST) + stock_task([new], Q1_FIRST, Q1_LAST)
    assert total.quantize(D("0.01")) == D("100000.00")


def test_a_holding_must_end_after_it_starts() -> None:
    with pytest.raises(ValueError):
        Holding("C1", D(1), date(2026, 2, 1), date(2026, 2, 1))


def test_money_given_as_a_float_is_refused() -> None:
    with pytest.raises(TypeError):
        Posting("C1", Q1_FIRST, 1.5, D(0), D(0))  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Holding("C1", 400000.0, Q1_FIRST)  # type: ignore[arg-type]


def test_actual_sums_interest_deposit_and_fee_income() -> None:
    postings = [Posting("C1", Q1_FIRST, D("100.10"), D("20.20"), D("3.30"), D("50"))]
    assert actual(postings, RULES.pay) == D("123.60")


def test_risk_cost_is_deducted_only_when_the_rule_set_is_risk_adjusted() -> None:
    postings = [posting("C1", "1000", risk_cost="300"), posting("C2", "500", risk_cost="100")]
    assert actual(postings, RULES.pay) == D("1500")
    assert actual(postings, with_risk_adjustment().pay) == D("1100")


def test_a_risk_adjusted_rule_set_pays_on_the_net_contribution() -> None:
    postings = [posting("C1", "250000", risk_cost="50000")]
    holdings = [held_all_quarter("C1", "750000")]
    figure = pay_for(with_risk_adjustment(), "B", holdings, postings, D("50000"), 1000,
                     Q1_FIRST, Q1_LAST)
    assert figure.actual == D("200000.00")
    assert figure.performance_pay == D("3750.00") + D("0.05") * D("12500")


def test_when_actual_falls_below_the_stock_task_only_the_stock_band_pays() -> None:
    assert performance_pay(RULES.pay, D("150000"), D("187500"), D("50000")) == D("3000")


def test_a_negative_excess_over_the_stock_task_pays_nothing_in_the_upper_bands() -> None:
    stock_only = performance_pay(RULES.pay, D("187500"), D("187500"), D("50000"))
    below = performance_pay(RULES.pay, D("187499"), D("187500"), D("50000"))
    assert stock_only == D("3750")
    assert below == D("0.02") * D("187499")


def test_actual_between_stock_and_target_pays_the_incremental_band_on_the_excess() -> None:
    assert performance_pay(RULES.pay, D("200000"), D("187500"), D("50000")) == D("3750") + D("625")


def test_a_negative_incremental_task_is_refused() -> None:
    with pytest.raises(ValueError):
        performance_pay(RULES.pay, D(1), D(1), D(-1))


def test_rounding_half_up_happens_once_at_the_end() -> None:
    # S = A = 12345.25 and score 500: exact performance pay 246.905, exact actual pay
    # 27000 + 123.4525 = 27123.4525 → 27123.45. Rounding the performance pay first
    # (246.91) would give 27000 + 123.455 → 27123.46, one cent more.
    holdings = [held_all_quarter("C1", "49381")]
    postings = [posting("C1", "12345.25")]
    figure = pay_for(RULES, "B", holdings, postings, D(0), 500, Q1_FIRST, Q1_LAST)
    assert figure.performance_pay == D("246.91")  # half-up: half-even would give 246.90
    assert figure.actual_pay == D("27123.45")
    rounded_first = D("27000") + figure.performance_pay * D(500) / D(1000)
    assert rounded_first.quantize(D("0.01"), rounding=ROUND_HALF_UP) == D("27123.46")


def test_the_exact_path_keeps_every_digit() -> None:
    holdings = [held_all_quarter("C1", "49381")]
    exact = pay_exact(RULES, "B", holdings, [posting("C1", "12345.25")], D(0), 500,
                      Q1_FIRST, Q1_LAST)
    assert exact.performance_pay == D("246.905")
    assert exact.actual_pay == D("27123.4525")


def test_postings_booked_outside_the_period_are_left_out() -> None:
    postings = [posting("C1", "1000"), posting("C1", "999", booked_on=date(2026, 4, 1))]
    figure = pay_for(RULES, "A", [], postings, D(0), 1000, Q1_FIRST, Q1_LAST)
    assert figure.actual == D("1000.00")


def test_an_unknown_grade_has_no_base_salary() -> None:
    with pytest.raises(ValueError):
        pay_for(RULES, "D", [], [], D(0), 1000, Q1_FIRST, Q1_LAST)


def test_a_score_outside_zero_to_base_is_refused() -> None:
    with pytest.raises(ValueError):
        pay_for(RULES, "A", [], [], D(0), 1001, Q1_FIRST, Q1_LAST)


def test_a_score_of_zero_leaves_only_the_base_salary() -> None:
    assert worked_pay(0).actual_pay == D("27000.00")


def test_a_posting_counts_for_whoever_held_the_customer_on_its_booking_day() -> None:
    holder_on = holder_on_from({
        "M1": [Holding("C1", D(1), date(2025, 1, 1), date(2026, 2, 15))],
        "M2": [Holding("C1", D(1), date(2026, 2, 15), None)],
    })
    on_14th = posting("C1", "10", booked_on=date(2026, 2, 14))
    on_15th = posting("C1", "20", booked_on=date(2026, 2, 15))
    assert attribute([on_14th, on_15th], holder_on, "M1") == [on_14th]
    assert attribute([on_14th, on_15th], holder_on, "M2") == [on_15th]


def test_a_posting_for_a_customer_nobody_held_counts_for_nobody() -> None:
    holder_on = holder_on_from({"M1": []})
    assert attribute([posting("C9", "10")], holder_on, "M1") == []


def test_overlapping_holdings_of_one_customer_are_refused() -> None:
    holder_on = holder_on_from({
        "M1": [Holding("C1", D(1), date(2026, 1, 1), None)],
        "M2": [Holding("C1", D(1), date(2026, 2, 1), None)],
    })
    with pytest.raises(ValueError):
        holder_on("C1", date(2026, 2, 10))


money = st.decimals(min_value=0, max_value=10_000_000, places=2)


@given(stock=money, incremental=money, lower=money, extra=money)
def test_performance_pay_never_falls_as_actual_rises(
    stock: Decimal, incremental: Decimal, lower: Decimal, extra: Decimal
) -> None:
    low = performance_pay(RULES.pay, lower, stock, incremental)
    high = performance_pay(RULES.pay, lower + extra, stock, incremental)
    assert high >= low

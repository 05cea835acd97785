"""Stock task, actual contribution and pay of one manager for one period (DESIGN §3.3).

Every value is computed exactly (Decimal, 50 significant digits, no quantizing) along one
internal path, `pay_exact`; only `pay_for` rounds, half-up to 0.01, once per reported
figure. Each reported figure is rounded from the exact value, never from another rounded
figure, so e.g. actual_pay may differ by a cent from "base + rounded performance pay × score".

Holding intervals are half-open: a customer is held on every day d with
held_from <= d < held_to (held_to None = still held). A reassignment effective on d thus
ends the old holding at d and starts the new one at d, and day d belongs to the new holder.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import (
    ROUND_HALF_EVEN,
    ROUND_HALF_UP,
    Context,
    Decimal,
    DivisionByZero,
    InvalidOperation,
    Overflow,
    localcontext,
)

from ledger.ruleset_document import PayRules, RuleSetDocument

QUARTERS_PER_YEAR = 4
"""Periods are calendar quarters, so a quarter's share of last year's contribution is ¼."""

CENT = Decimal("0.01")
ZERO = Decimal(0)

# One fixed context for every computation, so that figures never depend on whatever decimal
# context the calling thread happens to have; 50 digits keep divisions far below a cent.
_EXACT = Context(
    prec=50, rounding=ROUND_HALF_EVEN, traps=[InvalidOperation, DivisionByZero, Overflow]
)


def _require_decimal(name: str, value: object) -> None:
    # A float here would mean money passed through binary floating point somewhere upstream.
    if not isinstance(value, Decimal):
        raise TypeError(f"{name} must be a Decimal, not {type(value).__name__}")
    if not value.is_finite():
        raise ValueError(f"{name} must be finite")


@dataclass(frozen=True)
class Holding:
    """Manager's holding of a customer over [held_from, held_to); held_to None = open-ended."""

    customer_id: str
    last_year_contribution: Decimal
    held_from: date
    held_to: date | None = None

    def __post_init__(self) -> None:
        _require_decimal("last_year_contribution", self.last_year_contribution)
        if self.held_to is not None and self.held_to <= self.held_from:
            raise ValueError("held_to must be after held_from (the interval is [from, to))")

    def holds_on(self, day: date) -> bool:
        return self.held_from <= day and (self.held_to is None or day < self.held_to)


@dataclass(frozen=True)
class Posting:
    """One contribution posting for a customer, booked on a business date."""

    customer_id: str
    booked_on: date
    interest_income: Decimal
    deposit_earnings: Decimal
    fee_income: Decimal
    risk_cost: Decimal = ZERO

    def __post_init__(self) -> None:
        for name in ("interest_income", "deposit_earnings", "fee_income", "risk_cost"):
            _require_decimal(name, getattr(self, name))


@dataclass(frozen=True)
class PayLine:
    """One step of the explanation; `amount` is exact (unrounded)."""

    label: str
    amount: Decimal
    detail: str


@dataclass(frozen=True)
class ExactPay:
    """The unrounded figures from which PayFigure is rounded."""

    ruleset_version: str
    base_salary: Decimal
    stock_task: Decimal
    incremental_task: Decimal
    target: Decimal
    actual: Decimal
    performance_pay: Decimal
    score: int
    actual_pay: Decimal
    lines: tuple[PayLine, ...]


@dataclass(frozen=True)
class PayFigure:
    """Pay figures rounded half-up to 0.01, each from its exact value; score is as given."""

    ruleset_version: str
    base_salary: Decimal
    stock_task: Decimal
    incremental_task: Decimal
    target: Decimal
    actual: Decimal
    performance_pay: Decimal
    score: int
    actual_pay: Decimal
    lines: tuple[PayLine, ...]


def days_in(first_day: date, last_day: date) -> int:
    """Days in the period [first_day, last_day], both inclusive."""
    if last_day < first_day:
        raise ValueError("last_day must not be before first_day")
    return (last_day - first_day).days + 1


def days_held(holding: Holding, first_day: date, last_day: date) -> int:
    """Days of [first_day, last_day] (inclusive) on which the holding holds the customer."""
    days_in(first_day, last_day)
    start = max(holding.held_from, first_day)
    end = last_day + timedelta(days=1)
    if holding.held_to is not None:
        end = min(end, holding.held_to)
    return max((end - start).days, 0)


def stock_task(holdings: Iterable[Holding], first_day: date, last_day: date) -> Decimal:
    """Σ (last-year contribution ÷ 4) × (days held ÷ days in period); exact, not rounded."""
    period_days = days_in(first_day, last_day)
    with localcontext(_EXACT):
        # One division per holding, after the multiplication, keeps whole results exact.
        return sum(
            (
                h.last_year_contribution * days_held(h, first_day, last_day)
                / (QUARTERS_PER_YEAR * period_days)
                for h in holdings
            ),
            ZERO,
        )


def posting_amount(posting: Posting, pay_rules: PayRules) -> Decimal:
    """Interest + deposit + fee, net of risk cost when the rule set is risk-adjusted."""
    with localcontext(_EXACT):
        gross = posting.interest_income + posting.deposit_earnings + posting.fee_income
        return gross - posting.risk_cost if pay_rules.risk_adjusted else gross


def actual(postings: Iterable[Posting], pay_rules: PayRules) -> Decimal:
    """Σ of the postings' amounts; the caller has attributed and selected them."""
    with localcontext(_EXACT):
        return sum((posting_amount(p, pay_rules) for p in postings), ZERO)


def performance_bands(
    pay_rules: PayRules, actual_amount: Decimal, stock: Decimal, incremental: Decimal
) -> tuple[Decimal, Decimal, Decimal]:
    """(r_stock × min(A, S), r_incr × min(max(A − S, 0), I), r_over × max(A − T, 0))."""
    if incremental < 0:
        raise ValueError("incremental task must not be negative")
    with localcontext(_EXACT):
        target = stock + incremental
        stock_band = pay_rules.r_stock * min(actual_amount, stock)
        incr_band = pay_rules.r_incr * min(max(actual_amount - stock, ZERO), incremental)
        over_band = pay_rules.r_over * max(actual_amount - target, ZERO)
        return stock_band, incr_band, over_band


def performance_pay(
    pay_rules: PayRules, actual_amount: Decimal, stock: Decimal, incremental: Decimal
) -> Decimal:
    """Target-task + incremental-task + over-increment income; exact, not rounded."""
    with localcontext(_EXACT):
        return sum(performance_bands(pay_rules, actual_amount, stock, incremental), ZERO)


def attribute(
    postings: Iterable[Posting],
    holder_on: Callable[[str, date], str | None],
    manager_id: str,
) -> list[Posting]:
    """The postings that count for `manager_id`: its customer was theirs on the booking day."""
    return [p for p in postings if holder_on(p.customer_id, p.booked_on) == manager_id]


def holder_on_from(
    holdings_by_manager: Mapping[str, Sequence[Holding]],
) -> Callable[[str, date], str | None]:
    """A `holder_on` for `attribute`, answering from holdings; refuses overlapping holdings."""

    def holder_on(customer_id: str, day: date) -> str | None:
        holders = {
            manager_id
            for manager_id, holdings in holdings_by_manager.items()
            for h in holdings
            if h.customer_id == customer_id and h.holds_on(day)
        }
        if len(holders) > 1:
            raise ValueError(f"customer {customer_id} held by several managers on {day}")
        return next(iter(holders), None)

    return holder_on


def _stock_lines(holdings: Sequence[Holding], first_day: date, last_day: date) -> list[PayLine]:
    period_days = days_in(first_day, last_day)
    lines = []
    for h in holdings:
        held = days_held(h, first_day, last_day)
        share = stock_task([h], first_day, last_day)
        detail = f"{h.last_year_contribution} ÷ {QUARTERS_PER_YEAR} × {held}/{period_days} days"
        lines.append(PayLine(f"stock_task.{h.customer_id}", share, detail))
    return lines


def _band_lines(rules: PayRules, bands: tuple[Decimal, Decimal, Decimal]) -> list[PayLine]:
    stock_band, incr_band, over_band = bands
    incr_detail = f"r_incr {rules.r_incr} × min(max(A − S, 0), I)"
    return [
        PayLine("performance_pay.stock", stock_band, f"r_stock {rules.r_stock} × min(A, S)"),
        PayLine("performance_pay.incremental", incr_band, incr_detail),
        PayLine("performance_pay.over", over_band, f"r_over {rules.r_over} × max(A − T, 0)"),
    ]


def _in_period(postings: Sequence[Posting], first_day: date, last_day: date) -> list[Posting]:
    return [p for p in postings if first_day <= p.booked_on <= last_day]


def pay_exact(
    rules: RuleSetDocument,
    grade: str,
    holdings: Sequence[Holding],
    postings_attributed: Sequence[Posting],
    incremental: Decimal,
    score: int,
    first_day: date,
    last_day: date,
    grade_days: Sequence[tuple[str, int]] = (),
) -> ExactPay:
    """The unrounded pay path; postings booked outside [first_day, last_day] are left out.

    `grade_days` gives the days of the period at each grade (DESIGN §16); without it the
    whole period is at `grade`.
    """
    _require_decimal("incremental", incremental)
    if grade not in rules.pay.base_salary:
        raise ValueError(f"no base salary for grade {grade!r}")
    if not 0 <= score <= rules.score.base:
        raise ValueError(f"score must be between 0 and {rules.score.base}")
    in_period = _in_period(postings_attributed, first_day, last_day)
    base_salary = base_salary_by_days(rules, grade_days or ((grade, 1),))
    stock = stock_task(holdings, first_day, last_day)
    achieved = actual(in_period, rules.pay)
    bands = performance_bands(rules.pay, achieved, stock, incremental)
    with localcontext(_EXACT):
        target = stock + incremental
        performance = sum(bands, ZERO)
        actual_pay = base_salary + performance * score / rules.score.base
    lines = _stock_lines(holdings, first_day, last_day)
    left_out = len(postings_attributed) - len(in_period)
    counted = f"{len(in_period)} postings; {left_out} outside the period left out"
    lines.append(PayLine("actual", achieved, counted))
    lines += _band_lines(rules.pay, bands)
    detail = (f"base salary {_grades_detail(rules, grade_days or ((grade, 1),))} "
              f"+ performance pay × {score}/{rules.score.base}")
    lines.append(PayLine("actual_pay", actual_pay, detail))
    return ExactPay(
        rules.version, base_salary, stock, incremental, target, achieved,
        performance, score, actual_pay, tuple(lines),
    )


def base_salary_by_days(rules: RuleSetDocument, grade_days: Sequence[tuple[str, int]]) -> Decimal:
    """Σ base(grade) × days at that grade ÷ days counted: a grade change mid-period pays
    each grade for the days it was held, not the whole period at the grade of one day."""
    days = sum(d for _, d in grade_days)
    unknown = sorted({g for g, _ in grade_days if g not in rules.pay.base_salary})
    if unknown or days <= 0:
        raise ValueError(f"no base salary for grades {unknown} over {days} days")
    with localcontext(_EXACT):
        return sum((rules.pay.base_salary[g] * d for g, d in grade_days), ZERO) / days


def _grades_detail(rules: RuleSetDocument, grade_days: Sequence[tuple[str, int]]) -> str:
    if len(grade_days) == 1:
        grade = grade_days[0][0]
        return f"{grade} {rules.pay.base_salary[grade]}"
    days = sum(d for _, d in grade_days)
    return " + ".join(f"{g} {rules.pay.base_salary[g]} × {d}/{days}" for g, d in grade_days)


def round_money(value: Decimal) -> Decimal:
    """Half-up to the cent: the only rounding in pay."""
    with localcontext(_EXACT):
        return value.quantize(CENT, rounding=ROUND_HALF_UP)


def rounded(exact: ExactPay) -> PayFigure:
    """Each reported figure rounded once from its exact value."""
    return PayFigure(
        ruleset_version=exact.ruleset_version,
        base_salary=round_money(exact.base_salary),
        stock_task=round_money(exact.stock_task),
        incremental_task=round_money(exact.incremental_task),
        target=round_money(exact.target),
        actual=round_money(exact.actual),
        performance_pay=round_money(exact.performance_pay),
        score=exact.score,
        actual_pay=round_money(exact.actual_pay),
        lines=exact.lines,
    )


def pay_for(
    rules: RuleSetDocument,
    grade: str,
    holdings: Sequence[Holding],
    postings_attributed: Sequence[Posting],
    incremental: Decimal,
    score: int,
    first_day: date,
    last_day: date,
) -> PayFigure:
    """Pay of one manager for one period (DESIGN §3.3), rounded half-up to 0.01 at the end."""
    exact = pay_exact(
        rules, grade, holdings, postings_attributed, incremental, score, first_day, last_day
    )
    return rounded(exact)

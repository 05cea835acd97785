"""The year and what consecutive ratings bring (DESIGN §13), from the quarters' figures.

A quarter's figures are the same score and pay every other answer gives, so a standing
follows every score change, a dispute decided in a past quarter included, at any cut. A
flag names the quarters behind it and the event after which it began to hold (its cause).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from ledger.quarter import Quarter
from projections.compute import moments, pay_result, rules_for, score_result
from projections.factset import FactSet

FLAGS = ("premium_priority", "management_candidate", "training_required")
MAX_QUARTERS_BACK = 40
"""How far back a streak is looked for (TB: bound everything): ten years."""


@dataclass(frozen=True)
class QuarterFigures:
    period: Quarter
    score: int
    rating: str
    actual_pay: Decimal
    ruleset_version: str
    counted: bool  # the manager held a customer or had a target in it
    complete: bool  # as_of is on or after its last day


def quarter_figures(facts: FactSet, manager_id: str, period: Quarter,
                    as_of: date) -> QuarterFigures | None:
    """The quarter's score, rating and pay at as_of; None when no rule set is in force."""
    found = facts.rulesets.in_force(period)
    if found is None:
        return None
    rules = rules_for(facts, period).document
    score = score_result(facts, manager_id, period, as_of, rules).figure
    pay = pay_result(facts, manager_id, period, as_of, rules, score.score)
    counted = bool(pay.holdings) or pay.target is not None
    return QuarterFigures(period, score.score, score.rating, pay.figure.actual_pay,
                          rules.version, counted, as_of >= period.last_day)


def annual(facts: FactSet, manager_id: str, year: int, as_of: date) -> dict[str, Any]:
    """The four quarters, the mean score of those counted, its rating and the pay total."""
    quarters = []
    counted = []
    for period in _quarters_of(year):
        if period.first_day > as_of:
            continue  # a quarter not begun on as_of is left out
        figures = quarter_figures(facts, manager_id, period, min(as_of, period.last_day))
        if figures is None:
            continue
        quarters.append(dict(period=str(period), score=figures.score, rating=figures.rating,
                             actual_pay=figures.actual_pay,
                             ruleset_version=figures.ruleset_version, counted=figures.counted))
        if figures.counted:
            counted.append(figures)
    score = _mean(counted)
    year_end = facts.rulesets.in_force(Quarter.of(date(year, 12, 31)))
    rating = None
    if score is not None and year_end is not None:
        rating = year_end.document.score.ratings.rating_for(score)
    return dict(manager_id=manager_id, year=year, quarters=quarters, annual_score=score,
                annual_rating=rating,
                total_pay=sum((q.actual_pay for q in counted), Decimal("0.00")),
                ruleset_version=year_end.version if year_end is not None else None)


def standing(facts: FactSet, manager_id: str, as_of: date) -> list[dict[str, Any]]:
    """The flags that hold on as_of, each with its quarters and the event that caused it."""
    flags = _flags(lambda f: f, facts, manager_id, as_of)
    for flag in flags:
        flag["cause"] = _cause(facts, manager_id, as_of, flag)
    return flags


def _flags(narrow: Callable[[FactSet], FactSet], facts: FactSet, manager_id: str,
           as_of: date) -> list[dict[str, Any]]:
    known = narrow(facts)
    current = Quarter.of(as_of)
    in_force = known.rulesets.in_force(current)
    streak_needed = in_force.document.consequences.excellent_streak if in_force else 2
    history = _history(known, manager_id, current, as_of)
    flags: list[dict[str, Any]] = []
    run = _excellent_run(history)
    if len(run) >= streak_needed:
        quarters = [str(q.period) for q in reversed(run)]
        flags += [dict(flag=name, quarters=quarters, improve_by=None)
                  for name in ("premium_priority", "management_candidate")]
    training = _training(history)
    if training is not None:
        flags.append(dict(flag="training_required", quarters=[str(training.period)],
                          improve_by=_following(training.period).last_day))
    return flags


def _history(facts: FactSet, manager_id: str, current: Quarter,
             as_of: date) -> list[QuarterFigures]:
    """The counted quarters up to the one holding as_of, latest first."""
    found = []
    period = current
    for _ in range(MAX_QUARTERS_BACK):
        figures = quarter_figures(facts, manager_id, period, min(as_of, period.last_day))
        if figures is None:
            break
        if figures.counted:
            found.append(figures)
        period = Quarter.of(period.first_day - timedelta(days=1))
    return found


def _excellent_run(history: list[QuarterFigures]) -> list[QuarterFigures]:
    run = []
    for figures in history:
        if figures.rating != "excellent":
            break
        run.append(figures)
    return run


def _training(history: list[QuarterFigures]) -> QuarterFigures | None:
    """The latest quarter rated needs improvement, unless a later one was satisfactory or
    better (history is latest first, so a better quarter seen first clears it). A quarter
    still running neither gives nor clears it: its rating is not final yet."""
    for figures in (f for f in history if f.complete):
        if figures.rating == "needs_improvement":
            return figures
        if figures.rating in ("satisfactory", "good", "excellent"):
            return None
    return None


def _cause(facts: FactSet, manager_id: str, as_of: date,
           flag: dict[str, Any]) -> dict[str, Any] | None:
    """The latest event in the flag's quarters before which the flag did not hold as it
    holds now: the fact that created it (a dispute decision, a deduction, a publication)."""
    positions = sorted({m.position for q in flag["quarters"]
                        for m in moments(facts, manager_id, Quarter.parse(q), as_of)},
                       reverse=True)
    for position in positions:
        before = _flags(_before(position), facts, manager_id, as_of)
        if not any(_same(b, flag) for b in before):
            kinds = [m.type for q in flag["quarters"]
                     for m in moments(facts, manager_id, Quarter.parse(q), as_of)
                     if m.position == position]
            return dict(position=position, type=kinds[0] if kinds else None)
    return None


def _before(position: int) -> Callable[[FactSet], FactSet]:
    return lambda facts: facts.upto(position - 1)


def _same(one: dict[str, Any], other: dict[str, Any]) -> bool:
    return bool(one["flag"] == other["flag"] and one["quarters"] == other["quarters"])


def _following(period: Quarter) -> Quarter:
    return Quarter.of(period.last_day + timedelta(days=1))


def _quarters_of(year: int) -> list[Quarter]:
    return [Quarter.parse(f"{year}Q{n}") for n in range(1, 5)]


def _mean(counted: list[QuarterFigures]) -> int | None:
    if not counted:
        return None
    mean = Decimal(sum(q.score for q in counted)) / len(counted)
    return int(mean.quantize(Decimal(1), rounding=ROUND_HALF_UP))

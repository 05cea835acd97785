"""The management score of one manager for one period (DESIGN §3.2), as a pure function."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from ledger.ruleset_document import DeductionRule, RuleSetDocument, ScoreRules

STATUS_ACTIVE = "active"
STATUS_AMENDED = "amended"
STATUS_VOIDED = "voided"
STATUSES = (STATUS_ACTIVE, STATUS_AMENDED, STATUS_VOIDED)

RATING_FAILED = "failed"
SCORE_FORMULA_BOUND = Decimal(10) ** 9

MAX_OCCURRENCES = 1_000
"""A sanity bound on one deduction's occurrences (TB), not a business number."""


class InvalidDeductionInput(ValueError):
    """A deduction that the rule it cites does not allow; `field` names the offending input."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


@dataclass(frozen=True)
class CountedDeduction:
    """A deduction as the score sees it. `error_points` is already multiplied out
    (points × occurrences × aggravation), or is the amended total after a partial uphold;
    `disqualifying` says whether this deduction disqualifies (flag set or rule always does)."""

    deduction_id: str
    rule_code: str
    error_points: int
    disqualifying: bool
    veto: bool
    status: str
    under_open_dispute: bool = False

    def __post_init__(self) -> None:
        # These are programming errors in the caller, not refusals of a user's command.
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, not {self.status!r}")
        if self.error_points < 0:
            raise ValueError("error_points must not be negative")


@dataclass(frozen=True)
class LastingDisqualification:
    """A disqualification in effect on some day of the period (DESIGN §16): the state a
    disqualifying deduction began on `since`, until a reinstatement effective `until`."""

    deduction_id: str
    since: date
    until: date | None

    def describe(self) -> str:
        end = f"until {self.until}" if self.until is not None else "not reinstated"
        return f"disqualified from {self.since} ({end}) by deduction {self.deduction_id}"


@dataclass(frozen=True)
class ScoreLine:
    """One step of the explanation. `score_delta` is this item's effect on the score, so
    base + Σ score_delta == score; kind is deduction, adjustment, clamp or disqualification."""

    kind: str
    source: str
    rule_code: str | None
    counted: bool
    score_delta: int
    note: str


@dataclass(frozen=True)
class ScoreFigure:
    ruleset_version: str
    score: int
    rating: str
    error_points: int
    adjustment_points: int
    disqualified: bool
    vetoed: bool
    lines: tuple[ScoreLine, ...]


def error_points_for(
    rule: DeductionRule, occurrences: int, aggravated: bool, score: ScoreRules
) -> int:
    """points × occurrences × aggravation; refuses what the rule does not allow."""
    if not 1 <= occurrences <= MAX_OCCURRENCES:
        raise InvalidDeductionInput("occurrences", f"must be between 1 and {MAX_OCCURRENCES}")
    if aggravated and not rule.aggravatable:
        raise InvalidDeductionInput("aggravated", f"rule {rule.code} may not be aggravated")
    factor = score.aggravation_factor if aggravated else 1
    return rule.points * occurrences * factor


def deduction_disqualifies(rule: DeductionRule, disqualify_requested: bool) -> bool:
    """Whether a deduction under `rule` disqualifies; refuses a flag the rule does not allow."""
    if disqualify_requested and not rule.disqualifying:
        raise InvalidDeductionInput("disqualify", f"rule {rule.code} cannot disqualify")
    return disqualify_requested or rule.always_disqualifies


def counts(deduction: CountedDeduction, score: ScoreRules) -> bool:
    """Whether a deduction counts towards the score under these rules."""
    if deduction.status == STATUS_VOIDED:
        return False
    return score.pending_dispute_counts or not deduction.under_open_dispute


def _deduction_line(deduction: CountedDeduction, score: ScoreRules) -> ScoreLine:
    counted = counts(deduction, score)
    if deduction.status == STATUS_VOIDED:
        note = "voided; does not count"
    elif not counted:
        note = "under open dispute; pending disputes do not count under this rule set"
    else:
        note = f"{deduction.error_points} error points × {score.points_to_score}"
        if deduction.status == STATUS_AMENDED:
            note += " (amended)"
        if deduction.disqualifying:
            note += "; disqualifies"
    delta = -deduction.error_points * score.points_to_score if counted else 0
    return ScoreLine(
        "deduction", deduction.deduction_id, deduction.rule_code, counted, delta, note
    )


def _adjustment_lines(adjustment_points: Sequence[int]) -> list[ScoreLine]:
    return [
        ScoreLine("adjustment", f"adjustment[{i}]", None, True, points, "approved adjustment")
        for i, points in enumerate(adjustment_points)
    ]


def _formula_lines(
    lines: list[ScoreLine], base: int, value: Decimal, nominal: int
) -> list[ScoreLine]:
    # The formula decides the score, so deductions and adjustments are shown as its inputs
    # (error_points, adjustment_points) with no effect of their own; one line carries the
    # formula's effect, which keeps base + Σ score_delta == score.
    inputs = [ScoreLine(line.kind, line.source, line.rule_code, line.counted, 0,
                        line.note + "; an input of the score formula") for line in lines]
    note = f"the score formula gives {value}, rounded half-up to {nominal}"
    return [*inputs, ScoreLine("formula", "score.formula", None, True, nominal - base, note)]


def _closing_lines(
    nominal: int, clamped: int, disqualified: bool,
    lasting: Sequence[LastingDisqualification] = (),
) -> list[ScoreLine]:
    # These lines make the explanation add up when the clamp or a disqualification bites.
    lines = []
    if clamped != nominal:
        note = f"score clamped to the range [0, base] from {nominal}"
        lines.append(ScoreLine("clamp", "clamp", None, True, clamped - nominal, note))
    if (disqualified or lasting) and clamped != 0:
        note = "a counted deduction disqualifies: score is 0"
        if not disqualified:
            note = "; ".join(d.describe() for d in lasting) + ": score is 0"
        lines.append(ScoreLine("disqualification", "disqualification", None, True, -clamped, note))
    return lines


def round_score(value: Decimal) -> int:
    """A score formula's value rounded half-up to a whole number (DESIGN §11)."""
    # Bounded first: a value far outside any score is clamped anyway, and a huge exponent
    # must not become a huge Python integer.
    bounded = min(max(value, -SCORE_FORMULA_BOUND), SCORE_FORMULA_BOUND)
    return int(bounded.to_integral_value(rounding=ROUND_HALF_UP))


def score_for(
    rules: RuleSetDocument,
    deductions: Sequence[CountedDeduction],
    adjustment_points: Sequence[int],
    formula_value: Decimal | None = None,
    lasting: Sequence[LastingDisqualification] = (),
) -> ScoreFigure:
    """base − Σ counted error points × points_to_score + Σ adjustments, or the score
    formula's value rounded half-up when the rule set has one (`formula_value`), clamped to
    [0, base]; 0 when a counted deduction disqualifies or a `lasting` disqualification
    touches the period (DESIGN §16); rating failed on a counted veto or disqualification."""
    score_rules = rules.score
    counted = [d for d in deductions if counts(d, score_rules)]
    error_points = sum(d.error_points for d in counted)
    adjustments = sum(adjustment_points)
    nominal = score_rules.base - error_points * score_rules.points_to_score + adjustments
    if formula_value is not None:
        nominal = round_score(formula_value)
    clamped = min(max(nominal, 0), score_rules.base)
    by_deduction = any(d.disqualifying for d in counted)
    disqualified = by_deduction or bool(lasting)
    vetoed = any(d.veto for d in counted)
    score = 0 if disqualified else clamped
    failed = disqualified or vetoed
    lines = [_deduction_line(d, score_rules) for d in deductions]
    lines += _adjustment_lines(adjustment_points)
    if formula_value is not None:
        lines = _formula_lines(lines, score_rules.base, formula_value, nominal)
    lines += _closing_lines(nominal, clamped, by_deduction, lasting)
    return ScoreFigure(
        ruleset_version=rules.version,
        score=score,
        rating=RATING_FAILED if failed else score_rules.ratings.rating_for(score),
        error_points=error_points,
        adjustment_points=adjustments,
        disqualified=disqualified,
        vetoed=vetoed,
        lines=tuple(lines),
    )

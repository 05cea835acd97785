"""Rule-set documents (DESIGN §3.7): the versioned numbers of §3 as validated, immutable data."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from functools import cache, partial
from importlib.resources import files
from types import MappingProxyType
from typing import Any, TypeVar

from ledger.approval_limits import AdjustmentRules, adjustments_document, parse_adjustments
from ledger.errors import RuleSetInvalid
from ledger.qualitative import (
    Consequences,
    QualitativeItem,
    items_document,
    parse_consequences,
    parse_items,
)
from ledger.scorecard import (
    Scorecard,
    indicators_document,
    parameters_document,
    parse_scorecard,
    scorecard_parameters,
)

DEFAULT_RULESET_FILE = "2026.1.json"

GRADES = ("A", "B", "C")
"""Manager grades, best first; `premium_requires_grade` means that grade or a better one."""

RATING_THRESHOLD_NAMES = ("excellent", "good", "satisfactory")
"""Ratings that have a threshold, best first; below the last one is `needs_improvement`."""

GROUP_SPLIT_MODES = ("warn", "refuse", "off")

# Bounds on every number a document may carry (TB: bound everything). They are sanity limits
# that catch typos such as a rate of 2 instead of 0.02, not business numbers.
MAX_SCORE_BASE = 100_000
MAX_RULE_POINTS = 1_000
MAX_AGGRAVATION_FACTOR = 10
MAX_DAYS = 366
MAX_MONEY = Decimal("1000000000")
MAX_RATE = Decimal("1")
MAX_SPAN_FACTOR = Decimal("100")
MAX_DEDUCTION_RULES = 500
MAX_TITLE_CHARS = 200

_VERSION = re.compile(r"^[0-9]{4}\.[1-9][0-9]{0,2}$")
_ISO_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
_RULE_CODE = re.compile(r"^[A-Z][1-9][0-9]?[a-z]?$")
_CATEGORY = re.compile(r"^[a-z][a-z_]{0,39}$")
# Plain decimal notation only: exponents, NaN and Infinity are refused so that what an
# operator wrote is what every figure uses and what `to_document` writes back.
_DECIMAL = re.compile(r"^-?[0-9]{1,12}(\.[0-9]{1,12})?$")

_ROOT_KEYS = ("version", "effective_from", "score", "pay", "deductions", "disputes", "portfolio")
_SCORECARD_KEYS = ("parameters", "indicators")  # optional sections (DESIGN §11)
_ADJUSTMENT_KEYS = ("adjustments",)  # optional section (DESIGN §16)
_ASSESSMENT_KEYS = ("qualitative_items", "consequences")  # optional sections (DESIGN §12–13)
_SCORE_KEYS = ("base", "points_to_score", "aggravation_factor", "pending_dispute_counts", "ratings")
_PAY_KEYS = ("r_stock", "r_incr", "r_over", "risk_adjusted", "base_salary")
_RULE_KEYS = ("category", "title", "points", "aggravatable", "disqualifying")
_RULE_OPTIONAL_KEYS = ("always_disqualifies", "veto", "title_zh")
_DISPUTE_KEYS = (
    "file_within_days",
    "decide_within_days",
    "appeal_within_days",
    "appeal_decide_within_days",
)
_PORTFOLIO_KEYS = ("premium_requires_grade", "group_split", "span_factor")

T = TypeVar("T")


@dataclass(frozen=True)
class RatingThresholds:
    """Minimum scores for each rating, best first."""

    excellent: int
    good: int
    satisfactory: int

    def rating_for(self, score: int) -> str:
        """The rating a score earns on thresholds alone (vetoes are the caller's)."""
        if score >= self.excellent:
            return "excellent"
        if score >= self.good:
            return "good"
        if score >= self.satisfactory:
            return "satisfactory"
        return "needs_improvement"


@dataclass(frozen=True)
class ScoreRules:
    base: int
    points_to_score: int
    aggravation_factor: int
    pending_dispute_counts: bool
    ratings: RatingThresholds


@dataclass(frozen=True)
class PayRules:
    r_stock: Decimal
    r_incr: Decimal
    r_over: Decimal
    risk_adjusted: bool
    base_salary: Mapping[str, Decimal] = field(hash=False)


@dataclass(frozen=True)
class DeductionRule:
    """One catalog entry. `disqualifying`: a deduction may be flagged to disqualify;
    `always_disqualifies`: every deduction under it does; `veto`: it fails the rating.
    `title_zh`: the Chinese title of a code a later rule set adds (DESIGN §15); the shipped
    codes' Chinese titles come with the workspace's translations."""

    code: str
    category: str
    title: str
    points: int
    aggravatable: bool
    disqualifying: bool
    always_disqualifies: bool = False
    veto: bool = False
    title_zh: str | None = None


@dataclass(frozen=True)
class DisputeRules:
    file_within_days: int
    decide_within_days: int
    appeal_within_days: int
    appeal_decide_within_days: int


@dataclass(frozen=True)
class PortfolioRules:
    """`None` switches a check off: no grade requirement, no span-of-control warning."""

    premium_requires_grade: str | None
    group_split: str
    span_factor: Decimal | None


@dataclass(frozen=True)
class RuleSetDocument:
    version: str
    effective_from: date
    score: ScoreRules
    pay: PayRules
    deductions: Mapping[str, DeductionRule] = field(hash=False)
    disputes: DisputeRules
    portfolio: PortfolioRules
    # Parameters, indicators and the score formula; empty without those sections (2026.1).
    scorecard: Scorecard = field(default_factory=Scorecard, hash=False)
    # What assessors score, and what consecutive ratings bring (DESIGN §12–13).
    qualitative_items: Mapping[str, QualitativeItem] = field(
        default_factory=lambda: MappingProxyType({}), hash=False)
    consequences: Consequences = field(default_factory=Consequences)
    # Approval limits by size (DESIGN §16); none without the section.
    adjustments: AdjustmentRules = field(default_factory=AdjustmentRules)

    def parameters_used(self) -> dict[str, int | Decimal | str]:
        """Every numeric parameter (and formula), keyed by its JSON path, for explanations."""
        params: dict[str, int | Decimal | str] = {
            "score.base": self.score.base,
            "score.points_to_score": self.score.points_to_score,
            "score.aggravation_factor": self.score.aggravation_factor,
            "score.ratings.excellent": self.score.ratings.excellent,
            "score.ratings.good": self.score.ratings.good,
            "score.ratings.satisfactory": self.score.ratings.satisfactory,
            "pay.r_stock": self.pay.r_stock,
            "pay.r_incr": self.pay.r_incr,
            "pay.r_over": self.pay.r_over,
        }
        params.update({f"pay.base_salary.{g}": v for g, v in self.pay.base_salary.items()})
        params.update({f"disputes.{k}": getattr(self.disputes, k) for k in _DISPUTE_KEYS})
        if self.portfolio.span_factor is not None:
            params["portfolio.span_factor"] = self.portfolio.span_factor
        params.update({f"deductions.{c}.points": r.points for c, r in self.deductions.items()})
        params.update(scorecard_parameters(self.scorecard))
        if self.adjustments.second_approval_above is not None:
            params["adjustments.second_approval_above"] = self.adjustments.second_approval_above
        return params


# --------------------------------------------------------------------------- validation


class _Problems:
    """Collects every problem so that one refusal lists them all."""

    def __init__(self) -> None:
        self.by_path: dict[str, list[str]] = {}

    def add(self, path: str, message: str) -> None:
        self.by_path.setdefault(path or "$", []).append(message)

    def count(self) -> int:
        return sum(len(msgs) for msgs in self.by_path.values())


def _join(path: str, key: object) -> str:
    return f"{path}.{key}" if path else str(key)


def _object(
    raw: object,
    path: str,
    problems: _Problems,
    keys: tuple[str, ...],
    optional: tuple[str, ...] = (),
) -> Mapping[str, Any] | None:
    """The value as an object whose keys are all known, or None (problems recorded)."""
    if not isinstance(raw, Mapping):
        problems.add(path, "must be an object")
        return None
    for key in raw:
        if key not in keys and key not in optional:
            problems.add(_join(path, key), "unknown key")
    return raw


def _read(
    obj: Mapping[str, Any],
    path: str,
    key: str,
    problems: _Problems,
    convert: Callable[[object, str, _Problems], T | None],
) -> T | None:
    if key not in obj:
        problems.add(_join(path, key), "missing")
        return None
    return convert(obj[key], _join(path, key), problems)


def _int_in(low: int, high: int) -> Callable[[object, str, _Problems], int | None]:
    def convert(value: object, path: str, problems: _Problems) -> int | None:
        # bool is an int in Python but never a valid count of points or days.
        if type(value) is not int:
            problems.add(path, "must be an integer")
            return None
        if value < 0:
            problems.add(path, "must not be negative")
            return None
        if not low <= value <= high:
            problems.add(path, f"must be between {low} and {high}")
            return None
        return value

    return convert


def _decimal_in(
    low: Decimal, high: Decimal, max_places: int | None = None
) -> Callable[[object, str, _Problems], Decimal | None]:
    def convert(value: object, path: str, problems: _Problems) -> Decimal | None:
        number = _as_decimal(value, path, problems)
        if number is None:
            return None
        if number < 0:
            problems.add(path, "must not be negative")
            return None
        if not low <= number <= high:
            problems.add(path, f"must be between {low} and {high}")
            return None
        exponent = number.as_tuple().exponent
        if max_places is not None and isinstance(exponent, int) and -exponent > max_places:
            problems.add(path, f"must have at most {max_places} decimal places")
            return None
        return number

    return convert


def _as_decimal(value: object, path: str, problems: _Problems) -> Decimal | None:
    # JSON numbers with a fraction arrive as binary floats, which cannot hold 0.02 exactly;
    # money and rates must therefore be written as strings (or as whole numbers).
    if type(value) is int:
        return Decimal(value)
    if isinstance(value, str) and _DECIMAL.match(value):
        return Decimal(value)
    if isinstance(value, float):
        problems.add(path, "must be a decimal string such as \"0.02\", not a JSON number")
    else:
        problems.add(path, "must be a decimal string such as \"0.02\"")
    return None


def _bool(value: object, path: str, problems: _Problems) -> bool | None:
    if type(value) is not bool:
        problems.add(path, "must be true or false")
        return None
    return value


def _text(value: object, path: str, problems: _Problems) -> str | None:
    if not isinstance(value, str) or not value.strip():
        problems.add(path, "must be a non-empty string")
        return None
    if len(value) > MAX_TITLE_CHARS:
        problems.add(path, f"must be at most {MAX_TITLE_CHARS} characters")
        return None
    return value


def _matching(
    pattern: re.Pattern[str], shape: str
) -> Callable[[object, str, _Problems], str | None]:
    def convert(value: object, path: str, problems: _Problems) -> str | None:
        if not isinstance(value, str) or not pattern.match(value):
            problems.add(path, f"must look like {shape}")
            return None
        return value

    return convert


def _one_of(
    choices: tuple[str, ...], nullable: bool = False
) -> Callable[[object, str, _Problems], str | None]:
    def convert(value: object, path: str, problems: _Problems) -> str | None:
        if value is None and nullable:
            return None
        if value not in choices:
            allowed = ", ".join(choices) + (", null" if nullable else "")
            problems.add(path, f"must be one of {allowed}")
            return None
        return str(value)

    return convert


def _iso_date(value: object, path: str, problems: _Problems) -> date | None:
    if isinstance(value, str) and _ISO_DATE.match(value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    problems.add(path, "must be an ISO date YYYY-MM-DD")
    return None


def _parse_ratings(
    raw: object, path: str, problems: _Problems, base: int | None
) -> RatingThresholds | None:
    obj = _object(raw, path, problems, RATING_THRESHOLD_NAMES)
    if obj is None:
        return None
    high = base if base is not None else MAX_SCORE_BASE
    values = [_read(obj, path, name, problems, _int_in(0, high)) for name in RATING_THRESHOLD_NAMES]
    excellent, good, satisfactory = values
    if excellent is None or good is None or satisfactory is None:
        return None
    if not excellent > good > satisfactory:
        problems.add(path, "must be strictly descending: excellent > good > satisfactory")
        return None
    return RatingThresholds(excellent, good, satisfactory)


def _parse_score(raw: object, path: str, problems: _Problems) -> ScoreRules | None:
    obj = _object(raw, path, problems, _SCORE_KEYS, ("formula",))
    if obj is None:
        return None
    base = _read(obj, path, "base", problems, _int_in(1, MAX_SCORE_BASE))
    to_score = _read(obj, path, "points_to_score", problems, _int_in(0, MAX_SCORE_BASE))
    factor = _read(obj, path, "aggravation_factor", problems, _int_in(1, MAX_AGGRAVATION_FACTOR))
    pending = _read(obj, path, "pending_dispute_counts", problems, _bool)
    # Thresholds are bounded by this document's own base, when that base is valid.
    ratings = _read(obj, path, "ratings", problems, partial(_parse_ratings, base=base))
    if base is None or to_score is None or factor is None or pending is None or ratings is None:
        return None
    return ScoreRules(base, to_score, factor, pending, ratings)


def _parse_base_salary(raw: object, path: str, problems: _Problems) -> Mapping[str, Decimal] | None:
    obj = _object(raw, path, problems, GRADES)
    if obj is None:
        return None
    money = _decimal_in(Decimal(0), MAX_MONEY, max_places=2)
    salaries = {grade: _read(obj, path, grade, problems, money) for grade in GRADES}
    complete = {grade: s for grade, s in salaries.items() if s is not None}
    if len(complete) != len(GRADES):
        return None
    return MappingProxyType(complete)


def _parse_pay(raw: object, path: str, problems: _Problems) -> PayRules | None:
    obj = _object(raw, path, problems, _PAY_KEYS)
    if obj is None:
        return None
    rate = _decimal_in(Decimal(0), MAX_RATE)
    r_stock = _read(obj, path, "r_stock", problems, rate)
    r_incr = _read(obj, path, "r_incr", problems, rate)
    r_over = _read(obj, path, "r_over", problems, rate)
    risk_adjusted = _read(obj, path, "risk_adjusted", problems, _bool)
    salaries = _read(obj, path, "base_salary", problems, _parse_base_salary)
    if r_stock is None or r_incr is None or r_over is None or risk_adjusted is None:
        return None
    if salaries is None:
        return None
    return PayRules(r_stock, r_incr, r_over, risk_adjusted, salaries)


def _optional_bool(obj: Mapping[str, Any], path: str, key: str, problems: _Problems) -> bool | None:
    if key not in obj:
        return False
    return _bool(obj[key], _join(path, key), problems)


def _parse_rule(code: str, raw: object, problems: _Problems) -> DeductionRule | None:
    path = f"deductions.{code}"
    obj = _object(raw, path, problems, _RULE_KEYS, _RULE_OPTIONAL_KEYS)
    if obj is None:
        return None
    category = _read(obj, path, "category", problems, _matching(_CATEGORY, "a lower-case name"))
    title = _read(obj, path, "title", problems, _text)
    points = _read(obj, path, "points", problems, _int_in(0, MAX_RULE_POINTS))
    aggravatable = _read(obj, path, "aggravatable", problems, _bool)
    disqualifying = _read(obj, path, "disqualifying", problems, _bool)
    always = _optional_bool(obj, path, "always_disqualifies", problems)
    veto = _optional_bool(obj, path, "veto", problems)
    title_zh = _read(obj, path, "title_zh", problems, _text) if "title_zh" in obj else None
    if "title_zh" in obj and title_zh is None:
        return None
    if category is None or title is None or points is None or aggravatable is None:
        return None
    if disqualifying is None or always is None or veto is None:
        return None
    return _consistent_rule(
        DeductionRule(code, category, title, points, aggravatable, disqualifying, always, veto,
                      title_zh),
        path,
        problems,
    )


def _consistent_rule(rule: DeductionRule, path: str, problems: _Problems) -> DeductionRule | None:
    before = problems.count()
    if rule.always_disqualifies and not rule.disqualifying:
        problems.add(_join(path, "disqualifying"), "must be true when always_disqualifies is true")
    # A rule with no points and no disqualification could never change a figure.
    if rule.points == 0 and not rule.always_disqualifies:
        problems.add(_join(path, "points"), "must be positive unless always_disqualifies is true")
    return rule if problems.count() == before else None


def _parse_deductions(
    raw: object, path: str, problems: _Problems
) -> Mapping[str, DeductionRule] | None:
    if not isinstance(raw, Mapping):
        problems.add(path, "must be an object")
        return None
    if not raw:
        problems.add(path, "must hold at least one rule")
        return None
    if len(raw) > MAX_DEDUCTION_RULES:
        problems.add(path, f"must hold at most {MAX_DEDUCTION_RULES} rules")
        return None
    rules: dict[str, DeductionRule] = {}
    for code, entry in raw.items():
        if not isinstance(code, str) or not _RULE_CODE.match(code):
            problems.add(_join(path, code), "rule code must look like E1, C17c or S1b")
            continue
        rule = _parse_rule(code, entry, problems)
        if rule is not None:
            rules[code] = rule
    if len(rules) != len(raw):
        return None
    return MappingProxyType(rules)


def _parse_disputes(raw: object, path: str, problems: _Problems) -> DisputeRules | None:
    obj = _object(raw, path, problems, _DISPUTE_KEYS)
    if obj is None:
        return None
    days = [_read(obj, path, key, problems, _int_in(1, MAX_DAYS)) for key in _DISPUTE_KEYS]
    file_within, decide_within, appeal_within, appeal_decide_within = days
    if file_within is None or decide_within is None:
        return None
    if appeal_within is None or appeal_decide_within is None:
        return None
    return DisputeRules(file_within, decide_within, appeal_within, appeal_decide_within)


def _nullable_span(value: object, path: str, problems: _Problems) -> Decimal | None:
    if value is None:
        return None
    return _decimal_in(Decimal(1), MAX_SPAN_FACTOR)(value, path, problems)


def _parse_portfolio(raw: object, path: str, problems: _Problems) -> PortfolioRules | None:
    obj = _object(raw, path, problems, _PORTFOLIO_KEYS)
    if obj is None:
        return None
    before = problems.count()
    grade = _read(obj, path, "premium_requires_grade", problems, _one_of(GRADES, nullable=True))
    split = _read(obj, path, "group_split", problems, _one_of(GROUP_SPLIT_MODES))
    span = _read(obj, path, "span_factor", problems, _nullable_span)
    # Here None is a legitimate value ("check off"), so success is judged by the problem count.
    if problems.count() != before or split is None:
        return None
    return PortfolioRules(grade, split, span)


def parse_ruleset(doc: Mapping[str, Any]) -> RuleSetDocument:
    """Validate a rule-set document; raise RuleSetInvalid listing every problem at once."""
    problems = _Problems()
    root = _object(doc, "", problems, _ROOT_KEYS,
                   _SCORECARD_KEYS + _ASSESSMENT_KEYS + _ADJUSTMENT_KEYS)
    if root is None:
        raise RuleSetInvalid(problems.by_path)
    version = _read(root, "", "version", problems, _matching(_VERSION, "2026.1"))
    effective_from = _read(root, "", "effective_from", problems, _iso_date)
    score = _read(root, "", "score", problems, _parse_score)
    pay = _read(root, "", "pay", problems, _parse_pay)
    rules = _read(root, "", "deductions", problems, _parse_deductions)
    disputes = _read(root, "", "disputes", problems, _parse_disputes)
    portfolio = _read(root, "", "portfolio", problems, _parse_portfolio)
    scorecard = _parse_scorecard(root, problems)
    adjustments = parse_adjustments(root.get("adjustments"), problems.add)
    items, consequences = _parse_assessment(root, problems)
    if problems.by_path:
        raise RuleSetInvalid(problems.by_path)
    # Every part parsed without a recorded problem, so none of these is None here.
    if version is None or effective_from is None or score is None or pay is None:
        raise RuleSetInvalid({"$": ["internal: incomplete parse"]})
    if rules is None or disputes is None or portfolio is None or scorecard is None:
        raise RuleSetInvalid({"$": ["internal: incomplete parse"]})
    return RuleSetDocument(version, effective_from, score, pay, rules, disputes, portfolio,
                           scorecard, items, consequences, adjustments=adjustments)


def _parse_assessment(
    root: Mapping[str, Any], problems: _Problems
) -> tuple[Mapping[str, QualitativeItem], Consequences]:
    found: dict[str, list[str]] = {}
    items = parse_items(root.get("qualitative_items"), found)
    consequences = parse_consequences(root.get("consequences"), found)
    for path, messages in found.items():
        for message in messages:
            problems.add(path, message)
    return MappingProxyType(items), consequences


def _parse_scorecard(root: Mapping[str, Any], problems: _Problems) -> Scorecard | None:
    score = root.get("score")
    formula = score.get("formula") if isinstance(score, Mapping) else None
    scorecard, found = parse_scorecard(root.get("parameters"), root.get("indicators"), formula,
                                       GRADES)
    for path, messages in found.items():
        for message in messages:
            problems.add(path, message)
    return scorecard


# --------------------------------------------------------------------------- serialising


def _money(value: Decimal) -> str:
    # Fixed-point notation, so a parsed "0.0000001" is never written back as "1E-7".
    return format(value, "f")


def _rule_document(rule: DeductionRule) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "category": rule.category,
        "title": rule.title,
        "points": rule.points,
        "aggravatable": rule.aggravatable,
        "disqualifying": rule.disqualifying,
    }
    # The optional flags are written only when set, as in the shipped document.
    if rule.always_disqualifies:
        doc["always_disqualifies"] = True
    if rule.veto:
        doc["veto"] = True
    if rule.title_zh is not None:
        doc["title_zh"] = rule.title_zh
    return doc


def to_document(rs: RuleSetDocument) -> dict[str, Any]:
    """The JSON shape of DESIGN §3.7; parse_ruleset(to_document(rs)) == rs."""
    document = _part_one_document(rs)
    card = rs.scorecard
    # The sections of §11 are written only when present, as a document without them reads.
    if card.parameters:
        document["parameters"] = parameters_document(card)
    if card.indicators:
        document["indicators"] = indicators_document(card)
    if card.score_formula_text is not None:
        document["score"]["formula"] = card.score_formula_text
    # §12–13's sections likewise; the default consequences need not be written.
    if rs.qualitative_items:
        document["qualitative_items"] = items_document(rs.qualitative_items)
    if rs.consequences != Consequences():
        document["consequences"] = {"excellent_streak": rs.consequences.excellent_streak}
    limits = adjustments_document(rs.adjustments)
    if limits is not None:
        document["adjustments"] = limits
    return document


def _part_one_document(rs: RuleSetDocument) -> dict[str, Any]:
    span = rs.portfolio.span_factor
    return {
        "version": rs.version,
        "effective_from": rs.effective_from.isoformat(),
        "score": {
            "base": rs.score.base,
            "points_to_score": rs.score.points_to_score,
            "aggravation_factor": rs.score.aggravation_factor,
            "pending_dispute_counts": rs.score.pending_dispute_counts,
            "ratings": {n: getattr(rs.score.ratings, n) for n in RATING_THRESHOLD_NAMES},
        },
        "pay": {
            "r_stock": _money(rs.pay.r_stock),
            "r_incr": _money(rs.pay.r_incr),
            "r_over": _money(rs.pay.r_over),
            "risk_adjusted": rs.pay.risk_adjusted,
            "base_salary": {g: _money(v) for g, v in rs.pay.base_salary.items()},
        },
        "deductions": {code: _rule_document(rule) for code, rule in rs.deductions.items()},
        "disputes": {key: getattr(rs.disputes, key) for key in _DISPUTE_KEYS},
        "portfolio": {
            "premium_requires_grade": rs.portfolio.premium_requires_grade,
            "group_split": rs.portfolio.group_split,
            "span_factor": None if span is None else _money(span),
        },
    }


# --------------------------------------------------------------------------- the default


@cache
def _default_text() -> str:
    # ledger/rulesets/ is a plain data directory shipped as package data (pyproject).
    return files("ledger").joinpath("rulesets", DEFAULT_RULESET_FILE).read_text(encoding="utf-8")


def default_document() -> dict[str, Any]:
    """A fresh copy of the shipped default rule-set document (JSON shape)."""
    loaded: dict[str, Any] = json.loads(_default_text())
    return loaded


@cache
def load_default() -> RuleSetDocument:
    """The shipped default rule set, validated."""
    return parse_ruleset(default_document())

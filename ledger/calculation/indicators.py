"""The values of a scorecard's names for one manager and period (DESIGN §11), as a pure function.

Every name a formula may use is resolved here, and each value says where it came from:
`report` (the raw report that counts), `default` (a raw indicator nobody reported),
`parameter`, `figure` (part one's exact figures, computed by the caller with the same
calculation the score and pay answers use), `qualitative` (§12; 0 while no sheet counts) or
`formula` (a computed or score indicator).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from ledger.errors import FormulaError
from ledger.formula import evaluate
from ledger.scorecard import SCORE_FORMULA, Scorecard, is_qualitative

ZERO = Decimal(0)


@dataclass(frozen=True)
class ReportedValue:
    """The raw report that gives a raw indicator its value."""

    value: Decimal
    position: int
    measured_on: date
    report_id: str
    source_system: str
    external_id: str


@dataclass(frozen=True)
class NameValue:
    name: str
    kind: str  # raw, computed, score, parameter, figure or qualitative
    value: Decimal
    source: str  # report, default, parameter, figure, qualitative or formula
    formula: str | None = None
    report: ReportedValue | None = None


@dataclass(frozen=True)
class IndicatorValues:
    """Every indicator's value, every other name a formula used, and the score formula's
    exact value (None when the rule set has no score formula)."""

    values: Mapping[str, NameValue]
    score_formula: str | None
    score_value: Decimal | None


@dataclass(frozen=True)
class Inputs:
    figures: Mapping[str, Decimal]
    grade: str
    reports: Mapping[str, ReportedValue]
    qualitative: Mapping[str, Decimal]


def evaluate_scorecard(card: Scorecard, inputs: Inputs) -> IndicatorValues:
    """The scorecard's values for one manager and period; raises only FormulaError."""
    values: dict[str, NameValue] = {}
    for name, indicator in card.indicators.items():
        if indicator.kind == "raw":
            values[name] = _raw(name, indicator.default or ZERO, inputs.reports.get(name))
    for name in card.order:
        indicator = card.indicators[name]
        if indicator.formula is None:
            continue
        where = f"indicators.{name}.formula"
        value = evaluate(indicator.formula, _lookup(card, inputs, values, where), where)
        values[name] = NameValue(name, indicator.kind, value, "formula", indicator.formula_text)
    score_value = None
    if card.score_formula is not None:
        score_value = evaluate(card.score_formula, _lookup(card, inputs, values, SCORE_FORMULA),
                               SCORE_FORMULA)
    return IndicatorValues(values, card.score_formula_text, score_value)


def _raw(name: str, default: Decimal, report: ReportedValue | None) -> NameValue:
    if report is None:
        return NameValue(name, "raw", default, "default")
    return NameValue(name, "raw", report.value, "report", report=report)


def _lookup(
    card: Scorecard, inputs: Inputs, values: dict[str, NameValue], where: str
) -> _Resolver:
    return _Resolver(card, inputs, values, where)


class _Resolver:
    """Resolves a name for one formula, noting every name it gives a value to."""

    def __init__(
        self, card: Scorecard, inputs: Inputs, values: dict[str, NameValue], where: str
    ) -> None:
        self.card, self.inputs, self.values, self.where = card, inputs, values, where

    def __call__(self, name: str) -> Decimal:
        found = self.values.get(name) or self._other(name)
        self.values[name] = found
        return found.value

    def _other(self, name: str) -> NameValue:
        parameter = self.card.parameters.get(name)
        if parameter is not None:
            return NameValue(name, "parameter", parameter.value_for(self.inputs.grade),
                             "parameter")
        if name in self.inputs.figures:
            return NameValue(name, "figure", self.inputs.figures[name], "figure")
        if is_qualitative(name):
            return NameValue(name, "qualitative", self.inputs.qualitative.get(name, ZERO),
                             "qualitative")
        # Validation makes formulas use only names resolved above (or indicators ordered
        # before their users); this is reached only by a rule set that bypassed it.
        raise FormulaError(self.where, None, f"unknown name {name!r}")

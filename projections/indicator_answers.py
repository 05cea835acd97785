"""Indicators as the read side answers them (DESIGN §11): each name's value, its kind, its
formula and where the value came from, from the same `ScoreResult` the score answer uses."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from ledger.calculation.indicators import IndicatorValues, NameValue
from projections.compute import ScoreResult

NAME_KINDS_SHOWN_LAST = ("parameter", "figure", "qualitative")


def indicator_items(result: ScoreResult) -> list[dict[str, Any]]:
    """Every indicator of the rule set in declaration order, then every other name a
    formula used (parameters, part one's figures, qualitative results)."""
    values = result.indicators
    if values is None:
        return []
    card = result.rules.scorecard
    items = [_item(values.values[name], card.indicators[name].title,
                   card.indicators[name].unit) for name in card.indicators if name in values.values]
    others = sorted((v for v in values.values.values() if v.kind in NAME_KINDS_SHOWN_LAST),
                    key=lambda v: (NAME_KINDS_SHOWN_LAST.index(v.kind), v.name))
    return items + [_item(v, None, None) for v in others]


def _item(value: NameValue, title: str | None, unit: str | None) -> dict[str, Any]:
    report = value.report
    return dict(
        name=value.name, kind=value.kind, value=value.value, source=value.source,
        formula=value.formula, title=title, unit=unit,
        report=None if report is None else dict(
            report_id=UUID(hex=report.report_id), position=report.position,
            measured_on=report.measured_on, source_system=report.source_system,
            external_id=report.external_id, value=report.value,
        ),
    )


def indicators_answer(result: ScoreResult) -> dict[str, Any]:
    """{ruleset_version, score_formula, score_value, items} for one manager and period."""
    values: IndicatorValues | None = result.indicators
    return dict(
        ruleset_version=result.rules.version,
        score_formula=values.score_formula if values is not None else None,
        score_value=values.score_value if values is not None else None,
        items=indicator_items(result),
    )


def formula_explanation(result: ScoreResult) -> dict[str, Any]:
    """What `score?explain=true` adds under a rule set with a score formula: the formula,
    its exact value, and the value and source of each name it used."""
    values = result.indicators
    if values is None or values.score_value is None:
        return {}
    return dict(formula=dict(text=values.score_formula, value=values.score_value,
                             names=indicator_items(result)))

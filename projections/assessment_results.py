"""Qualitative results from the sheets submitted by a cut (DESIGN §12).

At any (as_of, known_at) a sheet counts when its latest step known at the cut is a
submission. Like a target or an adjustment, an assessment belongs to its whole period and
has no business date of its own (it is usually scored after the quarter ends), so as_of
does not cut it; known_at does. Each item's result is Σ weight × score over the sheets
that count, the weights of assessors whose sheet does not count shared out in proportion
among those whose sheet does (so their weights are divided by their own sum); 0 when none
counts. `qual_<dimension>` is the sum of its items' results.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from ledger.quarter import Quarter
from projections.factset import AssessmentPlanFact, FactSet, SheetStep

ZERO = Decimal(0)


@dataclass(frozen=True)
class CountedSheet:
    """A submitted sheet that counts, with the assessor's weight before and after sharing."""

    plan_id: str
    assessor: str
    weight: Decimal
    share: Decimal
    scores: dict[str, Decimal]
    position: int


@dataclass(frozen=True)
class PlanResult:
    plan: AssessmentPlanFact
    items: dict[str, dict[str, str]]
    results: dict[str, Decimal]
    counted: tuple[CountedSheet, ...]
    sheets: dict[str, SheetStep | None]


def plans_for(facts: FactSet, manager_id: str, period: Quarter) -> list[AssessmentPlanFact]:
    return [p for p in facts.assessment_plans
            if p.period == str(period) and manager_id in json.loads(p.managers)]


def latest_steps(facts: FactSet, plan_id: str, manager_id: str) -> dict[str, SheetStep]:
    """Each assessor's latest step on the manager's sheet (facts are in position order)."""
    found: dict[str, SheetStep] = {}
    for step in facts.sheet_steps:
        if step.plan_id == plan_id and step.manager_id == manager_id:
            found[step.assessor] = step
    return found


def plan_result(facts: FactSet, plan: AssessmentPlanFact, manager_id: str) -> PlanResult:
    items: dict[str, dict[str, str]] = json.loads(plan.items)
    weights = {a["subject"]: Decimal(a["weight"]) for a in json.loads(plan.assessors)}
    steps = latest_steps(facts, plan.plan_id, manager_id)
    counting = {s: step for s, step in steps.items() if step.step == "submitted" and s in weights}
    total = sum((weights[s] for s in counting), ZERO)
    counted = tuple(
        CountedSheet(plan.plan_id, s, weights[s], weights[s] / total, _scores(step), step.position)
        for s, step in counting.items())
    results = {code: sum((c.share * c.scores.get(code, ZERO) for c in counted), ZERO)
               for code in items}
    return PlanResult(plan, items, results, counted, {s: steps.get(s) for s in weights})


def qualitative_values(facts: FactSet, manager_id: str, period: Quarter) -> dict[str, Decimal]:
    """`qual_<dimension>` for every dimension of the manager's plans in the period."""
    values: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for plan in plans_for(facts, manager_id, period):
        result = plan_result(facts, plan, manager_id)
        for code, value in result.results.items():
            values[f"qual_{result.items[code]['dimension']}"] += value
    return dict(values)


def _scores(step: SheetStep) -> dict[str, Decimal]:
    raw: dict[str, Any] = json.loads(step.scores or "{}")
    return {code: Decimal(str(value)) for code, value in raw.items()}

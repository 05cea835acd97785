"""Answers about qualitative assessment (DESIGN §12): a plan's sheets, a manager's results,
an assessor's open sheets. Plain dicts, computed from a FactSet like every other answer."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from typing import Any

from ledger.quarter import Quarter
from projections.assessment_results import plan_result, plans_for
from projections.factset import AssessmentPlanFact, FactSet


def assessment_answer(facts: FactSet, manager_id: str, period: Quarter,
                      who_gave_what: bool) -> dict[str, Any]:
    """Item and dimension results of every plan of the period; with `who_gave_what`, each
    counted sheet's assessor, weight, share and scores (auditors and supervisors only)."""
    plans = []
    dimensions: dict[str, Decimal] = {}
    for plan in plans_for(facts, manager_id, period):
        result = plan_result(facts, plan, manager_id)
        items: list[dict[str, Any]] = [
            dict(code=code, dimension=item["dimension"], title=item["title"],
                 max=Decimal(item["max"]), result=result.results[code])
            for code, item in result.items.items()]
        for code, item in result.items.items():
            key = f"qual_{item['dimension']}"
            dimensions[key] = dimensions.get(key, Decimal(0)) + result.results[code]
        entry: dict[str, Any] = dict(
            plan_id=plan.plan_id, items=items,
            submitted=len(result.counted), assessors=len(result.sheets))
        if who_gave_what:
            entry["sheets"] = [
                dict(assessor=c.assessor, weight=c.weight, share=c.share, position=c.position,
                     scores={k: v for k, v in c.scores.items()})
                for c in result.counted]
        plans.append(entry)
    return dict(manager_id=manager_id, period=str(period), plans=plans,
                dimensions=[dict(name=k, value=v) for k, v in sorted(dimensions.items())])


def plan_answer(facts: FactSet, plan_id: str) -> dict[str, Any] | None:
    """The plan and every sheet's status (open, submitted), items scored and pending."""
    plan = next((p for p in facts.assessment_plans if p.plan_id == plan_id), None)
    if plan is None:
        return None
    items = list(json.loads(plan.items))
    sheets = []
    for manager_id in json.loads(plan.managers):
        for assessor in _subjects(plan):
            sheets.append(dict(manager_id=manager_id, assessor=assessor,
                               **_sheet_state(facts, plan, manager_id, assessor, items)))
    return dict(_plan_head(plan), sheets=sheets)


def tasks_answer(facts: FactSet, subject: str, today: date) -> list[dict[str, Any]]:
    """The caller's sheets not yet submitted, in plans still open on `today`."""
    found = []
    for plan in facts.assessment_plans:
        if subject not in _subjects(plan) or plan.closes_on < today:
            continue
        items = list(json.loads(plan.items))
        for manager_id in json.loads(plan.managers):
            state = _sheet_state(facts, plan, manager_id, subject, items)
            if state["status"] != "submitted":
                found.append(dict(plan_id=plan.plan_id, period=plan.period,
                                  manager_id=manager_id, closes_on=plan.closes_on, **state))
    return found


def _plan_head(plan: AssessmentPlanFact) -> dict[str, Any]:
    return dict(id=plan.plan_id, period=plan.period, unit=plan.unit,
                items=json.loads(plan.items),
                assessors=[dict(subject=a["subject"], weight=Decimal(a["weight"]))
                           for a in json.loads(plan.assessors)],
                managers=json.loads(plan.managers), closes_on=plan.closes_on,
                position=plan.position)


def _subjects(plan: AssessmentPlanFact) -> list[str]:
    return [a["subject"] for a in json.loads(plan.assessors)]


def _sheet_state(facts: FactSet, plan: AssessmentPlanFact, manager_id: str, assessor: str,
                 items: list[str]) -> dict[str, Any]:
    scores: dict[str, str] = {}
    status = "open"
    for step in facts.sheet_steps:  # position order: later saves add to earlier ones
        if step.plan_id != plan.plan_id or step.manager_id != manager_id \
                or step.assessor != assessor:
            continue
        if step.scores is not None:
            scores.update(json.loads(step.scores))
        status = "submitted" if step.step == "submitted" else "open"
    return dict(status=status, scored=[c for c in items if c in scores],
                pending=[c for c in items if c not in scores])

"""The assessment plan aggregate: qualitative items, assessors and their sheets (DESIGN §12).

A plan hands every manager of its unit one sheet per assessor. Sheets live inside the plan,
so the plan is the one consistency boundary for "who may still score what". Every save,
submission and reopening is an event with its actor and time; the results are computed
by the read side from the submissions known at a cut, never stored here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import date
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid5

from eventsourcing.domain import event

from ledger.base import LedgerAggregate
from ledger.errors import NotFound
from ledger.ids import LEDGER_NAMESPACE
from ledger.qualitative import QualitativeItem
from ledger.rules import (
    ASubmittedSheetIsFinal,
    EveryItemIsScoredBeforeSubmission,
    FieldErrors,
    NoOneScoresTheirOwnSheet,
    OnlySubmittedSheetsAreReopened,
    OnlyThePlansAssessorsScore,
    SheetsCloseAfterTheirLastDay,
    check,
    same_person,
)

MAX_ASSESSORS = 20
MAX_ITEMS = 50
MAX_MANAGERS = 2_000
MAX_COMMENT = 4000
_ONE_PLACE = re.compile(r"^[0-9]{1,4}(\.[0-9])?$")


def assessment_plan_id(plan_id: str) -> UUID:
    """The aggregate id of plan `plan_id`, so a repeat finds the same plan."""
    return uuid5(LEDGER_NAMESPACE, f"assessment-plan:{plan_id}")


class AssessmentPlan(LedgerAggregate):
    """A period's qualitative assessment of a unit: items, weighted assessors, sheets."""

    class Created(LedgerAggregate.Created):
        plan_id: str
        period: str
        unit: str
        # code -> {dimension, title, max}; copied from the rule set so a plan reads alone.
        items: dict[str, dict[str, str]]
        # [{subject, weight}], weights as decimal text summing to 1.
        assessors: list[dict[str, str]]
        managers: list[str]
        closes_on: date
        ruleset_version: str

    def __init__(
        self, plan_id: str, period: str, unit: str, items: dict[str, dict[str, str]],
        assessors: list[dict[str, str]], managers: list[str], closes_on: date,
        ruleset_version: str,
    ) -> None:
        # Body of the Created event: assigns only, because it re-runs on every replay.
        self.plan_id = plan_id
        self.period = period
        self.unit = unit
        self.items = items
        self.assessors = assessors
        self.managers = managers
        self.closes_on = closes_on
        self.ruleset_version = ruleset_version
        # (manager_id, assessor) -> {"status": ..., "scores": {code: text}, "comment": ...}
        self.sheets: dict[str, dict[str, Any]] = {}

    @classmethod
    def create(
        cls, *, plan_id: str, period: str, unit: str, items: Sequence[str],
        assessors: Sequence[Mapping[str, Any]], closes_on: date, managers: Sequence[str],
        catalog: Mapping[str, QualitativeItem], ruleset_version: str,
    ) -> AssessmentPlan:
        """A plan over the unit's managers; weights are decimals summing to 1."""
        errors = FieldErrors()
        errors.identifier("id", plan_id)
        quarter = errors.period("period", period)
        errors.identifier("unit", unit)
        errors.day("closes_on", closes_on)
        chosen = _items(errors, items, catalog, ruleset_version)
        weights = _assessors(errors, assessors)
        if not managers:
            errors.add("unit", f"unit {unit} has no managers to assess")
        elif len(managers) > MAX_MANAGERS:
            errors.add("unit", f"at most {MAX_MANAGERS} managers per plan")
        for subject in weights:
            if any(same_person(subject, m) for m in managers):
                errors.add("assessors", f"{subject} is a manager of the plan: no one scores "
                                        "their own sheet")
        errors.raise_if_any()
        return cls._create(
            cls.Created, id=assessment_plan_id(plan_id), plan_id=plan_id, period=quarter,
            unit=unit, items=chosen, assessors=[{"subject": s, "weight": format(w, "f")}
                                                for s, w in weights.items()],
            managers=sorted(managers), closes_on=closes_on, ruleset_version=ruleset_version,
        )

    # --- reading ----------------------------------------------------------------------

    def sheet(self, manager_id: str, assessor: str) -> dict[str, Any]:
        """The sheet as it stands (a sheet nobody touched yet is open and empty)."""
        return self.sheets.get(_key(manager_id, assessor),
                               {"status": "open", "scores": {}, "comment": None})

    def pending(self, manager_id: str, assessor: str) -> list[str]:
        scored = self.sheet(manager_id, assessor)["scores"]
        return [code for code in self.items if code not in scored]

    def assessor_named(self, subject: str) -> str:
        """The assessor's subject as the plan spells it (people compare caselessly)."""
        for entry in self.assessors:
            if same_person(entry["subject"], subject):
                return entry["subject"]
        return subject

    # --- commands ---------------------------------------------------------------------

    def save_sheet(
        self, *, manager_id: str, assessor: str, assessor_manager_id: str | None,
        scores: Mapping[str, Any], comment: str | None, today: date,
    ) -> None:
        """Saves part or all of a sheet; later saves add to (or change) earlier scores."""
        assessor = self._may_score(manager_id, assessor, assessor_manager_id, today)
        checked = self._scores(scores, comment)
        self._save(plan_id=self.plan_id, manager_id=manager_id, assessor=assessor,
                   scores=checked, comment=comment)

    @event("SheetSaved")
    def _save(self, plan_id: str, manager_id: str, assessor: str, scores: dict[str, str],
              comment: str | None) -> None:
        sheet = self.sheets.setdefault(_key(manager_id, assessor),
                                       {"status": "open", "scores": {}, "comment": None})
        sheet["scores"] = {**sheet["scores"], **scores}
        if comment is not None:
            sheet["comment"] = comment

    def submit_sheet(
        self, *, manager_id: str, assessor: str, assessor_manager_id: str | None, today: date,
    ) -> None:
        """Makes a sheet final; every item must be scored."""
        assessor = self._may_score(manager_id, assessor, assessor_manager_id, today)
        check(EveryItemIsScoredBeforeSubmission(tuple(self.pending(manager_id, assessor))))
        self._submit(plan_id=self.plan_id, manager_id=manager_id, assessor=assessor,
                     scores=dict(self.sheet(manager_id, assessor)["scores"]), submitted_on=today)

    @event("SheetSubmitted")
    def _submit(self, plan_id: str, manager_id: str, assessor: str, scores: dict[str, str],
                submitted_on: date) -> None:
        # The scores ride on the submission, so the submission alone says what counts.
        self.sheets[_key(manager_id, assessor)]["status"] = "submitted"

    def reopen_sheet(self, *, manager_id: str, assessor: str, reason: str) -> None:
        """An approver takes a submission back, with a reason; the scores stay to amend."""
        self._known_manager(manager_id)
        errors = FieldErrors()
        errors.text("reason", reason)
        errors.raise_if_any()
        assessor = self.assessor_named(assessor)
        check(OnlyThePlansAssessorsScore(assessor, self._subjects()),
              OnlySubmittedSheetsAreReopened(self.sheet(manager_id, assessor)["status"]))
        self._reopen(plan_id=self.plan_id, manager_id=manager_id, assessor=assessor,
                     reason=reason)

    @event("SheetReopened")
    def _reopen(self, plan_id: str, manager_id: str, assessor: str, reason: str) -> None:
        self.sheets[_key(manager_id, assessor)]["status"] = "open"

    # --- rules ------------------------------------------------------------------------

    def _may_score(self, manager_id: str, assessor: str, assessor_manager_id: str | None,
                   today: date) -> str:
        self._known_manager(manager_id)
        check(OnlyThePlansAssessorsScore(assessor, self._subjects()),
              NoOneScoresTheirOwnSheet(manager_id, assessor, assessor_manager_id),
              SheetsCloseAfterTheirLastDay(self.closes_on, today))
        named = self.assessor_named(assessor)
        check(ASubmittedSheetIsFinal(self.sheet(manager_id, named)["status"]))
        return named

    def _known_manager(self, manager_id: str) -> None:
        if manager_id not in self.managers:
            raise NotFound(f"plan {self.plan_id} has no sheet for manager {manager_id}")

    def _subjects(self) -> frozenset[str]:
        return frozenset(a["subject"] for a in self.assessors)

    def _scores(self, scores: Mapping[str, Any], comment: str | None) -> dict[str, str]:
        errors = FieldErrors()
        if comment is not None:
            errors.text("comment", comment, max_length=MAX_COMMENT)
        checked: dict[str, str] = {}
        for code, value in scores.items():
            score = _score(errors, f"scores.{code}", value, self.items.get(code))
            if score is not None:
                checked[code] = format(score, "f")
        if not scores:
            errors.add("scores", "score at least one item")
        errors.raise_if_any()
        return checked


def _key(manager_id: str, assessor: str) -> str:
    # One text key keeps the state JSON-friendly like every stored field.
    return f"{manager_id}\u001f{assessor}"


def _score(errors: FieldErrors, name: str, value: object,
           item: Mapping[str, str] | None) -> Decimal | None:
    if item is None:
        errors.add(name, "is not an item of this plan")
        return None
    if isinstance(value, bool) or not isinstance(value, (int, str, Decimal)) \
            or not _ONE_PLACE.match(str(value)):
        errors.add(name, "must be a number from 0 with at most one decimal place")
        return None
    score = Decimal(str(value))
    if score > Decimal(item["max"]):
        errors.add(name, f"must be at most {item['max']}")
        return None
    return score


def _items(errors: FieldErrors, items: Sequence[str], catalog: Mapping[str, QualitativeItem],
           version: str) -> dict[str, dict[str, str]]:
    if not items or len(items) > MAX_ITEMS or len(set(items)) != len(items):
        errors.add("items", f"name 1 to {MAX_ITEMS} distinct item codes")
        return {}
    chosen: dict[str, dict[str, str]] = {}
    for code in items:
        found = catalog.get(code)
        if found is None:
            errors.add("items", f"{code} is not a qualitative item of rule set {version}")
            continue
        chosen[code] = {"dimension": found.dimension, "title": found.title,
                        "max": format(found.max, "f")}
    return chosen


def _assessors(errors: FieldErrors, assessors: Sequence[Mapping[str, Any]]) -> dict[str, Decimal]:
    weights: dict[str, Decimal] = {}
    if not assessors or len(assessors) > MAX_ASSESSORS:
        errors.add("assessors", f"name 1 to {MAX_ASSESSORS} assessors")
        return weights
    for index, entry in enumerate(assessors):
        subject, weight = entry.get("subject"), entry.get("weight")
        errors.identifier(f"assessors.{index}.subject", subject)
        if not isinstance(weight, Decimal) or not Decimal(0) < weight <= 1:
            errors.add(f"assessors.{index}.weight", "must be a decimal above 0 and at most 1")
            continue
        if isinstance(subject, str):
            if any(same_person(subject, known) for known in weights):
                errors.add(f"assessors.{index}.subject", "names an assessor twice")
            weights[subject] = weight
    if weights and sum(weights.values()) != 1:
        errors.add("assessors", "weights must sum to 1")
    return weights

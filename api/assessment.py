"""Qualitative assessment (DESIGN §12): plans, the caller's sheets to score, saving part or
all of a sheet, submitting it, an approver reopening it, and a manager's results.

Every save, submission and reopening is an event of the plan with its actor and time; the
results are the read side's, from the sheets submitted by the cut asked for.
"""
# flask-smorest ships no type hints, so its route decorators are untyped.
# mypy: disable-error-code="untyped-decorator"

from __future__ import annotations

from decimal import Decimal
from typing import Any

import marshmallow as ma
from flask import Flask, g

from api.auth import acting_manager_id, require_own
from api.common import CommandSchema, Day, LedgerBlueprint, identifier, ledger, text, with_receipt
from api.idempotency import LEDGER
from api.indicators import Figure
from api.pagination import Page, after_cursor, cursor_args, page_by_key
from api.scores_and_pay import CutOut, PeriodArgs, read_side, read_side_of
from ledger.application import Made
from ledger.assessment import AssessmentPlan
from ledger.errors import InvalidInput
from ledger.quarter import Quarter
from ledger.store import IdempotencyRecord

blp = LedgerBlueprint("assessment", __name__, description="Qualitative assessment (§12)")

MAX_SCORES = 50


def register_unit_reader(app: Flask) -> None:
    """A plan covers the unit's managers as the read models know them (DESIGN §12)."""
    app.extensions[LEDGER].unit_managers = \
        lambda unit, day: read_side_of(app).unit_managers(unit)


class AssessorIn(ma.Schema):
    subject = identifier(required=True)
    weight = Figure(required=True)


class PlanIn(ma.Schema):
    id = identifier(required=True, data_key="id", attribute="plan_id")
    period = ma.fields.String(required=True, validate=ma.validate.Length(1, 16))
    unit = identifier(required=True)
    items = ma.fields.List(identifier(), required=True, validate=ma.validate.Length(1, 50))
    assessors = ma.fields.List(ma.fields.Nested(AssessorIn), required=True,
                               validate=ma.validate.Length(1, 20))
    closes_on = Day(required=True)


class Score(ma.fields.Field[Any]):
    """A score: a number or decimal string; its range and places are the plan's rule."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, (int, str, Decimal)):
            raise ma.ValidationError("must be a number with at most one decimal place")
        return value


class SheetIn(ma.Schema):
    scores = ma.fields.Dict(keys=identifier(), values=Score(), required=True,
                            validate=ma.validate.Length(1, MAX_SCORES))
    comment = text(load_default=None, allow_none=True)


class ReopenIn(ma.Schema):
    assessor = identifier(required=True)
    reason = text(required=True)


class QualitativeItemOut(ma.Schema):
    dimension = ma.fields.String(required=True)
    title = ma.fields.String(required=True)
    max = ma.fields.String(required=True)


class AssessorOut(ma.Schema):
    subject = ma.fields.String(required=True)
    weight = Figure(required=True)


class SheetStateOut(ma.Schema):
    manager_id = ma.fields.String(required=True)
    assessor = ma.fields.String(required=True)
    status = ma.fields.String(required=True, validate=ma.validate.OneOf(["open", "submitted"]))
    scored = ma.fields.List(ma.fields.String(), required=True)
    pending = ma.fields.List(ma.fields.String(), required=True)


class PlanFields(ma.Schema):
    """What a plan is, as its command answers it and as its state is read."""

    id = ma.fields.String(required=True)
    period = ma.fields.String(required=True)
    unit = ma.fields.String(required=True)
    items = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Nested(QualitativeItemOut),
                           required=True)
    assessors = ma.fields.List(ma.fields.Nested(AssessorOut), required=True)
    managers = ma.fields.List(ma.fields.String(), required=True)
    closes_on = Day(required=True)


class PlanOut(CommandSchema, PlanFields):
    ruleset_version = ma.fields.String(required=True)


class SheetOut(CommandSchema):
    plan_id = ma.fields.String(required=True)
    manager_id = ma.fields.String(required=True)
    assessor = ma.fields.String(required=True)
    status = ma.fields.String(required=True)
    scores = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.String(), required=True)
    comment = ma.fields.String(allow_none=True, required=True)
    scored = ma.fields.List(ma.fields.String(), required=True)
    pending = ma.fields.List(ma.fields.String(), required=True)


class PlanStateOut(PlanFields):
    position = ma.fields.Integer(required=True)
    sheets = ma.fields.List(ma.fields.Nested(SheetStateOut), required=True)


class TaskOut(ma.Schema):
    plan_id = ma.fields.String(required=True)
    period = ma.fields.String(required=True)
    manager_id = ma.fields.String(required=True)
    closes_on = Day(required=True)
    status = ma.fields.String(required=True)
    scored = ma.fields.List(ma.fields.String(), required=True)
    pending = ma.fields.List(ma.fields.String(), required=True)


MAX_TASKS = 1_000
"""The most sheets one page of tasks lists."""

TasksArgs = cursor_args(ma.Schema, after_cursor(
    "cursor: the next_after (plan_id/manager_id) of the page before"), MAX_TASKS)


class TasksOut(Page):
    items = ma.fields.List(ma.fields.Nested(TaskOut), required=True)
    next_after = ma.fields.String(allow_none=True, required=True, metadata={
        "description": "cursor of the next page (plan_id/manager_id of the last), if any"})


class GivenOut(ma.Schema):
    assessor = ma.fields.String(required=True)
    weight = Figure(required=True)
    share = Figure(required=True, metadata={"description": "the weight after sharing out "
                                            "the weights of sheets not submitted"})
    position = ma.fields.Integer(required=True)
    scores = ma.fields.Dict(keys=ma.fields.String(), values=Figure(), required=True)


class ItemResultOut(ma.Schema):
    code = ma.fields.String(required=True)
    dimension = ma.fields.String(required=True)
    title = ma.fields.String(required=True)
    max = Figure(required=True)
    result = Figure(required=True)


class PlanResultOut(ma.Schema):
    plan_id = ma.fields.String(required=True)
    items = ma.fields.List(ma.fields.Nested(ItemResultOut), required=True)
    submitted = ma.fields.Integer(required=True)
    assessors = ma.fields.Integer(required=True)
    sheets = ma.fields.List(ma.fields.Nested(GivenOut), metadata={
        "description": "who gave which score: auditors and supervisors only"})


class DimensionOut(ma.Schema):
    name = ma.fields.String(required=True)
    value = Figure(required=True)


class AssessmentOut(CutOut):
    period = ma.fields.String(required=True)
    plans = ma.fields.List(ma.fields.Nested(PlanResultOut), required=True)
    dimensions = ma.fields.List(ma.fields.Nested(DimensionOut), required=True)


def plan_reply(made: Made[AssessmentPlan], *_: Any, **__: Any) -> dict[str, Any]:
    plan = made.value
    return with_receipt(dict(id=plan.plan_id, period=plan.period, unit=plan.unit,
                             items=plan.items, assessors=plan.assessors, managers=plan.managers,
                             closes_on=plan.closes_on, ruleset_version=plan.ruleset_version),
                        made.receipt)


def sheet_reply(made: Made[AssessmentPlan], *args: Any, plan_id: str, manager_id: str,
                **__: Any) -> dict[str, Any]:
    plan = made.value
    body = args[0] if args and isinstance(args[0], dict) else {}
    # The sheet the request named: the caller's own, or on reopening the assessor's.
    assessor = plan.assessor_named(body.get("assessor") or made_by())
    sheet = plan.sheet(manager_id, assessor)
    pending = plan.pending(manager_id, assessor)
    return with_receipt(dict(plan_id=plan_id, manager_id=manager_id, assessor=assessor,
                             status=sheet["status"], scores=sheet["scores"],
                             comment=sheet["comment"], pending=pending,
                             scored=[c for c in plan.items if c not in pending]), made.receipt)


def made_by() -> str:
    """Who saved or submitted: the caller (a replay is answered to the same caller)."""
    return str(g.principal.subject)


@blp.route("/assessment-plans", methods=["POST"])
@blp.allow("supervisor")
@blp.arguments(PlanIn)
@blp.command(201, PlanOut, plan_reply)
def create_plan(body: dict[str, Any], idempotency: IdempotencyRecord | None) -> Any:
    """Create a plan: items, weighted assessors, every manager of the unit gets a sheet each"""
    return ledger().create_assessment_plan(**body, idempotency=idempotency)


@blp.route("/assessment-plans/<plan_id>", methods=["GET"])
@blp.allow("supervisor", "auditor")
@blp.response(200, PlanStateOut)
def plan(plan_id: str) -> Any:
    """A plan and every sheet's status"""
    return read_side().assessment_plan(plan_id)


@blp.route("/assessment-tasks", methods=["GET"])
@blp.allow("supervisor", "approver", "manager")
@blp.arguments(TasksArgs, location="query")
@blp.response(200, TasksOut)
def tasks(args: dict[str, Any]) -> Any:
    """The caller's sheets still to score, by plan and manager id: plan, manager, items
    scored and pending"""
    found = sorted(read_side().assessment_tasks(str(g.principal.subject)), key=_task_key)
    # A key, not an index: a sheet submitted between two pages moves no other.
    after = args.get("after")
    shown, last = page_by_key(found, _task_key, _task_cursor(after) if after else None,
                              args["limit"])
    return {"items": shown, "next_after": "/".join(last) if last else None}


def _task_key(task: dict[str, Any]) -> tuple[str, str]:
    return (task["plan_id"], task["manager_id"])


def _task_cursor(after: str) -> tuple[str, str]:
    # A plan id holds no "/" (it is a path segment of /assessment-plans/{plan_id}).
    plan_id, slash, manager_id = after.partition("/")
    if not slash:
        raise InvalidInput({"after": ["must be plan_id/manager_id"]})
    return (plan_id, manager_id)


@blp.route("/assessment-plans/<plan_id>/sheets/<manager_id>", methods=["PUT"])
@blp.allow("supervisor", "approver", "manager")
@blp.arguments(SheetIn)
@blp.command(200, SheetOut, sheet_reply)
def save_sheet(body: dict[str, Any], idempotency: IdempotencyRecord | None, plan_id: str,
               manager_id: str) -> Any:
    """Save part or all of the caller's sheet for a manager"""
    return ledger().save_sheet(plan_id, manager_id, **body,
                               assessor_manager_id=acting_manager_id(), idempotency=idempotency)


@blp.route("/assessment-plans/<plan_id>/sheets/<manager_id>/submit", methods=["POST"])
@blp.allow("supervisor", "approver", "manager")
@blp.command(200, SheetOut, sheet_reply)
def submit_sheet(idempotency: IdempotencyRecord | None, plan_id: str, manager_id: str) -> Any:
    """Submit the caller's sheet: final, every item scored"""
    return ledger().submit_sheet(plan_id, manager_id, assessor_manager_id=acting_manager_id(),
                                 idempotency=idempotency)


@blp.route("/assessment-plans/<plan_id>/sheets/<manager_id>/reopen", methods=["POST"])
@blp.allow("approver")
@blp.arguments(ReopenIn)
@blp.command(200, SheetOut, sheet_reply)
def reopen_sheet(body: dict[str, Any], idempotency: IdempotencyRecord | None, plan_id: str,
                 manager_id: str) -> Any:
    """Reopen an assessor's submitted sheet, with a reason"""
    return ledger().reopen_sheet(plan_id, manager_id, **body, idempotency=idempotency)


@blp.route("/managers/<manager_id>/assessment", methods=["GET"])
@blp.allow("auditor", "supervisor", "manager")
@blp.arguments(PeriodArgs, location="query")
@blp.response(200, AssessmentOut)
def assessment(args: dict[str, Any], manager_id: str) -> Any:
    """Item and dimension results; auditors and supervisors also see who gave what"""
    require_own(manager_id)
    as_of = args.get("as_of")
    period = str(args.get("period") or Quarter.of(as_of or ledger().today()))
    return read_side().assessment(manager_id, period, as_of=as_of, known_at=args.get("known_at"),
                                  who_gave_what=g.principal.role in ("auditor", "supervisor"))

"""Managers: registration, grade changes and incremental targets (DESIGN §9); reading them
and their units, and reinstating a disqualified one (§16)."""
# flask-smorest ships no type hints, so its route decorators are untyped.
# mypy: disable-error-code="untyped-decorator"

from __future__ import annotations

from datetime import date
from typing import Any

import marshmallow as ma

from api.auth import require_own
from api.common import (
    CommandSchema,
    Day,
    LedgerBlueprint,
    Money,
    identifier,
    ledger,
    text,
    with_receipt,
)
from api.pagination import Page, after_cursor, cursor_args, page_by_key
from api.scores_and_pay import read_side
from ledger.application import Made
from ledger.manager import GRADES, Manager, StatusSpan
from ledger.store import IdempotencyRecord
from projections.master_data import MAX_PAGE, MAX_UNITS, Unit, manager_ids, units

blp = LedgerBlueprint("managers", __name__, description="Customer managers")


class ManagerIn(ma.Schema):
    id = identifier(required=True)
    name = ma.fields.String(required=True, validate=ma.validate.Length(1, 200))
    grade = ma.fields.String(required=True, validate=ma.validate.OneOf(GRADES))
    unit = ma.fields.String(required=True, validate=ma.validate.Length(1, 200))


class GradeChangeIn(ma.Schema):
    grade = ma.fields.String(required=True, validate=ma.validate.OneOf(GRADES))
    effective_on = Day(required=True)
    reason = text(required=True)


class TargetIn(ma.Schema):
    incremental = Money(required=True)
    reason = text(required=True)


class ReinstatementIn(ma.Schema):
    effective_on = Day(required=True)
    reason = text(required=True)


class StatusSpanSchema(ma.Schema):
    status = ma.fields.String(required=True, metadata={"description": "active or disqualified"})
    since = Day(allow_none=True, required=True, metadata={"description": "null: always"})
    until = Day(allow_none=True, required=True, metadata={"description": "null: still"})


class DisqualificationSchema(ma.Schema):
    deduction_id = ma.fields.UUID(required=True)
    rule_code = ma.fields.String(required=True)
    since = Day(required=True)
    until = Day(allow_none=True, required=True,
                metadata={"description": "the reinstatement's effective date; null: lasting"})


class GradeSinceSchema(ma.Schema):
    effective_on = Day(allow_none=True, required=True)
    grade = ma.fields.String(required=True)


class ManagerFields(ma.Schema):
    id = ma.fields.String(required=True)
    name = ma.fields.String(required=True)
    grade = ma.fields.String(required=True)
    unit = ma.fields.String(required=True)
    status = ma.fields.String(required=True, metadata={
        "description": "active or disqualified, today (DESIGN §16)"})
    status_history = ma.fields.List(ma.fields.Nested(StatusSpanSchema), required=True)
    disqualifications = ma.fields.List(ma.fields.Nested(DisqualificationSchema), required=True,
                                       metadata={"description": "one per disqualifying deduction "
                                                 "not voided"})
    grades = ma.fields.List(ma.fields.Nested(GradeSinceSchema), required=True,
                            metadata={"description": "grade history; the first holds always"})
    targets = ma.fields.Dict(keys=ma.fields.String(), values=Money(), required=True,
                             metadata={"description": "incremental target per period"})


class ManagerOut(ManagerFields, CommandSchema):
    pass


class ManagerListArgs(ma.Schema):
    unit = ma.fields.String(validate=ma.validate.Length(1, 200))
    after = identifier(metadata={"description": "cursor: the next_after of the page before"})
    limit = ma.fields.Integer(load_default=MAX_PAGE, validate=ma.validate.Range(1, MAX_PAGE))


class ManagerListOut(Page):
    items = ma.fields.List(ma.fields.Nested(ManagerFields), required=True)
    next_after = ma.fields.String(allow_none=True, required=True,
                                  metadata={"description": "cursor of the next page, if any"})


class UnitOut(ma.Schema):
    unit = ma.fields.String(required=True)
    managers = ma.fields.Integer(required=True)


UnitListArgs = cursor_args(ma.Schema, after_cursor(), MAX_UNITS)


class UnitListOut(Page):
    items = ma.fields.List(ma.fields.Nested(UnitOut), required=True)
    next_after = ma.fields.String(allow_none=True, required=True,
                                  metadata={"description": "cursor of the next page, if any"})


def manager_reply(made: Made[Manager], *_: Any, **__: Any) -> dict[str, Any]:
    return with_receipt(manager_view(made.value), made.receipt)


def _span(span: StatusSpan) -> dict[str, Any]:
    # The first stretch holds "since always" (date.min): shown as null, like the grade.
    return {"status": span.status, "since": None if span.since == date.min else span.since,
            "until": span.until}


def manager_view(manager: Manager) -> dict[str, Any]:
    return {
        "id": manager.business_id, "name": manager.name, "grade": manager.grade,
        "unit": manager.unit, "status": manager.status_on(ledger().today()),
        "status_history": [_span(s) for s in manager.status_history()],
        "disqualifications": [
            {"deduction_id": d.deduction_id, "rule_code": d.rule_code, "since": d.since,
             "until": d.until} for d in manager.disqualifications],
        "targets": manager.targets,
        # The registration grade holds "since always" (date.min): shown as null.
        "grades": [{"effective_on": None if i == 0 else since, "grade": grade}
                   for i, (since, grade) in enumerate(manager.grade_history)],
    }


@blp.route("/managers", methods=["POST"])
@blp.allow("supervisor")
@blp.arguments(ManagerIn)
@blp.command(201, ManagerOut, manager_reply)
def register_manager(
    body: dict[str, Any], idempotency: IdempotencyRecord | None
) -> Made[Manager]:
    """Register a manager"""
    return ledger().register_manager(business_id=body["id"], name=body["name"],
                                     grade=body["grade"], unit=body["unit"],
                                     idempotency=idempotency)


@blp.route("/managers/<manager_id>/grade", methods=["POST"])
@blp.allow("supervisor")
@blp.arguments(GradeChangeIn)
@blp.command(200, ManagerOut, manager_reply)
def change_grade(
    body: dict[str, Any], manager_id: str, idempotency: IdempotencyRecord | None
) -> Made[Manager]:
    """Change a manager's grade from a date"""
    return ledger().change_grade(manager_id, **body, idempotency=idempotency)


@blp.route("/managers/<manager_id>/targets/<period>", methods=["PUT"])
@blp.allow("supervisor")
@blp.arguments(TargetIn)
@blp.command(200, ManagerOut, manager_reply)
def set_target(
    body: dict[str, Any], manager_id: str, period: str, idempotency: IdempotencyRecord | None
) -> Made[Manager]:
    """Set or change a manager's incremental target for a period"""
    return ledger().set_target(manager_id, period=period, **body, idempotency=idempotency)


@blp.route("/managers/<manager_id>/reinstatement", methods=["POST"])
@blp.allow("approver")
@blp.arguments(ReinstatementIn)
@blp.command(200, ManagerOut, manager_reply)
def reinstate_manager(
    body: dict[str, Any], manager_id: str, idempotency: IdempotencyRecord | None
) -> Made[Manager]:
    """Reinstate a disqualified manager from a date (never whoever recorded the deduction)"""
    return ledger().reinstate_manager(manager_id, **body, idempotency=idempotency)


@blp.route("/managers", methods=["GET"])
@blp.allow("supervisor", "approver", "auditor")
@blp.arguments(ManagerListArgs, location="query")
@blp.response(200, ManagerListOut)
def list_managers(args: dict[str, Any]) -> dict[str, Any]:
    """Managers in id order, optionally of one unit, a page after the cursor"""
    app = ledger()
    page = manager_ids(read_side(), **args)
    return {"items": [manager_view(app.manager(i)) for i in page.ids],
            "next_after": page.next_after}


@blp.route("/managers/<manager_id>", methods=["GET"])
@blp.allow("supervisor", "approver", "auditor", "manager")
@blp.response(200, ManagerFields)
def get_manager(manager_id: str) -> dict[str, Any]:
    """A manager: name, grade, unit, status, and their grade history (a manager: itself)"""
    require_own(manager_id)
    return manager_view(ledger().manager(manager_id))


@blp.route("/units", methods=["GET"])
@blp.allow("supervisor", "approver", "auditor")
@blp.arguments(UnitListArgs, location="query")
@blp.response(200, UnitListOut)
def list_units(args: dict[str, Any]) -> dict[str, Any]:
    """Every unit managers are registered in, with how many, in name order"""
    # One row more than asked says whether a next page exists.
    found = units(read_side(), after=args.get("after"), limit=args["limit"] + 1)
    shown, next_after = page_by_key(found, _unit_name, None, args["limit"])
    return {"items": shown, "next_after": next_after}


def _unit_name(unit: Unit) -> str:
    return unit.unit

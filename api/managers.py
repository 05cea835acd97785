"""Managers: registration, grade changes and incremental targets (DESIGN §9)."""
# flask-smorest ships no type hints, so its route decorators are untyped.
# mypy: disable-error-code="untyped-decorator"

from __future__ import annotations

from typing import Any

import marshmallow as ma

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
from ledger.application import Made
from ledger.manager import GRADES, Manager
from ledger.store import IdempotencyRecord

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


class GradeSinceSchema(ma.Schema):
    effective_on = Day(allow_none=True, required=True)
    grade = ma.fields.String(required=True)


class ManagerOut(CommandSchema):
    id = ma.fields.String(required=True)
    name = ma.fields.String(required=True)
    grade = ma.fields.String(required=True)
    unit = ma.fields.String(required=True)
    status = ma.fields.String(required=True)
    grades = ma.fields.List(ma.fields.Nested(GradeSinceSchema), required=True,
                            metadata={"description": "grade history; the first holds always"})
    targets = ma.fields.Dict(keys=ma.fields.String(), values=Money(), required=True,
                             metadata={"description": "incremental target per period"})


def manager_reply(made: Made[Manager], *_: Any, **__: Any) -> dict[str, Any]:
    return with_receipt(manager_view(made.value), made.receipt)


def manager_view(manager: Manager) -> dict[str, Any]:
    return {
        "id": manager.business_id, "name": manager.name, "grade": manager.grade,
        "unit": manager.unit, "status": manager.status, "targets": manager.targets,
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

"""Deductions (差错积分): recorded by supervisors or posted by integrators, then disputed.

An integrator's deduction carries its source keys, which fix its id, so a retried posting
is answered "duplicate" (nothing appended) or refused as a conflict (409).
"""
# flask-smorest ships no type hints, so its route decorators are untyped.
# mypy: disable-error-code="untyped-decorator"

from __future__ import annotations

from typing import Any
from uuid import UUID

import marshmallow as ma

from api.auth import acting_manager_id, require_own, with_source
from api.common import (
    CommandSchema,
    Day,
    LedgerBlueprint,
    evidence,
    identifier,
    ledger,
    text,
    with_receipt,
)
from api.trail import TrailStepSchema, trail
from ledger.application import DEDUCTION_FIELDS, Made
from ledger.deduction import Deduction
from ledger.dispute import Dispute
from ledger.store import IdempotencyRecord

blp = LedgerBlueprint("deductions", __name__, description="Deductions and their disputes")


def strict_boolean(**kwargs: Any) -> ma.fields.Boolean:
    return ma.fields.Boolean(truthy={True}, falsy={False}, **kwargs)


class DeductionIn(ma.Schema):
    manager_id = identifier(required=True)
    rule_code = identifier(required=True)
    occurrences = ma.fields.Integer(required=True, strict=True,
                                    validate=ma.validate.Range(1, 1000))
    aggravated = strict_boolean(required=True)
    disqualify = strict_boolean(load_default=False)
    effective_on = Day(required=True)
    description = text(required=True)
    customer_id = identifier(load_default=None, allow_none=True)
    evidence = evidence()
    source_system = identifier(load_default=None, allow_none=True)
    external_id = identifier(load_default=None, allow_none=True)


class DisputeIn(ma.Schema):
    reason = text(required=True)
    evidence = evidence()


class DeductionFields(ma.Schema):
    id = ma.fields.UUID(required=True)
    manager_id = ma.fields.String(required=True)
    rule_code = ma.fields.String(required=True)
    occurrences = ma.fields.Integer(required=True)
    aggravated = ma.fields.Boolean(required=True)
    disqualify = ma.fields.Boolean(required=True)
    effective_on = Day(required=True)
    description = ma.fields.String(required=True)
    customer_id = ma.fields.String(allow_none=True, required=True)
    evidence = ma.fields.List(ma.fields.String(), required=True)
    status = ma.fields.String(required=True, validate=ma.validate.OneOf(
        ["active", "amended", "voided"]))
    points = ma.fields.Integer(required=True, metadata={"description": "error points counted"})
    score_delta = ma.fields.Integer(required=True, metadata={"description": "score points"})
    ruleset_version = ma.fields.String(required=True)
    recorded_by = ma.fields.String(required=True)
    source_system = ma.fields.String(allow_none=True, required=True)
    external_id = ma.fields.String(allow_none=True, required=True)
    dispute_id = ma.fields.UUID(allow_none=True, required=True)
    dispute_by = Day(allow_none=True, required=True, metadata={
        "description": "the last day its manager may dispute it, while that is possible"})


class DeductionOut(DeductionFields, CommandSchema):
    result = ma.fields.String(required=True, validate=ma.validate.OneOf(["created", "duplicate"]))


class DeductionDetailOut(DeductionFields):
    trail = ma.fields.List(ma.fields.Nested(TrailStepSchema), required=True)


class DisputeFiledOut(CommandSchema):
    id = ma.fields.UUID(required=True)
    deduction_id = ma.fields.UUID(required=True)
    manager_id = ma.fields.String(required=True)
    status = ma.fields.String(required=True)
    due_on = Day(allow_none=True, required=True)


def deduction_view(deduction: Deduction, source: tuple[str | None, str | None]) -> dict[str, Any]:
    score = ledger().ruleset(deduction.ruleset_version).score
    points = deduction.error_points(score.aggravation_factor)
    view = {name: getattr(deduction, name) for name in (
        *DEDUCTION_FIELDS, "id", "status", "ruleset_version", "recorded_by", "dispute_id")}
    return {**view, "points": points, "score_delta": -points * score.points_to_score,
            "source_system": source[0], "external_id": source[1],
            "dispute_by": ledger().dispute_deadline(deduction)}


def deduction_reply(made: Made[Deduction], body: dict[str, Any]) -> dict[str, Any]:
    source = (body["source_system"], body["external_id"])
    view = {**deduction_view(made.value, source), "result": made.result}
    return with_receipt(view, made.receipt)


@blp.route("/deductions", methods=["POST"])
@blp.allow("supervisor", "integrator")
@blp.arguments(DeductionIn)
@blp.command(201, DeductionOut, deduction_reply)
@blp.alt_response(200, schema=DeductionOut, description="Already recorded (a duplicate)")
def record_deduction(
    body: dict[str, Any], idempotency: IdempotencyRecord | None
) -> Made[Deduction]:
    """Record a deduction"""
    with with_source(body["source_system"], body["external_id"]):
        return ledger().record_deduction(**body, idempotency=idempotency)


@blp.route("/deductions/<uuid:deduction_id>", methods=["GET"])
@blp.allow("auditor", "supervisor", "manager")
@blp.response(200, DeductionDetailOut)
def get_deduction(deduction_id: UUID) -> dict[str, Any]:
    """A deduction, its status and its whole trail with its dispute's, in log order
    (managers: their own only)"""
    app = ledger()
    deduction = app.deduction(deduction_id)
    require_own(deduction.manager_id)
    history = app.history(deduction_id)
    first = history[0][0]
    view = deduction_view(deduction, (first.source_system, first.external_id))
    disputed = app.history(deduction.dispute_id) if deduction.dispute_id else []
    return {**view, "trail": trail(history, disputed)}


def dispute_filed_reply(made: Made[Dispute], *_: Any, **__: Any) -> dict[str, Any]:
    dispute = made.value
    return with_receipt({"id": dispute.id, "deduction_id": dispute.deduction_id,
                         "manager_id": dispute.manager_id, "status": dispute.status,
                         "due_on": dispute.due_on}, made.receipt)


@blp.route("/deductions/<uuid:deduction_id>/disputes", methods=["POST"])
@blp.allow("manager")
@blp.arguments(DisputeIn)
@blp.command(201, DisputeFiledOut, dispute_filed_reply)
def file_dispute(
    body: dict[str, Any], deduction_id: UUID, idempotency: IdempotencyRecord | None
) -> Made[Dispute]:
    """Dispute a deduction (only the manager who received it)"""
    return ledger().file_dispute(deduction_id, filed_by_manager_id=acting_manager_id(), **body,
                                 idempotency=idempotency)

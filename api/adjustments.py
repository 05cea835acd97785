"""Manual score adjustments: proposed by a supervisor, decided by someone else (§3.6).

Only an approved adjustment counts; it is taken back only by another event (a reversal),
so its approval stays on record.
"""
# flask-smorest ships no type hints, so its route decorators are untyped.
# mypy: disable-error-code="untyped-decorator"

from __future__ import annotations

from typing import Any
from uuid import UUID

import marshmallow as ma

from api.auth import require_own
from api.common import CommandSchema, LedgerBlueprint, identifier, ledger, text, with_receipt
from api.trail import TrailStepSchema, trail
from ledger.adjustment import Adjustment
from ledger.application import Made
from ledger.rules import MAX_POINTS
from ledger.store import IdempotencyRecord

blp = LedgerBlueprint("adjustments", __name__, description="Manual score adjustments")

ATTRIBUTES = ("id", "manager_id", "period", "points", "reason", "status", "proposed_by",
              "decided_by", "first_approved_by")


class ProposalIn(ma.Schema):
    manager_id = identifier(required=True)
    period = ma.fields.String(required=True, metadata={"description": "quarter, e.g. 2026Q1"})
    points = ma.fields.Integer(required=True, strict=True,
                               validate=ma.validate.Range(-MAX_POINTS, MAX_POINTS),
                               metadata={"description": "score points, signed, never 0"})
    reason = text(required=True)


class ApprovalIn(ma.Schema):
    approved = ma.fields.Boolean(required=True, truthy={True}, falsy={False})
    reason = text(required=True)


class ReversalIn(ma.Schema):
    reason = text(required=True)


class AdjustmentFields(ma.Schema):
    id = ma.fields.UUID(required=True)
    manager_id = ma.fields.String(required=True)
    period = ma.fields.String(required=True)
    points = ma.fields.Integer(required=True)
    reason = ma.fields.String(required=True)
    status = ma.fields.String(required=True, validate=ma.validate.OneOf(
        ["proposed", "approved", "rejected", "reversed"]))
    proposed_by = ma.fields.String(required=True)
    decided_by = ma.fields.String(allow_none=True, required=True)
    first_approved_by = ma.fields.String(allow_none=True, required=True, metadata={
        "description": "the first of two approvals, above the rule set's "
                       "adjustments.second_approval_above; the adjustment counts after the second"})
    counts = ma.fields.Boolean(required=True, metadata={"description": "moves the score now"})


class AdjustmentOut(AdjustmentFields, CommandSchema):
    pass


class AdjustmentDetailOut(AdjustmentFields):
    trail = ma.fields.List(ma.fields.Nested(TrailStepSchema), required=True)


def adjustment_view(adjustment: Adjustment) -> dict[str, Any]:
    return {name: getattr(adjustment, name) for name in (*ATTRIBUTES, "counts")}


def adjustment_reply(made: Made[Adjustment], *_: Any, **__: Any) -> dict[str, Any]:
    return with_receipt(adjustment_view(made.value), made.receipt)


@blp.route("/adjustments", methods=["POST"])
@blp.allow("supervisor")
@blp.arguments(ProposalIn)
@blp.command(201, AdjustmentOut, adjustment_reply)
def propose(body: dict[str, Any], idempotency: IdempotencyRecord | None) -> Made[Adjustment]:
    """Propose a manual score adjustment"""
    return ledger().propose_adjustment(**body, idempotency=idempotency)


@blp.route("/adjustments/<uuid:adjustment_id>/approval", methods=["POST"])
@blp.allow("approver")
@blp.arguments(ApprovalIn)
@blp.command(200, AdjustmentOut, adjustment_reply)
def decide(
    body: dict[str, Any], adjustment_id: UUID, idempotency: IdempotencyRecord | None
) -> Made[Adjustment]:
    """Approve or reject a proposed adjustment (never by its proposer)"""
    return ledger().decide_adjustment(adjustment_id, **body, idempotency=idempotency)


@blp.route("/adjustments/<uuid:adjustment_id>/reversal", methods=["POST"])
@blp.allow("approver")
@blp.arguments(ReversalIn)
@blp.command(200, AdjustmentOut, adjustment_reply)
def reverse(
    body: dict[str, Any], adjustment_id: UUID, idempotency: IdempotencyRecord | None
) -> Made[Adjustment]:
    """Reverse an approved adjustment by a new event (never by its proposer)"""
    return ledger().reverse_adjustment(adjustment_id, **body, idempotency=idempotency)


@blp.route("/adjustments/<uuid:adjustment_id>", methods=["GET"])
@blp.allow("auditor", "supervisor", "approver", "manager")
@blp.response(200, AdjustmentDetailOut)
def get_adjustment(adjustment_id: UUID) -> dict[str, Any]:
    """An adjustment, its status and its trail (managers: their own only)"""
    app = ledger()
    adjustment = app.adjustment(adjustment_id)
    require_own(adjustment.manager_id)
    return {**adjustment_view(adjustment), "trail": trail(app.history(adjustment_id))}

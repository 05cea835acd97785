"""Manual score adjustments: proposed by a supervisor, decided by someone else (§3.6).

Only an approved adjustment counts; it is taken back only by another event (a reversal),
so its approval stays on record.
"""
# flask-smorest ships no type hints, so its route decorators are untyped.
# mypy: disable-error-code="untyped-decorator"

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

import marshmallow as ma
from flask import Response

from api.auth import require_own
from api.common import (
    CommandSchema,
    LedgerBlueprint,
    answer,
    identifier,
    ledger,
    run_command,
    text,
)
from api.trail import TrailStepSchema, trail

blp = LedgerBlueprint("adjustments", __name__, description="Manual score adjustments")

ATTRIBUTES = ("id", "manager_id", "period", "points", "reason", "status", "proposed_by",
              "decided_by")


class ProposalIn(ma.Schema):
    manager_id = identifier(required=True)
    period = ma.fields.String(required=True, metadata={"description": "quarter, e.g. 2026Q1"})
    points = ma.fields.Integer(required=True, strict=True,
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
    counts = ma.fields.Boolean(required=True, metadata={"description": "moves the score now"})


class AdjustmentOut(AdjustmentFields, CommandSchema):
    pass


class AdjustmentDetailOut(AdjustmentFields):
    trail = ma.fields.List(ma.fields.Nested(TrailStepSchema), required=True)


def adjustment_view(aggregates: Sequence[Any]) -> dict[str, Any]:
    return {name: getattr(aggregates[0], name) for name in (*ATTRIBUTES, "counts")}


@blp.route("/adjustments", methods=["POST"])
@blp.allow("supervisor")
@blp.command()
@blp.arguments(ProposalIn)
@blp.response(201, AdjustmentOut)
def propose(body: dict[str, Any]) -> Response:
    """Propose a manual score adjustment"""
    return run_command(lambda app: app.propose_adjustment(**body),
                       answer(201, AdjustmentOut, adjustment_view))


@blp.route("/adjustments/<uuid:adjustment_id>/approval", methods=["POST"])
@blp.allow("approver")
@blp.command()
@blp.arguments(ApprovalIn)
@blp.response(200, AdjustmentOut)
def decide(body: dict[str, Any], adjustment_id: UUID) -> Response:
    """Approve or reject a proposed adjustment (never by its proposer)"""
    return run_command(lambda app: app.decide_adjustment(adjustment_id, **body),
                       answer(200, AdjustmentOut, adjustment_view))


@blp.route("/adjustments/<uuid:adjustment_id>/reversal", methods=["POST"])
@blp.allow("approver")
@blp.command()
@blp.arguments(ReversalIn)
@blp.response(200, AdjustmentOut)
def reverse(body: dict[str, Any], adjustment_id: UUID) -> Response:
    """Reverse an approved adjustment by a new event (never by its proposer)"""
    return run_command(lambda app: app.reverse_adjustment(adjustment_id, **body),
                       answer(200, AdjustmentOut, adjustment_view))


@blp.route("/adjustments/<uuid:adjustment_id>", methods=["GET"])
@blp.allow("auditor", "supervisor", "approver", "manager")
@blp.response(200, AdjustmentDetailOut)
def get_adjustment(adjustment_id: UUID) -> dict[str, Any]:
    """An adjustment, its status and its trail (managers: their own only)"""
    app = ledger()
    adjustment = app.adjustment(adjustment_id)
    require_own(adjustment.manager_id)
    return {**adjustment_view([adjustment]), "trail": trail(app.history(adjustment_id))}

"""Disputes and appeals: comments, decisions, the trail, and the reviewers' queues (§3.5).

Who may take each step is checked twice, by layer: the route admits roles, and the ledger's
rules refuse the wrong person (only the owner disputes or appeals; the recorder never
decides). A manager sees and comments only on disputes about their own deductions.
"""
# flask-smorest ships no type hints, so its route decorators are untyped.
# mypy: disable-error-code="untyped-decorator"

from __future__ import annotations

from typing import Any
from uuid import UUID

import marshmallow as ma

from api.auth import acting_manager_id, require_own
from api.common import CommandSchema, Day, LedgerBlueprint, evidence, ledger, text, with_receipt
from api.pagination import Page
from api.scores_and_pay import read_side
from api.trail import TrailStepSchema, trail
from ledger.application import Made
from ledger.deduction import Deduction
from ledger.dispute import OUTCOMES, Dispute
from ledger.rules import MAX_POINTS
from ledger.store import IdempotencyRecord

blp = LedgerBlueprint("disputes", __name__, description="Disputes, decisions and appeals")

STATUSES = ("open", "decided", "appealed", "appeal_decided", "withdrawn")
MAX_QUEUE = 1000
MAX_POSITION = 2**63 - 1
DISPUTE_ATTRIBUTES = ("id", "deduction_id", "manager_id", "status", "outcome", "points",
                      "appeal_outcome", "appeal_points", "due_on", "decided_on", "decided_by",
                      "comment_count", "awaiting_information")


class CommentIn(ma.Schema):
    text = text(required=True)
    evidence = evidence()


class DecisionIn(ma.Schema):
    outcome = ma.fields.String(required=True, validate=ma.validate.OneOf(OUTCOMES))
    points = ma.fields.Integer(strict=True, load_default=None, allow_none=True,
                               validate=ma.validate.Range(0, MAX_POINTS),
                               metadata={"description": "new total error points, "
                                         "only when partly_upheld"})
    reason = text(required=True)


class AppealIn(ma.Schema):
    reason = text(required=True)


class WithdrawalIn(ma.Schema):
    reason = text(required=True)


class InformationRequestIn(ma.Schema):
    question = text(required=True)


class InformationIn(ma.Schema):
    answer = text(required=True)


class QueueArgs(ma.Schema):
    status = ma.fields.String(validate=ma.validate.OneOf(STATUSES))
    overdue = ma.fields.Boolean()
    manager_id = ma.fields.String(validate=ma.validate.Length(1, 64))
    limit = ma.fields.Integer(load_default=100, validate=ma.validate.Range(1, MAX_QUEUE))
    after = ma.fields.Integer(load_default=0, validate=ma.validate.Range(0, MAX_POSITION),
                              metadata={"description": "cursor: the next_after of the page "
                                                       "before"})


class DisputeFields(ma.Schema):
    id = ma.fields.UUID(required=True)
    deduction_id = ma.fields.UUID(required=True)
    manager_id = ma.fields.String(required=True)
    status = ma.fields.String(required=True, validate=ma.validate.OneOf(STATUSES))
    outcome = ma.fields.String(allow_none=True, required=True)
    points = ma.fields.Integer(allow_none=True, required=True)
    appeal_outcome = ma.fields.String(allow_none=True, required=True)
    appeal_points = ma.fields.Integer(allow_none=True, required=True)
    due_on = Day(allow_none=True, required=True, metadata={
        "description": "the day a decision (or appeal decision) is due, while one is awaited"})
    appeal_by = Day(allow_none=True, required=True, metadata={
        "description": "the last day the manager may appeal, while an appeal is possible"})
    decided_on = Day(allow_none=True, required=True)
    decided_by = ma.fields.String(allow_none=True, required=True)
    comment_count = ma.fields.Integer(required=True)
    awaiting_information = ma.fields.Boolean(required=True, metadata={
        "description": "a request for information awaits the filer's answer; due_on is paused"})


class DisputeOut(DisputeFields, CommandSchema):
    deduction_status = ma.fields.String(metadata={"description": "after a decision"})


class DisputeDetailOut(DisputeFields):
    trail = ma.fields.List(ma.fields.Nested(TrailStepSchema), required=True)


class QueueItemOut(ma.Schema):
    id = ma.fields.UUID(required=True, attribute="dispute_id")
    deduction_id = ma.fields.UUID(required=True)
    manager_id = ma.fields.String(required=True)
    status = ma.fields.String(required=True)
    awaiting = ma.fields.String(allow_none=True, required=True, metadata={
        "description": "whose decision is awaited: reviewer or appeal_board"})
    due_on = Day(allow_none=True, required=True)
    overdue = ma.fields.Boolean(required=True)


class QueueOut(Page):
    items = ma.fields.List(ma.fields.Nested(QueueItemOut), required=True)
    today = Day(required=True)
    next_after = ma.fields.Integer(allow_none=True, required=True, metadata={
        "description": "cursor of the next page (the last dispute's opening position), if any"})


def dispute_view(dispute: Dispute) -> dict[str, Any]:
    view = {name: getattr(dispute, name) for name in DISPUTE_ATTRIBUTES}
    view["appeal_by"] = ledger().appeal_deadline(dispute)
    return view


def dispute_reply(made: Made[Dispute], *_: Any, **__: Any) -> dict[str, Any]:
    view = dispute_view(made.value)
    for corrected in made.aggregates:  # a decision saves the deduction it corrects too
        if isinstance(corrected, Deduction):
            view["deduction_status"] = corrected.status
    return with_receipt(view, made.receipt)


def _parties_only(dispute_id: UUID) -> None:
    require_own(ledger().dispute(dispute_id).manager_id)


@blp.route("/disputes/<uuid:dispute_id>/comments", methods=["POST"])
@blp.allow("manager", "supervisor", "approver")
@blp.arguments(CommentIn)
@blp.command(200, DisputeOut, dispute_reply)
def comment(
    body: dict[str, Any], dispute_id: UUID, idempotency: IdempotencyRecord | None
) -> Made[Dispute]:
    """Comment on a dispute, or add evidence to it"""
    _parties_only(dispute_id)
    return ledger().comment_on_dispute(dispute_id, **body, idempotency=idempotency)


@blp.route("/disputes/<uuid:dispute_id>/decision", methods=["POST"])
@blp.allow("supervisor")
@blp.arguments(DecisionIn)
@blp.command(200, DisputeOut, dispute_reply)
def decide(
    body: dict[str, Any], dispute_id: UUID, idempotency: IdempotencyRecord | None
) -> Made[Dispute]:
    """Decide a dispute (never by whoever recorded the deduction)"""
    return ledger().decide_dispute(dispute_id, **body, idempotency=idempotency)


@blp.route("/disputes/<uuid:dispute_id>/appeal", methods=["POST"])
@blp.allow("manager")
@blp.arguments(AppealIn)
@blp.command(200, DisputeOut, dispute_reply)
def appeal(
    body: dict[str, Any], dispute_id: UUID, idempotency: IdempotencyRecord | None
) -> Made[Dispute]:
    """Appeal a rejected or partly upheld dispute (only its manager)"""
    return ledger().file_appeal(dispute_id, appellant_manager_id=acting_manager_id(), **body,
                                idempotency=idempotency)


@blp.route("/disputes/<uuid:dispute_id>/appeal/decision", methods=["POST"])
@blp.allow("approver")
@blp.arguments(DecisionIn)
@blp.command(200, DisputeOut, dispute_reply)
def decide_appeal(
    body: dict[str, Any], dispute_id: UUID, idempotency: IdempotencyRecord | None
) -> Made[Dispute]:
    """Decide an appeal; the decision is final"""
    return ledger().decide_appeal(dispute_id, **body, idempotency=idempotency)


@blp.route("/disputes/<uuid:dispute_id>/withdrawal", methods=["POST"])
@blp.allow("manager")
@blp.arguments(WithdrawalIn)
@blp.command(200, DisputeOut, dispute_reply)
def withdraw(
    body: dict[str, Any], dispute_id: UUID, idempotency: IdempotencyRecord | None
) -> Made[Dispute]:
    """Withdraw an open dispute (only its filer); the deduction counts on"""
    return ledger().withdraw_dispute(dispute_id, withdrawing_manager_id=acting_manager_id(),
                                     **body, idempotency=idempotency)


@blp.route("/disputes/<uuid:dispute_id>/information-request", methods=["POST"])
@blp.allow("supervisor", "approver")
@blp.arguments(InformationRequestIn)
@blp.command(200, DisputeOut, dispute_reply)
def request_information(
    body: dict[str, Any], dispute_id: UUID, idempotency: IdempotencyRecord | None
) -> Made[Dispute]:
    """Ask the filer for information (never the recorder); the decision deadline pauses"""
    return ledger().request_information(dispute_id, **body, idempotency=idempotency)


@blp.route("/disputes/<uuid:dispute_id>/information", methods=["POST"])
@blp.allow("manager")
@blp.arguments(InformationIn)
@blp.command(200, DisputeOut, dispute_reply)
def provide_information(
    body: dict[str, Any], dispute_id: UUID, idempotency: IdempotencyRecord | None
) -> Made[Dispute]:
    """Answer a request for information (only the filer); the deadline runs on"""
    return ledger().provide_information(dispute_id, answering_manager_id=acting_manager_id(),
                                        **body, idempotency=idempotency)


@blp.route("/disputes/<uuid:dispute_id>", methods=["GET"])
@blp.allow("auditor", "supervisor", "approver", "manager")
@blp.response(200, DisputeDetailOut)
def get_dispute(dispute_id: UUID) -> dict[str, Any]:
    """A dispute and its whole trail with its deduction's, from recording to correction,
    in order, with actors, roles and times"""
    app = ledger()
    dispute = app.dispute(dispute_id)
    require_own(dispute.manager_id)
    steps = trail(app.history(dispute_id), app.history(dispute.deduction_id))
    return {**dispute_view(dispute), "trail": steps}


@blp.route("/disputes", methods=["GET"])
@blp.allow("supervisor", "approver", "auditor")
@blp.arguments(QueueArgs, location="query")
@blp.response(200, QueueOut)
def queue(args: dict[str, Any]) -> dict[str, Any]:
    """Dispute queues for reviewers: by status, overdue, manager"""
    manager_id = args.get("manager_id")
    today = ledger().today()
    items = read_side().disputes(
        status=args.get("status"), overdue=args.get("overdue"),
        manager_id=manager_id, today=today, limit=args["limit"], after=args["after"])
    full = len(items) == args["limit"]
    return {"items": items, "today": today,
            "next_after": items[-1]["position"] if full and items else None}

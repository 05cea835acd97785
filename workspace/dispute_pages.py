"""A dispute's page (DESIGN §3.5, §15): its whole trail, and every step a person may take
on it there: a reviewer's decision, the appeal board's, a request for information, the
filer's answer or withdrawal, comments.

The page admits whoever may read the dispute over the API (GET /disputes/{id}), a manager
only their own; each form is read with the API's schema for that step and posts through
the same application command, as the signed-in person. Whether this person may take the
step (never the recorder deciding, only the filer answering) is the ledger's rule: a
refusal comes back on this page as its message, with the API's status, appending nothing.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import marshmallow as ma
from flask import flash, redirect, render_template, request, url_for

from api.disputes import (
    CommentIn,
    DecisionIn,
    InformationIn,
    InformationRequestIn,
    WithdrawalIn,
)
from api.trail import trail
from ledger.dispute import OUTCOMES
from ledger.errors import LedgerError
from ledger.quarter import Quarter
from ledger.rules import MAX_POINTS
from workspace import blp
from workspace.forms import load
from workspace.i18n import translated
from workspace.queue_pages import refused
from workspace.session import ledger, own_manager_or_403, pages_for, signed_in

DECIDERS = {"open": ("supervisor", "decide_dispute"), "appealed": ("approver", "decide_appeal")}
"""Who is offered the decision form, by the dispute's status, and where it posts: a
reviewer decides an open dispute, the appeal board an appealed one. Whether this person
may decide (never the recorder) is the ledger's rule, checked when the form is sent."""


class DecisionForm(DecisionIn):
    """The API's decision body, read from a form: `points` arrives as text."""

    points = ma.fields.Integer(load_default=None, allow_none=True,
                               validate=ma.validate.Range(0, MAX_POINTS))


@blp.get("/disputes/<uuid:dispute_id>")
@pages_for("auditor", "supervisor", "approver", "manager")
def dispute_page(dispute_id: UUID) -> Any:
    """A dispute and its whole trail; a reviewer or the appeal board decides on it here."""
    return render_dispute(dispute_id)


def render_dispute(dispute_id: UUID, *, refusal: str | None = None, status: int = 200,
                   errors: dict[str, list[str]] | None = None) -> Any:
    """The dispute page; a refused decision comes back to it with the ledger's message,
    the fields it names, and what was typed."""
    app = ledger()
    dispute = app.dispute(dispute_id)
    own_manager_or_403(dispute.manager_id)
    deduction = app.deduction(dispute.deduction_id)
    rules = app.ruleset(deduction.ruleset_version)
    steps = trail(app.history(dispute_id), app.history(dispute.deduction_id))
    return render_template(
        "disputes/dispute.html", dispute=dispute, deduction=deduction, steps=steps,
        rule=rules.deductions.get(deduction.rule_code),
        points=deduction.error_points(rules.score.aggravation_factor),
        appeal_by=app.appeal_deadline(dispute), decision=_decision_endpoint(dispute.status),
        role=_role(),
        outcomes=OUTCOMES, refusal=refusal, errors=errors or {},
        typed=request.form if refusal else {}, manager_id=dispute.manager_id,
        period=str(Quarter.of(deduction.effective_on))), status


def _decision_endpoint(status: str) -> str | None:
    role, endpoint = DECIDERS.get(status, ("", ""))
    return f"workspace.{endpoint}" if _role() == role else None


def _role() -> str:
    who = signed_in()
    return who.role if who is not None else ""


@blp.post("/disputes/<uuid:dispute_id>/decision")
@pages_for("supervisor")
def decide_dispute(dispute_id: UUID) -> Any:
    """A reviewer's decision, through the application's command (the recorder is refused)."""
    try:
        body = load(DecisionForm, request.form, ("outcome", "points", "reason"))
        ledger().decide_dispute(dispute_id, **body)
    except LedgerError as error:
        return refused(render_dispute, error, dispute_id)
    flash(translated("The dispute is decided."))
    return redirect(url_for("workspace.dispute_page", dispute_id=dispute_id), 303)


@blp.post("/disputes/<uuid:dispute_id>/appeal/decision")
@pages_for("approver")
def decide_appeal(dispute_id: UUID) -> Any:
    """The appeal board's decision, which is final."""
    try:
        body = load(DecisionForm, request.form, ("outcome", "points", "reason"))
        ledger().decide_appeal(dispute_id, **body)
    except LedgerError as error:
        return refused(render_dispute, error, dispute_id)
    flash(translated("The appeal is decided; the decision is final."))
    return redirect(url_for("workspace.dispute_page", dispute_id=dispute_id), 303)


@blp.post("/disputes/<uuid:dispute_id>/comments")
@pages_for("manager", "supervisor", "approver")
def comment_on_dispute(dispute_id: UUID) -> Any:
    """A comment by a party or a reviewer (a manager only on their own dispute)."""
    own_manager_or_403(ledger().dispute(dispute_id).manager_id)
    try:
        ledger().comment_on_dispute(dispute_id, **load(CommentIn, request.form, ("text",)))
    except LedgerError as error:
        return refused(render_dispute, error, dispute_id)
    return _back_to_dispute(dispute_id, translated("The comment is recorded."))


@blp.post("/disputes/<uuid:dispute_id>/information-request")
@pages_for("supervisor", "approver")
def request_information(dispute_id: UUID) -> Any:
    """A reviewer asks the filer (never the recorder); the decision deadline pauses."""
    try:
        ledger().request_information(
            dispute_id, **load(InformationRequestIn, request.form, ("question",)))
    except LedgerError as error:
        return refused(render_dispute, error, dispute_id)
    return _back_to_dispute(dispute_id, translated("The filer is asked; the deadline pauses."))


@blp.post("/disputes/<uuid:dispute_id>/information")
@pages_for("manager")
def provide_information(dispute_id: UUID) -> Any:
    """The filer answers a request for information; the deadline runs on."""
    try:
        ledger().provide_information(dispute_id, answering_manager_id=_manager_id(),
                                     **load(InformationIn, request.form, ("answer",)))
    except LedgerError as error:
        return refused(render_dispute, error, dispute_id)
    return _back_to_dispute(dispute_id, translated("The answer is recorded."))


@blp.post("/disputes/<uuid:dispute_id>/withdrawal")
@pages_for("manager")
def withdraw_dispute(dispute_id: UUID) -> Any:
    """The filer withdraws an open dispute; the deduction counts on."""
    try:
        ledger().withdraw_dispute(dispute_id, withdrawing_manager_id=_manager_id(),
                                  **load(WithdrawalIn, request.form, ("reason",)))
    except LedgerError as error:
        return refused(render_dispute, error, dispute_id)
    return _back_to_dispute(dispute_id, translated("The dispute is withdrawn."))


def _manager_id() -> str | None:
    who = signed_in()
    return who.manager_id if who is not None and who.role == "manager" else None


def _back_to_dispute(dispute_id: UUID, message: str) -> Any:
    flash(message)
    return redirect(url_for("workspace.dispute_page", dispute_id=dispute_id), 303)

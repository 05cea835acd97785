"""The supervisor's and approver's queues (DESIGN §15): disputes and appeals awaiting a
decision (decided on the dispute's page, dispute_pages), adjustments to propose and
approve, scoring sheets to complete, customers of disqualified managers to reassign, and
closing a period.

Each form is read with the API's schema for the same command and posts through the same
application command the API's route calls, as the signed-in person. A refusal by the
ledger (a rule, a step out of order, a field that does not read) comes back on the form's
own page as its message, with the API's status, and appends nothing (`refused`, which the
other role pages share).
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import marshmallow as ma
from flask import flash, redirect, render_template, request, url_for

from api.adjustments import ApprovalIn, ProposalIn
from api.assessment import SheetIn
from api.audit import LogArgs
from api.customers import AssignmentIn
from api.errors import classify, flatten_messages
from api.periods import CloseIn
from api.reassignments import ReassignmentQueueArgs
from ledger.errors import InvalidInput, LedgerError, NotFound
from ledger.quarter import Quarter
from ledger.rules import MAX_POINTS
from projections.adjustment_queue import adjustments_awaiting
from projections.master_data import reassignment_queue
from workspace import blp
from workspace.auditor_pages import url_here
from workspace.forms import load
from workspace.i18n import translated
from workspace.session import ledger, pages_for, read_side, signed_in

QUEUE_PAGE = 50
"""Rows per page of a queue (the API's dispute queue answers up to 1000 at once)."""
AWAITED_FROM = {"supervisor": "reviewer", "approver": "appeal_board"}
"""Whose decision each role gives: a supervisor reviews disputes, an approver sits on the
appeal board (DESIGN §3.5)."""
AWAITED_STATUS = {"reviewer": "open", "appeal_board": "appealed"}
"""The status a dispute awaiting each has (one awaiting the filer's answer is open too)."""


class ApprovalForm(ApprovalIn):
    """The API's approval body, read from a form's two buttons."""

    approved = ma.fields.Boolean(required=True, truthy={"yes"}, falsy={"no"})


class ProposalForm(ProposalIn):
    """The API's proposal body, read from a form: `points` arrives as text."""

    points = ma.fields.Integer(required=True, validate=ma.validate.Range(-MAX_POINTS, MAX_POINTS))


class OffsetArgs(ma.Schema):
    offset = ma.fields.Integer(load_default=0, validate=ma.validate.Range(0, 100_000))


def refusal_text(error: LedgerError) -> str:
    """A refusal as a person reads it: the ledger's detail and the rule that refused."""
    return f"{error.detail} ({error.rule})" if error.rule else error.detail


def refused(render: Any, error: LedgerError, *args: Any) -> Any:
    """The form's page again, showing the refusal with the status the API would answer."""
    errors = error.errors if isinstance(error, InvalidInput) else {}
    return render(*args, refusal=refusal_text(error), status=classify(error)[0], errors=errors)


def offset_arg() -> int:
    offset: int = load(OffsetArgs, request.args, ("offset",))["offset"]
    return offset


def paged(items: list[Any], size: int = QUEUE_PAGE) -> tuple[list[Any], str | None]:
    """One page of a list the read side answers whole, and the next page's address."""
    start = offset_arg()
    more = start + size < len(items)
    return items[start:start + size], url_here(offset=start + size) if more else None


@blp.get("/queues/disputes")
@pages_for("supervisor", "approver")
def dispute_queue() -> Any:
    """The disputes awaiting the signed-in role's decision: overdue first, then by the day
    the decision is due, then in filing order. Sorting so needs the whole queue, so it is
    paged by offset over the read side's bounded answer (MAX_DISPUTES awaiting ones), not
    by the API's filing-order cursor."""
    who = signed_in()
    awaited = AWAITED_FROM.get(who.role if who else "")
    status = AWAITED_STATUS.get(awaited or "")
    waiting = [i for i in read_side().disputes(status=status, today=ledger().today())
               if i["awaiting"] == awaited] if status else []
    waiting.sort(key=lambda i: (not i["overdue"], i["due_on"] is None, i["due_on"] or 0))
    items, next_url = paged(waiting)
    return render_template("queues/disputes.html", items=[_with_deduction(i) for i in items],
                           next_url=next_url,
                           total=len(waiting), overdue=sum(i["overdue"] for i in waiting),
                           awaited=awaited)


def _with_deduction(item: dict[str, Any]) -> dict[str, Any]:
    """A queue row with what is disputed: the deduction and its catalog entry."""
    deduction = ledger().deduction(item["deduction_id"])
    rule = ledger().ruleset(deduction.ruleset_version).deductions.get(deduction.rule_code)
    return {**item, "deduction": deduction, "rule": rule,
            "period": str(Quarter.of(deduction.effective_on))}


@blp.get("/queues/adjustments")
@pages_for("approver")
def adjustment_queue() -> Any:
    """Proposed adjustments no approver has decided, oldest first, each with its form."""
    return render_adjustments()


def render_adjustments(*, refusal: str | None = None, status: int = 200,
                       errors: dict[str, list[str]] | None = None) -> Any:
    after = load(LogArgs, request.args, ("after",))["after"]
    page = adjustments_awaiting(read_side(), after=after, limit=QUEUE_PAGE)
    items = [ledger().adjustment(a.adjustment_id) for a in page.items]
    next_url = url_here(after=page.next_after) if page.next_after is not None else None
    return render_template("queues/adjustments.html", items=items, next_url=next_url,
                           refusal=refusal, errors=errors or {}), status


@blp.get("/adjustments/new")
@pages_for("supervisor")
def proposal_page() -> Any:
    """The supervisor's proposal form; an approver decides it (never the proposer)."""
    return render_proposal()


def render_proposal(*, refusal: str | None = None, status: int = 200,
                    errors: dict[str, list[str]] | None = None) -> Any:
    return render_template("queues/proposal.html", typed=request.form if refusal else {},
                           refusal=refusal, errors=errors or {},
                           period=str(Quarter.of(ledger().today()))), status


@blp.post("/adjustments")
@pages_for("supervisor")
def propose_adjustment() -> Any:
    """Proposes a manual score adjustment, as POST /adjustments."""
    try:
        made = ledger().propose_adjustment(**load(
            ProposalForm, request.form, ("manager_id", "period", "points", "reason")))
    except LedgerError as error:
        return refused(render_proposal, error)
    flash(translated("Proposed: %(points)s score points for %(manager)s in %(period)s; an "
                     "approver decides.", points=f"{made.value.points:+d}",
                     manager=made.value.manager_id, period=made.value.period))
    return redirect(url_for("workspace.proposal_page"), 303)


@blp.post("/adjustments/<uuid:adjustment_id>/approval")
@pages_for("approver")
def decide_adjustment(adjustment_id: UUID) -> Any:
    """Approves or rejects (never the proposer; above the rule set's limit, two approvers)."""
    try:
        made = ledger().decide_adjustment(
            adjustment_id, **load(ApprovalForm, request.form, ("approved", "reason")))
    except LedgerError as error:
        return refused(render_adjustments, error)
    flash(translated("Adjustment of %(manager)s, %(period)s: %(status)s.",
                  manager=made.value.manager_id, period=made.value.period,
                  status=translated(made.value.status)))
    return redirect(url_for("workspace.adjustment_queue"), 303)


@blp.get("/queues/sheets")
@pages_for("supervisor", "approver")
def sheet_queue() -> Any:
    """The signed-in assessor's sheets still to score, in plans not yet closed."""
    who = signed_in()
    items, next_url = paged(read_side().assessment_tasks(who.subject if who else ""))
    return render_template("queues/sheets.html", items=items, next_url=next_url)


@blp.get("/queues/sheets/<plan_id>/<manager_id>")
@pages_for("supervisor", "approver")
def sheet_page(plan_id: str, manager_id: str) -> Any:
    """The signed-in assessor's sheet for one manager: save part or all, then submit."""
    return render_sheet(plan_id, manager_id)


def render_sheet(plan_id: str, manager_id: str, *, refusal: str | None = None,
                 status: int = 200, errors: dict[str, list[str]] | None = None) -> Any:
    plan = ledger().assessment_plan(plan_id)
    if manager_id not in plan.managers:
        raise NotFound(f"plan {plan_id} has no sheet for manager {manager_id}")
    who = signed_in()
    assessor = plan.assessor_named(who.subject if who else "")
    return render_template(
        "queues/sheet.html", plan=plan, manager_id=manager_id, assessor=assessor,
        sheet=plan.sheet(manager_id, assessor), pending=plan.pending(manager_id, assessor),
        typed=request.form if refusal else {}, refusal=refusal, errors=errors or {}), status


@blp.post("/queues/sheets/<plan_id>/<manager_id>")
@pages_for("supervisor", "approver")
def save_sheet(plan_id: str, manager_id: str) -> Any:
    """Saves the scores typed (blank items stay pending), as PUT .../sheets/{manager_id}."""
    try:
        ledger().save_sheet(plan_id, manager_id, **_sheet_body(plan_id))
    except LedgerError as error:
        return refused(render_sheet, error, plan_id, manager_id)
    flash(translated("The sheet is saved."))
    return redirect(url_for("workspace.sheet_page", plan_id=plan_id, manager_id=manager_id), 303)


@blp.post("/queues/sheets/<plan_id>/<manager_id>/submit")
@pages_for("supervisor", "approver")
def submit_sheet(plan_id: str, manager_id: str) -> Any:
    """Submits the saved sheet: final, every item scored."""
    try:
        ledger().submit_sheet(plan_id, manager_id)
    except LedgerError as error:
        return refused(render_sheet, error, plan_id, manager_id)
    flash(translated("The sheet is submitted."))
    return redirect(url_for("workspace.sheet_queue"), 303)


def _sheet_body(plan_id: str) -> dict[str, Any]:
    """The API's sheet body from the form: one `score-<code>` field per item of the plan."""
    items = ledger().assessment_plan(plan_id).items
    typed = {code: request.form.get(f"score-{code}", "").strip() for code in items}
    body: dict[str, Any] = {"scores": {code: value for code, value in typed.items() if value}}
    comment = request.form.get("comment", "").strip()
    if comment:
        body["comment"] = comment
    try:
        loaded: dict[str, Any] = SheetIn().load(body)
    except ma.ValidationError as invalid:
        raise InvalidInput(flatten_messages(invalid.messages)) from None
    return loaded


@blp.get("/queues/reassignments")
@pages_for("supervisor", "approver", "auditor")
def reassignment_queue_page() -> Any:
    """Managers disqualified on the day who still hold customers (DESIGN §16), as GET
    /reassignments pages them; a supervisor moves each customer from here."""
    return render_reassignments()


def render_reassignments(*, refusal: str | None = None, status: int = 200,
                         errors: dict[str, list[str]] | None = None) -> Any:
    asked = load(ReassignmentQueueArgs, request.args, ("on", "after"))
    on = asked.get("on") or ledger().today()
    page = reassignment_queue(read_side(), on=on, after=asked.get("after"), limit=QUEUE_PAGE)
    next_url = url_here(after=page.next_after) if page.next_after else None
    return render_template("queues/reassignments.html", items=page.items, on=on,
                           next_url=next_url, refusal=refusal, errors=errors or {},
                           typed=request.form if refusal else {}), status


@blp.post("/customers/<customer_id>/assignments")
@pages_for("supervisor")
def reassign_customer(customer_id: str) -> Any:
    """Moves a customer to another manager from a day, under the portfolio policy: a
    refusal (a disqualified manager, a premium customer below grade A) stays on the queue's
    page; the policy's warnings come with the confirmation."""
    try:
        made = ledger().assign_customer(customer_id, **load(
            AssignmentIn, request.form, ("manager_id", "effective_on", "reason")))
    except LedgerError as error:
        return refused(render_reassignments, error)
    flash(translated("%(customer)s is held by %(manager)s from %(day)s.", customer=customer_id,
                     manager=request.form.get("manager_id", ""),
                     day=request.form.get("effective_on", "")))
    for warning in made.receipt.warnings:
        flash(f"{warning.message} ({warning.rule})")
    return redirect(url_for("workspace.reassignment_queue_page",
                            on=request.form.get("on") or None), 303)


@blp.get("/periods")
@pages_for("approver")
def period_page() -> Any:
    """A period: open with the closing form, or closed with the pay it froze."""
    period = request.args.get("period") or str(Quarter.of(ledger().today()))
    return render_period(str(Quarter.parse(period)))


def render_period(period: str, *, refusal: str | None = None, status: int = 200,
                  errors: dict[str, list[str]] | None = None) -> Any:
    return render_template("queues/period.html", period=period, refusal=refusal,
                           closing=ledger().period_if_closed(period), errors=errors or {}), status


@blp.post("/periods/<period>/close")
@pages_for("approver")
def close_period(period: str) -> Any:
    """Closes the period, freezing every manager's pay as the read side computes it now."""
    quarter = str(Quarter.parse(period))
    try:
        reason = load(CloseIn, request.form, ("reason",))["reason"]
        ledger().close_period(quarter, reason=reason, freeze=read_side().pay_to_freeze)
    except LedgerError as error:
        return refused(render_period, error, quarter)
    flash(translated("Period %(period)s is closed; its pay is frozen.", period=quarter))
    return redirect(url_for("workspace.period_page", period=quarter), 303)

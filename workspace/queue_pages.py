"""The supervisor's and approver's pages (DESIGN §15): disputes and appeals to decide,
adjustments to approve, scoring sheets, standings, the pay list with its CSV, and closing
a period.

Each form is read with the API's schema for the same command and posts through the same
application command the API's route calls, as the signed-in person. A refusal by the
ledger (a rule, a step out of order, the recorder deciding, a field that does not read)
comes back on the form's own page as its message, with the API's status, and appends
nothing.
"""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from typing import Any
from uuid import UUID

import marshmallow as ma
from flask import Response, flash, redirect, render_template, request, url_for

from api.adjustments import ApprovalIn, ProposalIn
from api.assessment import SheetIn
from api.audit import LogArgs
from api.common import money_text
from api.disputes import (
    CommentIn,
    DecisionIn,
    InformationIn,
    InformationRequestIn,
    WithdrawalIn,
)
from api.errors import classify, flatten_messages
from api.periods import CloseIn
from api.reports import BOM, CSV_TYPE, PAY_COLUMNS, RankingArgs, ReportArgs
from api.standings import StandingsArgs
from ledger.errors import InvalidInput, LedgerError, NotFound
from ledger.quarter import Quarter
from ledger.rules import MAX_POINTS
from projections.adjustment_queue import adjustments_awaiting
from projections.reports import MONEY_COLUMNS, RANKINGS, pay_list, rankings
from workspace import blp
from workspace.auditor_pages import render_dispute, url_here
from workspace.forms import cut, load
from workspace.i18n import translated
from workspace.session import ledger, own_manager_or_403, pages_for, read_side, signed_in

QUEUE_PAGE = 50
"""Rows per page of a queue (the API's dispute queue answers up to 1000 at once)."""
AWAITED_FROM = {"supervisor": "reviewer", "approver": "appeal_board"}
"""Whose decision each role gives: a supervisor reviews disputes, an approver sits on the
appeal board (DESIGN §3.5)."""
CUT_FIELDS = ("period", "as_of", "known_at")


class DecisionForm(DecisionIn):
    """The API's decision body, read from a form: `points` arrives as text."""

    points = ma.fields.Integer(load_default=None, allow_none=True,
                               validate=ma.validate.Range(0, MAX_POINTS))


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


def _offset() -> int:
    offset: int = load(OffsetArgs, request.args, ("offset",))["offset"]
    return offset


def _paged(items: list[Any], size: int = QUEUE_PAGE) -> tuple[list[Any], str | None]:
    """One page of a list the read side answers whole, and the next page's address."""
    start = _offset()
    more = start + size < len(items)
    return items[start:start + size], url_here(offset=start + size) if more else None


# --- disputes and appeals ---------------------------------------------------------------


@blp.get("/queues/disputes")
@pages_for("supervisor", "approver")
def dispute_queue() -> Any:
    """The disputes awaiting the signed-in role's decision: overdue first, then by the day
    the decision is due, then in filing order."""
    who = signed_in()
    awaited = AWAITED_FROM.get(who.role if who else "")
    waiting = [i for i in read_side().disputes(today=ledger().today())
               if i["awaiting"] == awaited]
    waiting.sort(key=lambda i: (not i["overdue"], i["due_on"] is None, i["due_on"] or 0))
    items, next_url = _paged(waiting)
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


# --- adjustments ---------------------------------------------------------------------------


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


# --- scoring sheets and standings ------------------------------------------------------------


@blp.get("/queues/sheets")
@pages_for("supervisor", "approver")
def sheet_queue() -> Any:
    """The signed-in assessor's sheets still to score, in plans not yet closed."""
    who = signed_in()
    items, next_url = _paged(read_side().assessment_tasks(who.subject if who else ""))
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


@blp.get("/standings")
@pages_for("supervisor", "approver", "auditor")
def standings_page() -> Any:
    """Every manager holding a flag that consecutive ratings bring, at the cut."""
    args = load(StandingsArgs, cut(request.args), ("as_of", "known_at"))
    unit = load(StandingsArgs, request.args, ("unit", "flag"))
    answer = read_side().standings(**args, **unit)
    items, next_url = _paged(answer["items"])
    return render_template("queues/standings.html", answer=answer, items=items,
                           next_url=next_url, picked=_picked())


# --- the pay list -------------------------------------------------------------------------------


@blp.get("/reports/pay-list")
@pages_for("approver", "auditor")
def pay_list_page() -> Any:
    """Every manager's pay for the period, with totals, paged as GET /reports/pay-list."""
    report = _pay_list()
    args = load(ReportArgs, request.args, ("offset", "limit"))
    start, end = args["offset"], args["offset"] + args["limit"]
    next_url = url_here(offset=end) if end < len(report["items"]) else None
    picked = _picked()
    csv_query = {k: v for k, v in {**picked, "unit": request.args.get("unit", ""),
                                   "period": report["period"]}.items() if v}
    return render_template("queues/pay_list.html", report=report,
                           items=report["items"][start:end], next_url=next_url,
                           picked=picked, csv_query=csv_query)


@blp.get("/reports/pay-list.csv")
@pages_for("approver", "auditor")
def pay_list_csv() -> Response:
    """The whole pay list as the API's CSV, with a byte-order mark so that a spreadsheet
    opens Chinese names intact."""
    report = _pay_list()
    def shown(value: Any) -> str:
        return money_text(value) if isinstance(value, Decimal) else str(value)

    rows = [list(PAY_COLUMNS), *([shown(i[c]) for c in PAY_COLUMNS] for i in report["items"])]
    totals = report["totals"]
    rows.append(["total", "", "", "", *(shown(totals[c]) if c in MONEY_COLUMNS else ""
                                        for c in PAY_COLUMNS[4:])])
    out = io.StringIO()
    out.write(BOM)
    csv.writer(out, lineterminator="\r\n").writerows(rows)
    name = f"pay-list-{report['period']}.csv"
    return Response(out.getvalue().encode("utf-8"), mimetype=CSV_TYPE,
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


@blp.get("/reports/rankings")
@pages_for("supervisor", "approver", "auditor")
def rankings_page() -> Any:
    """Managers ranked by score, actual pay or profit completion, as GET /reports/rankings:
    highest first, ties sharing a rank."""
    args = load(RankingArgs, cut(request.args), CUT_FIELDS)
    asked = load(RankingArgs, request.args, ("by", "unit"))
    period = str(args.get("period") or Quarter.of(args.get("as_of") or ledger().today()))
    report = rankings(read_side(), period, asked["by"], asked.get("unit"), args.get("as_of"),
                      args.get("known_at"))
    items, next_url = _paged(report["items"])
    return render_template("queues/rankings.html", report=report, items=items,
                           next_url=next_url, picked=_picked(), by=asked["by"],
                           choices=RANKINGS,
                           picked_cut={k: v for k, v in _picked().items() if v and k != "period"})


def _pay_list() -> dict[str, Any]:
    args = load(ReportArgs, cut(request.args), CUT_FIELDS)
    unit = load(ReportArgs, request.args, ("unit",)).get("unit")
    period = str(args.get("period") or Quarter.of(args.get("as_of") or ledger().today()))
    return pay_list(read_side(), period, unit, args.get("as_of"), args.get("known_at"))


def _picked() -> dict[str, str]:
    return {k: request.args.get(k, "") for k in CUT_FIELDS}


# --- closing a period ---------------------------------------------------------------------------


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

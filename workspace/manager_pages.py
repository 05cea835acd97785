"""A manager's quarter (DESIGN §15): score and rating, pay, the score chart, deductions with
their dispute action and deadline, disputes and appeals, assessment results, the statement.

`/app/managers/{id}?period=&as_of=&known_at=` is the contract tests drive. Auditors,
supervisors and approvers open the same page; each section shows only what the API shows
that role (the score to auditors, supervisors and the owner, pay to auditors, approvers and
the owner), and a manager opens only their own.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from flask import Response, flash, redirect, render_template, request, url_for

from api.deductions import DisputeIn
from api.disputes import AppealIn
from api.scores_and_pay import PeriodArgs
from ledger.quarter import Quarter
from persistence.statement_key import statement_key
from projections.statement_pdf import render
from projections.statements import signed, statement_body
from workspace import blp
from workspace.chart import Chart, score_chart
from workspace.forms import cut, load
from workspace.i18n import translated
from workspace.session import ledger, own_manager_or_403, pages_for, read_side, signed_in

QUARTER_ROLES = ("manager", "auditor", "supervisor", "approver")
SCORE_ROLES = ("manager", "auditor", "supervisor")
PAY_ROLES = ("manager", "auditor", "approver")
STATEMENT_ROLES = ("manager", "auditor", "approver")
APPEALABLE = ("decided",)


@blp.get("/managers/<manager_id>")
@pages_for(*QUARTER_ROLES)
def manager_quarter(manager_id: str) -> Any:
    """The manager's quarter at the cut the pickers name."""
    own_manager_or_403(manager_id)
    args = load(PeriodArgs, cut(request.args), ("period", "as_of", "known_at"))
    period = str(args.get("period") or Quarter.of(args.get("as_of") or ledger().today()))
    when: dict[str, Any] = {"as_of": args.get("as_of"), "known_at": args.get("known_at")}
    role = _role()
    score = (read_side().score(manager_id, period, explain=True, **when)
             if role in SCORE_ROLES else None)
    pay = read_side().pay(manager_id, period, **when) if role in PAY_ROLES else None
    page: dict[str, Any] = dict(
        manager_id=manager_id, period=period, score=score, pay=pay,
        picked={k: request.args.get(k, "") for k in ("period", "as_of", "known_at")},
        cut=score or pay, is_owner=role == "manager",
        statement_allowed=role in STATEMENT_ROLES)
    if score is not None:
        timeline = read_side().timeline(manager_id, period, **when)
        page.update(deductions=_deductions(score), chart=_chart(timeline, score),
                    timeline=timeline, disputes=_disputes(manager_id),
                    assessment=read_side().assessment(manager_id, period, **when))
    return render_template("manager/quarter.html", **page)


@blp.post("/deductions/<uuid:deduction_id>/dispute")
@pages_for("manager")
def dispute_deduction(deduction_id: UUID) -> Any:
    """Files a dispute through the application's command, under the API's rules."""
    deduction = ledger().deduction(deduction_id)
    own_manager_or_403(deduction.manager_id)
    body = load(DisputeIn, request.form, ("reason",))
    made = ledger().file_dispute(deduction_id, filed_by_manager_id=_own_id(),
                                 reason=body["reason"])
    flash(translated("Dispute filed; a decision is due by %(day)s.", day=made.value.due_on))
    return _back_to_quarter(deduction.manager_id)


@blp.post("/disputes/<uuid:dispute_id>/appeal")
@pages_for("manager")
def appeal_dispute(dispute_id: UUID) -> Any:
    """Appeals a decided dispute through the application's command."""
    dispute = ledger().dispute(dispute_id)
    own_manager_or_403(dispute.manager_id)
    body = load(AppealIn, request.form, ("reason",))
    ledger().file_appeal(dispute_id, appellant_manager_id=_own_id(),
                         reason=body["reason"])
    flash(translated("Appeal filed."))
    return _back_to_quarter(dispute.manager_id)


@blp.get("/managers/<manager_id>/statement.pdf")
@pages_for(*STATEMENT_ROLES)
def statement(manager_id: str) -> Any:
    """The signed pay statement the API serves, for the browser (same body, same key)."""
    own_manager_or_403(manager_id)
    args = load(PeriodArgs, cut(request.args), ("period", "as_of"))
    period = str(args.get("period") or Quarter.of(ledger().today()))
    body = statement_body(read_side(), manager_id, period, as_of=args.get("as_of"))
    envelope = signed(body, statement_key(ledger().env))
    name = f"statement-{manager_id}-{period}.pdf"
    return Response(render(envelope), mimetype="application/pdf",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


def _role() -> str:
    who = signed_in()
    return who.role if who is not None else ""


def _own_id() -> str | None:
    who = signed_in()
    return who.manager_id if who is not None else None


def _back_to_quarter(manager_id: str) -> Any:
    period = request.form.get("period", "")
    values: dict[str, Any] = {"period": period} if period else {}
    target = url_for("workspace.manager_quarter", manager_id=manager_id, **values)
    return redirect(target + "#deductions")


def _deductions(score: dict[str, Any]) -> list[dict[str, Any]]:
    """The explanation's deduction lines, each with its rule and, while it may still be
    disputed, its deadline (the ledger's current state: a deadline is about today)."""
    lines = [line for line in score["explanation"]["lines"] if line.get("deduction_id")]
    rules = ledger().ruleset(score["ruleset_version"]).deductions if lines else {}
    found = []
    for line in lines:
        deduction = ledger().deduction(line["deduction_id"])
        found.append({**line, "rule": rules.get(line["rule_code"]),
                      "dispute_by": ledger().dispute_deadline(deduction),
                      "dispute_id": deduction.dispute_id})
    return found


def _disputes(manager_id: str) -> list[dict[str, Any]]:
    found = []
    for item in read_side().disputes(manager_id=manager_id):
        dispute = ledger().dispute(item["dispute_id"])
        appeal_by = ledger().appeal_deadline(dispute) if item["status"] in APPEALABLE else None
        found.append({**item, "outcome": dispute.outcome,
                      "appeal_outcome": dispute.appeal_outcome, "appeal_by": appeal_by})
    return found


def _chart(timeline: dict[str, Any], score: dict[str, Any]) -> Chart:
    trails = _trails(score)
    items = timeline["items"]
    links = [trails.get(item["position"], _feed_at(item["position"])) for item in items]
    labels = [_step_label(item) for item in items]
    return score_chart(items, links, labels, int(score["score"]))


def _trails(score: dict[str, Any]) -> dict[int, str]:
    """Each score-moving position's trail page: a deduction's, or its dispute's decision."""
    trails: dict[int, str] = {}
    for line in score["explanation"]["lines"]:
        if line.get("deduction_id"):
            trails[line["position"]] = f"/app/deductions/{line['deduction_id']}"
            if line.get("status_position"):
                dispute_id = ledger().deduction(line["deduction_id"]).dispute_id
                trails[line["status_position"]] = (f"/app/disputes/{dispute_id}" if dispute_id
                                                   else trails[line["position"]])
    return trails


def _feed_at(position: int) -> str:
    """Events without a trail page of their own (adjustments, rule sets): the audit feed
    from that position."""
    return f"/app/audit/events?after={position - 1}"


def _step_label(item: dict[str, Any]) -> str:
    return translated("%(type)s on %(day)s: %(effect)+d, score %(after)d",
                      type=translated(item["type"]),
                   day=item["effective_on"] or "", effect=item["effect"],
                   after=item["score_after"])

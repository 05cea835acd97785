"""The auditor's pages (DESIGN §15): every manager's figures at any cut, the whole trail of
a deduction, the chain's verification with the first bad position, and the audit feed.

A manager's quarter at a cut, with the score chart, is the one page every role shares
(`/app/managers/{id}`, manager_pages); the auditor reaches it from the list here with the
cut carried along. The deduction's trail is a page the chart's steps link to, so it admits
whoever may read it over the API (GET /deductions/{id}), a manager only their own; a
dispute's trail and forms are dispute_pages'. Every query is the API's own (the read side,
the application, the verifier); nothing calls the API over loopback.
"""

from __future__ import annotations

import os
from typing import Any
from uuid import UUID

from flask import render_template, request, url_for

from api.audit import LogArgs, VerifyArgs, log_item
from api.managers import ManagerListArgs
from api.scores_and_pay import PeriodArgs
from api.trail import trail
from ledger.quarter import Quarter
from persistence.head import audit
from persistence.seal import keyring_from_environment
from persistence.verify import event_log
from projections.master_data import manager_ids
from projections.replay_check import check_views
from workspace import blp
from workspace.forms import cut, load
from workspace.session import ledger, own_manager_or_403, pages_for, read_side

MANAGERS_PAGE = 25
"""Managers per page of the auditor's list: each row computes a score at the cut."""
CUT_FIELDS = ("period", "as_of", "known_at")


@blp.get("/audit/managers")
@pages_for("auditor")
def audit_managers() -> Any:
    """Every manager with their score at the cut, each linking to their quarter."""
    args = load(PeriodArgs, cut(request.args), CUT_FIELDS)
    listing = load(ManagerListArgs, request.args, ("unit", "after"))
    period = str(args.get("period") or Quarter.of(args.get("as_of") or ledger().today()))
    page = manager_ids(read_side(), unit=listing.get("unit"), after=listing.get("after"),
                       limit=MANAGERS_PAGE)
    rows = [(ledger().manager(i), read_side().score(i, period, as_of=args.get("as_of"),
                                                     known_at=args.get("known_at")))
            for i in page.ids]
    picked = {k: request.args.get(k, "") for k in CUT_FIELDS}
    return render_template(
        "auditor/managers.html", rows=rows, period=period, picked=picked,
        unit=listing.get("unit"),
        carried={k: v for k, v in {**picked, "period": period}.items() if v},
        next_url=url_here(after=page.next_after) if page.next_after else None)


@blp.get("/deductions/<uuid:deduction_id>")
@pages_for("auditor", "supervisor", "manager")
def deduction_page(deduction_id: UUID) -> Any:
    """A deduction, its status and its whole trail with its dispute's, in log order."""
    app = ledger()
    deduction = app.deduction(deduction_id)
    own_manager_or_403(deduction.manager_id)
    rules = app.ruleset(deduction.ruleset_version)
    points = deduction.error_points(rules.score.aggravation_factor)
    disputed = app.history(deduction.dispute_id) if deduction.dispute_id else []
    return render_template(
        "auditor/deduction.html", deduction=deduction, points=points,
        score_delta=-points * rules.score.points_to_score,
        rule=rules.deductions.get(deduction.rule_code),
        dispute_by=app.dispute_deadline(deduction),
        steps=trail(app.history(deduction_id), disputed), manager_id=deduction.manager_id,
        period=str(Quarter.of(deduction.effective_on)))


@blp.get("/audit/verify")
@pages_for("auditor")
def verify_page() -> Any:
    """Recomputes the chain and its seals and compares it with the signed heads, as GET
    /audit/verify does; names every bad position, the first one first. With views=true it
    also replays the log into a scratch copy of the read models and names each difference."""
    asked = load(VerifyArgs, request.args, ("views",))
    result = audit(event_log(ledger().recorder), keyring=keyring_from_environment(),
                   trusted_public_key=os.environ.get("LEDGER_HEAD_PUBLIC_KEY") or None)
    views = check_views(ledger()) if asked["views"] else None
    return render_template("auditor/verify.html", result=result, views=views)


@blp.get("/audit/events")
@pages_for("auditor")
def audit_feed() -> Any:
    """The global log in order, a page after a position, paged as GET /audit/events."""
    args = load(LogArgs, request.args, ("after", "limit"))
    app = ledger()
    rows = event_log(app.recorder).select_log(args["after"], args["limit"])
    full = len(rows) == args["limit"]
    return render_template(
        "auditor/events.html", items=[log_item(app, row) for row in rows], after=args["after"],
        next_url=url_here(after=rows[-1].position) if full else None)


def url_here(**changed: Any) -> str:
    """This page again with some query arguments changed (the next page of a list)."""
    args: dict[str, Any] = {**request.args.to_dict(), **(request.view_args or {}),
                            **{k: str(v) for k, v in changed.items()}}
    return url_for(str(request.endpoint), **args)

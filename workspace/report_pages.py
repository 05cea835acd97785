"""The reports of the workspace (DESIGN §13–14): standings, the pay list with its CSV, and
rankings, each at the cut its pickers name, for the roles the API's report routes admit.

The figures are the API's own (the read side and projections.reports); the CSV is byte for
byte what GET /reports/pay-list?format=csv gives.
"""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from typing import Any

from flask import Response, render_template, request

from api.common import money_text
from api.reports import BOM, CSV_TYPE, PAY_COLUMNS, RankingArgs, ReportArgs
from api.standings import StandingsArgs
from ledger.quarter import Quarter
from projections.reports import MONEY_COLUMNS, RANKINGS, pay_list, rankings
from workspace import blp
from workspace.auditor_pages import url_here
from workspace.forms import cut, load
from workspace.queue_pages import paged
from workspace.session import ledger, pages_for, read_side

CUT_FIELDS = ("period", "as_of", "known_at")
STANDINGS_PAGE = 50
"""Managers examined per page of the standings (each loads the manager's years of facts)."""


@blp.get("/standings")
@pages_for("supervisor", "approver", "auditor")
def standings_page() -> Any:
    """Every manager holding a flag that consecutive ratings bring, at the cut, paged as
    GET /standings is: STANDINGS_PAGE managers examined a page, after a manager cursor."""
    when = load(StandingsArgs, cut(request.args), ("as_of", "known_at"))
    asked = load(StandingsArgs, request.args, ("unit", "flag", "after"))
    answer = read_side().standings(
        as_of=when.get("as_of"), known_at=when.get("known_at"), unit=asked.get("unit"),
        flag=asked.get("flag"), after=asked.get("after"), limit=STANDINGS_PAGE)
    following = answer.get("next_after")
    return render_template("queues/standings.html", answer=answer, items=answer["items"],
                           next_url=url_here(after=following) if following else None,
                           picked=_picked())


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
    items, next_url = paged(report["items"])
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

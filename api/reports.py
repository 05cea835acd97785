"""Reports over HTTP (DESIGN §14): a unit's pay list and its rankings, as JSON or CSV.

CSV comes with a UTF-8 byte-order mark, which is what makes a spreadsheet open Chinese
names intact instead of guessing a legacy code page. JSON pages through the items with
`offset`/`limit`; the totals always cover the whole list, and CSV carries every row.
"""
# flask-smorest ships no type hints, so its route decorators are untyped.
# mypy: disable-error-code="untyped-decorator"

from __future__ import annotations

import csv
import io
from decimal import Decimal
from typing import Any

import marshmallow as ma
from flask import Response, request

from api.common import Day, Instant, LedgerBlueprint, Money, ledger, money_text
from api.pagination import Page
from api.scores_and_pay import read_side
from ledger.quarter import Quarter
from projections.reports import MONEY_COLUMNS, RANKINGS, pay_list, rankings

blp = LedgerBlueprint("reports", __name__, description="Pay lists and rankings (DESIGN §14)")

MAX_PAGE = 500
CSV_TYPE = "text/csv"
BOM = "\ufeff"
PAY_COLUMNS = ("manager_id", "name", "grade", "unit", "base_salary", "performance_pay",
               "score", "rating", "actual_pay", "prior_period_adjustment_total", "payable")


class ReportArgs(ma.Schema):
    period = ma.fields.String(metadata={"description": "quarter such as 2026Q1 "
                                        "(default: the quarter of as_of)"})
    unit = ma.fields.String(metadata={"description": "one unit (default: every manager)"})
    as_of = Day(metadata={"description": "business date (default: today)"})
    known_at = Instant(metadata={"description": "recording instant, inclusive (default: now)"})
    format = ma.fields.String(validate=ma.validate.OneOf(["json", "csv"]), metadata={
        "description": "csv, or send Accept: text/csv (default json)"})
    offset = ma.fields.Integer(load_default=0, validate=ma.validate.Range(0, 100_000))
    limit = ma.fields.Integer(load_default=100, validate=ma.validate.Range(1, MAX_PAGE))


class RankingArgs(ReportArgs):
    by = ma.fields.String(load_default="score", validate=ma.validate.OneOf(RANKINGS))


class PayRowOut(ma.Schema):
    manager_id = ma.fields.String(required=True)
    name = ma.fields.String(required=True)
    grade = ma.fields.String(allow_none=True, required=True)
    unit = ma.fields.String(required=True)
    base_salary = Money(required=True)
    performance_pay = Money(required=True)
    score = ma.fields.Integer(required=True)
    rating = ma.fields.String(required=True)
    actual_pay = Money(required=True)
    prior_period_adjustment_total = Money(required=True)
    payable = Money(required=True)
    frozen = ma.fields.Boolean(required=True)
    ruleset_version = ma.fields.String(allow_none=True, required=True)


class TotalsOut(ma.Schema):
    base_salary = Money(required=True)
    performance_pay = Money(required=True)
    actual_pay = Money(required=True)
    prior_period_adjustment_total = Money(required=True)
    payable = Money(required=True)


class ReportOut(Page):
    period = ma.fields.String(required=True)
    unit = ma.fields.String(allow_none=True, required=True)
    frozen = ma.fields.Boolean(required=True, metadata={
        "description": "every row is a closed period's frozen figure"})
    as_of = Day(allow_none=True, required=True)
    known_at = Instant(required=True)
    position = ma.fields.Integer(required=True, metadata={
        "description": "the log position every row was computed at"})
    count = ma.fields.Integer(required=True)
    offset = ma.fields.Integer(required=True)
    next_offset = ma.fields.Integer(allow_none=True, required=True,
                                    metadata={"description": "null on the last page"})


class PayListOut(ReportOut):
    ruleset_versions = ma.fields.List(ma.fields.String(), required=True)
    items = ma.fields.List(ma.fields.Nested(PayRowOut), required=True)
    totals = ma.fields.Nested(TotalsOut, required=True)


class RankOut(ma.Schema):
    rank = ma.fields.Integer(required=True)
    manager_id = ma.fields.String(required=True)
    name = ma.fields.String(required=True)
    value = ma.fields.String(allow_none=True, required=True, metadata={
        "description": "the score, the actual pay, or actual ÷ target to 4 places"})


class RankingsOut(ReportOut):
    by = ma.fields.String(required=True)
    items = ma.fields.List(ma.fields.Nested(RankOut), required=True)


def _period(args: dict[str, Any]) -> str:
    return str(args.get("period") or Quarter.of(args.get("as_of") or ledger().today()))


def _wants_csv(args: dict[str, Any]) -> bool:
    if args.get("format"):
        return bool(args["format"] == "csv")
    return request.accept_mimetypes.best_match(["application/json", CSV_TYPE]) == CSV_TYPE


def _page(report: dict[str, Any], args: dict[str, Any]) -> dict[str, Any]:
    start, end = args["offset"], args["offset"] + args["limit"]
    return dict(report, items=report["items"][start:end], offset=start,
                next_offset=end if end < len(report["items"]) else None)


def _csv(rows: list[list[str]], name: str) -> Response:
    out = io.StringIO()
    out.write(BOM)
    csv.writer(out, lineterminator="\r\n").writerows(rows)
    return Response(out.getvalue().encode("utf-8"), mimetype=CSV_TYPE, headers={
        "Content-Disposition": f'attachment; filename="{name}.csv"'})


def _text(value: Any) -> str:
    return money_text(value) if isinstance(value, Decimal) else str(value)


@blp.route("/reports/pay-list", methods=["GET"])
@blp.allow("approver", "auditor")
@blp.arguments(ReportArgs, location="query")
@blp.response(200, PayListOut)
@blp.alt_response(200, description="the whole list as CSV with a BOM", content_type=CSV_TYPE)
def pay_list_route(args: dict[str, Any]) -> Any:
    """Every manager's pay for a period (of a unit), with totals; frozen once closed"""
    period = _period(args)
    report = pay_list(read_side(), period, args.get("unit"), args.get("as_of"),
                      args.get("known_at"))
    if not _wants_csv(args):
        return _page(report, args)
    rows = [list(PAY_COLUMNS)]
    rows += [[_text(item[c]) for c in PAY_COLUMNS] for item in report["items"]]
    totals = report["totals"]
    rows.append(["total", "", "", "", *(
        _text(totals[c]) if c in MONEY_COLUMNS else "" for c in PAY_COLUMNS[4:])])
    return _csv(rows, f"pay-list-{period}")


@blp.route("/reports/rankings", methods=["GET"])
@blp.allow("supervisor", "approver", "auditor")
@blp.arguments(RankingArgs, location="query")
@blp.response(200, RankingsOut)
@blp.alt_response(200, description="the whole ranking as CSV with a BOM", content_type=CSV_TYPE)
def rankings_route(args: dict[str, Any]) -> Any:
    """Managers ranked by score, actual pay or profit completion; ties share a rank"""
    period = _period(args)
    report = rankings(read_side(), period, args["by"], args.get("unit"), args.get("as_of"),
                      args.get("known_at"))
    report["items"] = [dict(i, value=None if i["value"] is None else str(i["value"]))
                       for i in report["items"]]
    if not _wants_csv(args):
        return _page(report, args)
    rows = [["rank", "manager_id", "name", args["by"]]]
    rows += [[str(i["rank"]), i["manager_id"], i["name"], i["value"] or ""]
             for i in report["items"]]
    return _csv(rows, f"rankings-{period}-{args['by']}")

"""Scores and pay over HTTP: a manager's score, pay, portfolio and timeline, at any `as_of`
and `known_at`.

The queries are `projections.read_side.ReadSide`, built once per process on first use.
Every figure echoes the cut it was taken at and the rule-set version that produced it;
projections behind the log beyond their bound answer 503 with Retry-After, never a stale
figure presented as current.
"""
# flask-smorest ships no type hints, so its route decorators are untyped.
# mypy: disable-error-code="untyped-decorator"

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import marshmallow as ma
from flask import Flask, Response, current_app

from api.auth import require_own
from api.common import Day, Instant, LedgerBlueprint, Money, ledger
from api.consistency import RequestConsistency
from api.errors import problem
from api.idempotency import LEDGER
from api.pagination import Page, after_cursor, cursor_args, page_by_key
from ledger.application import LedgerApplication
from ledger.errors import ProjectionLagging
from ledger.quarter import Quarter
from projections.policy import PortfolioSnapshots
from projections.read_side import ReadSide

blp = LedgerBlueprint("scores_and_pay", __name__,
                      description="Scores, pay, portfolios, timelines")

READ_SIDE = "ledger.read_side"


def read_side() -> ReadSide:
    """The process's one `ReadSide`, built on first use."""
    return read_side_of(current_app)


def read_side_of(app: Flask) -> ReadSide:
    """The app's one `ReadSide` (reachable without a request, e.g. from a command)."""
    found: ReadSide | None = app.extensions.get(READ_SIDE)
    if found is None:
        ledger_app: LedgerApplication = app.extensions[LEDGER]
        found = app.extensions[READ_SIDE] = ReadSide(ledger_app, consistency=RequestConsistency())
    return found


def register_portfolio_reader(app: Flask) -> None:
    """Assignments check the portfolio policy against the read models (DESIGN §3.4)."""
    # Bound to the app, not to a request: commands also run outside requests (imports).
    app.extensions[LEDGER].portfolios = lambda day: PortfolioSnapshots(read_side_of(app))(day)


def register_lag_handler(app: Flask) -> None:
    """Projections that cannot catch up in time: 503 with Retry-After."""
    app.register_error_handler(ProjectionLagging, _lagging)


def _lagging(error: ProjectionLagging) -> Response:
    return problem(503, error.detail, slug="projections-lagging", title=error.title,
                   headers={"Retry-After": str(max(error.retry_after, 1))})


class CutArgs(ma.Schema):
    as_of = Day(metadata={"description": "business date (default: today)"})
    known_at = Instant(metadata={"description": "recording instant, inclusive (default: now)"})


class PeriodArgs(CutArgs):
    period = ma.fields.String(metadata={"description": "quarter such as 2026Q1 "
                                        "(default: the quarter of as_of)"})


class ScoreArgs(PeriodArgs):
    explain = ma.fields.Boolean(load_default=False)


class CutOut(ma.Schema):
    manager_id = ma.fields.String(required=True)
    as_of = Day(required=True)
    known_at = Instant(required=True)


class ScoreOut(CutOut):
    period = ma.fields.String(required=True)
    score = ma.fields.Integer(required=True)
    rating = ma.fields.String(required=True)
    error_points = ma.fields.Integer(required=True)
    adjustment_points = ma.fields.Integer(required=True)
    disqualified = ma.fields.Boolean(required=True)
    ruleset_version = ma.fields.String(allow_none=True, required=True)
    explanation = ma.fields.Dict(keys=ma.fields.String())


class CorrectionOut(ma.Schema):
    """One event recorded after a period's closing that changed its figures."""

    period = ma.fields.String(required=True, metadata={"description": "the corrected period"})
    position = ma.fields.Integer(required=True)
    recorded_at = Instant(required=True)
    type = ma.fields.String(required=True)
    effective_on = Day(allow_none=True, required=True)
    effect = ma.fields.Dict(keys=ma.fields.String(), required=True, metadata={
        "description": "each figure of the corrected period the event moved, by how much "
                       "(score in points, money as decimal strings)"})
    delta = Money(required=True, metadata={"description": "the change to actual_pay"})
    actual_pay_after = Money(required=True, metadata={
        "description": "the corrected period's actual_pay restated after this event"})
    carried_into = ma.fields.String(required=True, metadata={
        "description": "the period whose payable carries the delta"})


class CarriedOut(ma.Schema):
    total = Money(required=True)
    lines = ma.fields.List(ma.fields.Nested(CorrectionOut), required=True)


class PayOut(CutOut):
    period = ma.fields.String(required=True)
    base_salary = Money(required=True)
    stock_task = Money(required=True)
    incremental_task = Money(required=True)
    target = Money(required=True)
    actual = Money(required=True)
    performance_pay = Money(required=True)
    score = ma.fields.Integer(required=True)
    actual_pay = Money(required=True)
    ruleset_version = ma.fields.String(allow_none=True, required=True)
    status = ma.fields.String(required=True, validate=ma.validate.OneOf(["open", "closed"]),
                              metadata={"description": "the period, as known at known_at"})
    closed_at = Instant(allow_none=True, required=True)
    frozen = ma.fields.Boolean(required=True, metadata={
        "description": "the figures are the ones the closing froze (as_of on or after the "
                       "period's last day); they never change"})
    prior_period_adjustments = ma.fields.List(
        ma.fields.Nested(CorrectionOut), required=True, metadata={
            "description": "closed period: the corrections recorded after its closing"})
    prior_period_adjustment = ma.fields.Nested(CarriedOut, required=True, metadata={
        "description": "corrections of closed earlier periods paid with this period"})
    prior_period_adjustment_total = Money(required=True)
    payable = Money(required=True, metadata={
        "description": "actual_pay + prior_period_adjustment_total"})
    explanation = ma.fields.Dict(keys=ma.fields.String())


class HeldCustomerOut(ma.Schema):
    customer_id = ma.fields.String(required=True)
    name = ma.fields.String(required=True)
    customer_class = ma.fields.String(required=True, data_key="class", attribute="class")
    group = ma.fields.String(allow_none=True, required=True)
    held_from = Day(allow_none=True, required=True)


MAX_LISTED = 1_000
"""The most customers of a portfolio, or steps of a timeline, one page lists."""

PortfolioArgs = cursor_args(CutArgs, after_cursor(
    "cursor: the next_after (a customer id) of the page before"), MAX_LISTED)

TimelineArgs = cursor_args(PeriodArgs, ma.fields.Integer(
    validate=ma.validate.Range(min=0),
    metadata={"description": "cursor: the next_after (a log position) of the page before"}),
    MAX_LISTED)


class PortfolioOut(CutOut, Page):
    PINNED = ("as_of", "known_at")
    customers = ma.fields.List(ma.fields.Nested(HeldCustomerOut), required=True)
    next_after = ma.fields.String(allow_none=True, required=True, metadata={
        "description": "cursor of the next page (the last customer id), if any"})


class StepOut(ma.Schema):
    position = ma.fields.Integer(required=True)
    recorded_at = Instant(required=True)
    type = ma.fields.String(required=True)
    effective_on = Day(allow_none=True, required=True)
    effect = ma.fields.Integer(required=True)
    score_after = ma.fields.Integer(required=True)
    ruleset_version = ma.fields.String(required=True)
    prior_period = ma.fields.Boolean(required=True, metadata={
        "description": "recorded after the period's pay was frozen"})


class TimelineOut(CutOut, Page):
    PINNED = ("period", "as_of", "known_at")
    period = ma.fields.String(required=True)
    status = ma.fields.String(required=True, validate=ma.validate.OneOf(["open", "closed"]))
    closed_at = Instant(allow_none=True, required=True)
    ruleset_version = ma.fields.String(allow_none=True, required=True)
    items = ma.fields.List(ma.fields.Nested(StepOut), required=True)
    next_after = ma.fields.Integer(allow_none=True, required=True, metadata={
        "description": "cursor of the next page (the last step's log position), if any"})


def _period(args: dict[str, Any]) -> str:
    day: date = args.get("as_of") or ledger().today()
    return str(args.get("period") or Quarter.of(day))


def _cut(args: dict[str, Any]) -> dict[str, Any]:
    known_at: datetime | None = args.get("known_at")
    return {"as_of": args.get("as_of"), "known_at": known_at}


@blp.route("/managers/<manager_id>/score", methods=["GET"])
@blp.allow("auditor", "supervisor", "manager")
@blp.arguments(ScoreArgs, location="query")
@blp.response(200, ScoreOut)
def score(args: dict[str, Any], manager_id: str) -> Any:
    """A manager's management score for a period (managers: their own only)"""
    require_own(manager_id)
    return read_side().score(manager_id, _period(args), explain=args["explain"], **_cut(args))


@blp.route("/managers/<manager_id>/pay", methods=["GET"])
@blp.allow("auditor", "approver", "manager")
@blp.arguments(ScoreArgs, location="query")
@blp.response(200, PayOut)
def pay(args: dict[str, Any], manager_id: str) -> Any:
    """A manager's pay for a period (managers: their own only)"""
    require_own(manager_id)
    return read_side().pay(manager_id, _period(args), explain=args["explain"], **_cut(args))


@blp.route("/managers/<manager_id>/portfolio", methods=["GET"])
@blp.allow("auditor", "supervisor", "manager")
@blp.arguments(PortfolioArgs, location="query")
@blp.response(200, PortfolioOut)
def portfolio(args: dict[str, Any], manager_id: str) -> Any:
    """The customers a manager holds on as_of, by id (managers: their own only)"""
    require_own(manager_id)
    answer = read_side().portfolio(manager_id, **_cut(args))
    answer["customers"], answer["next_after"] = page_by_key(
        answer["customers"], _customer_id, args.get("after"), args["limit"])
    return answer


@blp.route("/managers/<manager_id>/timeline", methods=["GET"])
@blp.allow("auditor", "supervisor", "manager")
@blp.arguments(TimelineArgs, location="query")
@blp.response(200, TimelineOut)
def timeline(args: dict[str, Any], manager_id: str) -> Any:
    """Every event that moved a manager's score in a period, with the score after it"""
    require_own(manager_id)
    answer = read_side().timeline(manager_id, _period(args), **_cut(args))
    answer["items"], answer["next_after"] = page_by_key(
        answer["items"], _position, args.get("after"), args["limit"])
    return answer


def _customer_id(held: dict[str, Any]) -> str:
    return str(held["customer_id"])


def _position(step: dict[str, Any]) -> int:
    return int(step["position"])

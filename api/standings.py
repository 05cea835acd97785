"""The year and standings (DESIGN §13): a manager's annual result, and the flags that
consecutive quarterly ratings bring, each naming its quarters and the event behind it."""
# flask-smorest ships no type hints, so its route decorators are untyped.
# mypy: disable-error-code="untyped-decorator"

from __future__ import annotations

from typing import Any

import marshmallow as ma

from api.auth import require_own
from api.common import Day, Instant, LedgerBlueprint, Money, identifier, ledger
from api.pagination import Page
from api.scores_and_pay import CutArgs, CutOut, read_side
from projections.read_side import MAX_UNIT_MANAGERS
from projections.standing import FLAGS

blp = LedgerBlueprint("standings", __name__, description="The year and standings (§13)")


class YearArgs(CutArgs):
    year = ma.fields.Integer(validate=ma.validate.Range(1900, 2200), metadata={
        "description": "the calendar year (default: the year of as_of)"})


class StandingsArgs(CutArgs):
    flag = ma.fields.String(validate=ma.validate.OneOf(FLAGS))
    unit = identifier()
    after = identifier(metadata={"description": "cursor: the next_after of the page before"})
    limit = ma.fields.Integer(load_default=MAX_UNIT_MANAGERS,
                              validate=ma.validate.Range(1, MAX_UNIT_MANAGERS),
                              metadata={"description": "managers examined per page"})


class QuarterOut(ma.Schema):
    period = ma.fields.String(required=True)
    score = ma.fields.Integer(required=True)
    rating = ma.fields.String(required=True)
    actual_pay = Money(required=True)
    ruleset_version = ma.fields.String(required=True)
    counted = ma.fields.Boolean(required=True, metadata={
        "description": "false when the manager neither held a customer nor had a target"})


class AnnualOut(CutOut):
    year = ma.fields.Integer(required=True)
    quarters = ma.fields.List(ma.fields.Nested(QuarterOut), required=True)
    annual_score = ma.fields.Integer(allow_none=True, required=True)
    annual_rating = ma.fields.String(allow_none=True, required=True)
    total_pay = Money(required=True)
    ruleset_version = ma.fields.String(allow_none=True, required=True)


class CauseOut(ma.Schema):
    position = ma.fields.Integer(required=True)
    type = ma.fields.String(required=True)
    recorded_at = Instant(required=True)


class FlagOut(ma.Schema):
    flag = ma.fields.String(required=True, validate=ma.validate.OneOf(FLAGS))
    quarters = ma.fields.List(ma.fields.String(), required=True)
    improve_by = Day(allow_none=True, required=True)
    cause = ma.fields.Nested(CauseOut, allow_none=True, required=True, metadata={
        "description": "the event after which the flag began to hold"})


class StandingOut(CutOut):
    flags = ma.fields.List(ma.fields.Nested(FlagOut), required=True)


class StandingItemOut(ma.Schema):
    manager_id = ma.fields.String(required=True)
    unit = ma.fields.String(required=True)
    flags = ma.fields.List(ma.fields.Nested(FlagOut), required=True)


class StandingsOut(Page):
    PINNED = ("as_of", "known_at")  # later pages: the flags as the first page saw them
    items = ma.fields.List(ma.fields.Nested(StandingItemOut), required=True)
    next_after = ma.fields.String(allow_none=True, required=True,
                                  metadata={"description": "cursor of the next page, if any"})
    flag = ma.fields.String(allow_none=True, required=True)
    unit = ma.fields.String(allow_none=True, required=True)
    as_of = Day(required=True)
    known_at = Instant(required=True)


@blp.route("/managers/<manager_id>/annual", methods=["GET"])
@blp.allow("auditor", "supervisor", "approver", "manager")
@blp.arguments(YearArgs, location="query")
@blp.response(200, AnnualOut)
def annual(args: dict[str, Any], manager_id: str) -> Any:
    """The year's quarters, annual score and rating, and total pay"""
    require_own(manager_id)
    as_of = args.get("as_of")
    year = args.get("year") or (as_of or ledger().today()).year
    return read_side().annual(manager_id, year, as_of=as_of, known_at=args.get("known_at"))


@blp.route("/managers/<manager_id>/standing", methods=["GET"])
@blp.allow("auditor", "supervisor", "approver", "manager")
@blp.arguments(CutArgs, location="query")
@blp.response(200, StandingOut)
def standing(args: dict[str, Any], manager_id: str) -> Any:
    """The flags that consecutive ratings bring, each with its quarters and cause"""
    require_own(manager_id)
    return read_side().standing(manager_id, **args)


@blp.route("/standings", methods=["GET"])
@blp.allow("auditor", "supervisor", "approver")
@blp.arguments(StandingsArgs, location="query")
@blp.response(200, StandingsOut)
def standings(args: dict[str, Any]) -> Any:
    """Every manager holding a flag, of a unit if asked"""
    return read_side().standings(**args)

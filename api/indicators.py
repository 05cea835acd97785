"""Raw indicator reports (DESIGN §11): one at a time or in batches, safely retried, and every
indicator of a manager's period with its value and where it came from.

A report is identified by its source keys, like a posting: the same keys again append
nothing ("duplicate" when the values match, "conflict" otherwise). A correction is a new
report (new keys) for the same indicator, manager and period; it counts from its recording.
"""
# flask-smorest ships no type hints, so its route decorators are untyped.
# mypy: disable-error-code="untyped-decorator"

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import marshmallow as ma

from api.auth import require_own
from api.common import (
    BatchItems,
    CommandSchema,
    Day,
    LedgerBlueprint,
    identifier,
    ledger,
    with_receipt,
)
from api.contributions import BatchOut, batch_reply
from api.pagination import Page, after_cursor, cursor_args, page_in_order
from api.scores_and_pay import CutOut, PeriodArgs, read_side
from ledger.application import ItemOutcome, Made
from ledger.indicator import IndicatorReport
from ledger.quarter import Quarter
from ledger.store import IdempotencyRecord

blp = LedgerBlueprint("indicators", __name__, description="Raw indicator reports (§11)")

MAX_BATCH = 1000
_DECIMAL = re.compile(r"^-?[0-9]{1,15}(\.[0-9]{1,12})?$")
DECIMAL_PATTERN = _DECIMAL.pattern


class Figure(ma.fields.String):
    """An exact decimal as a string ("0.015", "30000000"): a ratio may need more places
    than money, and a JSON number would arrive as a binary float."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("metadata", {}).setdefault("pattern", DECIMAL_PATTERN)
        super().__init__(**kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, (str, int)) \
                or not _DECIMAL.match(str(value)):
            raise ma.ValidationError('must be a decimal string such as "0.015"')
        return Decimal(str(value))

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> str | None:
        return None if value is None else format(Decimal(value), "f")


class ReportIn(ma.Schema):
    indicator = identifier(required=True)
    manager_id = identifier(required=True)
    period = ma.fields.String(required=True, validate=ma.validate.Length(1, 16))
    measured_on = Day(required=True)
    value = Figure(required=True)
    source_system = identifier(required=True)
    external_id = identifier(required=True)


class ReportBatchIn(ma.Schema):
    items = BatchItems(ReportIn, max_items=MAX_BATCH)


class ReportOut(CommandSchema):
    id = ma.fields.UUID(required=True)
    result = ma.fields.String(required=True, validate=ma.validate.OneOf(["created", "duplicate"]))
    indicator = ma.fields.String(required=True)
    manager_id = ma.fields.String(required=True)
    period = ma.fields.String(required=True)
    measured_on = Day(required=True)
    value = Figure(required=True)
    ruleset_version = ma.fields.String(required=True)
    source_system = ma.fields.String(required=True)
    external_id = ma.fields.String(required=True)


class ReportRefOut(ma.Schema):
    report_id = ma.fields.UUID(required=True)
    position = ma.fields.Integer(required=True)
    measured_on = Day(required=True)
    value = Figure(required=True)
    source_system = ma.fields.String(required=True)
    external_id = ma.fields.String(required=True)


class NameOut(ma.Schema):
    name = ma.fields.String(required=True)
    kind = ma.fields.String(required=True, validate=ma.validate.OneOf(
        ["raw", "computed", "score", "parameter", "figure", "qualitative"]))
    value = Figure(required=True, metadata={"description": "exact, unrounded"})
    source = ma.fields.String(required=True, validate=ma.validate.OneOf(
        ["report", "default", "parameter", "figure", "qualitative", "formula"]))
    formula = ma.fields.String(allow_none=True, required=True)
    title = ma.fields.String(allow_none=True, required=True)
    unit = ma.fields.String(allow_none=True, required=True)
    report = ma.fields.Nested(ReportRefOut, allow_none=True, required=True)


MAX_NAMES = 1_000
"""The most indicators one page lists."""

IndicatorsArgs = cursor_args(PeriodArgs, after_cursor(
    "cursor: the next_after (an indicator's name) of the page before"), MAX_NAMES)


class IndicatorsOut(CutOut, Page):
    PINNED = ("period", "as_of", "known_at")
    period = ma.fields.String(required=True)
    ruleset_version = ma.fields.String(required=True)
    score = ma.fields.Integer(required=True)
    score_formula = ma.fields.String(allow_none=True, required=True)
    score_value = Figure(allow_none=True, required=True, metadata={
        "description": "the score formula's exact value, before rounding and clamping"})
    items = ma.fields.List(ma.fields.Nested(NameOut), required=True)
    next_after = ma.fields.String(allow_none=True, required=True, metadata={
        "description": "cursor of the next page (the last name shown), if any"})


_REPORT_FIELDS = ("indicator", "manager_id", "period", "measured_on", "value",
                  "ruleset_version", "source_system", "external_id")


def report_reply(made: Made[IndicatorReport], *_: Any, **__: Any) -> dict[str, Any]:
    report = made.value
    return with_receipt({"id": report.id, "result": made.result,
                         **{name: getattr(report, name) for name in _REPORT_FIELDS}},
                        made.receipt)


@blp.route("/indicators", methods=["POST"])
@blp.allow("integrator", "supervisor")
@blp.arguments(ReportIn)
@blp.command(201, ReportOut, report_reply)
@blp.alt_response(200, schema=ReportOut, description="Already recorded (a duplicate)")
def report_indicator(
    body: dict[str, Any], idempotency: IdempotencyRecord | None
) -> Made[IndicatorReport]:
    """Report one raw indicator's value for a manager and period"""
    return ledger().report_indicator(**body, idempotency=idempotency)


@blp.route("/indicators/batch", methods=["POST"])
@blp.allow("integrator", "supervisor")
@blp.arguments(ReportBatchIn)
@blp.command(200, BatchOut, batch_reply)
def report_indicators(
    body: dict[str, Any], idempotency: IdempotencyRecord | None
) -> Made[list[ItemOutcome]]:
    """Report up to 1000 raw indicator values; each item is answered on its own"""
    return ledger().report_indicators(body["items"], idempotency=idempotency)


@blp.route("/managers/<manager_id>/indicators", methods=["GET"])
@blp.allow("auditor", "supervisor", "manager")
@blp.arguments(IndicatorsArgs, location="query")
@blp.response(200, IndicatorsOut)
def indicators(args: dict[str, Any], manager_id: str) -> Any:
    """Every indicator of a manager's period, in the rule set's order: value, kind,
    formula and source"""
    require_own(manager_id)
    as_of = args.get("as_of")
    period = str(args.get("period") or Quarter.of(as_of or ledger().today()))
    answer = read_side().indicators(manager_id, period, as_of=as_of,
                                    known_at=args.get("known_at"))
    # The next link pins the cut, so the rule set and its order of names stay the same.
    answer["items"], answer["next_after"] = page_in_order(
        answer["items"], _name, args.get("after"), args["limit"])
    return answer


def _name(item: dict[str, Any]) -> str:
    return str(item["name"])

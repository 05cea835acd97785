"""Closing a period: its pay figures are computed once and frozen in the closing event.

A correction recorded after the closing never changes the frozen figures; the pay answer
of the closed period lists it as a prior-period adjustment, and the next open period's
pay carries its money (see projections.closing).
"""
# flask-smorest ships no type hints, so its route decorators are untyped.
# mypy: disable-error-code="untyped-decorator"

from __future__ import annotations

from typing import Any

import marshmallow as ma

from api.common import CommandSchema, Instant, LedgerBlueprint, ledger, text, with_receipt
from api.scores_and_pay import read_side
from api.trail import TrailStepSchema, trail
from ledger.application import Made
from ledger.period import Period
from ledger.quarter import Quarter
from ledger.store import IdempotencyRecord

blp = LedgerBlueprint("periods", __name__, description="Assessment periods")


class CloseIn(ma.Schema):
    reason = text(required=True)


class PeriodFields(ma.Schema):
    period = ma.fields.String(required=True)
    status = ma.fields.String(required=True, validate=ma.validate.OneOf(["open", "closed"]))
    frozen = ma.fields.Dict(keys=ma.fields.String(), required=True, allow_none=True, metadata={
        "description": "each manager's pay as frozen, with the log position and instant "
                       "(`position`, `known_at`) it was computed at"})


class PeriodOut(PeriodFields, CommandSchema):
    pass


class PeriodDetailOut(PeriodFields):
    closed_at = Instant(required=True, allow_none=True)
    trail = ma.fields.List(ma.fields.Nested(TrailStepSchema), required=True)


def period_view(closing: Period) -> dict[str, Any]:
    return {"period": closing.period, "status": closing.status, "frozen": closing.frozen}


def closing_reply(made: Made[Period], *_: Any, **__: Any) -> dict[str, Any]:
    return with_receipt(period_view(made.value), made.receipt)


@blp.route("/periods/<period>/close", methods=["POST"])
@blp.allow("approver")
@blp.arguments(CloseIn)
@blp.command(200, PeriodOut, closing_reply)
def close(
    body: dict[str, Any], period: str, idempotency: IdempotencyRecord | None
) -> Made[Period]:
    """Close a period, freezing its pay figures"""
    return ledger().close_period(period, reason=body["reason"], freeze=read_side().pay_to_freeze,
                                 idempotency=idempotency)


@blp.route("/periods/<period>", methods=["GET"])
@blp.allow("auditor", "approver", "supervisor")
@blp.response(200, PeriodDetailOut)
def get_period(period: str) -> dict[str, Any]:
    """A period: open, or closed with the pay it froze and the closing's trail"""
    quarter = str(Quarter.parse(period))
    app = ledger()
    found = app.period_if_closed(quarter)
    if found is None:
        return {"period": quarter, "status": "open", "frozen": None, "closed_at": None,
                "trail": []}
    steps = trail(app.history(found.id))
    return {**period_view(found), "closed_at": steps[-1]["recorded_at"], "trail": steps}

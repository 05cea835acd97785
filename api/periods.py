"""Closing a period: its pay figures are computed once and frozen in the closing event.

A correction recorded after the closing never changes the frozen figures; the pay answer
of the closed period lists it as a prior-period adjustment, and the next open period's
pay carries its money (see projections.closing).
"""
# flask-smorest ships no type hints, so its route decorators are untyped.
# mypy: disable-error-code="untyped-decorator"

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import marshmallow as ma
from flask import Response

from api.common import CommandSchema, Instant, LedgerBlueprint, answer, ledger, run_command, text
from api.figures import figures
from api.trail import TrailStepSchema, trail
from ledger.periods import Period

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


def period_view(aggregates: Sequence[Any]) -> dict[str, Any]:
    closing = aggregates[0]
    return {"period": closing.period, "status": closing.status, "frozen": closing.frozen}


@blp.route("/periods/<period>/close", methods=["POST"])
@blp.allow("approver")
@blp.command()
@blp.arguments(CloseIn)
@blp.response(200, PeriodOut)
def close(body: dict[str, Any], period: str) -> Response:
    """Close a period, freezing its pay figures"""
    return run_command(
        lambda app: app.close_period(period, reason=body["reason"],
                                     freeze=figures().pay_to_freeze),
        answer(200, PeriodOut, period_view),
    )


@blp.route("/periods/<period>", methods=["GET"])
@blp.allow("auditor", "approver", "supervisor")
@blp.response(200, PeriodDetailOut)
def get_period(period: str) -> dict[str, Any]:
    """A period: open, or closed with the pay it froze and the closing's trail"""
    quarter = str(Period.parse(period))
    app = ledger()
    found = app.period_if_closed(quarter)
    if found is None:
        return {"period": quarter, "status": "open", "frozen": None, "closed_at": None,
                "trail": []}
    steps = trail(app.history(found.id))
    return {**period_view([found]), "closed_at": steps[-1]["recorded_at"], "trail": steps}

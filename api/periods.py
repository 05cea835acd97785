"""Closing a period: its pay figures are computed once and frozen in the closing event."""
# flask-smorest ships no type hints, so its route decorators are untyped.
# mypy: disable-error-code="untyped-decorator"

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import marshmallow as ma
from eventsourcing.utils import get_topic
from flask import Response

from api.common import (
    CommandSchema,
    LedgerBlueprint,
    answer,
    instant_text,
    ledger,
    money_text,
    run_command,
    text,
)
from api.figures import figures
from ledger.manager import Manager
from ledger.periods import Period

blp = LedgerBlueprint("periods", __name__, description="Assessment periods")

MAX_MANAGERS = 10_000  # a bank with more managers closes its periods in another way
PAGE = 500
MONEY_FIELDS = ("base_salary", "stock_task", "incremental_task", "target", "actual",
                "performance_pay", "actual_pay")


class CloseIn(ma.Schema):
    reason = text(required=True)


class PeriodOut(CommandSchema):
    period = ma.fields.String(required=True)
    status = ma.fields.String(required=True)
    frozen = ma.fields.Dict(keys=ma.fields.String(), required=True,
                            metadata={"description": "each manager's pay, as frozen"})


def period_view(aggregates: Sequence[Any]) -> dict[str, Any]:
    closing = aggregates[0]
    return {"period": closing.period, "status": closing.status, "frozen": closing.frozen}


def registered_managers(app: Any) -> list[str]:
    """Every manager ever registered, from the log (bounded by MAX_MANAGERS)."""
    topic = get_topic(Manager.Registered)
    found: list[str] = []
    after = 0
    while len(found) < MAX_MANAGERS:
        page = app.recorder.select_notifications(after, PAGE, topics=[topic],
                                                 inclusive_of_start=False)
        found += [app.mapper.to_domain_event(n).business_id for n in page]
        if len(page) < PAGE:
            return found
        after = page[-1].id
    return found[:MAX_MANAGERS]


def frozen_pay(period: str) -> dict[str, Any]:
    """Each manager's pay for the whole period, as the ledger knows it now."""
    quarter = Period.parse(period)
    app, queries = ledger(), figures()
    pays = {}
    for manager_id in registered_managers(app):
        pay = queries.pay(manager_id, str(quarter), as_of=quarter.last_day)
        pays[manager_id] = {**{k: money_text(pay[k]) for k in MONEY_FIELDS},
                            "score": pay["score"], "ruleset_version": pay["ruleset_version"]}
    return {"period": str(quarter), "as_of": quarter.last_day,
            "known_at": instant_text(app.clock()), "managers": pays}


@blp.route("/periods/<period>/close", methods=["POST"])
@blp.allow("approver")
@blp.command()
@blp.arguments(CloseIn)
@blp.response(200, PeriodOut)
def close(body: dict[str, Any], period: str) -> Response:
    """Close a period, freezing its pay figures"""
    frozen = frozen_pay(period)
    return run_command(lambda app: app.close_period(period, frozen=frozen, reason=body["reason"]),
                       answer(200, PeriodOut, period_view))

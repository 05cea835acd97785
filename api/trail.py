"""A trail: every event of one or more aggregates in log order, with who, when, why (§3.5).

Each step has both times: `occurred_at`, when the step was taken (the event's own time),
and `recorded_at`, when the ledger recorded it (what `known_at` cuts on); and the business
date `effective_on` where the event has one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import marshmallow as ma

from api.common import Day, Instant

TEXT_FIELDS = ("description", "reason", "text", "question", "answer")
DETAIL_FIELDS = ("outcome", "points", "points_total", "due_on", "decided_by", "dispute_id",
                 "deduction_id", "rule_code", "occurrences", "aggravated", "manager_id")


class TrailStepSchema(ma.Schema):
    position = ma.fields.Integer(required=True)
    aggregate = ma.fields.String(required=True, metadata={"description": "Deduction, Dispute…"})
    aggregate_id = ma.fields.UUID(required=True)
    type = ma.fields.String(required=True)
    occurred_at = Instant(required=True)
    recorded_at = Instant(required=True)
    actor = ma.fields.String(required=True)
    role = ma.fields.String(required=True)
    request_id = ma.fields.String(required=True)
    effective_on = Day(allow_none=True, required=True)
    texts = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.String(), required=True)
    evidence = ma.fields.List(ma.fields.String(), required=True)
    details = ma.fields.Dict(keys=ma.fields.String(), required=True,
                             metadata={"description": "outcome, points, due_on, … when present"})


def trail(*histories: Sequence[tuple[Any, Any]]) -> list[dict[str, Any]]:
    """Each step of the histories (`LedgerApplication.history`), merged in log order."""
    steps = [step for history in histories for step in history]
    return [_step(event, recorded) for event, recorded in
            sorted(steps, key=lambda step: step[1].position)]


def _step(event: Any, recorded: Any) -> dict[str, Any]:
    return {
        "position": recorded.position,
        "aggregate": type(event).__qualname__.split(".")[0],
        "aggregate_id": recorded.originator_id,
        "type": recorded.type,
        "occurred_at": event.timestamp,
        "recorded_at": recorded.recorded_at,
        "actor": event.actor,
        "role": event.role,
        "request_id": event.request_id,
        "effective_on": getattr(event, "effective_on", None),
        "texts": {k: getattr(event, k) for k in TEXT_FIELDS if getattr(event, k, None)},
        "evidence": list(getattr(event, "evidence", None) or []),
        "details": {k: _plain(getattr(event, k)) for k in DETAIL_FIELDS
                    if getattr(event, k, None) is not None},
    }


def _plain(value: Any) -> Any:
    # JSON-ready: dates and ids as text, numbers and flags as they are.
    if isinstance(value, (bool, int, str)):
        return value
    return value.isoformat() if hasattr(value, "isoformat") else str(value)

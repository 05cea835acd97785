"""An aggregate's trail: every event in order, with who, when, why (DESIGN §3.5)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import marshmallow as ma

from api.common import Instant

TEXT_FIELDS = ("description", "reason", "text")
DETAIL_FIELDS = ("outcome", "points", "points_total", "due_on", "decided_by", "dispute_id",
                 "deduction_id", "rule_code", "occurrences", "aggravated", "manager_id")


class TrailStepSchema(ma.Schema):
    position = ma.fields.Integer(required=True)
    type = ma.fields.String(required=True)
    recorded_at = Instant(required=True)
    actor = ma.fields.String(required=True)
    role = ma.fields.String(required=True)
    request_id = ma.fields.String(required=True)
    effective_on = ma.fields.Date(allow_none=True, required=True)
    texts = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.String(), required=True)
    evidence = ma.fields.List(ma.fields.String(), required=True)
    details = ma.fields.Dict(keys=ma.fields.String(), required=True,
                             metadata={"description": "outcome, points, due_on, … when present"})


def trail(history: Sequence[tuple[Any, Any]]) -> list[dict[str, Any]]:
    """Each step of one aggregate's history (`LedgerApplication.history`), oldest first."""
    return [_step(event, recorded) for event, recorded in history]


def _step(event: Any, recorded: Any) -> dict[str, Any]:
    return {
        "position": recorded.position,
        "type": recorded.type,
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

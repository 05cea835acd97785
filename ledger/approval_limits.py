"""Approval limits by size (DESIGN §16): the rule set's optional `adjustments` section.

`{"adjustments": {"second_approval_above": 50}}` makes an adjustment of more than 50 score
points either way need two approvals by two different approvers, neither the proposer.
Without the section (2026.1) one approval suffices, as before.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

MAX_LIMIT = 1_000_000
_KEYS = ("second_approval_above",)


@dataclass(frozen=True)
class AdjustmentRules:
    """`second_approval_above` None: every adjustment needs one approval."""

    second_approval_above: int | None = None

    def approvals_needed(self, points: int) -> int:
        limit = self.second_approval_above
        return 2 if limit is not None and abs(points) > limit else 1


def parse_adjustments(raw: object, add: Callable[[str, str], None]) -> AdjustmentRules:
    """The section's rules; each problem goes to `add(path, message)`."""
    if raw is None:
        return AdjustmentRules()
    if not isinstance(raw, Mapping):
        add("adjustments", "must be an object")
        return AdjustmentRules()
    for key in raw:
        if key not in _KEYS:
            add(f"adjustments.{key}", "unknown key")
    limit = raw.get("second_approval_above")
    if limit is None:
        add("adjustments.second_approval_above", "missing")
        return AdjustmentRules()
    if isinstance(limit, bool) or not isinstance(limit, int) or not 0 <= limit <= MAX_LIMIT:
        add("adjustments.second_approval_above",
            f"must be a whole number of score points between 0 and {MAX_LIMIT}")
        return AdjustmentRules()
    return AdjustmentRules(limit)


def adjustments_document(rules: AdjustmentRules) -> dict[str, Any] | None:
    """The section as JSON, or None when the rule set has none."""
    if rules.second_approval_above is None:
        return None
    return {"second_approval_above": rules.second_approval_above}

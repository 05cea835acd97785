"""Portfolio policy checked on every (re)assignment (DESIGN §3.4), one named rule per check."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from ledger.errors import PolicyRefusal
from ledger.ruleset_document import GRADES, PortfolioRules, RuleSetDocument

PREMIUM_CLASS = "premium"
MAX_NAMED_IN_MESSAGE = 5
"""How many other holders a warning names before it says "and N more" (bounded messages)."""


@dataclass(frozen=True)
class PolicyWarning:
    """An assignment the rule set allows but flags; `code` is stable for clients."""

    code: str
    rule: str
    message: str


@dataclass(frozen=True)
class Assignment:
    """A proposed assignment of one customer to one manager, with the portfolios as they stand.

    `holdings_by_manager` maps manager id → (customer id, group or None) held now; the
    customer may already appear there under its current manager."""

    customer_id: str
    customer_class: str
    customer_group: str | None
    manager_grade: str
    manager_id: str
    holdings_by_manager: Mapping[str, Sequence[tuple[str, str | None]]]
    active_managers: int

    def __post_init__(self) -> None:
        if self.manager_grade not in GRADES:
            raise ValueError(f"manager_grade must be one of {GRADES}")
        if self.active_managers < 1:
            raise ValueError("active_managers must be at least 1")


class PortfolioRule(Protocol):
    def check(self, rules: PortfolioRules, assignment: Assignment) -> PolicyWarning | None:
        """A warning, None when satisfied or switched off; raises PolicyRefusal to refuse."""
        ...


def _names(ids: Sequence[str]) -> str:
    shown = ", ".join(ids[:MAX_NAMED_IN_MESSAGE])
    more = len(ids) - MAX_NAMED_IN_MESSAGE
    return f"{shown} and {more} more" if more > 0 else shown


class PremiumCustomersNeedTheRequiredGrade:
    """Premium customers are held only by managers of the required grade or better
    (grade A in 2026.1); `premium_requires_grade: null` switches the rule off."""

    def check(self, rules: PortfolioRules, assignment: Assignment) -> PolicyWarning | None:
        required = rules.premium_requires_grade
        if required is None or assignment.customer_class != PREMIUM_CLASS:
            return None
        # GRADES is ordered best first, so a smaller index is a better grade.
        if GRADES.index(assignment.manager_grade) > GRADES.index(required):
            detail = (
                f"premium customer {assignment.customer_id} needs a grade-{required} manager; "
                f"{assignment.manager_id} is grade {assignment.manager_grade}"
            )
            raise PolicyRefusal(type(self).__name__, detail)
        return None


class OneGroupOnePortfolio:
    """Customers of one group sit in one portfolio; `group_split` says warn, refuse or off."""

    def check(self, rules: PortfolioRules, assignment: Assignment) -> PolicyWarning | None:
        group = assignment.customer_group
        if rules.group_split == "off" or not group:
            return None
        others = sorted(
            manager_id
            for manager_id, held in assignment.holdings_by_manager.items()
            if manager_id != assignment.manager_id
            and any(g == group and c != assignment.customer_id for c, g in held)
        )
        if not others:
            return None
        message = (
            f"other customers of group {group} sit with {_names(others)}, "
            f"not with {assignment.manager_id}"
        )
        if rules.group_split == "refuse":
            raise PolicyRefusal(type(self).__name__, message)
        return PolicyWarning("group_split", type(self).__name__, message)


class SpanOfControl:
    """No manager holds more than span_factor × (customers ÷ active managers) (warn), nor
    than ceil(customers ÷ active managers); `span_factor: null` switches the rule off."""

    def check(self, rules: PortfolioRules, assignment: Assignment) -> PolicyWarning | None:
        factor = rules.span_factor
        if factor is None:
            return None
        customers = {c for held in assignment.holdings_by_manager.values() for c, _ in held}
        customers.add(assignment.customer_id)
        held_now = assignment.holdings_by_manager.get(assignment.manager_id, ())
        held_after = len({c for c, _ in held_now} | {assignment.customer_id})
        managers = assignment.active_managers
        # Even a perfectly balanced allocation gives someone ceil(customers ÷ managers), so a
        # limit below that would warn on every assignment (e.g. when onboarding the first
        # customers) and could never be acted on; the limit is therefore at least that.
        if held_after <= -(-len(customers) // managers):
            return None
        # Cross-multiplied so that the comparison needs no (inexact) division.
        if held_after * managers <= factor * len(customers):
            return None
        message = (
            f"{assignment.manager_id} would hold {held_after} customers, above "
            f"{factor} × {len(customers)} customers ÷ {assignment.active_managers} managers"
        )
        return PolicyWarning("span_of_control", type(self).__name__, message)


POLICY_RULES: tuple[PortfolioRule, ...] = (
    PremiumCustomersNeedTheRequiredGrade(),
    OneGroupOnePortfolio(),
    SpanOfControl(),
)
"""Checked in this order; the first refusal stops the check."""


def check_assignment(
    rules: RuleSetDocument,
    *,
    customer_id: str,
    customer_class: str,
    customer_group: str | None,
    manager_grade: str,
    manager_id: str,
    holdings_by_manager: Mapping[str, Sequence[tuple[str, str | None]]],
    active_managers: int,
) -> list[PolicyWarning]:
    """The warnings for assigning the customer to the manager; raises PolicyRefusal to refuse."""
    assignment = Assignment(
        customer_id,
        customer_class,
        customer_group,
        manager_grade,
        manager_id,
        holdings_by_manager,
        active_managers,
    )
    found = (rule.check(rules.portfolio, assignment) for rule in POLICY_RULES)
    return [warning for warning in found if warning is not None]

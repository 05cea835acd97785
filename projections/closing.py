"""Closed periods: the pay a closing froze, and the corrections recorded after it (§3.6).

A closing freezes each manager's pay for its period as the ledger knew it at the freeze
position. An event recorded later that changes the period's figures never changes the
frozen figure: it is a *prior-period adjustment*, listed with the change it makes, and
its money is carried into the pay of the first period that was not yet frozen when the
event was recorded (so a frozen figure never moves, whichever period it belongs to).

Everything here is computed from a `FactSet`, so it answers "as known at" its cut too.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from ledger.errors import Conflict
from ledger.quarter import Quarter
from projections.compute import pay_result, rules_for, score_result
from projections.factset import ClosingFact, FactSet

MAX_CARRY_BACK = 8
"""Closed periods (two years) looked back for corrections carried into a period (TB: bound
everything). An older correction is still listed on its own period's answer."""

MAX_CANDIDATES = 5_000
"""Events after a freeze that one answer replays for one period, at most."""

MONEY_FIGURES = (
    "base_salary", "stock_task", "incremental_task", "target", "actual", "performance_pay",
    "actual_pay",
)
RESTATED_FIGURES = ("score", *MONEY_FIGURES)

# Kinds of event listed even when they leave the figures as they were (e.g. a deduction on
# a score already at 0): they are corrections of the period by their nature.
ALWAYS_LISTED = frozenset(
    ("deduction", "deduction_voided", "deduction_amended", "adjustment_approved",
     "adjustment_reversed")
)


@dataclass(frozen=True)
class Correction:
    """One event recorded after a period's freeze that corrects the period's figures."""

    period: Quarter
    position: int
    effective_on: date | None
    changes: dict[str, Any]
    """Each figure the event moved, by how much (score points, money as Decimal)."""
    actual_pay_after: Decimal
    carried_into: Quarter

    @property
    def actual_pay_delta(self) -> Decimal:
        delta = self.changes.get("actual_pay", Decimal("0.00"))
        return delta if isinstance(delta, Decimal) else Decimal(delta)


def closings_by_period(closings: tuple[ClosingFact, ...]) -> dict[Quarter, ClosingFact]:
    return {Quarter.parse(c.period): c for c in closings}


def carried_into(
    closings: dict[Quarter, ClosingFact], corrected: Quarter, position: int
) -> Quarter:
    """The first period after `corrected` whose figures were not yet frozen at `position`."""
    period = corrected.next()
    while (closing := closings.get(period)) is not None and closing.freeze_position < position:
        period = period.next()
    return period


def carry_start(closings: dict[Quarter, ClosingFact], period: Quarter) -> Quarter:
    """The earliest period whose corrections may be carried into `period`: the run of closed
    periods just before it (at most MAX_CARRY_BACK), or `period` itself."""
    start = period
    for _ in range(MAX_CARRY_BACK):
        if start.previous() not in closings:
            break
        start = start.previous()
    return start


def corrections(
    facts: FactSet, manager_id: str, period: Quarter, since: int,
    closings: dict[Quarter, ClosingFact],
) -> list[Correction]:
    """The events after position `since` that changed the manager's full-period figures
    for `period`, each with the change it made (the figures replayed event by event)."""
    candidates = touching(facts, manager_id, period, since)
    if not candidates:
        return []  # the common case: nothing about the period arrived after the freeze
    if len(candidates) > MAX_CANDIDATES:
        raise Conflict(f"{len(candidates)} events corrected {period} after its closing; "
                       f"more than {MAX_CANDIDATES} cannot be itemised in one answer")
    before = restated(facts.upto(since), manager_id, period)
    found: list[Correction] = []
    for position in sorted(candidates):
        after = restated(facts.upto(position), manager_id, period)
        if before is None or after is None:
            before = after
            continue
        kind, effective_on = candidates[position]
        changes = {k: after[k] - before[k] for k in RESTATED_FIGURES if after[k] != before[k]}
        if changes or kind in ALWAYS_LISTED:
            found.append(Correction(period, position, effective_on, changes,
                                    after["actual_pay"], carried_into(closings, period, position)))
        before = after
    return found


def carried_in(
    facts: FactSet, manager_id: str, period: Quarter, closings: dict[Quarter, ClosingFact]
) -> list[Correction]:
    """Corrections of closed earlier periods whose money is paid with `period`."""
    found: list[Correction] = []
    # Only events after every freeze between the corrected period and this one are
    # carried here; earlier ones were carried into a period in between.
    frozen_after = -1
    corrected = period.previous()
    for _ in range(MAX_CARRY_BACK):
        closing = closings.get(corrected)
        if closing is None:
            break
        if closing.frozen_pay_of(manager_id) is not None:
            since = max(closing.freeze_position, frozen_after)
            found += [c for c in corrections(facts, manager_id, corrected, since, closings)
                      if c.carried_into == period]
        frozen_after = max(frozen_after, closing.freeze_position)
        corrected = corrected.previous()
    return sorted(found, key=lambda c: c.position)


def restated(facts: FactSet, manager_id: str, period: Quarter) -> dict[str, Any] | None:
    """The full-period figures as known at the facts' cut (None: nothing to compute yet)."""
    if all(m.manager_id != manager_id for m in facts.managers):
        return None
    if facts.rulesets.in_force(period) is None:
        return None
    rules = rules_for(facts, period).document
    score = score_result(facts, manager_id, period, period.last_day, rules).figure.score
    pay = pay_result(facts, manager_id, period, period.last_day, rules, score).figure
    return {"score": score, **{name: getattr(pay, name) for name in MONEY_FIGURES}}


def touching(
    facts: FactSet, manager_id: str, period: Quarter, since: int
) -> dict[int, tuple[str, date | None]]:
    """Positions after `since` of facts that may change the manager's figures for `period`,
    each with its kind and business date."""
    found: dict[int, tuple[str, date | None]] = {}
    _deduction_facts(found, facts, manager_id, period)
    _adjustment_facts(found, facts, manager_id, period)
    last_day = period.last_day
    for target in facts.targets:
        if target.manager_id == manager_id and target.period == str(period):
            found[target.position] = ("target", None)
    # Postings and holdings move the manager's pay only for customers they ever held.
    held = {h.customer_id for h in facts.holdings if h.manager_id == manager_id}
    for posting in facts.contributions_of(held):
        if period.contains(posting.booked_on):
            found[posting.position] = ("contribution", posting.booked_on)
    for holding in facts.holdings:
        if holding.customer_id in held and holding.effective_on <= last_day:
            found[holding.position] = ("holding", holding.effective_on)
    for grade in facts.grades:
        if grade.manager_id == manager_id and grade.effective_on <= last_day:
            found[grade.position] = ("grade", grade.effective_on)
    for publication in facts.rulesets.publications:
        found[publication.position] = ("publication", None)
    return {p: kind for p, kind in found.items() if p > since}


def _deduction_facts(
    found: dict[int, tuple[str, date | None]], facts: FactSet, manager_id: str, period: Quarter
) -> None:
    mine = {d.deduction_id: d for d in facts.deductions
            if d.manager_id == manager_id and period.contains(d.effective_on)}
    for d in mine.values():
        found[d.position] = ("deduction", d.effective_on)
    for change in facts.deduction_changes:
        if change.deduction_id in mine:
            found[change.position] = (f"deduction_{change.status}",
                                      mine[change.deduction_id].effective_on)
    # A pending dispute may stop a deduction counting (rule-set switch), so its steps count.
    disputed = {d.dispute_id: mine[d.deduction_id] for d in facts.disputes
                if d.deduction_id in mine}
    for step in facts.dispute_steps:
        if step.dispute_id in disputed:
            found[step.position] = ("dispute_step", disputed[step.dispute_id].effective_on)


def _adjustment_facts(
    found: dict[int, tuple[str, date | None]], facts: FactSet, manager_id: str, period: Quarter
) -> None:
    mine = {a.adjustment_id for a in facts.adjustments
            if a.manager_id == manager_id and a.period == str(period)}
    for a in facts.adjustments:
        if a.adjustment_id in mine:
            found[a.position] = ("adjustment", None)
    for change in facts.adjustment_changes:
        if change.adjustment_id in mine:
            found[change.position] = (f"adjustment_{change.status}", None)


def frozen_figures(frozen: dict[str, Any]) -> dict[str, Any]:
    """A manager's frozen pay as recorded in a closing: money back to Decimal."""
    figures: dict[str, Any] = {name: Decimal(str(frozen[name])) for name in MONEY_FIGURES}
    figures["score"] = int(frozen["score"])
    figures["ruleset_version"] = frozen.get("ruleset_version")
    carried = Decimal(str(frozen.get("prior_period_adjustment_total", "0.00")))
    figures["prior_period_adjustment_total"] = carried
    figures["payable"] = Decimal(str(frozen.get("payable", figures["actual_pay"] + carried)))
    return figures


def frozen_entry(answer: dict[str, Any]) -> dict[str, Any]:
    """What a closing keeps of one manager's pay answer: exact text, no floats."""
    money = (*MONEY_FIGURES, "prior_period_adjustment_total", "payable")
    entry: dict[str, Any] = {name: f"{answer[name]:.2f}" for name in money}
    entry.update(score=answer["score"], ruleset_version=answer["ruleset_version"])
    return entry

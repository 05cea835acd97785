"""ReadSide from facts: which facts count for a manager, period and business date, fed to
the pure calculation in `ledger.calculation` (never re-implemented here).

Business-date semantics (`as_of`): a deduction counts from its `effective_on`, a posting
from its `booked_on`, a holding and a grade from their `effective_on`. Targets and manual
adjustments belong to a whole period and have no business date of their own. A dispute's
correction (void or amendment) applies from the deduction's own date, because it corrects
that fact; whether it is known is a matter of `known_at` (the FactSet's cut) only.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from ledger.calculation.indicators import (
    IndicatorValues,
    Inputs,
    ReportedValue,
    evaluate_scorecard,
)
from ledger.calculation.pay import (
    ExactPay,
    Holding,
    PayFigure,
    Posting,
    pay_exact,
    posting_amount,
    rounded,
)
from ledger.calculation.score import (
    CountedDeduction,
    LastingDisqualification,
    ScoreFigure,
    score_for,
)
from ledger.errors import Conflict
from ledger.quarter import Quarter
from ledger.ruleset_document import RuleSetDocument
from projections.assessment_results import qualitative_values
from projections.factset import (
    AdjustmentChange,
    AdjustmentFact,
    ContributionFact,
    CustomerFact,
    DeductionChange,
    DeductionFact,
    FactSet,
    HoldingFact,
    IndicatorReportFact,
    RuleSetFact,
    TargetFact,
    latest,
)

ALWAYS = date.max
"""The business date that cuts nothing: a materialised figure covers the whole period."""

PENDING_DISPUTE = ("open", "appealed")
SCORE_MOVING = frozenset(
    ("Deduction.Recorded", "Deduction.Amended", "Deduction.Voided",
     "Adjustment.Approved", "Adjustment.Reversed")
)
PERIOD_CLOSED = "Period.Closed"
DISQUALIFICATION_STEPS = {"began": "Manager.Disqualified",
                          "voided": "Manager.DisqualificationVoided",
                          "reinstated": "Manager.Reinstated"}
INDICATOR_REPORTED = "IndicatorReport.Reported"
ALWAYS_SHOWN = SCORE_MOVING | {PERIOD_CLOSED} | set(DISQUALIFICATION_STEPS.values())
"""Timeline moments shown even when the score stayed: the closing marks where the freeze
falls, so every later item reads as a prior-period adjustment; a disqualification's steps
explain a 0 in every period the state touches (DESIGN §16)."""
MAX_TIMELINE_ITEMS = 2_000
"""A bound on one timeline (TB); a real manager has a few dozen items a quarter."""


def rules_for(facts: FactSet, period: Quarter, version: str | None = None) -> RuleSetFact:
    """Version `version` if given (a shadow), else the one in force for the period."""
    if version is not None:
        return facts.rulesets.version(version)
    found = facts.rulesets.in_force(period)
    if found is None:
        raise Conflict(f"no published rule set is in force for {period} as known then")
    return found


# --- score ----------------------------------------------------------------------------


@dataclass(frozen=True)
class CountedFact:
    """A deduction fact, how the score saw it, and the change that set its status."""

    fact: DeductionFact
    counted: CountedDeduction
    change: DeductionChange | None
    points_per_occurrence: int


@dataclass(frozen=True)
class ScoreResult:
    figure: ScoreFigure
    rules: RuleSetDocument
    deductions: tuple[CountedFact, ...]
    adjustments: tuple[tuple[AdjustmentFact, AdjustmentChange], ...]
    # The scorecard's values (DESIGN §11); None under a rule set without one (2026.1).
    indicators: IndicatorValues | None = None


def _changes_by_deduction(facts: FactSet) -> dict[str, DeductionChange]:
    changes: dict[str, DeductionChange] = {}
    for change in facts.deduction_changes:  # position order: the latest one stays
        changes[change.deduction_id] = change
    return changes


def _disputed_deductions(facts: FactSet) -> set[str]:
    """Deductions with a dispute awaiting a decision (open or appealed)."""
    status: dict[str, str] = {}
    for step in facts.dispute_steps:
        status[step.dispute_id] = step.status
    return {d.deduction_id for d in facts.disputes if status.get(d.dispute_id) in PENDING_DISPUTE}


def _counted(
    d: DeductionFact, change: DeductionChange | None, disputed: bool, rules: RuleSetDocument
) -> CountedFact:
    # Catalog numbers come from the rule set in use, like every other number; the points
    # recorded with the deduction stand in only for a code that rule set does not know.
    rule = rules.deductions.get(d.rule_code)
    points = rule.points if rule is not None else d.points_per_occurrence
    factor = rules.score.aggravation_factor if d.aggravated else 1
    status = change.status if change is not None else "active"
    error_points = points * d.occurrences * factor
    if status == "amended" and change is not None and change.points_total is not None:
        error_points = change.points_total
    counted = CountedDeduction(
        deduction_id=d.deduction_id,
        rule_code=d.rule_code,
        error_points=error_points,
        disqualifying=d.disqualify or (rule is not None and rule.always_disqualifies),
        veto=rule is not None and rule.veto,
        status=status,
        under_open_dispute=disputed,
    )
    return CountedFact(d, counted, change, points)


def counted_adjustments(
    facts: FactSet, manager_id: str, period: Quarter
) -> list[tuple[AdjustmentFact, AdjustmentChange]]:
    """Approved (and not reversed) adjustments, each with its approval."""
    latest_change = {c.adjustment_id: c for c in facts.adjustment_changes}
    found = []
    for a in facts.adjustments:
        change = latest_change.get(a.adjustment_id)
        if a.manager_id == manager_id and a.period == str(period) and change is not None \
                and change.status == "approved":
            found.append((a, change))
    return found


def score_result(
    facts: FactSet, manager_id: str, period: Quarter, as_of: date, rules: RuleSetDocument
) -> ScoreResult:
    changes = _changes_by_deduction(facts)
    disputed = _disputed_deductions(facts)
    deductions = tuple(
        _counted(d, changes.get(d.deduction_id), d.deduction_id in disputed, rules)
        for d in facts.deductions
        if d.manager_id == manager_id and period.contains(d.effective_on)
        and d.effective_on <= as_of
    )
    adjustments = tuple(counted_adjustments(facts, manager_id, period))
    counted = [c.counted for c in deductions]
    points = [a.points for a, _ in adjustments]
    # Under a rule set where pending disputes do not count, neither does their state.
    uncounted = set() if rules.score.pending_dispute_counts else disputed
    lasting = lasting_in(facts, manager_id, period, as_of, uncounted)
    figure = score_for(rules, counted, points, lasting=lasting)
    if rules.scorecard.is_empty:
        return ScoreResult(figure, rules, deductions, adjustments)
    # Part one's figure gives the formula its error and adjustment points; the formula's
    # value then makes the score (when the rule set has a score formula).
    values = indicator_values(facts, manager_id, period, as_of, rules, figure)
    if values.score_value is not None:
        figure = score_for(rules, counted, points, values.score_value, lasting=lasting)
    return ScoreResult(figure, rules, deductions, adjustments, values)


# --- disqualification as a lasting state (DESIGN §16) -----------------------------------


@dataclass(frozen=True)
class DisqualifiedSpan:
    """The days one deduction disqualified its manager, [since, until), as known at the
    facts' cut; `until` None while no reinstatement known then has ended it."""

    deduction_id: str
    since: date
    until: date | None
    began_at: int

    def touches(self, first_day: date, last_day: date) -> bool:
        return self.since <= last_day and (self.until is None or self.until > first_day)


def disqualified_spans(facts: FactSet, manager_id: str) -> list[DisqualifiedSpan]:
    """Each disqualification by a deduction not voided, ended by the latest reinstatement
    that names it (a later one can only name it to end it sooner: Manager.reinstate)."""
    began: dict[str, tuple[date, int]] = {}
    ended: dict[str, date] = {}
    for step in facts.disqualification_steps:  # position order
        if step.manager_id != manager_id:
            continue
        if step.step == "began" and step.effective_on is not None:
            began[step.deduction_id] = (step.effective_on, step.position)
        elif step.step == "voided":
            began.pop(step.deduction_id, None)
        elif step.step == "reinstated" and step.effective_on is not None:
            ended[step.deduction_id] = step.effective_on
    return [DisqualifiedSpan(d, since, ended.get(d), position)
            for d, (since, position) in sorted(began.items(), key=lambda kv: kv[1])]


def lasting_in(
    facts: FactSet, manager_id: str, period: Quarter, as_of: date, uncounted: set[str]
) -> tuple[LastingDisqualification, ...]:
    """The disqualifications in effect on some day of the period up to `as_of`: a state
    effective after `as_of` is not yet in effect on that business day."""
    last_day = min(as_of, period.last_day)
    return tuple(
        LastingDisqualification(span.deduction_id, span.since, span.until)
        for span in disqualified_spans(facts, manager_id)
        if span.deduction_id not in uncounted and span.touches(period.first_day, last_day)
    )


def indicator_values(
    facts: FactSet, manager_id: str, period: Quarter, as_of: date, rules: RuleSetDocument,
    part_one: ScoreFigure,
) -> IndicatorValues:
    """Every name of the rule set's scorecard for one manager and period at `as_of`."""
    day = min(as_of, period.last_day)
    basis = pay_basis(facts, manager_id, period, as_of, rules)
    figures = {
        "base": Decimal(rules.score.base), "points_to_score": Decimal(rules.score.points_to_score),
        "error_points": Decimal(part_one.error_points),
        "adjustment_points": Decimal(part_one.adjustment_points),
        "actual": basis.actual, "stock_task": basis.stock_task,
        "incremental_task": basis.incremental_task, "target": basis.target,
        "customers_held": Decimal(len(portfolio_of(facts, manager_id, day))),
    }
    # qual_<dimension> from the sheets submitted by the cut (§12); a dimension no submitted
    # sheet counts for is absent here, so it is 0, as §11 says.
    inputs = Inputs(figures, grade_on(facts, manager_id, day),
                    reports_counted(facts, manager_id, period, as_of),
                    qualitative=qualitative_values(facts, manager_id, period))
    return evaluate_scorecard(rules.scorecard, inputs)


def reports_counted(
    facts: FactSet, manager_id: str, period: Quarter, as_of: date
) -> dict[str, ReportedValue]:
    """Per indicator, the most recently recorded report measured on or before `as_of`."""
    found: dict[str, ReportedValue] = {}
    for r in _reports_of(facts, manager_id, period, as_of):  # position order: latest stays
        found[r.indicator] = ReportedValue(r.value, r.position, r.measured_on, r.report_id,
                                           r.source_system, r.external_id)
    return found


def _reports_of(
    facts: FactSet, manager_id: str, period: Quarter, as_of: date
) -> list[IndicatorReportFact]:
    return [r for r in facts.indicator_reports
            if r.manager_id == manager_id and r.period == str(period) and r.measured_on <= as_of]


# --- holdings and pay -------------------------------------------------------------------


@dataclass(frozen=True)
class Interval:
    """One holding of a customer over [held_from, held_to); held_to None = still held."""

    fact: HoldingFact
    held_from: date
    held_to: date | None

    def holds_on(self, day: date) -> bool:
        return self.held_from <= day and (self.held_to is None or day < self.held_to)

    def overlaps(self, period: Quarter) -> bool:
        return self.held_from <= period.last_day and (
            self.held_to is None or self.held_to > period.first_day
        )


def intervals(facts: FactSet, as_of: date) -> dict[str, list[Interval]]:
    """Each customer's holdings in effect order; a change after `as_of` is not yet in effect."""
    key = ("intervals", as_of)
    if key not in facts.memo:
        facts.memo[key] = _intervals(facts, as_of)
    result: dict[str, list[Interval]] = facts.memo[key]
    return result


def _intervals(facts: FactSet, as_of: date) -> dict[str, list[Interval]]:
    by_customer: dict[str, list[HoldingFact]] = defaultdict(list)
    for h in facts.holdings:
        if h.effective_on <= as_of:
            by_customer[h.customer_id].append(h)
    result: dict[str, list[Interval]] = {}
    for customer_id, rows in by_customer.items():
        rows.sort(key=lambda h: (h.effective_on, h.position))
        spans = []
        for this, following in zip(rows, [*rows[1:], None], strict=True):
            held_to = following.effective_on if following is not None else None
            # Two changes on one day: the later one wins the day, the earlier holds nothing.
            if held_to is None or held_to > this.effective_on:
                spans.append(Interval(this, this.effective_on, held_to))
        result[customer_id] = spans
    return result


def holder_on(spans: dict[str, list[Interval]], customer_id: str, day: date) -> str | None:
    for span in spans.get(customer_id, ()):
        if span.holds_on(day):
            return span.fact.manager_id
    return None


def grade_on(facts: FactSet, manager_id: str, day: date) -> str:
    grades = sorted(
        (g for g in facts.grades if g.manager_id == manager_id and g.effective_on <= day),
        key=lambda g: (g.effective_on, g.position),
    )
    if not grades:
        raise Conflict(f"manager {manager_id} has no grade on {day}")
    return grades[-1].grade


def target_of(facts: FactSet, manager_id: str, period: Quarter) -> TargetFact | None:
    mine = (t for t in facts.targets if t.manager_id == manager_id and t.period == str(period))
    return latest(mine)


@dataclass(frozen=True)
class PayResult:
    figure: PayFigure
    grade: str
    holdings: tuple[tuple[Interval, CustomerFact], ...]
    postings: tuple[ContributionFact, ...]
    target: TargetFact | None


def attributed(facts: FactSet, manager_id: str, as_of: date) -> Iterator[ContributionFact]:
    """Postings booked on or before `as_of` whose customer was the manager's that day."""
    # Kept per manager and business date: a sweep asks once for the periods, then once
    # per period for the pay, each time over every posting of the customers ever held.
    key = ("attributed", manager_id, as_of)
    found: list[ContributionFact] | None = facts.memo.get(key)
    if found is None:
        spans = intervals(facts, as_of)
        found = facts.memo[key] = [
            c for c in facts.contributions_of(_ever_held(facts, spans, as_of).get(manager_id, ()))
            if c.booked_on <= as_of and holder_on(spans, c.customer_id, c.booked_on) == manager_id
        ]
    return iter(found)


def _ever_held(
    facts: FactSet, spans: dict[str, list[Interval]], as_of: date
) -> dict[str, list[str]]:
    """Per manager, the customers any of whose holdings (in effect by `as_of`) was theirs,
    in `spans`' order: one pass over every customer instead of one per manager."""
    key = ("ever_held", as_of)
    found: dict[str, list[str]] | None = facts.memo.get(key)
    if found is None:
        found = defaultdict(list)
        for customer_id, customer_spans in spans.items():
            for holder in dict.fromkeys(span.fact.manager_id for span in customer_spans):
                found[holder].append(customer_id)
        facts.memo[key] = found
    return found


def _posting(c: ContributionFact) -> Posting:
    return Posting(
        c.customer_id, c.booked_on, c.interest_income, c.deposit_earnings, c.fee_income,
        c.risk_cost,
    )


def pay_result(
    facts: FactSet, manager_id: str, period: Quarter, as_of: date, rules: RuleSetDocument,
    score: int,
) -> PayResult:
    inputs = _pay_inputs(facts, manager_id, period, as_of)
    figure = rounded(_exact(inputs, rules, period, score))
    return PayResult(figure, inputs.grade, inputs.holdings, inputs.postings, inputs.target)


def pay_basis(
    facts: FactSet, manager_id: str, period: Quarter, as_of: date, rules: RuleSetDocument
) -> ExactPay:
    """The exact stock task, target and actual the pay answer uses (no score needed yet)."""
    return _exact(_pay_inputs(facts, manager_id, period, as_of), rules, period, 0)


@dataclass(frozen=True)
class _PayInputs:
    grade: str
    holdings: tuple[tuple[Interval, CustomerFact], ...]
    postings: tuple[ContributionFact, ...]
    target: TargetFact | None
    grade_days: tuple[tuple[str, int], ...] = ()


def _exact(inputs: _PayInputs, rules: RuleSetDocument, period: Quarter, score: int) -> ExactPay:
    return pay_exact(
        rules,
        inputs.grade,
        [Holding(c.customer_id, c.last_year_contribution, s.held_from, s.held_to)
         for s, c in inputs.holdings],
        [_posting(c) for c in inputs.postings],
        inputs.target.incremental if inputs.target is not None else Decimal(0),
        score,
        period.first_day,
        period.last_day,
        inputs.grade_days,
    )


def _pay_inputs(facts: FactSet, manager_id: str, period: Quarter, as_of: date) -> _PayInputs:
    spans = intervals(facts, as_of)
    customers = _customers(facts)
    held = tuple(
        (span, customers[customer_id])
        for customer_id in sorted(_ever_held(facts, spans, as_of).get(manager_id, ()))
        for span in spans[customer_id]
        if span.fact.manager_id == manager_id and span.overlaps(period)
    )
    first_day, last_day = period.first_day, period.last_day  # Quarter.contains, hoisted
    postings = tuple(
        c for c in attributed(facts, manager_id, as_of)
        if first_day <= c.booked_on <= last_day
    )
    target = target_of(facts, manager_id, period)
    grade = grade_on(facts, manager_id, min(as_of, period.last_day))
    return _PayInputs(grade, held, postings, target,
                      grade_days(facts, manager_id, period, as_of))


def _customers(facts: FactSet) -> dict[str, CustomerFact]:
    found: dict[str, CustomerFact] | None = facts.memo.get("customers")
    if found is None:
        found = facts.memo["customers"] = {c.customer_id: c for c in facts.customers}
    return found


def grade_days(
    facts: FactSet, manager_id: str, period: Quarter, as_of: date
) -> tuple[tuple[str, int], ...]:
    """The days of the period at each grade, in order (DESIGN §16: base salary by days).

    Grade changes effective after `as_of` are not known on that business day, so the grade
    of `as_of` holds for the rest of the period.
    """
    cutoff = min(as_of, period.last_day)
    changes = sorted(
        (g for g in facts.grades if g.manager_id == manager_id and g.effective_on <= cutoff),
        key=lambda g: (g.effective_on, g.position))
    starts: list[tuple[date, str]] = []
    for change in changes:
        start = max(change.effective_on, period.first_day)
        starts = [s for s in starts if s[0] < start] + [(start, change.grade)]
    if not starts:
        raise Conflict(f"manager {manager_id} has no grade on {cutoff}")
    ends = [s for s, _ in starts[1:]] + [period.last_day + timedelta(days=1)]
    spans = [(grade, (end - start).days) for (start, grade), end in zip(starts, ends, strict=True)]
    return tuple(span for span in spans if span[1] > 0)


def posting_effect(c: ContributionFact, rules: RuleSetDocument) -> Decimal:
    return posting_amount(_posting(c), rules.pay)


# --- periods and portfolio ----------------------------------------------------------------


def periods_of(facts: FactSet, manager_id: str) -> list[Quarter]:
    """The periods a manager has figures for: any deduction, adjustment, target or posting."""
    found: set[Quarter] = set()
    found.update(Quarter.of(d.effective_on) for d in facts.deductions if d.manager_id == manager_id)
    found.update(Quarter.parse(a.period) for a in facts.adjustments if a.manager_id == manager_id)
    found.update(Quarter.parse(t.period) for t in facts.targets if t.manager_id == manager_id)
    days = {c.booked_on for c in attributed(facts, manager_id, ALWAYS)}
    found.update(Quarter.of(day) for day in days)
    return sorted(found)


def portfolio_of(
    facts: FactSet, manager_id: str, as_of: date
) -> list[tuple[CustomerFact, Interval]]:
    """The customers the manager holds on `as_of`, with the holding that gives them."""
    customers = {c.customer_id: c for c in facts.customers}
    held = []
    for customer_id, spans in sorted(intervals(facts, as_of).items()):
        for span in spans:
            if span.fact.manager_id == manager_id and span.holds_on(as_of):
                held.append((customers[customer_id], span))
    return held


# --- timeline ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Moment:
    """A fact that may move a manager's score in a period, and when it became known."""

    position: int
    type: str
    effective_on: date | None


def moments(facts: FactSet, manager_id: str, period: Quarter, as_of: date) -> list[Moment]:
    """Every fact that can move the score, in log order."""
    mine = {
        d.deduction_id: d for d in facts.deductions
        if d.manager_id == manager_id and period.contains(d.effective_on)
        and d.effective_on <= as_of
    }
    disputes = {
        d.dispute_id: mine[d.deduction_id] for d in facts.disputes if d.deduction_id in mine
    }
    adjustments = {
        a.adjustment_id for a in facts.adjustments
        if a.manager_id == manager_id and a.period == str(period)
    }
    found = [Moment(d.position, "Deduction.Recorded", d.effective_on) for d in mine.values()]
    found += [
        Moment(c.position, f"Deduction.{c.status.capitalize()}", mine[c.deduction_id].effective_on)
        for c in facts.deduction_changes if c.deduction_id in mine
    ]
    found += [
        Moment(s.position, f"Dispute.{s.step}", disputes[s.dispute_id].effective_on)
        for s in facts.dispute_steps if s.dispute_id in disputes
    ]
    found += [
        Moment(a.position, "Adjustment.Proposed", None)
        for a in facts.adjustments if a.adjustment_id in adjustments
    ]
    found += [
        Moment(c.position, f"Adjustment.{c.status.capitalize()}", None)
        for c in facts.adjustment_changes if c.adjustment_id in adjustments
    ]
    found += _disqualification_moments(facts, manager_id, period, as_of)
    found += [Moment(p.position, "RuleBook.Published", None) for p in facts.rulesets.publications]
    found += [Moment(c.position, PERIOD_CLOSED, None) for c in facts.closings
              if c.period == str(period)]
    # Shown only when they moved the score: under a rule set without a formula they never do.
    found += [Moment(r.position, INDICATOR_REPORTED, r.measured_on)
              for r in _reports_of(facts, manager_id, period, as_of)]
    # Submissions and reopenings of the manager's sheets (§12), shown when they moved it.
    plans = {p.plan_id for p in facts.assessment_plans if p.period == str(period)}
    found += [Moment(s.position, f"AssessmentPlan.Sheet{s.step.capitalize()}", None)
              for s in facts.sheet_steps
              if s.manager_id == manager_id and s.plan_id in plans and s.step != "saved"]
    return sorted(found, key=lambda m: (m.position, m.type))


def _disqualification_moments(
    facts: FactSet, manager_id: str, period: Quarter, as_of: date
) -> list[Moment]:
    """The steps of every disqualification that began (by business date) on or before
    the period's last day and `as_of`: each may have moved this period's score."""
    last_day = min(as_of, period.last_day)
    since = {s.deduction_id: s.effective_on for s in facts.disqualification_steps
             if s.manager_id == manager_id and s.step == "began"
             and s.effective_on is not None and s.effective_on <= last_day}
    # A void shows the day the state would have begun; a reinstatement ending several
    # disqualifications is one moment.
    found = [Moment(s.position, DISQUALIFICATION_STEPS[s.step],
                    s.effective_on if s.step != "voided" else since[s.deduction_id])
             for s in facts.disqualification_steps
             if s.manager_id == manager_id and s.deduction_id in since]
    return list(dict.fromkeys(found))


@dataclass(frozen=True)
class Step:
    moment: Moment
    effect: int
    score_after: int
    ruleset_version: str


def score_steps(
    facts: FactSet, manager_id: str, period: Quarter, as_of: date
) -> Iterable[Step]:
    """The score after each moment that moved it (or that always moves it), in log order."""
    previous: int | None = None
    shown = 0
    for moment in moments(facts, manager_id, period, as_of):
        known = facts.upto(moment.position)
        in_force = known.rulesets.in_force(period)
        if in_force is None:
            continue
        rules = in_force.document
        after = score_result(known, manager_id, period, as_of, rules).figure.score
        effect = after - (rules.score.base if previous is None else previous)
        previous = after
        if effect != 0 or moment.type in ALWAYS_SHOWN:
            yield Step(moment, effect, after, rules.version)
            shown += 1
            if shown >= MAX_TIMELINE_ITEMS:
                return

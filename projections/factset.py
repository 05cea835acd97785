"""The facts about a set of managers as known at one log position, loaded in a few queries.

A `FactSet` is what every figure is computed from, for queries (one manager) and for the
materialised views (a page of managers) alike. It holds only rows with position ≤ its cut;
`upto(position)` narrows it further in memory, which is how a timeline replays the score.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal
from functools import lru_cache
from itertools import starmap
from operator import itemgetter
from typing import Any, TypeVar

from sqlalchemy import (
    BindParameter,
    Connection,
    Date,
    Select,
    Table,
    Text,
    bindparam,
    cast,
    func,
    select,
    true,
)
from sqlalchemy.dialects.postgresql import aggregate_order_by

from ledger.errors import NotFound
from ledger.quarter import Quarter
from ledger.ruleset_document import RuleSetDocument, parse_ruleset
from persistence.columns import Money
from projections import tables as t


@dataclass(frozen=True)
class ManagerFact:
    manager_id: str
    name: str
    unit: str
    position: int


@dataclass(frozen=True)
class GradeFact:
    manager_id: str
    position: int
    effective_on: date
    grade: str


@dataclass(frozen=True)
class TargetFact:
    manager_id: str
    period: str
    position: int
    incremental: Decimal


@dataclass(frozen=True)
class CustomerFact:
    customer_id: str
    name: str
    customer_class: str
    group_name: str | None
    last_year_contribution: Decimal
    position: int


@dataclass(frozen=True)
class HoldingFact:
    customer_id: str
    position: int
    manager_id: str
    effective_on: date


@dataclass(frozen=True)
class ContributionFact:
    contribution_id: str
    customer_id: str
    booked_on: date
    interest_income: Decimal
    deposit_earnings: Decimal
    fee_income: Decimal
    risk_cost: Decimal
    position: int


@dataclass(frozen=True)
class DeductionFact:
    deduction_id: str
    manager_id: str
    rule_code: str
    occurrences: int
    aggravated: bool
    disqualify: bool
    effective_on: date
    points_per_occurrence: int
    ruleset_version: str
    position: int


@dataclass(frozen=True)
class DeductionChange:
    deduction_id: str
    position: int
    status: str
    points_total: int | None
    dispute_id: str


@dataclass(frozen=True)
class DisputeFact:
    dispute_id: str
    deduction_id: str
    manager_id: str
    position: int


@dataclass(frozen=True)
class DisputeStep:
    dispute_id: str
    position: int
    step: str
    status: str
    due_on: date | None
    outcome: str | None


@dataclass(frozen=True)
class AdjustmentFact:
    adjustment_id: str
    manager_id: str
    period: str
    points: int
    position: int


@dataclass(frozen=True)
class AdjustmentChange:
    adjustment_id: str
    position: int
    status: str


@dataclass(frozen=True)
class IndicatorReportFact:
    report_id: str
    indicator: str
    manager_id: str
    period: str
    measured_on: date
    value: Decimal
    source_system: str
    external_id: str
    position: int


@dataclass(frozen=True)
class AssessmentPlanFact:
    """A plan (DESIGN §12): items, assessors and managers as the event's JSON text."""

    plan_id: str
    period: str
    unit: str
    items: str
    assessors: str
    managers: str
    closes_on: date
    position: int


@dataclass(frozen=True)
class SheetStep:
    """A save, submission or reopening of one assessor's sheet for one manager."""

    plan_id: str
    manager_id: str
    assessor: str
    position: int
    step: str
    scores: str | None
    submitted_on: date | None


@dataclass(frozen=True)
class DisqualificationStep:
    """A disqualification by one deduction began, was voided, or was ended by a
    reinstatement effective on `effective_on` (DESIGN §16)."""

    manager_id: str
    position: int
    deduction_id: str
    step: str
    effective_on: date | None


@dataclass(frozen=True)
class RuleSetFact:
    version: str
    effective_from: date
    content: str
    position: int

    @property
    def document(self) -> RuleSetDocument:
        return parsed_ruleset(self.version, self.content)


@dataclass(frozen=True)
class Publication:
    version: str
    position: int


@dataclass(frozen=True)
class ClosingFact:
    """A period's closing and the figures it froze (the event's `frozen`, as JSON text)."""

    period: str
    position: int
    frozen: str

    @property
    def figures(self) -> dict[str, Any]:
        """The frozen figures; shared between callers, so never to be changed."""
        return _parsed_frozen(self.frozen)

    @property
    def freeze_position(self) -> int:
        """The last log position the frozen figures include.

        The figures are computed a moment before the closing is appended, so events in
        between are after the freeze, not in it; a closing that does not say where it
        froze is taken to include everything before it.
        """
        found = self.figures.get("position")
        if isinstance(found, int) and not isinstance(found, bool) and found < self.position:
            return found
        return self.position - 1

    def frozen_pay_of(self, manager_id: str) -> dict[str, Any] | None:
        managers = self.figures.get("managers")
        found = managers.get(manager_id) if isinstance(managers, dict) else None
        return found if isinstance(found, dict) else None


@lru_cache(maxsize=256)
def _parsed_frozen(text: str) -> dict[str, Any]:
    # A closing never changes, so its parsed figures are cached by their text.
    parsed = json.loads(text)
    return parsed if isinstance(parsed, dict) else {}


@lru_cache(maxsize=64)
def parsed_ruleset(version: str, content: str) -> RuleSetDocument:
    # A drafted version never changes, so its parsed form is cached by its text.
    return parse_ruleset(json.loads(content))


F = TypeVar("F")


def _upto(rows: tuple[F, ...], cut: int) -> tuple[F, ...]:
    return tuple(r for r in rows if r.position <= cut)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class RuleSets:
    """Every drafted version and every publication known at the cut."""

    drafts: tuple[RuleSetFact, ...] = ()
    publications: tuple[Publication, ...] = ()

    def in_force(self, period: Quarter) -> RuleSetFact | None:
        """The most recently published version effective on or before the period's first day."""
        drafts = {d.version: d for d in self.drafts}
        for publication in sorted(self.publications, key=lambda p: p.position, reverse=True):
            draft = drafts.get(publication.version)
            if draft is not None and draft.effective_from <= period.first_day:
                return draft
        return None

    def version(self, version: str) -> RuleSetFact:
        for draft in self.drafts:
            if draft.version == version:
                return draft
        raise NotFound(f"no rule-set version {version} is known")

    def upto(self, cut: int) -> RuleSets:
        return RuleSets(_upto(self.drafts, cut), _upto(self.publications, cut))


@dataclass(frozen=True)
class FactSet:
    """Facts about some managers (and the customers they ever held), known at `cut`."""

    cut: int
    managers: tuple[ManagerFact, ...] = ()
    grades: tuple[GradeFact, ...] = ()
    targets: tuple[TargetFact, ...] = ()
    customers: tuple[CustomerFact, ...] = ()
    holdings: tuple[HoldingFact, ...] = ()
    contributions: tuple[ContributionFact, ...] = ()
    deductions: tuple[DeductionFact, ...] = ()
    deduction_changes: tuple[DeductionChange, ...] = ()
    disputes: tuple[DisputeFact, ...] = ()
    dispute_steps: tuple[DisputeStep, ...] = ()
    adjustments: tuple[AdjustmentFact, ...] = ()
    adjustment_changes: tuple[AdjustmentChange, ...] = ()
    rulesets: RuleSets = field(default_factory=RuleSets)
    closings: tuple[ClosingFact, ...] = ()
    indicator_reports: tuple[IndicatorReportFact, ...] = ()
    assessment_plans: tuple[AssessmentPlanFact, ...] = ()
    sheet_steps: tuple[SheetStep, ...] = ()
    disqualification_steps: tuple[DisqualificationStep, ...] = ()
    # Derived indexes, computed once per FactSet (a narrowed copy starts with an empty one).
    memo: dict[Any, Any] = field(default_factory=dict, init=False, compare=False, repr=False)

    def contributions_of(self, customer_ids: Iterable[str]) -> list[ContributionFact]:
        """The customers' postings, in log order."""
        index = self.memo.get("contributions")
        if index is None:
            index = defaultdict(list)
            for c in self.contributions:
                index[c.customer_id].append(c)
            self.memo["contributions"] = index
        found = [c for customer_id in customer_ids for c in index.get(customer_id, ())]
        return sorted(found, key=lambda c: c.position)

    def upto(self, cut: int) -> FactSet:
        """The same facts as known at an earlier position."""
        if cut >= self.cut:
            return self
        narrowed: dict[str, Any] = {
            name: _upto(getattr(self, name), cut)
            for name in _FACT_FIELDS
        }
        return replace(self, cut=cut, rulesets=self.rulesets.upto(cut), **narrowed)

    def manager(self, manager_id: str) -> ManagerFact:
        for manager in self.managers:
            if manager.manager_id == manager_id:
                return manager
        raise NotFound(f"no manager {manager_id}")

    def manager_ids(self) -> list[str]:
        return sorted(m.manager_id for m in self.managers)


_FACT_FIELDS = (
    "managers", "grades", "targets", "customers", "holdings", "contributions", "deductions",
    "deduction_changes", "disputes", "dispute_steps", "adjustments", "adjustment_changes",
    "closings", "indicator_reports", "assessment_plans", "sheet_steps",
    "disqualification_steps",
)


# --- loading ------------------------------------------------------------------------


def _rows(conn: Connection, statement: Select[Any], cls: type[F],
          params: dict[str, Any] | None = None) -> tuple[F, ...]:
    names = [f for f in cls.__dataclass_fields__]  # type: ignore[attr-defined]
    result = conn.execute(statement, params or {})
    # Columns picked by position once per statement: a posting-heavy load (a formula score
    # reads the period's postings) spent most of its time building a mapping per row.
    columns = list(result.keys())
    pick = itemgetter(*(columns.index(n) for n in names))
    return tuple(cls(*pick(row)) for row in result)


# The statements are built once, with bound parameters: building them per load (the
# clauses, their coercions) cost a sixth of a score answer (cProfile, issue 18).
# Each takes the type of the column it is compared with.
_IDS: BindParameter[Any] = bindparam("ids", expanding=True)
_CUT: BindParameter[Any] = bindparam("cut")
_BOOKED_FROM: BindParameter[Any] = bindparam("booked_from")
_BOOKED_TO: BindParameter[Any] = bindparam("booked_to")


def _known_at_cut(table: Table, *where: Any) -> Select[Any]:
    return select(table).where(table.c.position <= _CUT, *where).order_by(table.c.position)


@lru_cache(maxsize=1)
def _statements() -> dict[str, tuple[type[Any], Select[Any]]]:
    """Each FactSet field's statement and row class; `ids` and `cut` bound at each load."""
    held = select(t.holdings.c.customer_id).where(t.holdings.c.manager_id.in_(_IDS))
    their_deductions = select(t.deductions.c.deduction_id).where(
        t.deductions.c.manager_id.in_(_IDS))
    their_disputes = select(t.disputes.c.dispute_id).where(t.disputes.c.manager_id.in_(_IDS))
    their_adjustments = select(t.adjustments.c.adjustment_id).where(
        t.adjustments.c.manager_id.in_(_IDS))
    postings = _known_at_cut(t.contributions, t.contributions.c.customer_id.in_(held))
    return {
        "managers": (ManagerFact, _known_at_cut(t.managers, t.managers.c.manager_id.in_(_IDS))),
        "grades": (GradeFact, _known_at_cut(t.grades, t.grades.c.manager_id.in_(_IDS))),
        "targets": (TargetFact, _known_at_cut(t.targets, t.targets.c.manager_id.in_(_IDS))),
        "customers": (CustomerFact,
                      _known_at_cut(t.customers, t.customers.c.customer_id.in_(held))),
        "holdings": (HoldingFact, _known_at_cut(t.holdings, t.holdings.c.customer_id.in_(held))),
        "deductions": (DeductionFact,
                       _known_at_cut(t.deductions, t.deductions.c.manager_id.in_(_IDS))),
        "deduction_changes": (DeductionChange, _known_at_cut(
            t.deduction_changes, t.deduction_changes.c.deduction_id.in_(their_deductions))),
        "disputes": (DisputeFact, _known_at_cut(t.disputes, t.disputes.c.manager_id.in_(_IDS))),
        "dispute_steps": (DisputeStep, _known_at_cut(
            t.dispute_steps, t.dispute_steps.c.dispute_id.in_(their_disputes))),
        "adjustments": (AdjustmentFact,
                        _known_at_cut(t.adjustments, t.adjustments.c.manager_id.in_(_IDS))),
        "adjustment_changes": (AdjustmentChange, _known_at_cut(
            t.adjustment_changes,
            t.adjustment_changes.c.adjustment_id.in_(their_adjustments))),
        # Every period's: a pay answer recomputes the closed periods whose corrections it pays.
        "indicator_reports": (IndicatorReportFact, _known_at_cut(
            t.indicator_reports, t.indicator_reports.c.manager_id.in_(_IDS))),
        # Every plan (a few per unit and quarter); the sheets of these managers only.
        "assessment_plans": (AssessmentPlanFact, _known_at_cut(t.assessment_plans)),
        "sheet_steps": (SheetStep, _known_at_cut(
            t.assessment_sheets, t.assessment_sheets.c.manager_id.in_(_IDS))),
        "disqualification_steps": (DisqualificationStep, _known_at_cut(
            t.disqualification_steps, t.disqualification_steps.c.manager_id.in_(_IDS))),
        # Not FactSet fields: read by load_rulesets, load_closings and for postings.
        "drafts": (RuleSetFact, _known_at_cut(t.rulesets)),
        "publications": (Publication, _known_at_cut(t.ruleset_publications)),
        "closings": (ClosingFact, _known_at_cut(t.period_closings)),
        "postings": (ContributionFact, postings),
        "period_postings": (ContributionFact, postings.where(
            t.contributions.c.booked_on.between(_BOOKED_FROM, _BOOKED_TO))),
    }


_NOT_FIELDS = ("drafts", "publications", "closings", "postings", "period_postings")


def _read(conn: Connection, name: str, **params: Any) -> tuple[Any, ...]:
    cls, statement = _statements()[name]
    return _rows(conn, statement, cls, params)


def load_rulesets(conn: Connection, cut: int) -> RuleSets:
    return RuleSets(_read(conn, "drafts", cut=cut), _read(conn, "publications", cut=cut))


def load_closings(conn: Connection, cut: int) -> tuple[ClosingFact, ...]:
    """Every period closing known at `cut` (a handful a year, so always all of them)."""
    return _read(conn, "closings", cut=cut)


def load(
    conn: Connection,
    manager_ids: Sequence[str],
    cut: int,
    period: Quarter | None = None,
    postings: bool = True,
    booked_from: date | None = None,
) -> FactSet:
    """Facts about `manager_ids` known at `cut`. With `period`, only that period's postings
    (from `booked_from` on, if given: earlier periods' too); without `postings`, none (a
    score, portfolio or timeline needs no postings, unless a published rule set computes
    the score by a formula, which may use `actual`). Period closings are always loaded."""
    params = {"ids": list(manager_ids), "cut": cut}
    postings_of = "postings"
    if period is not None:
        postings_of = "period_postings"
        params.update(booked_from=booked_from or period.first_day, booked_to=period.last_day)
    by = _load_in_one if conn.dialect.name == "postgresql" else _load_by_table
    return by(conn, params, postings_of, postings)


def _load_by_table(conn: Connection, params: dict[str, Any], postings_of: str,
                   postings: bool) -> FactSet:
    rulesets = load_rulesets(conn, params["cut"])
    facts = {name: _read(conn, name, **params)
             for name in _statements() if name not in _NOT_FIELDS}
    contributions: tuple[ContributionFact, ...] = ()
    if postings or _formulas_published(rulesets):
        contributions = _read(conn, postings_of, **params)
    return FactSet(cut=params["cut"], rulesets=rulesets,
                   closings=load_closings(conn, params["cut"]), contributions=contributions,
                   **facts)


# --- every fact in one statement (PostgreSQL) ---------------------------------------------
# On PostgreSQL each statement is a round trip (and a snapshot's worth of work on the
# server): sixteen of them were most of a score answer's time (cProfile, issue 18). So
# there one statement returns every table's rows at once, each table as one column of
# JSON text (its rows as arrays, in position order), decoded with exact decimals. On
# SQLite a statement is a function call in this process, and the tables are read one by one.


def _decoder(column: Any) -> Callable[[Any], Any] | None:
    """From a value as JSON gives it back to the value the driver gives (None: as it is)."""
    if isinstance(column.type, Money):
        return _money
    if isinstance(column.type, Date):
        return _day
    return None


def _money(value: Any) -> Decimal | None:
    # JSON's fractions are Decimals already (parse_float); its whole numbers are ints.
    return value if type(value) is Decimal or value is None else Decimal(value)


def _day(value: str | None) -> date | None:
    return None if value is None else date.fromisoformat(value)


@lru_cache(maxsize=2)
def _postings_by_customer(in_period: bool) -> Select[Any]:
    """The postings of the customers the managers ever held, read customer by customer.

    The same rows as `_statements()`'s "postings" ("period_postings"), but each customer's
    are found by the (customer_id, booked_on) index whatever the planner's statistics say:
    a page of 100 managers holds 1,000 customers spread over the whole table, and right
    after a rebuild (no statistics, which the projector may not gather: it does not own
    the tables) the IN form was planned as a seq scan of every posting, so each page of a
    sweep cost as much as the whole log (0.3 s a page at 1M events)."""
    held = (select(t.holdings.c.customer_id).where(t.holdings.c.manager_id.in_(_IDS))
            .distinct().subquery("held"))
    c = t.contributions.c
    theirs = select(t.contributions).where(c.customer_id == held.c.customer_id)
    if in_period:
        theirs = theirs.where(c.booked_on.between(_BOOKED_FROM, _BOOKED_TO))
    # OFFSET 0 keeps the subquery a per-customer step, with only the index's columns in it:
    # without it the planner pulled it up into a plain join, planned as the seq scan again;
    # and given the cut as well, it ANDed a scan of the whole position index into every
    # customer's step (estimating, without statistics, that a third of the rows pass).
    each = theirs.offset(0).lateral("theirs")
    return (select(each).select_from(held).join(each, true()).where(each.c.position <= _CUT)
            .order_by(each.c.position))


@lru_cache(maxsize=4)
def _one_statement(names: tuple[str, ...]) -> tuple[
        Select[Any], tuple[tuple[str, type[Any], tuple[tuple[int, Callable[[Any], Any]], ...]],
                           ...]]:
    columns: list[Any] = []
    shapes = []
    by_customer = {"postings": _postings_by_customer(False),
                   "period_postings": _postings_by_customer(True)}
    for name in names:
        cls, statement = _statements()[name]
        statement = by_customer.get(name, statement)
        fields = list(cls.__dataclass_fields__)
        rows = statement.subquery()
        picked = [rows.c[f] for f in fields]
        as_json = func.json_agg(aggregate_order_by(func.json_build_array(*picked),
                                                   rows.c.position))
        columns.append(select(cast(as_json, Text)).scalar_subquery().label(name))
        # Only the columns whose JSON is not already the driver's value are converted.
        converted = tuple((i, d) for i, d in enumerate(map(_decoder, picked)) if d is not None)
        shapes.append((name, cls, converted))
    return select(*columns), tuple(shapes)


_formulas_last_seen = [False]
"""Whether the last load found a published formula: if so, the next load reads postings
in its one statement rather than in a second one (a hint only; either way is exact)."""


def _load_in_one(conn: Connection, params: dict[str, Any], postings_of: str,
                 postings: bool) -> FactSet:
    apart = _postings_apart(params)
    read_postings = (postings or _formulas_last_seen[0]) and not apart
    wanted = ("drafts", "publications", "closings", *((postings_of,) if read_postings else ()))
    names = tuple(n for n in _statements() if n not in _NOT_FIELDS or n in wanted)
    statement, shapes = _one_statement(names)
    row = conn.execute(statement, params).one()
    found: dict[str, tuple[Any, ...]] = {}
    for (name, cls, converted), text in zip(shapes, row, strict=True):
        rows = json.loads(text, parse_float=Decimal) if text is not None else ()
        for r in rows:
            for i, decode in converted:
                r[i] = decode(r[i])
        found[name] = tuple(starmap(cls, rows))
    rulesets = RuleSets(found.pop("drafts"), found.pop("publications"))
    contributions = found.pop(postings_of, ())
    formulas = _formulas_published(rulesets)
    _formulas_last_seen[0] = formulas
    if not postings and not formulas:
        contributions = ()
    elif not read_postings:  # a page of managers', or a formula may use `actual`
        contributions = _rows(conn, _postings_by_customer(postings_of == "period_postings"),
                              ContributionFact, params)
    return FactSet(cut=params["cut"], rulesets=rulesets, closings=found.pop("closings"),
                   contributions=contributions, **found)


def _postings_apart(params: dict[str, Any]) -> bool:
    """Whether the postings are read by a statement of their own: a page of managers'
    (tens of thousands) come cheaper as the driver's typed rows than as JSON decoded
    here, while one manager's few are not worth a second round trip."""
    return len(params["ids"]) > 1


def _formulas_published(rulesets: RuleSets) -> bool:
    """Whether a published version has a scorecard, whose figures may need postings."""
    published = {p.version for p in rulesets.publications}
    return any(not d.document.scorecard.is_empty for d in rulesets.drafts
               if d.version in published)


def latest(rows: Iterable[F]) -> F | None:
    """The row with the highest position (rows are loaded in position order)."""
    found = None
    for row in rows:
        found = row
    return found

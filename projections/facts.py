"""Events to fact rows: one function per event type, named for the event.

Each function returns the rows one event establishes, every row stamped with the event's
log position. Functions only copy what the event says (no clock, no lookups beyond the
business ids of the aggregates involved), so replaying the log always yields the same rows.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import DatetimeAsISO, DecimalAsStr, JSONTranscoder, UUIDAsHex
from eventsourcing.utils import get_topic

from ledger.adjustment import Adjustment
from ledger.assessment import AssessmentPlan
from ledger.base import DateAsISO
from ledger.contribution import Contribution
from ledger.customer import Customer
from ledger.deduction import Deduction
from ledger.dispute import Dispute
from ledger.indicator import IndicatorReport
from ledger.manager import Manager
from ledger.period import Period
from ledger.rulebook import RuleBook

SINCE_ALWAYS = date(1, 1, 1)
"""The effective date of a registration grade: it holds from the beginning of time."""


@dataclass(frozen=True)
class Fact:
    """One row for one read-model table."""

    table: str
    values: Mapping[str, Any]


class Names:
    """Business ids ("M1", "C1") of manager and customer aggregates, by aggregate id.

    Grade changes, targets and (re)assignments name their aggregate only by its UUID; the
    facts name everyone by business id, which is what every query asks with. The mapping
    never changes (ids derive from business ids), so a process may keep what it learnt.
    """

    MAX_REMEMBERED = 200_000

    def __init__(self) -> None:
        self._known: OrderedDict[UUID, str] = OrderedDict()

    def learn(self, aggregate_id: UUID, business_id: str) -> None:
        # Least recently used names go first: the ones a page just registered stay, even
        # while that page is not committed yet and could not be looked up again.
        self._known[aggregate_id] = business_id
        self._known.move_to_end(aggregate_id)
        while len(self._known) > self.MAX_REMEMBERED:
            self._known.popitem(last=False)

    def knows(self, aggregate_id: UUID) -> bool:
        return aggregate_id in self._known

    def of(self, aggregate_id: UUID) -> str:
        try:
            self._known.move_to_end(aggregate_id)
            return self._known[aggregate_id]
        except KeyError:
            raise LookupError(f"no registration seen for aggregate {aggregate_id}") from None


FactFunction = Callable[[Any, int, Names], list[Fact]]


def _hex(value: UUID | str) -> str:
    return value.hex if isinstance(value, UUID) else UUID(str(value)).hex


# --- managers -----------------------------------------------------------------------


def manager_registered(e: Manager.Registered, position: int, names: Names) -> list[Fact]:
    names.learn(e.originator_id, e.business_id)
    return [
        Fact("rm_managers", dict(
            manager_id=e.business_id, aggregate_id=_hex(e.originator_id), name=e.name,
            unit=e.unit, position=position,
        )),
        Fact("rm_grades", dict(
            manager_id=e.business_id, position=position, effective_on=SINCE_ALWAYS,
            grade=e.grade,
        )),
    ]


def grade_changed(e: Any, position: int, names: Names) -> list[Fact]:
    return [Fact("rm_grades", dict(
        manager_id=names.of(e.originator_id), position=position,
        effective_on=e.effective_on, grade=e.grade,
    ))]


def target_set(e: Any, position: int, names: Names) -> list[Fact]:
    return [Fact("rm_targets", dict(
        manager_id=names.of(e.originator_id), period=e.period, position=position,
        incremental=e.incremental,
    ))]


def target_changed(e: Any, position: int, names: Names) -> list[Fact]:
    # The same fact as a first target: the latest one known at a cut wins.
    return target_set(e, position, names)


def _disqualification_step(
    e: Any, position: int, names: Names, deduction_id: Any, step: str, effective_on: date | None
) -> Fact:
    return Fact("rm_disqualification_steps", dict(
        manager_id=names.of(e.originator_id), position=position,
        deduction_id=_hex(deduction_id), step=step, effective_on=effective_on,
    ))


def manager_disqualified(e: Any, position: int, names: Names) -> list[Fact]:
    return [_disqualification_step(e, position, names, e.deduction_id, "began", e.effective_on)]


def disqualification_voided(e: Any, position: int, names: Names) -> list[Fact]:
    # The deduction was voided on dispute: as if the state never began (DESIGN §16).
    return [_disqualification_step(e, position, names, e.deduction_id, "voided", None)]


def manager_reinstated(e: Any, position: int, names: Names) -> list[Fact]:
    # One row per disqualification it ends: the event names them (Manager.reinstate).
    return [_disqualification_step(e, position, names, d, "reinstated", e.effective_on)
            for d in e.deduction_ids]


# --- customers and contributions ----------------------------------------------------


def customer_registered(e: Customer.Registered, position: int, names: Names) -> list[Fact]:
    names.learn(e.originator_id, e.business_id)
    return [Fact("rm_customers", dict(
        customer_id=e.business_id, aggregate_id=_hex(e.originator_id), name=e.name,
        customer_class=e.customer_class, industry=e.industry, chain=e.chain,
        group_name=e.group, last_year_contribution=e.last_year_contribution,
        position=position,
    ))]


def customer_assigned(e: Any, position: int, names: Names) -> list[Fact]:
    return [Fact("rm_holdings", dict(
        customer_id=names.of(e.originator_id), position=position,
        manager_id=e.manager_id, effective_on=e.effective_on,
    ))]


def customer_reassigned(e: Any, position: int, names: Names) -> list[Fact]:
    # The previous holder's holding ends where the next one starts, so one row suffices.
    return customer_assigned(e, position, names)


def contribution_posted(e: Contribution.Posted, position: int, names: Names) -> list[Fact]:
    return [Fact("rm_contributions", dict(
        contribution_id=_hex(e.originator_id), customer_id=e.customer_id,
        booked_on=e.booked_on, interest_income=e.interest_income,
        deposit_earnings=e.deposit_earnings, fee_income=e.fee_income,
        risk_cost=e.risk_cost, source_system=e.source_system, external_id=e.external_id,
        position=position,
    ))]


# --- deductions, disputes, adjustments ----------------------------------------------


def deduction_recorded(e: Deduction.Recorded, position: int, names: Names) -> list[Fact]:
    return [Fact("rm_deductions", dict(
        deduction_id=_hex(e.originator_id), manager_id=e.manager_id, rule_code=e.rule_code,
        occurrences=e.occurrences, aggravated=e.aggravated, disqualify=e.disqualify,
        effective_on=e.effective_on, points_per_occurrence=e.points_per_occurrence,
        ruleset_version=e.ruleset_version, customer_id=e.customer_id,
        description=e.description, position=position,
    ))]


def deduction_amended(e: Any, position: int, names: Names) -> list[Fact]:
    return [Fact("rm_deduction_changes", dict(
        deduction_id=_hex(e.originator_id), position=position, status="amended",
        points_total=e.points_total, dispute_id=_hex(e.dispute_id),
    ))]


def deduction_voided(e: Any, position: int, names: Names) -> list[Fact]:
    return [Fact("rm_deduction_changes", dict(
        deduction_id=_hex(e.originator_id), position=position, status="voided",
        points_total=None, dispute_id=_hex(e.dispute_id),
    ))]


def _dispute_step(
    e: Any, position: int, step: str, status: str, due_on: date | None, outcome: str | None
) -> Fact:
    return Fact("rm_dispute_steps", dict(
        dispute_id=_hex(e.originator_id), position=position, step=step, status=status,
        due_on=due_on, outcome=outcome,
    ))


def dispute_filed(e: Dispute.Filed, position: int, names: Names) -> list[Fact]:
    return [
        Fact("rm_disputes", dict(
            dispute_id=_hex(e.originator_id), deduction_id=_hex(e.deduction_id),
            manager_id=e.manager_id, position=position,
        )),
        _dispute_step(e, position, "Filed", "open", e.due_on, None),
    ]


def dispute_decided(e: Any, position: int, names: Names) -> list[Fact]:
    return [_dispute_step(e, position, "Decided", "decided", None, e.outcome)]


def appeal_filed(e: Any, position: int, names: Names) -> list[Fact]:
    return [_dispute_step(e, position, "AppealFiled", "appealed", e.due_on, None)]


def appeal_decided(e: Any, position: int, names: Names) -> list[Fact]:
    return [_dispute_step(e, position, "AppealDecided", "appeal_decided", None, e.outcome)]


def dispute_withdrawn(e: Any, position: int, names: Names) -> list[Fact]:
    return [_dispute_step(e, position, "Withdrawn", "withdrawn", None, None)]


def information_requested(e: Any, position: int, names: Names) -> list[Fact]:
    # No due day while paused: the overdue lists then skip the dispute (DESIGN §16).
    return [_dispute_step(e, position, "InformationRequested", e.status, None, None)]


def information_provided(e: Any, position: int, names: Names) -> list[Fact]:
    return [_dispute_step(e, position, "InformationProvided", e.status, e.due_on, None)]


def adjustment_proposed(e: Adjustment.Proposed, position: int, names: Names) -> list[Fact]:
    return [Fact("rm_adjustments", dict(
        adjustment_id=_hex(e.originator_id), manager_id=e.manager_id, period=e.period,
        points=e.points, position=position,
    ))]


def _adjustment_status(e: Any, position: int, status: str) -> list[Fact]:
    return [Fact("rm_adjustment_changes", dict(
        adjustment_id=_hex(e.originator_id), position=position, status=status,
    ))]


def adjustment_approved(e: Any, position: int, names: Names) -> list[Fact]:
    return _adjustment_status(e, position, "approved")


def adjustment_rejected(e: Any, position: int, names: Names) -> list[Fact]:
    return _adjustment_status(e, position, "rejected")


def adjustment_reversed(e: Any, position: int, names: Names) -> list[Fact]:
    return _adjustment_status(e, position, "reversed")


# --- indicator reports --------------------------------------------------------------


def indicator_reported(e: IndicatorReport.Reported, position: int, names: Names) -> list[Fact]:
    return [Fact("rm_indicator_reports", dict(
        report_id=_hex(e.originator_id), indicator=e.indicator, manager_id=e.manager_id,
        period=e.period, measured_on=e.measured_on, value=e.value,
        source_system=e.source_system, external_id=e.external_id, position=position,
    ))]


# --- qualitative assessment (DESIGN §12) ---------------------------------------------


def assessment_plan_created(e: AssessmentPlan.Created, position: int, names: Names) -> list[Fact]:
    return [Fact("rm_assessment_plans", dict(
        plan_id=e.plan_id, period=e.period, unit=e.unit,
        items=json.dumps(e.items, sort_keys=True), assessors=json.dumps(e.assessors),
        managers=json.dumps(e.managers), closes_on=e.closes_on, position=position,
    ))]


def _sheet_step(e: Any, position: int, step: str, scores: dict[str, str] | None,
                submitted_on: date | None) -> list[Fact]:
    return [Fact("rm_assessment_sheets", dict(
        plan_id=e.plan_id, manager_id=e.manager_id, assessor=e.assessor,
        position=position, step=step,
        scores=None if scores is None else json.dumps(scores, sort_keys=True),
        submitted_on=submitted_on,
    ))]


def sheet_saved(e: Any, position: int, names: Names) -> list[Fact]:
    return _sheet_step(e, position, "saved", e.scores, None)


def sheet_submitted(e: Any, position: int, names: Names) -> list[Fact]:
    return _sheet_step(e, position, "submitted", e.scores, e.submitted_on)


def sheet_reopened(e: Any, position: int, names: Names) -> list[Fact]:
    return _sheet_step(e, position, "reopened", None, None)


# --- periods ------------------------------------------------------------------------


def period_closed(e: Any, position: int, names: Names) -> list[Fact]:
    # The frozen figures are copied as recorded; sort_keys gives one text per content.
    frozen = json.dumps(e.frozen, sort_keys=True, default=str)
    return [Fact("rm_period_closings", dict(period=e.period, position=position, frozen=frozen))]


# --- rule sets ----------------------------------------------------------------------


def ruleset_drafted(e: Any, position: int, names: Names) -> list[Fact]:
    # sort_keys: the same document always has the same text (checksums, caching).
    content = json.dumps(e.content, sort_keys=True, default=str)
    return [Fact("rm_rulesets", dict(
        version=e.version, effective_from=e.effective_from, content=content, position=position,
    ))]


def ruleset_published(e: Any, position: int, names: Names) -> list[Fact]:
    return [Fact("rm_ruleset_publications", dict(version=e.version, position=position))]


def event_of(aggregate: type[Any], name: str) -> type[Any]:
    """An event class that an aggregate's `@event("Name")` method declared (the library
    makes such classes at class creation, so a type checker cannot see them as attributes)."""
    found: type[Any] = getattr(aggregate, name)
    return found


FACT_FUNCTIONS: dict[type[Any], FactFunction] = {
    Manager.Registered: manager_registered,
    event_of(Manager, "GradeChanged"): grade_changed,
    event_of(Manager, "TargetSet"): target_set,
    event_of(Manager, "TargetChanged"): target_changed,
    event_of(Manager, "Disqualified"): manager_disqualified,
    event_of(Manager, "DisqualificationVoided"): disqualification_voided,
    event_of(Manager, "Reinstated"): manager_reinstated,
    Customer.Registered: customer_registered,
    event_of(Customer, "Assigned"): customer_assigned,
    event_of(Customer, "Reassigned"): customer_reassigned,
    Contribution.Posted: contribution_posted,
    Deduction.Recorded: deduction_recorded,
    event_of(Deduction, "Amended"): deduction_amended,
    event_of(Deduction, "Voided"): deduction_voided,
    Dispute.Filed: dispute_filed,
    event_of(Dispute, "Decided"): dispute_decided,
    event_of(Dispute, "AppealFiled"): appeal_filed,
    event_of(Dispute, "AppealDecided"): appeal_decided,
    event_of(Dispute, "Withdrawn"): dispute_withdrawn,
    event_of(Dispute, "InformationRequested"): information_requested,
    event_of(Dispute, "InformationProvided"): information_provided,
    Adjustment.Proposed: adjustment_proposed,
    event_of(Adjustment, "Approved"): adjustment_approved,
    event_of(Adjustment, "Rejected"): adjustment_rejected,
    event_of(Adjustment, "Reversed"): adjustment_reversed,
    event_of(RuleBook, "Drafted"): ruleset_drafted,
    event_of(RuleBook, "Published"): ruleset_published,
    event_of(Period, "Closed"): period_closed,
    IndicatorReport.Reported: indicator_reported,
    AssessmentPlan.Created: assessment_plan_created,
    event_of(AssessmentPlan, "SheetSaved"): sheet_saved,
    event_of(AssessmentPlan, "SheetSubmitted"): sheet_submitted,
    event_of(AssessmentPlan, "SheetReopened"): sheet_reopened,
}

TOPICS: frozenset[str] = frozenset(get_topic(cls) for cls in FACT_FUNCTIONS)
"""Topics that establish facts; other events (e.g. comments) are skipped undecoded."""
POSTED = get_topic(Contribution.Posted)

# Events that name their aggregate only by id, and the registration that gives its name.
_MANAGER_CHANGES: tuple[type[Any], ...] = (
    event_of(Manager, "GradeChanged"), event_of(Manager, "TargetSet"),
    event_of(Manager, "TargetChanged"), event_of(Manager, "Disqualified"),
    event_of(Manager, "DisqualificationVoided"), event_of(Manager, "Reinstated"),
)
NAMED_BY_MANAGER = frozenset(get_topic(c) for c in _MANAGER_CHANGES)
NAMED_BY_CUSTOMER = frozenset(
    get_topic(c) for c in (event_of(Customer, "Assigned"), event_of(Customer, "Reassigned"))
)


def facts_of(events: Iterable[tuple[int, DomainEventProtocol[Any]]], names: Names) -> list[Fact]:
    """The fact rows of decoded events (position, event), in log order."""
    rows: list[Fact] = []
    for position, event in events:
        rows.extend(FACT_FUNCTIONS[type(event)](event, position, names))
    return rows


# --- facts straight from the stored state ---------------------------------------------

FACTS_BY_TOPIC: dict[str, FactFunction] = {get_topic(c): f for c, f in FACT_FUNCTIONS.items()}
"""The fact function of each topic, for events read as `Recorded` rather than decoded."""

CLASS_VERSIONS: dict[str, int] = {
    get_topic(c): getattr(c, "class_version", 1) for c in FACT_FUNCTIONS
}
"""The version each topic's class is at now: only state recorded at that version is read
as it stands; older state goes through the domain path, where the class upcasts it."""


_DIRECT: dict[type[Any], Callable[[str], Any]] = {
    DecimalAsStr: Decimal, UUIDAsHex: UUID, DatetimeAsISO: datetime.fromisoformat,
    DateAsISO: date.fromisoformat,
}
"""The library's transcodings (and ours) whose decode is exactly this constructor."""


class StateDecoder:
    """The application's JSON transcoder's `decode`, with one call per typed value.

    The library's object hook makes three Python calls per Decimal, date or UUID (the
    hook, the transcoding's method, the constructor): a fifth of a rebuild's time went
    there. Here the hook calls the constructor itself for the transcodings above and the
    transcoding's own `decode` for any other, so the output is the same values of the same
    types; a name no transcoding has raises the library's error.
    """

    def __init__(self, transcoder: JSONTranscoder) -> None:
        self._transcoder = transcoder
        self._decoders: dict[str, Callable[[str], Any]] = {
            name: _DIRECT.get(type(found), found.decode)
            for name, found in transcoder.names.items()}
        self._json = json.JSONDecoder(object_hook=self._hook)

    def decode(self, data: bytes | memoryview) -> dict[str, Any]:
        state: dict[str, Any] = self._json.decode(str(data, "utf8"))
        return state

    def _hook(self, d: dict[str, Any]) -> Any:
        if len(d) == 2 and "_type_" in d and "_data_" in d:
            found = self._decoders.get(d["_type_"])
            return self._transcoder._decode_obj(d) if found is None else found(d["_data_"])
        return d


class Recorded:
    """An event's recorded fields read as attributes, without making the event.

    A fact function asks an event only for fields, so the transcoder's output (exact
    Decimal, date and UUID values already) serves as well as the domain object: this is
    what the library's mapper builds too, less the class, the topic's resolution and the
    id conversion, per event of a rebuild.
    """

    def __init__(self, state: dict[str, Any]) -> None:
        self.__dict__ = state


def recorded(
    topic: str, state: dict[str, Any], originator_id: UUID, originator_version: int
) -> Recorded | None:
    """The transcoded state of an event of `topic` as a `Recorded`, or None when it was
    recorded by another version of its class (the domain path upcasts; this one cannot)."""
    if state.pop("class_version", 1) != CLASS_VERSIONS[topic]:
        return None
    state["originator_id"] = originator_id
    state["originator_version"] = originator_version
    return Recorded(state)


def facts_of_recorded(
    events: Iterable[tuple[int, str, Any]], names: Names
) -> list[Fact]:
    """The fact rows of (position, topic, event) in log order, each event a `Recorded` or a
    domain event: the same functions read both."""
    rows: list[Fact] = []
    for position, topic, event in events:
        rows.extend(FACTS_BY_TOPIC[topic](event, position, names))
    return rows

"""Business rules as named objects that read as sentences, and the input checks commands share."""

from __future__ import annotations

import unicodedata
from abc import ABC, abstractmethod
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

from ledger.errors import (
    DeadlinePassed,
    DuplicateFact,
    InvalidInput,
    LedgerError,
    NotFound,
    NotPermitted,
    RuleViolation,
)
from ledger.quarter import Quarter

# Bounds on input (TIGER_STYLE: bound everything). They are technical limits
# against mistakes and abuse, not business numbers, so they are not rule-set data.
MAX_IDENTIFIER = 64
MAX_TEXT = 4000
MAX_REFERENCES = 50
MAX_REFERENCE_LENGTH = 500
MAX_OCCURRENCES = 1000
MAX_POINTS = 1_000_000
MONEY_LIMIT = Decimal("1e15")
CENT = Decimal("0.01")
MAX_DEPTH = 16
FIRST_YEAR, LAST_YEAR = 1900, 2200  # the business dates and instants the ledger reckons with


def unstorable_text(value: str) -> str | None:
    """Why a text cannot be stored, or None when it can: PostgreSQL stores no NUL, and
    UTF-8 cannot encode a lone surrogate, so either would fail far from where it came in."""
    if "\x00" in value:
        return "must not contain NUL characters"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "must be valid Unicode text (no lone surrogates)"
    return None


def year_in_range(moment: date) -> bool:
    """A date or instant the ledger accepts (a datetime is a date too)."""
    return FIRST_YEAR <= moment.year <= LAST_YEAR


YEAR_RANGE = f"must lie between {FIRST_YEAR}-01-01 and {LAST_YEAR}-12-31"


# --- Input checks ---------------------------------------------------------------------------


class FieldErrors:
    """Collects every problem with a command's input, then refuses them all at once."""

    def __init__(self) -> None:
        self._errors: dict[str, list[str]] = {}

    def add(self, name: str, message: str) -> None:
        self._errors.setdefault(name, []).append(message)

    def identifier(self, name: str, value: object) -> None:
        """A business id such as "M1": short, not blank, no surrounding spaces."""
        if not isinstance(value, str) or not value or value != value.strip():
            self.add(name, "must be a non-blank id without surrounding spaces")
        elif (problem := unstorable_text(value)) is not None:
            self.add(name, problem)
        elif len(value) > MAX_IDENTIFIER or not value.isprintable():
            self.add(name, f"must be printable and at most {MAX_IDENTIFIER} characters")

    def aggregate_id(self, name: str, value: object) -> None:
        if not isinstance(value, UUID):
            self.add(name, "must be a UUID")

    def optional_identifier(self, name: str, value: object) -> None:
        if value is not None:
            self.identifier(name, value)

    def text(self, name: str, value: object, *, max_length: int = MAX_TEXT) -> None:
        """Free text that must say something, e.g. a reason."""
        if not isinstance(value, str) or not value.strip():
            self.add(name, "must not be blank")
        elif (problem := unstorable_text(value)) is not None:
            self.add(name, problem)
        elif len(value) > max_length:
            self.add(name, f"must be at most {max_length} characters")

    def one_of(self, name: str, value: object, choices: Collection[str]) -> None:
        if value not in choices:
            self.add(name, f"must be one of {', '.join(sorted(choices))}")

    def day(self, name: str, value: object) -> None:
        # A datetime is a date subclass, but it would compare and store differently.
        if not isinstance(value, date) or isinstance(value, datetime):
            self.add(name, "must be a date")
        elif not year_in_range(value):
            self.add(name, YEAR_RANGE)

    def flag(self, name: str, value: object) -> None:
        if not isinstance(value, bool):
            self.add(name, "must be true or false")

    def whole_number(self, name: str, value: object, *, minimum: int, maximum: int) -> None:
        if not isinstance(value, int) or isinstance(value, bool):
            self.add(name, "must be a whole number")
        elif not minimum <= value <= maximum:
            self.add(name, f"must be between {minimum} and {maximum}")

    def money(self, name: str, value: object, *, negative_allowed: bool = False) -> None:
        """A Decimal amount with at most two places; floats are refused, never rounded."""
        if not isinstance(value, Decimal) or not value.is_finite():
            self.add(name, "must be a decimal amount (not a float)")
        elif abs(value) >= MONEY_LIMIT:
            self.add(name, f"must be smaller than {MONEY_LIMIT:,f}")
        elif value != value.quantize(CENT):
            self.add(name, "must have at most two decimal places")
        elif value < 0 and not negative_allowed:
            self.add(name, "must not be negative")

    def references(self, name: str, values: object) -> None:
        """Evidence references: a bounded list of short, non-blank strings."""
        if not isinstance(values, (list, tuple)) or len(values) > MAX_REFERENCES:
            self.add(name, f"must be a list of at most {MAX_REFERENCES} references")
        elif not all(_is_reference(v) for v in values):
            self.add(name, f"each reference must be non-blank, at most {MAX_REFERENCE_LENGTH}")

    def period(self, name: str, value: object) -> str:
        """A quarter like "2026Q1"; returns its canonical text ("" when refused)."""
        try:
            return str(value if isinstance(value, Quarter) else Quarter.parse(value, field=name))
        except InvalidInput as refused:
            for message in refused.errors[name]:
                self.add(name, message)
            return ""

    def mapping(self, name: str, value: object) -> None:
        """A JSON-like object that stores exactly: no floats, nothing the store cannot encode."""
        if not isinstance(value, Mapping):
            self.add(name, "must be an object")
        elif not _is_storable(value, MAX_DEPTH):
            self.add(name, "must hold only text, whole numbers, decimals, dates, lists, objects")

    def raise_if_any(self) -> None:
        if self._errors:
            raise InvalidInput(self._errors)


_STORABLE_LEAVES = (str, int, Decimal, date, UUID, type(None))


def _is_storable(value: object, depth: int) -> bool:
    # Floats are refused: stored figures must read back exactly as written.
    if depth < 0 or isinstance(value, float):
        return False
    if isinstance(value, Mapping):
        return all(isinstance(k, str) and _is_storable(v, depth - 1) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return all(_is_storable(v, depth - 1) for v in value)
    return isinstance(value, _STORABLE_LEAVES)


def _is_reference(value: object) -> bool:
    return (isinstance(value, str) and bool(value.strip()) and len(value) <= MAX_REFERENCE_LENGTH
            and unstorable_text(value) is None)


# --- Rules ----------------------------------------------------------------------------------


class Rule(ABC):
    """A business rule a command must not break. Its class name is its name in every refusal."""

    @property
    def name(self) -> str:
        return type(self).__name__

    @abstractmethod
    def is_broken(self) -> bool:
        """True when the command would break the rule."""

    @abstractmethod
    def explain(self) -> str:
        """Says, for the person refused, what the rule requires."""

    def refusal(self) -> LedgerError:
        return RuleViolation(self.name, self.explain())


def check(*rules: Rule) -> None:
    """Refuses with the first broken rule, in the order given."""
    for rule in rules:
        if rule.is_broken():
            raise rule.refusal()


def same_person(one: str | None, other: str | None) -> bool:
    """Two subjects name one person when they match after Unicode compatibility
    normalisation and case folding: `Demo-Reviewer`, `demo-reviewer` and a full-width
    `ｄｅｍｏ-reviewer` are one login to people, so they must be one to separation of duties."""
    if one is None or other is None:
        return False
    return _person_key(one) == _person_key(other)


def _person_key(subject: str) -> str:
    # NFKC, casefold, NFKC again: folding can un-normalise (Unicode's caseless matching).
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", subject).casefold())


def is_past(deadline: date, day: date) -> bool:
    """A deadline day itself is still in time."""
    return day > deadline


def deadline(start: date, within_days: int) -> date:
    return start + timedelta(days=within_days)


# --- State machines ---


@dataclass(frozen=True)
class StepsInOrder(Rule):
    """A step is taken only from the states that allow it (e.g. no appeal before a decision)."""

    step: str
    current_state: str
    allowed_states: tuple[str, ...]

    def is_broken(self) -> bool:
        return self.current_state not in self.allowed_states

    def explain(self) -> str:
        allowed = " or ".join(self.allowed_states)
        return f"cannot {self.step} when {self.current_state}; only when {allowed}"

    def refusal(self) -> LedgerError:
        return RuleViolation(self.name, self.explain(), current_state=self.current_state)


@dataclass(frozen=True)
class ChangesTakeEffectInOrder(Rule):
    """A change may not take effect before the latest change of the same thing."""

    subject: str
    latest_effective_on: date | None
    effective_on: date

    def is_broken(self) -> bool:
        latest = self.latest_effective_on
        return latest is not None and self.effective_on < latest

    def explain(self) -> str:
        return (
            f"{self.subject} effective {self.effective_on} is earlier than the latest one, "
            f"effective {self.latest_effective_on}"
        )


# --- Managers and portfolios ---


@dataclass(frozen=True)
class NewGradeDiffersFromCurrent(Rule):
    """A grade change changes the grade."""

    current_grade: str
    new_grade: str

    def is_broken(self) -> bool:
        return self.new_grade == self.current_grade

    def explain(self) -> str:
        return f"the manager already has grade {self.current_grade}"


@dataclass(frozen=True)
class GradeKeepsThePremiumCustomersHeld(Rule):
    """A grade may not fall below `premium_requires_grade` while the manager holds premium
    customers (DESIGN §16): they would be held by a grade the policy refuses them to."""

    manager_id: str
    new_grade: str
    required_grade: str | None
    premium_customers: tuple[str, ...]

    def is_broken(self) -> bool:
        # Grades are ordered best first ("A", "B", "C"): a later letter is a lower grade.
        return (self.required_grade is not None and bool(self.premium_customers)
                and self.new_grade > self.required_grade)

    def explain(self) -> str:
        return (f"{self.manager_id} holds premium customers {', '.join(self.premium_customers)}, "
                f"which need grade {self.required_grade}; reassign them before grade "
                f"{self.new_grade}")


@dataclass(frozen=True)
class NewHolderDiffersFromCurrent(Rule):
    """A customer is reassigned to someone other than the manager who holds it."""

    current_holder: str | None
    new_holder: str

    def is_broken(self) -> bool:
        return self.new_holder == self.current_holder

    def explain(self) -> str:
        return f"the customer is already held by {self.new_holder}"


@dataclass(frozen=True)
class ReinstatementEndsADisqualification(Rule):
    """A reinstatement ends a disqualification in force on its effective date (DESIGN §16)."""

    manager_id: str
    effective_on: date
    disqualified: bool

    def is_broken(self) -> bool:
        return not self.disqualified

    def explain(self) -> str:
        return f"manager {self.manager_id} is not disqualified on {self.effective_on}"

    def refusal(self) -> LedgerError:
        return RuleViolation(self.name, self.explain(), current_state="active")


@dataclass(frozen=True)
class ReinstaterIsNotTheRecorder(Rule):
    """Whoever recorded a disqualifying deduction never reinstates the manager from it."""

    recorded_by: str
    reinstated_by: str

    def is_broken(self) -> bool:
        return same_person(self.reinstated_by, self.recorded_by)

    def explain(self) -> str:
        return "the person who recorded the disqualifying deduction may not reinstate"

    def refusal(self) -> LedgerError:
        return NotPermitted(self.explain(), rule=self.name)


@dataclass(frozen=True)
class CustomersGoOnlyToQualifiedManagers(Rule):
    """No customer is assigned to a manager disqualified on the assignment's effective date."""

    manager_id: str
    effective_on: date
    disqualified: bool

    def is_broken(self) -> bool:
        return self.disqualified

    def explain(self) -> str:
        return (f"manager_id {self.manager_id} is disqualified on {self.effective_on}: "
                "no customer may be assigned to them until reinstated")

    def refusal(self) -> LedgerError:
        return RuleViolation(self.name, self.explain(), current_state="disqualified")


# The portfolio policy (premium grade, group split, span of control) lives with its
# data in ledger.calculation.portfolio_policy.


# --- Deductions ---


@dataclass(frozen=True)
class OnlyAggravatableRulesMayBeAggravated(Rule):
    """Aggravation applies only to catalog items marked aggravatable."""

    rule_code: str
    aggravatable: bool
    aggravated: bool

    def is_broken(self) -> bool:
        return self.aggravated and not self.aggravatable

    def explain(self) -> str:
        return f"catalog item {self.rule_code} may not be aggravated"


@dataclass(frozen=True)
class OnlyDisqualifyingRulesMayDisqualify(Rule):
    """Disqualification follows only from catalog items that lead to it."""

    rule_code: str
    disqualifying: bool
    disqualify: bool

    def is_broken(self) -> bool:
        return self.disqualify and not self.disqualifying

    def explain(self) -> str:
        return f"catalog item {self.rule_code} does not lead to disqualification"


# --- Disputes and appeals ---


@dataclass(frozen=True)
class OnlyTheOwnerMayDispute(Rule):
    """Only the manager who received a deduction may dispute it."""

    owner_manager_id: str
    filed_by_manager_id: str | None

    def is_broken(self) -> bool:
        return self.filed_by_manager_id != self.owner_manager_id

    def explain(self) -> str:
        return "only the manager who received the deduction may dispute it"

    def refusal(self) -> LedgerError:
        return NotPermitted(self.explain(), rule=self.name)


@dataclass(frozen=True)
class DisputeWithinWindow(Rule):
    """A dispute is filed within the rule set's window (15 days in 2026.1) of the recording."""

    recorded_on: date
    filed_on: date
    within_days: int

    def is_broken(self) -> bool:
        return is_past(deadline(self.recorded_on, self.within_days), self.filed_on)

    def explain(self) -> str:
        last_day = deadline(self.recorded_on, self.within_days)
        return f"disputes had to be filed by {last_day} ({self.within_days} days after recording)"

    def refusal(self) -> LedgerError:
        return DeadlinePassed(self.name, self.explain())


@dataclass(frozen=True)
class ADeductionIsDisputedOnce(Rule):
    """A deduction is disputed once; its decision is challenged by appeal, not by a second
    dispute (which would reopen a decided case and sidestep the appeal's window)."""

    dispute_id: UUID | None

    def is_broken(self) -> bool:
        return self.dispute_id is not None

    def explain(self) -> str:
        return (f"the deduction was already disputed ({self.dispute_id}); "
                "a decision is challenged by appeal")

    def refusal(self) -> LedgerError:
        return RuleViolation(self.name, self.explain(), current_state="disputed")


@dataclass(frozen=True)
class ReviewerIsNotTheRecorder(Rule):
    """Whoever recorded a deduction never decides a dispute about it."""

    recorded_by: str
    decided_by: str

    def is_broken(self) -> bool:
        return same_person(self.decided_by, self.recorded_by)

    def explain(self) -> str:
        return "the person who recorded the deduction may not decide on it"

    def refusal(self) -> LedgerError:
        return NotPermitted(self.explain(), rule=self.name)


@dataclass(frozen=True)
class AppealDeciderIsNotTheReviewer(Rule):
    """An appeal is a second look: whoever decided the dispute never decides its appeal."""

    reviewer: str | None
    decided_by: str

    def is_broken(self) -> bool:
        return same_person(self.decided_by, self.reviewer)

    def explain(self) -> str:
        return "the person who decided the dispute may not decide its appeal"

    def refusal(self) -> LedgerError:
        return NotPermitted(self.explain(), rule=self.name)


@dataclass(frozen=True)
class DecisionNeedsPointsWhenPartlyUpheld(Rule):
    """Points come with a partly-upheld decision and only then; they lower the current total."""

    outcome: str
    points: int | None
    current_points: int

    def is_broken(self) -> bool:
        if self.outcome != "partly_upheld":
            return self.points is not None
        if not isinstance(self.points, int) or isinstance(self.points, bool):
            return True
        return not 0 <= self.points < self.current_points

    def explain(self) -> str:
        if self.outcome != "partly_upheld":
            return f"points are given only when partly upheld, not when {self.outcome}"
        return f"must be the new total error points, from 0 to {self.current_points - 1}"

    def refusal(self) -> LedgerError:
        return InvalidInput({"points": [self.explain()]}, rule=self.name)


@dataclass(frozen=True)
class OnlyRejectedOrPartlyUpheldMayBeAppealed(Rule):
    """An upheld dispute has nothing left to appeal."""

    outcome: str | None

    def is_broken(self) -> bool:
        return self.outcome not in ("rejected", "partly_upheld")

    def explain(self) -> str:
        return f"only rejected or partly upheld disputes may be appealed, not {self.outcome}"

    def refusal(self) -> LedgerError:
        return RuleViolation(self.name, self.explain(), current_state=self.outcome)


@dataclass(frozen=True)
class AppealWithinWindow(Rule):
    """An appeal is filed within the rule set's window (10 days in 2026.1) of the decision."""

    decided_on: date
    appealed_on: date
    within_days: int

    def is_broken(self) -> bool:
        return is_past(deadline(self.decided_on, self.within_days), self.appealed_on)

    def explain(self) -> str:
        last_day = deadline(self.decided_on, self.within_days)
        return f"appeals had to be filed by {last_day} ({self.within_days} days after decision)"

    def refusal(self) -> LedgerError:
        return DeadlinePassed(self.name, self.explain())


@dataclass(frozen=True)
class OnlyTheOwnerMayAppeal(Rule):
    """Only the manager who filed the dispute may appeal its decision."""

    owner_manager_id: str
    appellant_manager_id: str | None

    def is_broken(self) -> bool:
        return self.appellant_manager_id != self.owner_manager_id

    def explain(self) -> str:
        return "only the manager who received the deduction may appeal"

    def refusal(self) -> LedgerError:
        return NotPermitted(self.explain(), rule=self.name)


@dataclass(frozen=True)
class OnlyTheFilerMayWithdraw(Rule):
    """Only the manager who filed a dispute may withdraw it (DESIGN §16)."""

    owner_manager_id: str
    withdrawing_manager_id: str | None

    def is_broken(self) -> bool:
        return self.withdrawing_manager_id != self.owner_manager_id

    def explain(self) -> str:
        return "only the manager who filed the dispute may withdraw it"

    def refusal(self) -> LedgerError:
        return NotPermitted(self.explain(), rule=self.name)


@dataclass(frozen=True)
class OnlyTheFilerMayAnswer(Rule):
    """Only the manager who filed a dispute answers a request for information about it."""

    owner_manager_id: str
    answering_manager_id: str | None

    def is_broken(self) -> bool:
        return self.answering_manager_id != self.owner_manager_id

    def explain(self) -> str:
        return "only the manager who filed the dispute may answer its request for information"

    def refusal(self) -> LedgerError:
        return NotPermitted(self.explain(), rule=self.name)


@dataclass(frozen=True)
class OneInformationRequestAtATime(Rule):
    """A reviewer waits for the answer before asking again, so the deadline pauses once."""

    awaiting_information: bool

    def is_broken(self) -> bool:
        return self.awaiting_information

    def explain(self) -> str:
        return "the filer has not yet answered the open request for information"


@dataclass(frozen=True)
class AnswersFollowARequest(Rule):
    """Information is answered only while a request for it is open."""

    awaiting_information: bool

    def is_broken(self) -> bool:
        return not self.awaiting_information

    def explain(self) -> str:
        return "no request for information is awaiting an answer"


# --- Adjustments ---


@dataclass(frozen=True)
class ApproverIsNotTheProposer(Rule):
    """A manual adjustment needs two people: its proposer never decides it."""

    proposed_by: str
    decided_by: str

    def is_broken(self) -> bool:
        return same_person(self.decided_by, self.proposed_by)

    def explain(self) -> str:
        return "the person who proposed the adjustment may not decide it"

    def refusal(self) -> LedgerError:
        return NotPermitted(self.explain(), rule=self.name)


@dataclass(frozen=True)
class SecondApproverIsNotTheFirst(Rule):
    """An adjustment above the rule set's limit needs two different approvers (DESIGN §16)."""

    first_approved_by: str | None
    approved_by: str

    def is_broken(self) -> bool:
        return same_person(self.first_approved_by, self.approved_by)

    def explain(self) -> str:
        return "this adjustment needs a second approval by another approver"

    def refusal(self) -> LedgerError:
        return NotPermitted(self.explain(), rule=self.name)


# --- Periods ---


@dataclass(frozen=True)
class PeriodsCloseAfterTheyEnd(Rule):
    """A period is closed only after its last day: earlier, its pay is not final yet."""

    period: Quarter
    today: date

    def is_broken(self) -> bool:
        return self.today <= self.period.last_day

    def explain(self) -> str:
        return f"{self.period} ends on {self.period.last_day}; it can be closed from the day after"

    def refusal(self) -> LedgerError:
        return RuleViolation(self.name, self.explain(), current_state="open")


# --- Postings from source systems ---


@dataclass(frozen=True)
class PostingsAreIdentifiedByTheirSourceKeys(Rule):
    """A source system's keys (source_system, external_id) name one fact forever: posting
    them again with the same values is a harmless repeat, with other values a conflict."""

    what: str
    stored: Mapping[str, object]
    requested: Mapping[str, object]

    def is_broken(self) -> bool:
        return any(self.stored.get(name) != value for name, value in self.requested.items())

    def explain(self) -> str:
        return f"{self.what} was already recorded with other values"

    def refusal(self) -> LedgerError:
        return DuplicateFact(self.explain(), rule=self.name)


# --- Rule sets ---


@dataclass(frozen=True)
class VersionsAreDraftedOnce(Rule):
    """A rule-set version number names one document forever."""

    version: str
    existing_versions: frozenset[str]

    def is_broken(self) -> bool:
        return self.version in self.existing_versions

    def explain(self) -> str:
        return f"rule-set version {self.version} already exists; draft a new version"

    def refusal(self) -> LedgerError:
        return DuplicateFact(self.explain(), current_state="drafted", rule=self.name)


@dataclass(frozen=True)
class OnlyDraftedVersionsArePublished(Rule):
    """Publishing names a version that was drafted."""

    version: str
    existing_versions: frozenset[str]

    def is_broken(self) -> bool:
        return self.version not in self.existing_versions

    def explain(self) -> str:
        return f"no rule-set version {self.version}"

    def refusal(self) -> LedgerError:
        return NotFound(self.explain(), rule=self.name)


@dataclass(frozen=True)
class VersionsArePublishedOnce(Rule):
    """A published version is immutable, and publishing it again would reorder history."""

    version: str
    published_versions: frozenset[str]

    def is_broken(self) -> bool:
        return self.version in self.published_versions

    def explain(self) -> str:
        return f"rule-set version {self.version} is already published"

    def refusal(self) -> LedgerError:
        return RuleViolation(self.name, self.explain(), current_state="published")


# --- Indicator reports ---


@dataclass(frozen=True)
class OnlyDeclaredRawIndicatorsAreReported(Rule):
    """A report names a raw indicator of the rule set in force for its period: anything
    else would be a number no formula reads (DESIGN §11)."""

    indicator: str
    ruleset_version: str
    raw_indicators: frozenset[str]

    def is_broken(self) -> bool:
        return self.indicator not in self.raw_indicators

    def explain(self) -> str:
        declared = ", ".join(sorted(self.raw_indicators)) or "none"
        return (f"{self.indicator!r} is not a raw indicator of rule set {self.ruleset_version} "
                f"(raw indicators: {declared})")

    def refusal(self) -> LedgerError:
        return InvalidInput({"indicator": [self.explain()]}, rule=self.name)


@dataclass(frozen=True)
class MeasurementsBelongToTheirPeriod(Rule):
    """A value measured before its period began cannot describe that period."""

    period: Quarter
    measured_on: date

    def is_broken(self) -> bool:
        return self.measured_on < self.period.first_day

    def explain(self) -> str:
        return f"must not be before {self.period.first_day}, the first day of {self.period}"

    def refusal(self) -> LedgerError:
        return InvalidInput({"measured_on": [self.explain()]}, rule=self.name)


def as_json_object(value: Mapping[str, Any]) -> dict[str, Any]:
    """A plain-dict copy of a mapping, so later changes by the caller cannot reach an event."""
    return {key: _plain(item) for key, item in value.items()}


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


# --- Qualitative assessment (DESIGN §12) ---


@dataclass(frozen=True)
class OnlyThePlansAssessorsScore(Rule):
    """A sheet is scored by the assessor it was handed to, and by nobody else."""

    subject: str
    assessors: frozenset[str]

    def is_broken(self) -> bool:
        return not any(same_person(self.subject, a) for a in self.assessors)

    def explain(self) -> str:
        return f"{self.subject} is not an assessor of this plan"

    def refusal(self) -> LedgerError:
        return NotPermitted(self.explain(), rule=self.name)


@dataclass(frozen=True)
class NoOneScoresTheirOwnSheet(Rule):
    """An assessor never scores the sheet that assesses them."""

    manager_id: str
    assessor: str
    assessor_manager_id: str | None

    def is_broken(self) -> bool:
        return self.assessor_manager_id == self.manager_id \
            or same_person(self.assessor, self.manager_id)

    def explain(self) -> str:
        return f"{self.assessor} may not score their own sheet ({self.manager_id})"

    def refusal(self) -> LedgerError:
        return NotPermitted(self.explain(), rule=self.name)


@dataclass(frozen=True)
class SheetsCloseAfterTheirLastDay(Rule):
    """Nothing is saved on a sheet after the plan's `closes_on` (the bank's day)."""

    closes_on: date
    today: date

    def is_broken(self) -> bool:
        return is_past(self.closes_on, self.today)

    def explain(self) -> str:
        return f"the plan closed on {self.closes_on}; nothing more is saved"


@dataclass(frozen=True)
class ASubmittedSheetIsFinal(Rule):
    """A submitted sheet changes only after an approver reopens it."""

    status: str

    def is_broken(self) -> bool:
        return self.status == "submitted"

    def explain(self) -> str:
        return "the sheet is submitted; an approver may reopen it with a reason"

    def refusal(self) -> LedgerError:
        return RuleViolation(self.name, self.explain(), current_state=self.status)


@dataclass(frozen=True)
class EveryItemIsScoredBeforeSubmission(Rule):
    """A sheet is submitted whole: every item of the plan has a score."""

    pending: tuple[str, ...]

    def is_broken(self) -> bool:
        return bool(self.pending)

    def explain(self) -> str:
        return f"items not scored yet: {', '.join(self.pending)}"


@dataclass(frozen=True)
class OnlySubmittedSheetsAreReopened(Rule):
    """Reopening takes back a submission; a sheet still being scored has none."""

    status: str

    def is_broken(self) -> bool:
        return self.status != "submitted"

    def explain(self) -> str:
        return f"the sheet is {self.status}, not submitted"

    def refusal(self) -> LedgerError:
        return RuleViolation(self.name, self.explain(), current_state=self.status)

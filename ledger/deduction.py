"""The deduction aggregate: error points (差错积分) recorded against a manager, and their fate."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any
from uuid import UUID

from eventsourcing.domain import event

from ledger.base import LedgerAggregate
from ledger.ids import deduction_external_id, new_id
from ledger.rules import (
    MAX_OCCURRENCES,
    MAX_POINTS,
    ADeductionIsDisputedOnce,
    FieldErrors,
    OnlyAggravatableRulesMayBeAggravated,
    OnlyDisqualifyingRulesMayDisqualify,
    StepsInOrder,
    check,
)

MAX_ACTOR = 200


class Deduction(LedgerAggregate):
    """Error points for one catalog item, as recorded; later amended or voided by a dispute."""

    class Recorded(LedgerAggregate.Created):
        manager_id: str
        rule_code: str
        occurrences: int
        aggravated: bool
        disqualify: bool
        effective_on: date
        description: str
        customer_id: str | None
        evidence: list[str]
        recorded_by: str
        points_per_occurrence: int
        ruleset_version: str

    def __init__(
        self,
        manager_id: str,
        rule_code: str,
        occurrences: int,
        aggravated: bool,
        disqualify: bool,
        effective_on: date,
        description: str,
        customer_id: str | None,
        evidence: list[str],
        recorded_by: str,
        points_per_occurrence: int,
        ruleset_version: str,
    ) -> None:
        # Body of the Recorded event: assigns only, because it re-runs on every replay.
        self.manager_id = manager_id
        self.rule_code = rule_code
        self.occurrences = occurrences
        self.aggravated = aggravated
        self.disqualify = disqualify
        self.effective_on = effective_on
        self.description = description
        self.customer_id = customer_id
        self.evidence = list(evidence)
        self.recorded_by = recorded_by
        self.points_per_occurrence = points_per_occurrence
        self.ruleset_version = ruleset_version
        self.status = "active"
        self.amended_points_total: int | None = None
        self.dispute_id: UUID | None = None

    @classmethod
    def record(
        cls,
        *,
        manager_id: str,
        rule_code: str,
        occurrences: int,
        aggravated: bool,
        effective_on: date,
        description: str,
        recorded_by: str,
        points_per_occurrence: int,
        ruleset_version: str,
        aggravatable: bool,
        disqualifying: bool,
        disqualify: bool = False,
        customer_id: str | None = None,
        evidence: Sequence[str] = (),
        source_system: str | None = None,
        external_id: str | None = None,
    ) -> Deduction:
        """Records a deduction. The caller looks `rule_code` up in the rule set in force
        and passes what the catalog says: its points and whether it is aggravatable or
        disqualifying. An integrator's (source_system, external_id) fixes the id, so a
        retried posting addresses the same deduction; without them the id is random.
        """
        fields: dict[str, Any] = dict(
            manager_id=manager_id,
            rule_code=rule_code,
            occurrences=occurrences,
            aggravated=aggravated,
            disqualify=disqualify,
            effective_on=effective_on,
            description=description,
            customer_id=customer_id,
            evidence=evidence,
            recorded_by=recorded_by,
            points_per_occurrence=points_per_occurrence,
            ruleset_version=ruleset_version,
        )
        _check_recorded_fields(fields, source_system, external_id)
        fields["evidence"] = list(evidence)  # stored as a list: JSON has no tuples
        check(
            OnlyAggravatableRulesMayBeAggravated(rule_code, aggravatable, aggravated),
            OnlyDisqualifyingRulesMayDisqualify(rule_code, disqualifying, disqualify),
        )
        return cls._create(cls.Recorded, id=_deduction_id(source_system, external_id), **fields)

    @property
    def recorded_on(self) -> date:
        """The (UTC) day the ledger recorded the deduction; dispute windows count from it."""
        return self.created_on.date()

    def error_points(self, aggravation_factor: int) -> int:
        """The error points this deduction counts for now.

        Voided: 0. Amended: the amended total. Otherwise points × occurrences,
        times the rule set's aggravation factor when aggravated.
        """
        if self.status == "voided":
            return 0
        if self.amended_points_total is not None:
            return self.amended_points_total
        factor = aggravation_factor if self.aggravated else 1
        return self.points_per_occurrence * self.occurrences * factor

    def open_dispute(self, *, dispute_id: UUID) -> None:
        """Notes that `dispute_id` challenges this deduction.

        Saved in the same append as the dispute's filing, so the deduction's version
        number makes two racing filings conflict: the second is refused whole.
        """
        errors = FieldErrors()
        errors.aggregate_id("dispute_id", dispute_id)
        errors.raise_if_any()
        check(
            ADeductionIsDisputedOnce(self.dispute_id),
            StepsInOrder("dispute", self.status, ("active",)),
        )
        self._open_dispute(dispute_id=dispute_id)

    @event("Disputed")
    def _open_dispute(self, dispute_id: UUID) -> None:
        self.dispute_id = dispute_id

    def amend(self, *, points_total: int, dispute_id: UUID, reason: str) -> None:
        """Sets a new total of error points after a partly upheld dispute or appeal."""
        errors = FieldErrors()
        errors.whole_number("points", points_total, minimum=0, maximum=MAX_POINTS)
        errors.aggregate_id("dispute_id", dispute_id)
        errors.text("reason", reason)
        errors.raise_if_any()
        check(StepsInOrder("amend", self.status, ("active", "amended")))
        self._amend(points_total=points_total, dispute_id=dispute_id, reason=reason)

    @event("Amended")
    def _amend(self, points_total: int, dispute_id: UUID, reason: str) -> None:
        self.amended_points_total = points_total
        self.status = "amended"

    def void(self, *, dispute_id: UUID, reason: str) -> None:
        """Cancels the deduction after an upheld dispute or appeal."""
        errors = FieldErrors()
        errors.aggregate_id("dispute_id", dispute_id)
        errors.text("reason", reason)
        errors.raise_if_any()
        check(StepsInOrder("void", self.status, ("active", "amended")))
        self._void(dispute_id=dispute_id, reason=reason)

    @event("Voided")
    def _void(self, dispute_id: UUID, reason: str) -> None:
        self.status = "voided"


def _check_recorded_fields(
    fields: dict[str, Any], source_system: str | None, external_id: str | None
) -> None:
    errors = FieldErrors()
    errors.identifier("manager_id", fields["manager_id"])
    errors.identifier("rule_code", fields["rule_code"])
    errors.whole_number("occurrences", fields["occurrences"], minimum=1, maximum=MAX_OCCURRENCES)
    errors.flag("aggravated", fields["aggravated"])
    errors.flag("disqualify", fields["disqualify"])
    errors.day("effective_on", fields["effective_on"])
    errors.text("description", fields["description"])
    errors.optional_identifier("customer_id", fields["customer_id"])
    errors.references("evidence", fields["evidence"])
    errors.text("recorded_by", fields["recorded_by"], max_length=MAX_ACTOR)
    points = fields["points_per_occurrence"]
    errors.whole_number("points", points, minimum=0, maximum=MAX_POINTS)
    errors.identifier("ruleset_version", fields["ruleset_version"])
    # Either both source keys or neither: one alone cannot identify a retried posting.
    if (source_system is None) != (external_id is None):
        errors.add("external_id", "source_system and external_id go together")
    errors.optional_identifier("source_system", source_system)
    errors.optional_identifier("external_id", external_id)
    errors.raise_if_any()


def _deduction_id(source_system: str | None, external_id: str | None) -> UUID:
    if source_system is not None and external_id is not None:
        return deduction_external_id(source_system, external_id)
    return new_id()

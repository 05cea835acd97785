"""The deduction aggregate: recording, error points, amendment and voiding."""

from __future__ import annotations

from datetime import date
from uuid import uuid4

import pytest

from ledger.deduction import Deduction
from ledger.errors import InvalidInput, RuleViolation
from ledger.ids import deduction_external_id

AGGRAVATION_FACTOR = 2  # as in rule set 2026.1; passed in, never read from code


def record(**overrides: object) -> Deduction:
    fields: dict[str, object] = dict(
        manager_id="M1",
        rule_code="C7",
        occurrences=1,
        aggravated=False,
        effective_on=date(2026, 2, 3),
        description="periodic post-loan inspection missed",
        recorded_by="sup-1",
        points_per_occurrence=5,
        ruleset_version="2026.1",
        aggravatable=False,
        disqualifying=False,
    )
    fields.update(overrides)
    return Deduction.record(**fields)  # type: ignore[arg-type]


def names(deduction: Deduction) -> list[str]:
    return [type(e).__name__ for e in deduction.pending_events]


def test_a_recorded_deduction_is_active_and_counts_points_times_occurrences() -> None:
    deduction = record(occurrences=3)
    assert deduction.status == "active"
    assert deduction.error_points(AGGRAVATION_FACTOR) == 15
    assert names(deduction) == ["Recorded"]


def test_an_aggravated_deduction_counts_the_rule_sets_aggravation_factor() -> None:
    deduction = record(rule_code="C2a", aggravated=True, aggravatable=True, occurrences=2)
    assert deduction.error_points(AGGRAVATION_FACTOR) == 20
    assert deduction.error_points(3) == 30


def test_a_non_aggravatable_rule_cannot_be_aggravated() -> None:
    with pytest.raises(RuleViolation) as refused:
        record(rule_code="B1", aggravated=True, aggravatable=False)
    assert refused.value.rule == "OnlyAggravatableRulesMayBeAggravated"


def test_a_non_disqualifying_rule_cannot_disqualify() -> None:
    with pytest.raises(RuleViolation) as refused:
        record(disqualify=True, disqualifying=False)
    assert refused.value.rule == "OnlyDisqualifyingRulesMayDisqualify"


def test_a_disqualifying_rule_may_disqualify() -> None:
    assert record(rule_code="E5", disqualify=True, disqualifying=True).disqualify


def test_a_deduction_needs_an_occurrence_and_a_description() -> None:
    with pytest.raises(InvalidInput) as refused:
        record(occurrences=0, description=" ", evidence=["ok", ""])
    assert set(refused.value.errors) == {"occurrences", "description", "evidence"}


def test_an_integrators_deduction_is_identified_by_its_source_keys() -> None:
    deduction = record(source_system="credit", external_id="D-77")
    assert deduction.id == deduction_external_id("credit", "D-77")


def test_a_deduction_without_source_keys_gets_a_fresh_id() -> None:
    assert record().id != record().id


def test_source_keys_come_in_pairs() -> None:
    with pytest.raises(InvalidInput) as refused:
        record(external_id="D-77")
    assert list(refused.value.errors) == ["external_id"]


def test_an_amended_deduction_counts_its_new_total() -> None:
    deduction = record(rule_code="S3", points_per_occurrence=20)
    deduction.amend(points_total=8, dispute_id=uuid4(), reason="partly upheld")
    assert deduction.status == "amended"
    assert deduction.error_points(AGGRAVATION_FACTOR) == 8
    assert names(deduction) == ["Recorded", "Amended"]


def test_an_amended_total_cannot_be_negative() -> None:
    with pytest.raises(InvalidInput) as refused:
        record().amend(points_total=-1, dispute_id=uuid4(), reason="x")
    assert list(refused.value.errors) == ["points"]


def test_a_voided_deduction_counts_nothing() -> None:
    deduction = record()
    deduction.void(dispute_id=uuid4(), reason="upheld")
    assert deduction.status == "voided"
    assert deduction.error_points(AGGRAVATION_FACTOR) == 0
    assert names(deduction) == ["Recorded", "Voided"]


def test_an_amended_deduction_may_still_be_voided_on_appeal() -> None:
    deduction = record()
    deduction.amend(points_total=2, dispute_id=uuid4(), reason="partly upheld")
    deduction.void(dispute_id=uuid4(), reason="appeal upheld")
    assert deduction.status == "voided"


def test_a_voided_deduction_cannot_be_amended_or_voided_again() -> None:
    deduction = record()
    deduction.void(dispute_id=uuid4(), reason="upheld")
    with pytest.raises(RuleViolation) as refused:
        deduction.amend(points_total=1, dispute_id=uuid4(), reason="x")
    assert refused.value.current_state == "voided"
    with pytest.raises(RuleViolation):
        deduction.void(dispute_id=uuid4(), reason="again")
    assert names(deduction) == ["Recorded", "Voided"]


def test_the_recording_day_is_the_day_the_ledger_learned_of_it() -> None:
    deduction = record(effective_on=date(2020, 1, 1))
    assert deduction.recorded_on == deduction.created_on.date()


def test_evidence_must_be_a_list_of_references_not_one_string() -> None:
    with pytest.raises(InvalidInput) as refused:
        record(evidence="doc-1")
    assert list(refused.value.errors) == ["evidence"]


def test_a_deduction_notes_the_dispute_that_challenges_it() -> None:
    deduction = record()
    dispute_id = uuid4()
    deduction.open_dispute(dispute_id=dispute_id)
    assert (deduction.dispute_id, deduction.status) == (dispute_id, "active")
    assert names(deduction) == ["Recorded", "Disputed"]


def test_a_deduction_is_disputed_only_once() -> None:
    deduction = record()
    deduction.open_dispute(dispute_id=uuid4())
    with pytest.raises(RuleViolation) as refused:
        deduction.open_dispute(dispute_id=uuid4())
    assert (refused.value.rule, refused.value.current_state) == (
        "ADeductionIsDisputedOnce", "disputed")
    assert names(deduction) == ["Recorded", "Disputed"]

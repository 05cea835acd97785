"""Each business rule alone: when it holds, and how it refuses when broken."""

from __future__ import annotations

from datetime import date
from uuid import uuid4

import pytest

from ledger import rules
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
from ledger.rules import Rule, check

DAY = date(2026, 3, 1)


def refusal_of(rule: Rule) -> LedgerError:
    """Checks the rule, expecting a refusal that names it."""
    with pytest.raises(LedgerError) as refused:
        check(rule)
    assert refused.value.rule == rule.name
    return refused.value


def test_check_refuses_with_the_first_broken_rule_in_order() -> None:
    holds = rules.NewGradeDiffersFromCurrent("B", "A")
    first = rules.NewHolderDiffersFromCurrent("M1", "M1")
    second = rules.NewGradeDiffersFromCurrent("A", "A")
    check(holds)
    assert refusal_of(first).rule == "NewHolderDiffersFromCurrent"
    with pytest.raises(RuleViolation) as refused:
        check(holds, first, second)
    assert refused.value.rule == "NewHolderDiffersFromCurrent"


# --- state machines ---


def test_a_step_is_allowed_from_its_states() -> None:
    check(rules.StepsInOrder("decide", "open", ("open",)))


def test_an_out_of_order_step_is_a_conflict_naming_the_current_state() -> None:
    error = refusal_of(rules.StepsInOrder("appeal", "open", ("decided",)))
    assert isinstance(error, RuleViolation)
    assert error.current_state == "open"


def test_a_change_may_take_effect_on_or_after_the_latest_one() -> None:
    check(rules.ChangesTakeEffectInOrder("grade change", DAY, DAY))
    check(rules.ChangesTakeEffectInOrder("grade change", None, date(2000, 1, 1)))


def test_a_change_may_not_take_effect_before_the_latest_one() -> None:
    rule = rules.ChangesTakeEffectInOrder("reassignment", DAY, date(2026, 2, 28))
    assert isinstance(refusal_of(rule), RuleViolation)


# --- managers and portfolios ---


def test_a_grade_change_to_the_same_grade_is_refused() -> None:
    check(rules.NewGradeDiffersFromCurrent("B", "A"))
    assert isinstance(refusal_of(rules.NewGradeDiffersFromCurrent("B", "B")), RuleViolation)


def test_a_reassignment_to_the_current_holder_is_refused() -> None:
    check(rules.NewHolderDiffersFromCurrent("M1", "M2"))
    assert isinstance(refusal_of(rules.NewHolderDiffersFromCurrent("M1", "M1")), RuleViolation)


# --- deductions ---


def test_only_aggravatable_catalog_items_may_be_aggravated() -> None:
    check(rules.OnlyAggravatableRulesMayBeAggravated("C2a", True, True))
    check(rules.OnlyAggravatableRulesMayBeAggravated("B1", False, False))
    rule = rules.OnlyAggravatableRulesMayBeAggravated("B1", False, True)
    assert isinstance(refusal_of(rule), RuleViolation)


def test_only_disqualifying_catalog_items_may_disqualify() -> None:
    check(rules.OnlyDisqualifyingRulesMayDisqualify("E1", True, True))
    check(rules.OnlyDisqualifyingRulesMayDisqualify("B1", False, False))
    rule = rules.OnlyDisqualifyingRulesMayDisqualify("B1", False, True)
    assert isinstance(refusal_of(rule), RuleViolation)


# --- disputes and appeals ---


def test_the_owner_of_a_deduction_may_dispute_it() -> None:
    check(rules.OnlyTheOwnerMayDispute("M1", "M1"))


def test_a_manager_cannot_dispute_someone_elses_deduction() -> None:
    assert isinstance(refusal_of(rules.OnlyTheOwnerMayDispute("M1", "M2")), NotPermitted)


def test_someone_who_is_no_manager_cannot_dispute_a_deduction() -> None:
    assert isinstance(refusal_of(rules.OnlyTheOwnerMayDispute("M1", None)), NotPermitted)


def test_a_dispute_may_be_filed_up_to_and_including_the_last_day_of_the_window() -> None:
    check(rules.DisputeWithinWindow(date(2026, 3, 1), date(2026, 3, 16), 15))


def test_a_dispute_filed_after_the_window_is_refused_as_late() -> None:
    rule = rules.DisputeWithinWindow(date(2026, 3, 1), date(2026, 3, 17), 15)
    assert isinstance(refusal_of(rule), DeadlinePassed)


def test_the_dispute_window_is_rule_set_data_not_a_constant() -> None:
    check(rules.DisputeWithinWindow(date(2026, 3, 1), date(2026, 3, 31), 30))
    with pytest.raises(DeadlinePassed):
        check(rules.DisputeWithinWindow(date(2026, 3, 1), date(2026, 3, 3), 1))


def test_a_deduction_never_disputed_may_be_disputed() -> None:
    check(rules.ADeductionIsDisputedOnce(None))


def test_a_second_dispute_on_the_same_deduction_is_refused_naming_the_state() -> None:
    error = refusal_of(rules.ADeductionIsDisputedOnce(uuid4()))
    assert isinstance(error, RuleViolation) and error.current_state == "disputed"


def test_whoever_decided_a_dispute_may_not_decide_its_appeal() -> None:
    check(rules.AppealDeciderIsNotTheReviewer("sup-2", "appr-1"))
    assert isinstance(refusal_of(rules.AppealDeciderIsNotTheReviewer("sup-2", "sup-2")),
                      NotPermitted)


def test_a_period_closes_only_after_its_last_day() -> None:
    q1 = Quarter.parse("2026Q1")
    check(rules.PeriodsCloseAfterTheyEnd(q1, date(2026, 4, 1)))
    error = refusal_of(rules.PeriodsCloseAfterTheyEnd(q1, date(2026, 3, 31)))
    assert isinstance(error, RuleViolation) and error.current_state == "open"


def test_a_reviewer_other_than_the_recorder_may_decide() -> None:
    check(rules.ReviewerIsNotTheRecorder("sup-1", "sup-2"))


def test_the_recorder_of_a_deduction_cannot_decide_its_dispute() -> None:
    assert isinstance(refusal_of(rules.ReviewerIsNotTheRecorder("sup-1", "sup-1")), NotPermitted)


def test_a_partly_upheld_decision_lowers_the_points_to_a_new_total() -> None:
    check(rules.DecisionNeedsPointsWhenPartlyUpheld("partly_upheld", 10, 20))
    check(rules.DecisionNeedsPointsWhenPartlyUpheld("partly_upheld", 0, 20))
    check(rules.DecisionNeedsPointsWhenPartlyUpheld("rejected", None, 20))
    check(rules.DecisionNeedsPointsWhenPartlyUpheld("upheld", None, 20))


@pytest.mark.parametrize(
    ("outcome", "points"),
    [
        ("partly_upheld", None),
        ("partly_upheld", 20),
        ("partly_upheld", 25),
        ("partly_upheld", -1),
        ("upheld", 5),
        ("rejected", 5),
    ],
)
def test_points_come_with_a_partly_upheld_decision_only_and_must_lower_the_total(
    outcome: str, points: int | None
) -> None:
    error = refusal_of(rules.DecisionNeedsPointsWhenPartlyUpheld(outcome, points, 20))
    assert isinstance(error, InvalidInput)
    assert list(error.errors) == ["points"]


def test_rejected_and_partly_upheld_disputes_may_be_appealed() -> None:
    check(rules.OnlyRejectedOrPartlyUpheldMayBeAppealed("rejected"))
    check(rules.OnlyRejectedOrPartlyUpheldMayBeAppealed("partly_upheld"))


def test_an_upheld_dispute_cannot_be_appealed() -> None:
    error = refusal_of(rules.OnlyRejectedOrPartlyUpheldMayBeAppealed("upheld"))
    assert isinstance(error, RuleViolation)


def test_an_appeal_may_be_filed_on_the_last_day_of_its_window() -> None:
    check(rules.AppealWithinWindow(date(2026, 3, 10), date(2026, 3, 20), 10))


def test_an_appeal_after_its_window_is_refused_as_late() -> None:
    rule = rules.AppealWithinWindow(date(2026, 3, 10), date(2026, 3, 21), 10)
    assert isinstance(refusal_of(rule), DeadlinePassed)


def test_the_disputing_manager_may_appeal() -> None:
    check(rules.OnlyTheOwnerMayAppeal("M1", "M1"))


def test_a_manager_cannot_appeal_someone_elses_dispute() -> None:
    assert isinstance(refusal_of(rules.OnlyTheOwnerMayAppeal("M1", "M2")), NotPermitted)


# --- adjustments ---


def test_someone_other_than_the_proposer_may_approve_an_adjustment() -> None:
    check(rules.ApproverIsNotTheProposer("sup-1", "appr-1"))


def test_the_proposer_cannot_approve_their_own_adjustment() -> None:
    assert isinstance(refusal_of(rules.ApproverIsNotTheProposer("sup-1", "sup-1")), NotPermitted)


# --- rule sets ---


def test_a_new_version_may_be_drafted() -> None:
    check(rules.VersionsAreDraftedOnce("2026.2", frozenset({"2026.1"})))


def test_an_existing_version_cannot_be_drafted_again() -> None:
    rule = rules.VersionsAreDraftedOnce("2026.1", frozenset({"2026.1"}))
    assert isinstance(refusal_of(rule), DuplicateFact)


def test_a_drafted_version_may_be_published() -> None:
    check(rules.OnlyDraftedVersionsArePublished("2026.1", frozenset({"2026.1"})))


def test_an_unknown_version_cannot_be_published() -> None:
    rule = rules.OnlyDraftedVersionsArePublished("2027.1", frozenset({"2026.1"}))
    assert isinstance(refusal_of(rule), NotFound)


def test_an_unpublished_version_may_be_published() -> None:
    check(rules.VersionsArePublishedOnce("2026.2", frozenset({"2026.1"})))


def test_a_published_version_cannot_be_published_again() -> None:
    error = refusal_of(rules.VersionsArePublishedOnce("2026.1", frozenset({"2026.1"})))
    assert isinstance(error, RuleViolation)
    assert error.current_state == "published"

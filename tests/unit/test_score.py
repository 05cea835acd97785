"""Unit tests of the management score (DESIGN §3.2), including the worked example of §4."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.calculation.score import (
    CountedDeduction,
    InvalidDeductionInput,
    deduction_disqualifies,
    error_points_for,
    score_for,
)
from ledger.ruleset_document import RuleSetDocument, load_default

RULES = load_default()


def deduction(
    rule_code: str,
    *,
    occurrences: int = 1,
    aggravated: bool = False,
    disqualify: bool = False,
    status: str = "active",
    under_open_dispute: bool = False,
    error_points: int | None = None,
    deduction_id: str | None = None,
) -> CountedDeduction:
    rule = RULES.deductions[rule_code]
    points = error_points_for(rule, occurrences, aggravated, RULES.score)
    return CountedDeduction(
        deduction_id=deduction_id or f"d-{rule_code}",
        rule_code=rule_code,
        error_points=points if error_points is None else error_points,
        disqualifying=deduction_disqualifies(rule, disqualify),
        veto=rule.veto,
        status=status,
        under_open_dispute=under_open_dispute,
    )


def with_pending_disputes_not_counting() -> RuleSetDocument:
    return replace(RULES, score=replace(RULES.score, pending_dispute_counts=False))


def test_the_worked_example_scores_740_with_b1_c7_and_s3() -> None:
    figure = score_for(RULES, [deduction("B1"), deduction("C7"), deduction("S3")], [])
    assert figure.score == 740
    assert figure.error_points == 26
    assert figure.rating == "satisfactory"
    assert figure.ruleset_version == "2026.1"


def test_the_worked_example_scores_940_once_the_s3_deduction_is_voided() -> None:
    voided = deduction("S3", status="voided")
    figure = score_for(RULES, [deduction("B1"), deduction("C7"), voided], [])
    assert figure.score == 940
    assert figure.error_points == 6
    assert figure.rating == "excellent"


def test_a_clean_period_scores_the_full_base() -> None:
    figure = score_for(RULES, [], [])
    assert (figure.score, figure.rating, figure.error_points) == (1000, "excellent", 0)


def test_error_points_multiply_points_by_occurrences() -> None:
    assert error_points_for(RULES.deductions["C7"], 3, False, RULES.score) == 15


def test_an_aggravated_deduction_counts_the_aggravation_factor_times() -> None:
    assert error_points_for(RULES.deductions["C4"], 2, True, RULES.score) == 40


def test_a_rule_that_is_not_aggravatable_cannot_be_aggravated() -> None:
    with pytest.raises(InvalidDeductionInput) as refused:
        error_points_for(RULES.deductions["S3"], 1, True, RULES.score)
    assert refused.value.field == "aggravated"


@pytest.mark.parametrize("occurrences", [0, -1, 1001])
def test_occurrences_outside_their_bounds_are_refused(occurrences: int) -> None:
    with pytest.raises(InvalidDeductionInput) as refused:
        error_points_for(RULES.deductions["B1"], occurrences, False, RULES.score)
    assert refused.value.field == "occurrences"


def test_a_rule_that_cannot_disqualify_refuses_the_disqualify_flag() -> None:
    with pytest.raises(InvalidDeductionInput) as refused:
        deduction_disqualifies(RULES.deductions["S3"], True)
    assert refused.value.field == "disqualify"


def test_a_dq_rule_disqualifies_only_when_flagged_but_e5_always_does() -> None:
    assert deduction_disqualifies(RULES.deductions["E1"], False) is False
    assert deduction_disqualifies(RULES.deductions["E1"], True) is True
    assert deduction_disqualifies(RULES.deductions["E5"], False) is True


def test_a_counted_disqualification_sets_the_score_to_zero_and_fails_the_rating() -> None:
    figure = score_for(RULES, [deduction("E1", disqualify=True)], [100])
    assert figure.score == 0
    assert figure.disqualified is True
    assert figure.rating == "failed"
    assert figure.error_points == 10


def test_a_flagged_dq_rule_without_the_flag_only_deducts_its_points() -> None:
    figure = score_for(RULES, [deduction("E1")], [])
    assert (figure.score, figure.disqualified, figure.rating) == (900, False, "excellent")


def test_a_veto_item_fails_the_rating() -> None:
    figure = score_for(RULES, [deduction("E6")], [])
    assert figure.vetoed is True
    assert figure.rating == "failed"
    assert figure.score == 0


def test_a_veto_without_disqualification_keeps_the_score_but_fails_the_rating() -> None:
    veto_only = CountedDeduction("d1", "X1", 1, disqualifying=False, veto=True, status="active")
    figure = score_for(RULES, [veto_only], [])
    assert (figure.score, figure.vetoed, figure.disqualified) == (990, True, False)
    assert figure.rating == "failed"


def test_a_voided_disqualification_neither_disqualifies_nor_fails() -> None:
    figure = score_for(RULES, [deduction("E5", status="voided")], [])
    assert (figure.score, figure.disqualified, figure.vetoed, figure.rating) == (
        1000, False, False, "excellent",
    )


def test_an_amended_deduction_counts_its_amended_points() -> None:
    figure = score_for(RULES, [deduction("S3", status="amended", error_points=5)], [])
    assert (figure.score, figure.error_points) == (950, 5)


def test_a_deduction_under_open_dispute_counts_by_default() -> None:
    figure = score_for(RULES, [deduction("S3", under_open_dispute=True)], [])
    assert figure.score == 800


def test_a_deduction_under_open_dispute_does_not_count_when_the_rule_set_says_so() -> None:
    rules = with_pending_disputes_not_counting()
    figure = score_for(rules, [deduction("S3", under_open_dispute=True), deduction("B1")], [])
    assert (figure.score, figure.error_points) == (990, 1)
    assert figure.lines[0].counted is False


def test_a_disqualification_under_open_dispute_does_not_disqualify_when_pending_ones_do_not_count(
) -> None:
    rules = with_pending_disputes_not_counting()
    figure = score_for(rules, [deduction("E6", under_open_dispute=True)], [])
    assert (figure.score, figure.disqualified, figure.rating) == (1000, False, "excellent")


def test_adjustments_add_score_points_directly() -> None:
    figure = score_for(RULES, [deduction("S3")], [50, -20])
    assert (figure.score, figure.adjustment_points) == (830, 30)


def test_the_score_never_exceeds_the_base() -> None:
    figure = score_for(RULES, [deduction("B1")], [500])
    assert figure.score == 1000
    assert figure.lines[-1].kind == "clamp"
    assert figure.lines[-1].score_delta == -490


def test_the_score_never_falls_below_zero() -> None:
    figure = score_for(RULES, [deduction("C5b", occurrences=3)], [])
    assert (figure.score, figure.error_points) == (0, 150)
    assert figure.rating == "needs_improvement"


@pytest.mark.parametrize(
    ("score", "rating"),
    [(900, "excellent"), (890, "good"), (750, "good"), (740, "satisfactory"),
     (600, "satisfactory"), (590, "needs_improvement")],
)
def test_ratings_follow_the_thresholds_of_the_rule_set(score: int, rating: str) -> None:
    figure = score_for(RULES, [], [score - 1000])
    assert (figure.score, figure.rating) == (score, rating)


def test_the_explanation_has_one_line_per_deduction_and_adjustment() -> None:
    items = [deduction("B1"), deduction("S3", status="voided")]
    figure = score_for(RULES, items, [-15])
    assert [(line.kind, line.source, line.score_delta, line.counted) for line in figure.lines] == [
        ("deduction", "d-B1", -10, True),
        ("deduction", "d-S3", 0, False),
        ("adjustment", "adjustment[0]", -15, True),
    ]
    assert "voided" in figure.lines[1].note


def test_an_unknown_status_is_a_programming_error() -> None:
    with pytest.raises(ValueError):
        CountedDeduction("d1", "B1", 1, disqualifying=False, veto=False, status="deleted")


def test_negative_error_points_are_a_programming_error() -> None:
    with pytest.raises(ValueError):
        CountedDeduction("d1", "B1", -1, disqualifying=False, veto=False, status="active")


deductions_strategy = st.lists(
    st.builds(
        CountedDeduction,
        deduction_id=st.uuids().map(str),
        rule_code=st.sampled_from(sorted(RULES.deductions)),
        error_points=st.integers(0, 400),
        disqualifying=st.booleans(),
        veto=st.booleans(),
        status=st.sampled_from(["active", "amended", "voided"]),
        under_open_dispute=st.booleans(),
    ),
    max_size=8,
)


@given(
    deductions=deductions_strategy,
    adjustments=st.lists(st.integers(-3000, 3000), max_size=5),
    pending_counts=st.booleans(),
)
def test_the_score_stays_within_its_bounds_and_its_explanation_adds_up(
    deductions: list[CountedDeduction], adjustments: list[int], pending_counts: bool
) -> None:
    rules = replace(RULES, score=replace(RULES.score, pending_dispute_counts=pending_counts))
    figure = score_for(rules, deductions, adjustments)
    assert 0 <= figure.score <= rules.score.base
    assert rules.score.base + sum(line.score_delta for line in figure.lines) == figure.score
    if figure.disqualified or figure.vetoed:
        assert figure.rating == "failed"

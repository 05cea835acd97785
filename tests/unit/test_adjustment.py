"""The adjustment aggregate: two-person manual score changes."""

from __future__ import annotations

import pytest

from ledger.adjustment import Adjustment
from ledger.errors import InvalidInput, NotPermitted, RuleViolation


def propose(points: int = 30) -> Adjustment:
    return Adjustment.propose(
        manager_id="M1", period="2026Q1", points=points, reason="award", proposed_by="sup-1"
    )


def names(adjustment: Adjustment) -> list[str]:
    return [type(e).__name__ for e in adjustment.pending_events]


def test_a_proposed_adjustment_does_not_count_yet() -> None:
    adjustment = propose()
    assert (adjustment.status, adjustment.counts) == ("proposed", False)
    assert names(adjustment) == ["Proposed"]


def test_an_adjustment_may_remove_points() -> None:
    assert propose(points=-50).points == -50


@pytest.mark.parametrize("points", [0, 1.5, True])
def test_an_adjustment_must_be_a_non_zero_whole_number_of_points(points: object) -> None:
    with pytest.raises(InvalidInput) as refused:
        propose(points=points)  # type: ignore[arg-type]
    assert list(refused.value.errors) == ["points"]


def test_an_adjustment_needs_a_real_quarter() -> None:
    with pytest.raises(InvalidInput) as refused:
        Adjustment.propose(manager_id="M1", period="Q1", points=5, reason="x", proposed_by="s")
    assert list(refused.value.errors) == ["period"]


def test_an_approved_adjustment_counts() -> None:
    adjustment = propose()
    adjustment.approve(reason="agreed", approved_by="appr-1")
    assert (adjustment.status, adjustment.counts, adjustment.decided_by) == (
        "approved",
        True,
        "appr-1",
    )
    assert names(adjustment) == ["Proposed", "Approved"]


def test_the_proposer_cannot_approve_their_own_adjustment() -> None:
    adjustment = propose()
    with pytest.raises(NotPermitted) as refused:
        adjustment.approve(reason="self", approved_by="sup-1")
    assert refused.value.rule == "ApproverIsNotTheProposer"
    assert names(adjustment) == ["Proposed"]


def test_the_proposer_cannot_reject_it_either() -> None:
    with pytest.raises(NotPermitted):
        propose().reject(reason="self", rejected_by="sup-1")


def test_a_rejected_adjustment_does_not_count_and_cannot_be_approved_later() -> None:
    adjustment = propose()
    adjustment.reject(reason="not justified", rejected_by="appr-1")
    assert (adjustment.status, adjustment.counts) == ("rejected", False)
    with pytest.raises(RuleViolation) as refused:
        adjustment.approve(reason="changed my mind", approved_by="appr-2")
    assert (refused.value.rule, refused.value.current_state) == ("StepsInOrder", "rejected")


def test_an_approved_adjustment_may_be_reversed_and_then_no_longer_counts() -> None:
    adjustment = propose()
    adjustment.approve(reason="agreed", approved_by="appr-1")
    adjustment.reverse(reason="entered for the wrong manager", reversed_by="appr-1")
    assert (adjustment.status, adjustment.counts) == ("reversed", False)
    assert names(adjustment) == ["Proposed", "Approved", "Reversed"]


def test_only_an_approved_adjustment_may_be_reversed() -> None:
    adjustment = propose()
    with pytest.raises(RuleViolation) as refused:
        adjustment.reverse(reason="x", reversed_by="appr-1")
    assert refused.value.current_state == "proposed"


def test_the_proposer_may_not_reverse_their_own_adjustment() -> None:
    adjustment = propose()
    adjustment.approve(reason="agreed", approved_by="appr-1")
    with pytest.raises(NotPermitted) as refused:
        adjustment.reverse(reason="undo mine", reversed_by="sup-1")
    assert refused.value.rule == "ApproverIsNotTheProposer"
    assert adjustment.status == "approved"


def test_a_reversed_adjustment_cannot_be_reversed_again() -> None:
    adjustment = propose()
    adjustment.approve(reason="agreed", approved_by="appr-1")
    adjustment.reverse(reason="wrong manager", reversed_by="appr-1")
    with pytest.raises(RuleViolation) as refused:
        adjustment.reverse(reason="again", reversed_by="appr-2")
    assert refused.value.current_state == "reversed"

"""Approval limits by size (DESIGN §16) on the adjustment aggregate and in the rule set."""

from __future__ import annotations

import copy

import pytest

from ledger.adjustment import Adjustment
from ledger.approval_limits import AdjustmentRules
from ledger.errors import NotPermitted, RuleSetInvalid
from ledger.ruleset_document import default_document, parse_ruleset, to_document


def proposed(points: int = 100) -> Adjustment:
    return Adjustment.propose(manager_id="M1", period="2026Q1", points=points, reason="award",
                              proposed_by="sup-1")


def test_above_the_limit_the_first_approval_does_not_count_yet() -> None:
    adjustment = proposed()
    adjustment.approve(reason="ok", approved_by="appr-1", approvals_needed=2)
    assert (adjustment.status, adjustment.first_approved_by, adjustment.counts) == (
        "proposed", "appr-1", False)
    adjustment.approve(reason="ok", approved_by="appr-2", approvals_needed=2)
    assert (adjustment.status, adjustment.decided_by, adjustment.counts) == (
        "approved", "appr-2", True)
    assert [type(e).__name__ for e in adjustment.pending_events] == [
        "Proposed", "FirstApprovalGiven", "Approved"]


def test_the_second_approver_is_not_the_first_nor_the_proposer() -> None:
    adjustment = proposed()
    adjustment.approve(reason="ok", approved_by="appr-1", approvals_needed=2)
    with pytest.raises(NotPermitted) as same:
        adjustment.approve(reason="ok", approved_by="APPR-1", approvals_needed=2)
    assert same.value.rule == "SecondApproverIsNotTheFirst"
    with pytest.raises(NotPermitted) as proposer:
        adjustment.approve(reason="ok", approved_by="sup-1", approvals_needed=2)
    assert proposer.value.rule == "ApproverIsNotTheProposer"


def test_the_limit_counts_points_either_way() -> None:
    rules = AdjustmentRules(50)
    assert [rules.approvals_needed(p) for p in (50, -50, 51, -51)] == [1, 1, 2, 2]
    assert AdjustmentRules().approvals_needed(1_000_000) == 1


def test_the_section_parses_writes_back_and_refuses_bad_values() -> None:
    document = copy.deepcopy(default_document())
    document["adjustments"] = {"second_approval_above": 50}
    parsed = parse_ruleset(document)
    assert parsed.adjustments == AdjustmentRules(50)
    assert to_document(parsed)["adjustments"] == {"second_approval_above": 50}
    assert "adjustments" not in to_document(parse_ruleset(default_document()))
    document["adjustments"] = {"second_approval_above": -1, "third": 2}
    with pytest.raises(RuleSetInvalid) as refused:
        parse_ruleset(document)
    assert {"adjustments.second_approval_above", "adjustments.third"} <= set(
        refused.value.problems)

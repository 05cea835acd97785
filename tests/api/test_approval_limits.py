"""Approval limits by size (DESIGN §16): above `adjustments.second_approval_above`, an
adjustment needs two approvals by two different approvers, neither the proposer.

Runs on SQLite here and on PostgreSQL by subclassing with its harness.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

import pytest

from ledger.ruleset_document import default_document
from persistence.tokens import TokenStore

pytest.importorskip("projections.read_side")

if TYPE_CHECKING:
    from conftest import Harness

Q1 = {"period": "2026Q1", "as_of": "2026-03-31"}


def with_limit(limit: Any) -> dict[str, Any]:
    content = copy.deepcopy(default_document())
    content["adjustments"] = {"second_approval_above": limit}
    content.update(version="2026.2", effective_from="2026-01-01")
    return {"version": "2026.2", "effective_from": "2026-01-01", "content": content}


def publish_limit_50(harness: Harness) -> None:
    harness.ok(harness.post("/rulesets", with_limit(50), "operator"), 201)
    harness.ok(harness.post("/rulesets/2026.2/publish", {}, "operator"))


def propose(harness: Harness, points: int) -> str:
    body = {"manager_id": "M1", "period": "2026Q1", "points": points, "reason": "award"}
    return str(harness.ok(harness.post("/adjustments", body, "supervisor"), 201)["id"])


def approve(harness: Harness, adjustment: str, who: str) -> Any:
    return harness.post(f"/adjustments/{adjustment}/approval",
                        {"approved": True, "reason": "agreed"}, who)


def score(harness: Harness) -> int:
    return int(harness.ok(harness.get("/managers/M1/score", "auditor", **Q1))["score"])


class ApprovalLimits:
    def test_above_the_limit_two_different_approvers_are_needed(self, harness: Harness) -> None:
        harness.register_worked_example()
        harness.record_worked_example_deductions()
        publish_limit_50(harness)
        big = propose(harness, -100)
        first = harness.ok(approve(harness, big, "approver"))
        assert (first["status"], first["first_approved_by"], first["counts"]) == (
            "proposed", "appr-1", False)
        assert score(harness) == 740
        path = f"/adjustments/{big}/approval"
        body = {"approved": True, "reason": "again"}
        problem = harness.refused(403, "post", path, "approver", body)
        assert problem["rule"] == "SecondApproverIsNotTheFirst"
        # The proposer holding an approver's token is still the proposer.
        token = TokenStore.of(harness.ledger).create(role="approver", subject="sup-1")
        harness.tokens["proposer"] = token
        assert harness.refused(403, "post", path, "proposer", body)["rule"] == (
            "ApproverIsNotTheProposer")
        second = harness.ok(approve(harness, big, "approver2"))
        assert (second["status"], second["decided_by"], second["counts"]) == (
            "approved", "appr-2", True)
        assert score(harness) == 640
        # At the limit, one approval suffices.
        small = propose(harness, 50)
        assert harness.ok(approve(harness, small, "approver"))["status"] == "approved"
        assert score(harness) == 690

    def test_without_the_section_one_approval_suffices(self, harness: Harness) -> None:
        harness.register_worked_example()
        big = propose(harness, 100_000)
        assert harness.ok(approve(harness, big, "approver"))["status"] == "approved"

    def test_a_bad_limit_is_refused_with_its_path(self, harness: Harness) -> None:
        for bad in (-1, "50", True):
            problem = harness.refused(422, "post", "/rulesets", "operator", with_limit(bad))
            assert any(path.endswith("adjustments.second_approval_above")
                       for path in problem["errors"]), problem


class TestApprovalLimitsOnSQLite(ApprovalLimits):
    pass


@pytest.mark.postgres
class TestApprovalLimitsOnPostgreSQL(ApprovalLimits):
    @pytest.fixture
    def harness(self, postgres_harness: Harness) -> Harness:
        return postgres_harness

"""The error tree, the audit context and deterministic ids."""

from __future__ import annotations

from uuid import UUID

from ledger import ids
from ledger.audit import SYSTEM, AuditContext, acting_as, current_audit
from ledger.errors import (
    Conflict,
    DeadlinePassed,
    DuplicateFact,
    InvalidInput,
    LedgerError,
    NotFound,
    NotPermitted,
    RuleViolation,
)


def test_every_ledger_error_has_a_title_and_a_detail() -> None:
    for error in (
        NotFound("no manager M9"),
        NotPermitted("not yours"),
        Conflict("closed", current_state="closed"),
        DuplicateFact("version exists"),
    ):
        assert isinstance(error, LedgerError)
        assert error.title and error.detail


def test_invalid_input_lists_every_problem_by_field() -> None:
    error = InvalidInput({"grade": ["must be one of A, B, C"], "name": ["must not be blank"]})
    assert error.errors == {"grade": ["must be one of A, B, C"], "name": ["must not be blank"]}
    assert "grade" in error.detail and "name" in error.detail


def test_a_rule_violation_is_a_conflict_that_names_its_rule() -> None:
    error = DeadlinePassed("DisputeWithinWindow", "too late")
    assert isinstance(error, RuleViolation) and isinstance(error, Conflict)
    assert error.rule == "DisputeWithinWindow"


def test_outside_any_request_the_system_is_the_actor() -> None:
    assert current_audit() == SYSTEM
    assert SYSTEM == AuditContext(actor="system", role="system", request_id="-")


def test_acting_as_someone_lasts_only_for_the_block() -> None:
    before = current_audit()
    integrator = AuditContext("svc-core", "integrator", "req-9", "core", "X-1")
    with acting_as(integrator):
        assert current_audit() is integrator
    assert current_audit() is before


def test_aggregate_ids_are_the_same_for_the_same_business_id() -> None:
    assert ids.manager_id("M1") == ids.manager_id("M1")
    assert ids.manager_id("M1") != ids.manager_id("M2")
    assert ids.period_id("2026Q1") == ids.period_id("2026Q1")
    assert ids.rulebook_id() == ids.rulebook_id()


def test_ids_of_different_kinds_never_collide_for_the_same_business_id() -> None:
    assert ids.manager_id("X1") != ids.customer_id("X1")
    assert ids.contribution_id("core", "1") != ids.deduction_external_id("core", "1")


def test_source_keys_cannot_be_shifted_between_system_and_external_id() -> None:
    assert ids.contribution_id("a:b", "c") != ids.contribution_id("a", "b:c")


def test_derived_ids_never_change_because_stored_aggregates_are_found_by_them() -> None:
    assert ids.contribution_id("CREDIT", "P-1") == UUID("aa2f4194-6dea-5cf5-a637-aca333ea7306")
    assert ids.contribution_id("核心", 'a:"b') == UUID("578de3a5-b183-59e5-9924-d66aed744124")
    assert ids.rulebook_id() == UUID("da4a8b99-f732-5102-acf3-bf0be18a5622")


def test_records_without_source_keys_get_fresh_random_ids() -> None:
    first, second = ids.new_id(), ids.new_id()
    assert isinstance(first, UUID) and first != second

"""Disqualification as a lasting state (DESIGN §16): the manager aggregate's steps and the
score of a period the state touches, without a database."""

from __future__ import annotations

from datetime import date
from uuid import uuid4

import pytest

from ledger.calculation.score import LastingDisqualification, score_for
from ledger.errors import NotPermitted, RuleViolation
from ledger.manager import Manager, StatusSpan
from ledger.rules import (
    CustomersGoOnlyToQualifiedManagers,
    ReinstaterIsNotTheRecorder,
    check,
)
from ledger.ruleset_document import load_default

FEB_1, APR_1 = date(2026, 2, 1), date(2026, 4, 1)


def m1() -> Manager:
    return Manager.register(business_id="M1", name="Wang Fang", grade="B", unit="Branch 1")


def names(manager: Manager) -> list[str]:
    return [type(e).__name__ for e in manager.pending_events]


def test_a_disqualifying_deduction_disqualifies_from_its_date_on() -> None:
    manager = m1()
    manager.disqualify(deduction_id=uuid4(), rule_code="E5", effective_on=FEB_1)
    assert not manager.disqualified_on(date(2026, 1, 31))
    assert manager.disqualified_on(FEB_1) and manager.disqualified_on(date(2030, 1, 1))
    assert manager.status == "disqualified"
    assert names(manager) == ["Registered", "Disqualified"]


def test_a_reinstatement_ends_the_state_from_its_date_and_the_history_says_so() -> None:
    manager = m1()
    manager.disqualify(deduction_id=uuid4(), rule_code="E5", effective_on=FEB_1)
    manager.reinstate(effective_on=APR_1, reason="board decision")
    assert manager.disqualified_on(date(2026, 3, 31)) and not manager.disqualified_on(APR_1)
    assert manager.status_history() == [
        StatusSpan("active", date.min, FEB_1), StatusSpan("disqualified", FEB_1, APR_1),
        StatusSpan("active", APR_1, None)]


def test_a_reinstatement_does_not_end_a_disqualification_that_begins_later() -> None:
    manager = m1()
    manager.disqualify(deduction_id=uuid4(), rule_code="E5", effective_on=FEB_1)
    manager.reinstate(effective_on=APR_1, reason="board decision")
    manager.disqualify(deduction_id=uuid4(), rule_code="E6", effective_on=date(2026, 6, 1))
    assert manager.disqualified_on(date(2026, 6, 1))
    assert manager.status_on(date(2026, 5, 1)) == "active"


def test_a_reinstatement_needs_a_disqualification_in_force_on_its_date() -> None:
    manager = m1()
    with pytest.raises(RuleViolation) as refused:
        manager.reinstate(effective_on=APR_1, reason="nothing to end")
    assert refused.value.rule == "ReinstatementEndsADisqualification"
    manager.disqualify(deduction_id=uuid4(), rule_code="E5", effective_on=FEB_1)
    with pytest.raises(RuleViolation):
        manager.reinstate(effective_on=date(2026, 1, 15), reason="before it began")


def test_a_voided_disqualification_leaves_no_trace_in_the_state() -> None:
    manager = m1()
    deduction_id = uuid4()
    manager.disqualify(deduction_id=deduction_id, rule_code="E1", effective_on=FEB_1)
    manager.void_disqualification(deduction_id=deduction_id, dispute_id=uuid4())
    assert not manager.disqualified_on(FEB_1)
    assert manager.status_history() == [StatusSpan("active", date.min, None)]
    # Voiding a deduction that never disqualified records nothing.
    manager.void_disqualification(deduction_id=uuid4(), dispute_id=uuid4())
    assert names(manager)[-1] == "DisqualificationVoided"
    assert names(manager).count("DisqualificationVoided") == 1


def test_whoever_recorded_the_deduction_may_not_reinstate_in_any_spelling() -> None:
    with pytest.raises(NotPermitted):
        check(ReinstaterIsNotTheRecorder(recorded_by="appr-1", reinstated_by="APPR-1"))
    check(ReinstaterIsNotTheRecorder(recorded_by="sup-1", reinstated_by="appr-1"))


def test_no_customer_goes_to_a_manager_disqualified_that_day() -> None:
    with pytest.raises(RuleViolation) as refused:
        check(CustomersGoOnlyToQualifiedManagers("M1", FEB_1, disqualified=True))
    assert "manager_id M1" in refused.value.detail
    check(CustomersGoOnlyToQualifiedManagers("M1", FEB_1, disqualified=False))


def test_a_lasting_disqualification_zeroes_a_period_without_deductions() -> None:
    rules = load_default()
    assert score_for(rules, [], []).score == 1000
    lasting = (LastingDisqualification("d-1", FEB_1, None),)
    figure = score_for(rules, [], [], lasting=lasting)
    assert (figure.score, figure.rating, figure.disqualified) == (0, "failed", True)
    assert figure.lines[-1].kind == "disqualification"
    assert "disqualified from 2026-02-01" in figure.lines[-1].note
    assert sum(line.score_delta for line in figure.lines) == -1000

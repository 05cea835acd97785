"""The manager aggregate: registration, grade changes and targets."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from ledger.errors import InvalidInput, RuleViolation
from ledger.ids import manager_id
from ledger.manager import Manager


def m1() -> Manager:
    return Manager.register(business_id="M1", name="Wang Fang", grade="B", unit="Branch 1")


def names(manager: Manager) -> list[str]:
    return [type(e).__name__ for e in manager.pending_events]


def test_a_registered_manager_is_active_with_its_grade_under_a_deterministic_id() -> None:
    manager = m1()
    assert manager.id == manager_id("M1")
    assert (manager.business_id, manager.grade, manager.status) == ("M1", "B", "active")
    assert names(manager) == ["Registered"]


def test_registration_refuses_an_unknown_grade_and_blank_fields_all_at_once() -> None:
    with pytest.raises(InvalidInput) as refused:
        Manager.register(business_id=" M1", name="", grade="D", unit="Branch 1")
    assert set(refused.value.errors) == {"id", "name", "grade"}


def test_a_grade_change_takes_effect_from_its_date() -> None:
    manager = m1()
    manager.change_grade(grade="A", effective_on=date(2026, 2, 1), reason="promotion")
    assert manager.grade == "A"
    assert manager.grade_on(date(2026, 1, 31)) == "B"
    assert manager.grade_on(date(2026, 2, 1)) == "A"
    assert names(manager) == ["Registered", "GradeChanged"]


def test_a_grade_change_to_the_current_grade_is_refused_and_appends_nothing() -> None:
    manager = m1()
    with pytest.raises(RuleViolation) as refused:
        manager.change_grade(grade="B", effective_on=date(2026, 2, 1), reason="same")
    assert refused.value.rule == "NewGradeDiffersFromCurrent"
    assert names(manager) == ["Registered"]


def test_a_grade_change_may_not_take_effect_before_the_latest_one() -> None:
    manager = m1()
    manager.change_grade(grade="A", effective_on=date(2026, 2, 1), reason="promotion")
    with pytest.raises(RuleViolation) as refused:
        manager.change_grade(grade="C", effective_on=date(2026, 1, 15), reason="backdated")
    assert refused.value.rule == "ChangesTakeEffectInOrder"


def test_a_grade_change_needs_a_known_grade_a_date_and_a_reason() -> None:
    with pytest.raises(InvalidInput) as refused:
        m1().change_grade(grade="Z", effective_on="2026-02-01", reason="")  # type: ignore[arg-type]
    assert set(refused.value.errors) == {"grade", "effective_on", "reason"}


def test_the_first_target_for_a_period_is_set_and_later_ones_change_it() -> None:
    manager = m1()
    manager.set_target(period="2026Q1", incremental=Decimal("50000"), reason="plan")
    manager.set_target(period="2026Q1", incremental=Decimal("60000.00"), reason="revised")
    assert manager.target_for("2026Q1") == Decimal("60000.00")
    assert manager.target_for("2026Q2") is None
    changed = manager.pending_events[-1]
    assert type(changed).__name__ == "TargetChanged"
    assert changed.previous == Decimal("50000")  # type: ignore[attr-defined]
    assert names(manager) == ["Registered", "TargetSet", "TargetChanged"]


def test_targets_of_different_periods_are_set_independently() -> None:
    manager = m1()
    manager.set_target(period="2026Q1", incremental=Decimal("50000"), reason="plan")
    manager.set_target(period="2026Q2", incremental=Decimal("55000"), reason="plan")
    assert names(manager) == ["Registered", "TargetSet", "TargetSet"]


@pytest.mark.parametrize("incremental", [Decimal("-1"), 50000.0, Decimal("0.001")])
def test_a_target_must_be_a_non_negative_decimal_amount(incremental: object) -> None:
    manager = m1()
    with pytest.raises(InvalidInput) as refused:
        manager.set_target(period="2026Q1", incremental=incremental, reason="x")  # type: ignore[arg-type]
    assert list(refused.value.errors) == ["incremental"]


def test_a_target_needs_a_real_quarter() -> None:
    with pytest.raises(InvalidInput) as refused:
        m1().set_target(period="2026Q5", incremental=Decimal("1"), reason="plan")
    assert list(refused.value.errors) == ["period"]

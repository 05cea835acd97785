"""The rule book (versions, publication order) and the period aggregate (closing)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from ledger.errors import DuplicateFact, InvalidInput, NotFound, RuleViolation
from ledger.ids import period_id, rulebook_id
from ledger.period import Period
from ledger.rulebook import RuleBook

CONTENT: dict[str, Any] = {"score": {"base": 1000}, "pay": {"r_stock": "0.02"}}
AFTER_Q1 = date(2026, 4, 1)


def book_with(*drafts: tuple[str, date]) -> RuleBook:
    book = RuleBook.open()
    for version, effective_from in drafts:
        book.draft(version=version, effective_from=effective_from, content=CONTENT)
    return book


def test_the_rule_book_has_one_well_known_id_and_starts_empty() -> None:
    book = RuleBook.open()
    assert book.id == rulebook_id()
    assert book.versions() == [] and book.in_force_for(date(2026, 1, 1)) is None


def test_a_drafted_version_is_not_in_force_until_published() -> None:
    book = book_with(("2026.1", date(2026, 1, 1)))
    assert book.in_force_for(date(2026, 1, 1)) is None
    book.publish("2026.1")
    assert book.in_force_for(date(2026, 1, 1)) == "2026.1"
    assert book.in_force_for(date(2025, 10, 1)) is None
    assert [type(e).__name__ for e in book.pending_events] == ["Opened", "Drafted", "Published"]


def test_an_existing_version_cannot_be_drafted_again() -> None:
    book = book_with(("2026.1", date(2026, 1, 1)))
    with pytest.raises(DuplicateFact) as refused:
        book.draft(version="2026.1", effective_from=date(2026, 4, 1), content=CONTENT)
    assert refused.value.rule == "VersionsAreDraftedOnce"


def test_an_unknown_version_cannot_be_published() -> None:
    with pytest.raises(NotFound):
        RuleBook.open().publish("2026.1")


def test_a_published_version_cannot_be_published_again() -> None:
    book = book_with(("2026.1", date(2026, 1, 1)))
    book.publish("2026.1")
    with pytest.raises(RuleViolation) as refused:
        book.publish("2026.1")
    assert refused.value.rule == "VersionsArePublishedOnce"


def test_the_most_recently_published_version_wins_even_with_an_earlier_effective_date() -> None:
    book = book_with(
        ("2026.1", date(2026, 1, 1)), ("2026.2", date(2026, 4, 1)), ("2026.1b", date(2025, 12, 1))
    )
    book.publish("2026.1")
    book.publish("2026.2")
    assert book.in_force_for(date(2026, 1, 1)) == "2026.1"
    assert book.in_force_for(date(2026, 4, 1)) == "2026.2"
    # A retroactive version published later takes over the periods it covers.
    book.publish("2026.1b")
    assert book.in_force_for(date(2026, 1, 1)) == "2026.1b"
    assert book.in_force_for(date(2026, 4, 1)) == "2026.1b"
    assert book.published_versions() == ["2026.1", "2026.2", "2026.1b"]


def test_a_versions_content_cannot_be_changed_through_the_callers_dict_or_a_returned_copy() -> None:
    content: dict[str, Any] = {"pay": {"r_stock": "0.02"}}
    book = RuleBook.open()
    book.draft(version="2026.1", effective_from=date(2026, 1, 1), content=content)
    content["pay"]["r_stock"] = "0.99"
    book.content_of("2026.1")["pay"]["r_stock"] = "0.98"
    assert book.content_of("2026.1") == {"pay": {"r_stock": "0.02"}}


def test_content_of_an_unknown_version_is_not_found() -> None:
    with pytest.raises(NotFound):
        RuleBook.open().content_of("1999.1")


def test_a_draft_needs_a_version_a_date_and_storable_content() -> None:
    with pytest.raises(InvalidInput) as refused:
        RuleBook.open().draft(
            version="", effective_from="2026-01-01", content={"r": 0.02}  # type: ignore[arg-type]
        )
    assert set(refused.value.errors) == {"version", "effective_from", "content"}


def test_a_period_opens_under_its_well_known_id_and_closes_once() -> None:
    period = Period.open("2026Q1")
    assert period.id == period_id("2026Q1") and period.status == "open"
    period.close(reason="quarter end", today=AFTER_Q1,
                 freeze=lambda: {"M1": {"actual_pay": Decimal("32365.00")}})
    assert period.status == "closed"
    assert period.frozen == {"M1": {"actual_pay": Decimal("32365.00")}}
    with pytest.raises(RuleViolation) as refused:
        period.close(reason="again", today=AFTER_Q1, freeze=dict)
    assert (refused.value.rule, refused.value.current_state) == ("StepsInOrder", "closed")
    assert [type(e).__name__ for e in period.pending_events] == ["Opened", "Closed"]


def test_a_period_must_be_a_real_quarter() -> None:
    with pytest.raises(InvalidInput) as refused:
        Period.open("2026-03")
    assert list(refused.value.errors) == ["period"]


def test_frozen_figures_may_not_be_floats() -> None:
    with pytest.raises(InvalidInput) as refused:
        Period.open("2026Q1").close(reason="quarter end", today=AFTER_Q1,
                                    freeze=lambda: {"M1": 32365.0})
    assert list(refused.value.errors) == ["frozen"]


def test_a_period_is_not_closed_before_its_last_day_and_nothing_is_computed() -> None:
    computed: list[bool] = []

    def freeze() -> dict[str, Any]:
        computed.append(True)
        return {}

    period = Period.open("2026Q1")
    with pytest.raises(RuleViolation) as refused:
        period.close(reason="early", today=date(2026, 3, 31), freeze=freeze)
    assert (refused.value.rule, refused.value.current_state) == ("PeriodsCloseAfterTheyEnd", "open")
    assert computed == [] and period.status == "open"

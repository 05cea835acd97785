"""Quarters as value objects: parsing, bounds and arithmetic."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.errors import InvalidInput
from ledger.quarter import Quarter


def test_a_quarter_reads_and_writes_like_2026q1() -> None:
    period = Quarter.parse("2026Q1")
    assert (period.year, period.quarter) == (2026, 1)
    assert str(period) == "2026Q1"


@pytest.mark.parametrize(
    "text", ["2026Q5", "2026Q0", "2026q1", "26Q1", " 2026Q1", "2026-Q1", "1899Q4", "", 2026]
)
def test_anything_but_a_quarter_is_refused_naming_the_period_field(text: object) -> None:
    with pytest.raises(InvalidInput) as refused:
        Quarter.parse(text)
    assert list(refused.value.errors) == ["period"]


def test_a_refusal_can_name_another_field() -> None:
    with pytest.raises(InvalidInput) as refused:
        Quarter.parse("x", field="query.period")
    assert list(refused.value.errors) == ["query.period"]


def test_a_quarter_cannot_be_built_out_of_range() -> None:
    with pytest.raises(InvalidInput):
        Quarter(2026, 5)


def test_the_first_quarter_of_2026_runs_from_january_first_to_march_thirty_first() -> None:
    q1 = Quarter.parse("2026Q1")
    assert q1.first_day == date(2026, 1, 1)
    assert q1.last_day == date(2026, 3, 31)
    assert q1.days == 90


def test_a_leap_year_first_quarter_has_91_days() -> None:
    assert Quarter.parse("2028Q1").days == 91


def test_the_fourth_quarter_ends_on_new_years_eve_and_is_followed_by_the_next_years_first() -> None:
    q4 = Quarter.parse("2026Q4")
    assert q4.last_day == date(2026, 12, 31)
    assert q4.next() == Quarter(2027, 1)
    assert Quarter(2027, 1).previous() == q4


def test_a_quarter_contains_its_own_days_only() -> None:
    q2 = Quarter.parse("2026Q2")
    assert q2.contains(date(2026, 4, 1)) and q2.contains(date(2026, 6, 30))
    assert not q2.contains(date(2026, 3, 31)) and not q2.contains(date(2026, 7, 1))


def test_quarters_sort_in_time_order() -> None:
    assert sorted([Quarter(2026, 2), Quarter(2025, 4), Quarter(2026, 1)]) == [
        Quarter(2025, 4),
        Quarter(2026, 1),
        Quarter(2026, 2),
    ]


@given(st.dates(min_value=date(1900, 1, 1), max_value=date(2998, 12, 31)))
def test_every_day_lies_in_the_quarter_of_that_day_and_no_other(day: date) -> None:
    period = Quarter.of(day)
    assert period.contains(day)
    assert not period.next().contains(day)
    assert Quarter.parse(str(period)) == period
    assert period.next().first_day - period.last_day == timedelta(days=1)

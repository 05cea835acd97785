"""Separation of duties compares people, not spellings: NFKC and case folding (issue 12)."""

from __future__ import annotations

import pytest

from ledger.rules import (
    AppealDeciderIsNotTheReviewer,
    ApproverIsNotTheProposer,
    ReviewerIsNotTheRecorder,
    same_person,
)

ONE_PERSON = [
    ("demo-reviewer", "Demo-Reviewer"),
    ("demo-reviewer", "DEMO-REVIEWER"),
    ("demo-reviewer", "\uff44\uff45\uff4d\uff4f-reviewer"),  # full-width letters
    ("strasse", "STRASSE"),
    ("stra\u00dfe", "STRASSE"),  # ß folds to ss
    ("caf\u00e9", "cafe\u0301"),  # precomposed é and e + combining acute
    ("\u2163", "iv"),  # the Roman numeral Ⅳ is the letters IV under NFKC
]
TWO_PEOPLE = [("demo-reviewer", "demo-reviewer2"), ("ana", "anna"), ("a", "\u00e5")]


@pytest.mark.parametrize(("one", "other"), ONE_PERSON)
def test_subjects_that_differ_only_in_case_or_unicode_form_are_one_person(
    one: str, other: str
) -> None:
    assert same_person(one, other) and same_person(other, one)


@pytest.mark.parametrize(("one", "other"), TWO_PEOPLE)
def test_different_subjects_are_different_people(one: str, other: str) -> None:
    assert not same_person(one, other)


def test_nobody_is_the_same_person_as_a_missing_one() -> None:
    assert not same_person(None, "x") and not same_person("x", None)


def test_a_reviewer_spelled_differently_from_the_recorder_is_still_refused() -> None:
    assert ReviewerIsNotTheRecorder(recorded_by="demo-reviewer",
                                    decided_by="Demo-Reviewer").is_broken()
    assert not ReviewerIsNotTheRecorder(recorded_by="sup-1", decided_by="sup-2").is_broken()


def test_an_appeal_decider_spelled_differently_from_the_reviewer_is_still_refused() -> None:
    assert AppealDeciderIsNotTheReviewer(reviewer="SUP-2", decided_by="sup-2").is_broken()
    assert not AppealDeciderIsNotTheReviewer(reviewer=None, decided_by="sup-2").is_broken()


def test_an_approver_spelled_differently_from_the_proposer_is_still_refused() -> None:
    assert ApproverIsNotTheProposer(proposed_by="\uff53\uff55\uff50-1",
                                    decided_by="sup-1").is_broken()
    assert not ApproverIsNotTheProposer(proposed_by="sup-1", decided_by="appr-1").is_broken()

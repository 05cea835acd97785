"""The assessment plan and its sheets (DESIGN §12), and the rule-set sections behind them:
every rule's refused case, without a database."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from ledger.assessment import AssessmentPlan
from ledger.errors import InvalidInput, NotFound, NotPermitted, RuleSetInvalid, RuleViolation
from ledger.qualitative import Consequences, QualitativeItem
from ledger.ruleset_document import default_document, parse_ruleset, to_document

CATALOG = {
    "Q1": QualitativeItem("Q1", "teamwork", "cooperation", Decimal(10)),
    "Q2": QualitativeItem("Q2", "teamwork", "support", Decimal(10)),
}
TODAY = date(2026, 4, 10)


def plan(**overrides: Any) -> AssessmentPlan:
    fields: dict[str, Any] = dict(
        plan_id="P1", period="2026Q1", unit="Branch 1", items=["Q1", "Q2"],
        assessors=[{"subject": "sup-li", "weight": Decimal("0.6")},
                   {"subject": "risk-wang", "weight": Decimal("0.4")}],
        closes_on=date(2026, 4, 15), managers=["M1", "M2"], catalog=CATALOG,
        ruleset_version="2026.3")
    return AssessmentPlan.create(**(fields | overrides))


def save(p: AssessmentPlan, scores: dict[str, Any], who: str = "sup-li",
         manager_id: str = "M1", today: date = TODAY, acting: str | None = None) -> None:
    p.save_sheet(manager_id=manager_id, assessor=who, assessor_manager_id=acting,
                 scores=scores, comment=None, today=today)


def test_a_plan_copies_its_items_and_keeps_weights_as_text() -> None:
    p = plan()
    assert p.items["Q1"] == {"dimension": "teamwork", "title": "cooperation", "max": "10"}
    assert p.assessors == [{"subject": "sup-li", "weight": "0.6"},
                           {"subject": "risk-wang", "weight": "0.4"}]


def test_weights_that_do_not_sum_to_one_are_refused() -> None:
    with pytest.raises(InvalidInput) as refused:
        plan(assessors=[{"subject": "sup-li", "weight": Decimal("0.5")}])
    assert "assessors" in refused.value.errors


def test_an_item_the_rule_set_does_not_define_is_refused() -> None:
    with pytest.raises(InvalidInput) as refused:
        plan(items=["Q1", "Z9"])
    assert "Z9" in refused.value.errors["items"][0]


def test_a_manager_of_the_plan_is_not_one_of_its_assessors() -> None:
    with pytest.raises(InvalidInput):
        plan(assessors=[{"subject": "m1", "weight": Decimal(1)}])


def test_a_half_saved_sheet_keeps_its_scores_and_names_what_is_pending() -> None:
    p = plan()
    save(p, {"Q1": 8})
    assert p.pending("M1", "sup-li") == ["Q2"]
    save(p, {"Q2": "9.5"})
    assert p.sheet("M1", "sup-li")["scores"] == {"Q1": "8", "Q2": "9.5"}


@pytest.mark.parametrize("score", [11, "7.25", -1, "x", True])
def test_scores_outside_the_item_or_with_two_places_are_refused(score: Any) -> None:
    with pytest.raises(InvalidInput):
        save(plan(), {"Q1": score})


def test_only_the_plans_assessors_score() -> None:
    with pytest.raises(NotPermitted) as refused:
        save(plan(), {"Q1": 5}, who="someone-else")
    assert refused.value.rule == "OnlyThePlansAssessorsScore"


def test_no_one_scores_their_own_sheet() -> None:
    p = plan(assessors=[{"subject": "m1-user", "weight": Decimal(1)}])
    with pytest.raises(NotPermitted) as refused:
        save(p, {"Q1": 5}, who="m1-user", acting="M1")
    assert refused.value.rule == "NoOneScoresTheirOwnSheet"


def test_a_manager_outside_the_plan_has_no_sheet() -> None:
    with pytest.raises(NotFound):
        save(plan(), {"Q1": 5}, manager_id="M9")


def test_nothing_is_saved_after_the_plan_closes() -> None:
    with pytest.raises(RuleViolation) as refused:
        save(plan(), {"Q1": 5}, today=date(2026, 4, 16))
    assert refused.value.rule == "SheetsCloseAfterTheirLastDay"


def test_a_sheet_is_submitted_only_with_every_item_scored() -> None:
    p = plan()
    save(p, {"Q1": 5})
    with pytest.raises(RuleViolation) as refused:
        p.submit_sheet(manager_id="M1", assessor="sup-li", assessor_manager_id=None, today=TODAY)
    assert refused.value.rule == "EveryItemIsScoredBeforeSubmission"


def test_a_submitted_sheet_is_final_until_reopened() -> None:
    p = plan()
    save(p, {"Q1": 5, "Q2": 6})
    p.submit_sheet(manager_id="M1", assessor="sup-li", assessor_manager_id=None, today=TODAY)
    with pytest.raises(RuleViolation) as refused:
        save(p, {"Q1": 7})
    assert refused.value.rule == "ASubmittedSheetIsFinal"
    p.reopen_sheet(manager_id="M1", assessor="SUP-LI", reason="typo")
    save(p, {"Q1": 7})
    assert p.sheet("M1", "sup-li")["status"] == "open"


def test_only_a_submitted_sheet_is_reopened() -> None:
    with pytest.raises(RuleViolation) as refused:
        plan().reopen_sheet(manager_id="M1", assessor="sup-li", reason="typo")
    assert refused.value.rule == "OnlySubmittedSheetsAreReopened"


def test_rule_set_sections_are_validated_with_every_problem_listed() -> None:
    document = default_document()
    document["qualitative_items"] = {"q1": {"dimension": "Team", "title": "", "max": 0,
                                            "extra": 1}}
    document["consequences"] = {"excellent_streak": 0, "other": 1}
    with pytest.raises(RuleSetInvalid) as refused:
        parse_ruleset(document)
    assert set(refused.value.problems) >= {
        "qualitative_items.q1", "qualitative_items.q1.dimension", "qualitative_items.q1.title",
        "qualitative_items.q1.max", "qualitative_items.q1.extra",
        "consequences.excellent_streak", "consequences.other"}


def test_the_sections_round_trip_and_default_when_absent() -> None:
    assert parse_ruleset(default_document()).consequences == Consequences(2)
    document = default_document()
    document["qualitative_items"] = {"Q1": {"dimension": "teamwork", "title": "t", "max": "7.5"}}
    document["consequences"] = {"excellent_streak": 3}
    parsed = parse_ruleset(document)
    assert parsed.qualitative_items["Q1"].max == Decimal("7.5")
    assert parse_ruleset(to_document(parsed)) == parsed

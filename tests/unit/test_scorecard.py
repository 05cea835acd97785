"""Rule-set scorecards (DESIGN §11): validation that lists every problem at once, 2026.1
unchanged, and the §11 worked example computed by the pure calculation."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from scorecards import section_2026_3

from ledger.calculation.indicators import Inputs, ReportedValue, evaluate_scorecard
from ledger.calculation.score import CountedDeduction, score_for
from ledger.errors import RuleSetInvalid
from ledger.ruleset_document import load_default, parse_ruleset, to_document


def problems(document: dict[str, Any]) -> dict[str, list[str]]:
    with pytest.raises(RuleSetInvalid) as refused:
        parse_ruleset(document)
    return refused.value.problems


def test_2026_1_has_no_scorecard_and_reads_back_exactly() -> None:
    rules = load_default()
    assert rules.scorecard.is_empty
    assert "parameters" not in to_document(rules) and "formula" not in to_document(rules)["score"]


def test_the_section_11_rule_set_validates_and_round_trips() -> None:
    rules = parse_ruleset(section_2026_3())
    assert parse_ruleset(to_document(rules)) == rules
    order = rules.scorecard.order
    assert order.index("profit_completion") < order.index("performance_points")
    assert rules.scorecard.raw_indicators() == ["avg_deposits", "npl_ratio", "new_customers"]


def test_every_problem_of_a_draft_is_listed_at_once() -> None:
    document = section_2026_3()
    indicators = document["indicators"]
    indicators["growth_points"]["formula"] = "min(new_clients * 10, 100)"  # unknown name
    indicators["a"] = {"kind": "computed", "formula": "b + 1"}  # a cycle …
    indicators["b"] = {"kind": "score", "formula": "a * 2"}
    indicators["profit_completion"]["formula"] = "actual / target"  # unguarded division
    indicators["risk_points"]["formula"] = "band(npl_ratio, [[0.01, 200]], 0"  # syntax
    indicators["deposit_completion"]["formula"] = "sqrt(avg_deposits)"  # unknown function
    del indicators["npl_ratio"]["default"]  # raw without a default
    indicators["qual_x"] = {"kind": "raw", "default": "0"}  # reserved prefix
    found = problems(document)
    assert "unknown name 'new_clients'" in found["indicators.growth_points.formula"][0]
    assert found["indicators.a.formula"] == ["cycle: a → b → a"]
    assert "fails when every name is 0" in found["indicators.profit_completion.formula"][0]
    assert "at character 33" in found["indicators.risk_points.formula"][0]
    assert "unknown function 'sqrt'" in found["indicators.deposit_completion.formula"][0]
    assert "needs a default" in found["indicators.npl_ratio.default"][0]
    assert "reserved" in found["indicators.qual_x"][0]
    # The score formula still knows npl_ratio's name: one mistake is reported once.
    assert "score.formula" not in found


def test_parameters_are_numbers_or_one_number_per_grade() -> None:
    document = section_2026_3()
    document["parameters"] = {"x": {"A": "1", "B": "2"}, "y": 0.5, "target": "1"}
    found = problems(document)
    assert "exactly the grades" in found["parameters.x"][0]
    assert "decimal string" in found["parameters.y"][0]
    assert "figure of part one" in found["parameters.target"][0]


def test_the_worked_example_of_section_11_scores_550_then_750() -> None:
    rules = parse_ruleset(section_2026_3())
    reports = {name: ReportedValue(Decimal(v), n, rules.effective_from, f"r{n}", "CORE", f"R{n}")
               for n, (name, v) in enumerate((("avg_deposits", "30000000"),
                                              ("npl_ratio", "0.015"), ("new_customers", "4")))}

    def score(error_points: int) -> tuple[int, str, Decimal]:
        figures = {"base": Decimal(1000), "points_to_score": Decimal(10),
                   "error_points": Decimal(error_points), "adjustment_points": Decimal(0),
                   "actual": Decimal(250000), "stock_task": Decimal(187500),
                   "incremental_task": Decimal(50000), "target": Decimal(237500),
                   "customers_held": Decimal(3)}
        values = evaluate_scorecard(rules.scorecard, Inputs(
            figures, "B", reports, {"qual_teamwork": Decimal("15.4")}))
        assert values.values["performance_points"].value == Decimal(
            "342.6315789473684210526315790")
        assert values.values["teamwork_points"].value == Decimal("77.0")
        assert values.values["deposit_target"].source == "parameter"
        assert values.score_value is not None
        deduction = CountedDeduction("d", "S3", error_points, False, False, "active")
        figure = score_for(rules, [deduction], [], values.score_value)
        return figure.score, figure.rating, values.score_value

    assert score(26)[:2] == (550, "needs_improvement")
    assert score(6)[:2] == (750, "good")
    assert str(score(26)[2]).startswith("549.63")


def test_a_disqualification_still_makes_a_formula_score_0() -> None:
    rules = parse_ruleset(section_2026_3())
    deduction = CountedDeduction("d", "E5", 0, True, True, "active")
    figure = score_for(rules, [deduction], [], Decimal("812.4"))
    assert (figure.score, figure.rating) == (0, "failed")
    assert rules.score.base + sum(line.score_delta for line in figure.lines) == 0

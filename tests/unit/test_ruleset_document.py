"""Unit tests of rule-set documents: the shipped default, validation and round trips."""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from ledger.ruleset_document import (
    RuleSetInvalid,
    default_document,
    load_default,
    parse_ruleset,
    to_document,
)

CATALOG = (
    "E1 E2 E3 E4 E5 E6 E7a E7b E8 B1 B2 B3 B4 "
    "C1 C2a C2b C3 C4 C5a C5b C6 C7 C8 C9 C10 C11a C11b C12 C13 C14 C16 C17a C17b C17c C18 "
    "S1a S1b S2 S3"
).split()

Doc = dict[str, Any]


def problems_of(doc: Any) -> dict[str, list[str]]:
    with pytest.raises(RuleSetInvalid) as refused:
        parse_ruleset(doc)
    return refused.value.problems


def edited(change: Callable[[Doc], None]) -> Doc:
    doc = copy.deepcopy(default_document())
    change(doc)
    return doc


def test_the_shipped_default_is_version_2026_1_effective_from_new_year() -> None:
    rs = load_default()
    assert rs.version == "2026.1"
    assert rs.effective_from == date(2026, 1, 1)


def test_the_shipped_default_holds_the_whole_catalog_with_its_points() -> None:
    rs = load_default()
    assert sorted(rs.deductions) == sorted(CATALOG)
    points = {code: rule.points for code, rule in rs.deductions.items()}
    assert (points["B1"], points["C7"], points["S3"], points["C5b"], points["C14"]) == (
        1, 5, 20, 50, 30,
    )
    assert {rs.deductions[c].category for c in CATALOG} == {
        "ethics", "basic_management", "credit", "service",
    }


def test_only_e5_and_e6_always_disqualify_and_veto_and_carry_no_points() -> None:
    rs = load_default()
    always = {c for c, r in rs.deductions.items() if r.always_disqualifies}
    vetoes = {c for c, r in rs.deductions.items() if r.veto}
    assert always == vetoes == {"E5", "E6"}
    assert rs.deductions["E5"].points == rs.deductions["E6"].points == 0


def test_disqualifying_rules_are_those_the_catalog_marks_dq() -> None:
    rs = load_default()
    disqualifying = {c for c, r in rs.deductions.items() if r.disqualifying}
    assert disqualifying == {"E1", "E2", "C1", "C14", "E5", "E6"}


def test_aggravatable_rules_match_the_catalog() -> None:
    rs = load_default()
    aggravatable = {c for c, r in rs.deductions.items() if r.aggravatable}
    assert aggravatable == {
        "E1", "E2", "E3", "E4", "C1", "C2a", "C2b", "C4", "C10", "C13",
        "C16", "C17a", "C17b", "C17c", "C18",
    }


def test_the_default_numbers_are_those_of_design_section_3() -> None:
    rs = load_default()
    assert (rs.score.base, rs.score.points_to_score, rs.score.aggravation_factor) == (1000, 10, 2)
    assert rs.score.pending_dispute_counts is True
    assert (rs.score.ratings.excellent, rs.score.ratings.good, rs.score.ratings.satisfactory) == (
        900, 750, 600,
    )
    assert (rs.pay.r_stock, rs.pay.r_incr, rs.pay.r_over) == (
        Decimal("0.02"), Decimal("0.05"), Decimal("0.08"),
    )
    assert dict(rs.pay.base_salary) == {
        "A": Decimal("36000"), "B": Decimal("27000"), "C": Decimal("21000"),
    }
    assert rs.pay.risk_adjusted is False
    assert (rs.disputes.file_within_days, rs.disputes.decide_within_days) == (15, 10)
    assert (rs.disputes.appeal_within_days, rs.disputes.appeal_decide_within_days) == (10, 15)
    assert rs.portfolio.premium_requires_grade == "A"
    assert rs.portfolio.group_split == "warn"
    assert rs.portfolio.span_factor == Decimal("1.5")


def test_money_and_rates_are_decimals_never_floats() -> None:
    rs = load_default()
    for value in (rs.pay.r_stock, rs.pay.r_incr, rs.pay.r_over, *rs.pay.base_salary.values()):
        assert type(value) is Decimal


def test_to_document_gives_back_the_shipped_file_exactly() -> None:
    assert to_document(load_default()) == default_document()


def test_parsing_what_to_document_wrote_gives_an_equal_rule_set() -> None:
    rs = load_default()
    assert parse_ruleset(to_document(rs)) == rs


def test_a_parsed_rule_set_is_immutable() -> None:
    rs = load_default()
    with pytest.raises(AttributeError):
        rs.version = "2026.2"  # type: ignore[misc]
    with pytest.raises(TypeError):
        rs.deductions["X1"] = rs.deductions["E1"]  # type: ignore[index]


def test_default_document_is_a_fresh_copy_each_time() -> None:
    first = default_document()
    first["score"]["base"] = 1
    assert default_document()["score"]["base"] == 1000


def test_whole_numbers_are_accepted_for_money_and_written_back_as_strings() -> None:
    doc = edited(lambda d: d["pay"]["base_salary"].update(A=36000))
    rs = parse_ruleset(doc)
    assert rs.pay.base_salary["A"] == Decimal("36000")
    assert to_document(rs)["pay"]["base_salary"]["A"] == "36000"


def test_null_switches_off_the_premium_grade_and_span_checks() -> None:
    doc = edited(lambda d: d["portfolio"].update(premium_requires_grade=None, span_factor=None))
    rs = parse_ruleset(doc)
    assert rs.portfolio.premium_requires_grade is None
    assert rs.portfolio.span_factor is None
    assert parse_ruleset(to_document(rs)) == rs


def test_parameters_used_lists_every_numeric_parameter_by_path() -> None:
    params = load_default().parameters_used()
    assert params["score.points_to_score"] == 10
    assert params["pay.r_over"] == Decimal("0.08")
    assert params["pay.base_salary.B"] == Decimal("27000")
    assert params["disputes.appeal_decide_within_days"] == 15
    assert params["portfolio.span_factor"] == Decimal("1.5")
    assert params["deductions.S3.points"] == 20
    assert all(type(v) in (int, Decimal) for v in params.values())


def test_every_problem_of_a_bad_document_is_reported_at_once() -> None:
    def break_many(d: Doc) -> None:
        d["colour"] = "blue"
        d["version"] = "v2"
        d["score"]["base"] = -1
        d["pay"]["r_stock"] = 0.02
        del d["pay"]["base_salary"]["C"]
        d["deductions"]["e9"] = {}
        d["portfolio"]["group_split"] = "sometimes"

    problems = problems_of(edited(break_many))
    assert set(problems) == {
        "colour", "version", "score.base", "pay.r_stock", "pay.base_salary.C",
        "deductions.e9", "portfolio.group_split",
    }


def test_several_problems_inside_one_rule_are_all_reported() -> None:
    doc = edited(lambda d: d["deductions"].update(X1={"points": -1, "aggravatable": "yes"}))
    problems = problems_of(doc)
    assert set(problems) == {
        "deductions.X1.points", "deductions.X1.aggravatable", "deductions.X1.category",
        "deductions.X1.title", "deductions.X1.disqualifying",
    }


def _set(path: str, value: Any) -> Callable[[Doc], None]:
    *parents, last = path.split(".")

    def change(doc: Doc) -> None:
        target = doc
        for key in parents:
            target = target[key]
        target[last] = value

    return change


def _delete(path: str) -> Callable[[Doc], None]:
    *parents, last = path.split(".")

    def change(doc: Doc) -> None:
        target = doc
        for key in parents:
            target = target[key]
        del target[last]

    return change


SINGLE_PROBLEMS = [
    ("unknown top-level key", _set("extra", 1), "extra", "unknown key"),
    ("unknown nested key", _set("score.bonus", 1), "score.bonus", "unknown key"),
    ("missing section", _delete("disputes"), "disputes", "missing"),
    ("missing nested key", _delete("score.points_to_score"), "score.points_to_score", "missing"),
    ("section not an object", _set("pay", []), "pay", "must be an object"),
    ("points as a string", _set("deductions.B1.points", "1"), "deductions.B1.points", "integer"),
    ("points as a bool", _set("deductions.B1.points", True), "deductions.B1.points", "integer"),
    ("points as a float", _set("score.base", 1000.0), "score.base", "integer"),
    ("negative points", _set("deductions.B1.points", -1), "deductions.B1.points", "negative"),
    ("negative days", _set("disputes.file_within_days", -3), "disputes.file_within_days",
     "negative"),
    ("zero days", _set("disputes.decide_within_days", 0), "disputes.decide_within_days", "between"),
    ("negative rate", _set("pay.r_incr", "-0.05"), "pay.r_incr", "negative"),
    ("rate above one", _set("pay.r_incr", "5"), "pay.r_incr", "between"),
    ("rate as a float", _set("pay.r_over", 0.08), "pay.r_over", "not a JSON number"),
    ("rate in exponent form", _set("pay.r_over", "8E-2"), "pay.r_over", "decimal string"),
    ("money as NaN", _set("pay.base_salary.A", "NaN"), "pay.base_salary.A", "decimal string"),
    ("negative salary", _set("pay.base_salary.B", "-1"), "pay.base_salary.B", "negative"),
    ("salary below a cent", _set("pay.base_salary.B", "1.001"), "pay.base_salary.B", "places"),
    ("salary float", _set("pay.base_salary.C", 21000.5), "pay.base_salary.C", "not a JSON number"),
    ("grade missing", _delete("pay.base_salary.A"), "pay.base_salary.A", "missing"),
    ("unknown grade", _set("pay.base_salary.D", "1"), "pay.base_salary.D", "unknown key"),
    ("flag not bool", _set("pay.risk_adjusted", "no"), "pay.risk_adjusted", "true or false"),
    ("pending as int", _set("score.pending_dispute_counts", 1), "score.pending_dispute_counts",
     "true or false"),
    ("ratings equal", _set("score.ratings.good", 900), "score.ratings", "descending"),
    ("ratings ascending", _set("score.ratings.satisfactory", 800), "score.ratings", "descending"),
    ("rating above base", _set("score.ratings.excellent", 1001), "score.ratings.excellent",
     "between"),
    ("zero aggravation", _set("score.aggravation_factor", 0), "score.aggravation_factor",
     "between"),
    ("group_split unknown", _set("portfolio.group_split", "maybe"), "portfolio.group_split",
     "one of"),
    ("premium grade unknown", _set("portfolio.premium_requires_grade", "Z"),
     "portfolio.premium_requires_grade", "one of"),
    ("span below one", _set("portfolio.span_factor", "0.5"), "portfolio.span_factor", "between"),
    ("version without minor", _set("version", "2026"), "version", "2026.1"),
    ("version with prefix", _set("version", "v2026.1"), "version", "2026.1"),
    ("version not a string", _set("version", 2026.1), "version", "2026.1"),
    ("date not ISO", _set("effective_from", "01/01/2026"), "effective_from", "ISO date"),
    ("date impossible", _set("effective_from", "2026-02-30"), "effective_from", "ISO date"),
    ("date compact", _set("effective_from", "20260101"), "effective_from", "ISO date"),
    ("no deduction rules", _set("deductions", {}), "deductions", "at least one"),
    ("bad rule code", _set("deductions.e1", {}), "deductions.e1", "rule code"),
    ("rule code too long", _set("deductions.E123", {}), "deductions.E123", "rule code"),
    ("empty title", _set("deductions.B1.title", " "), "deductions.B1.title", "non-empty"),
    ("title too long", _set("deductions.B1.title", "x" * 201), "deductions.B1.title", "at most"),
    ("category with spaces", _set("deductions.B1.category", "basic management"),
     "deductions.B1.category", "lower-case"),
    ("unknown rule key", _set("deductions.B1.weight", 1), "deductions.B1.weight", "unknown key"),
    ("always without dq", _set("deductions.E5.disqualifying", False),
     "deductions.E5.disqualifying", "always_disqualifies"),
    ("veto not bool", _set("deductions.E5.veto", "yes"), "deductions.E5.veto", "true or false"),
    ("pointless rule", _set("deductions.B1.points", 0), "deductions.B1.points", "positive"),
]


@pytest.mark.parametrize(
    ("change", "path", "fragment"),
    [case[1:] for case in SINGLE_PROBLEMS],
    ids=[case[0] for case in SINGLE_PROBLEMS],
)
def test_a_document_with_one_problem_is_refused_naming_its_path(
    change: Callable[[Doc], None], path: str, fragment: str
) -> None:
    problems = problems_of(edited(change))
    assert list(problems) == [path]
    assert any(fragment in message for message in problems[path]), problems


def test_a_document_that_is_not_an_object_is_refused_at_the_root() -> None:
    assert problems_of([1, 2]) == {"$": ["must be an object"]}


def test_the_refusal_message_summarises_the_problems() -> None:
    with pytest.raises(RuleSetInvalid) as refused:
        parse_ruleset(edited(_set("version", "x")))
    assert "version: must look like 2026.1" in str(refused.value)

"""The formula language of DESIGN §11: what it reads, what it refuses and where, and two
properties: printed formulas parse back to the same tree, and evaluation fails only with
the language's own error."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.errors import FormulaError
from ledger.formula import (
    FUNCTIONS,
    Binary,
    Call,
    Listing,
    Name,
    Node,
    Number,
    Unary,
    evaluate,
    lookup_in,
    parse,
    to_text,
    zero_lookup,
)


def value(text: str, **names: str) -> Decimal:
    values = {k: Decimal(v) for k, v in names.items()}
    return evaluate(parse(text), lookup_in(values, "test"))


def refusal(text: str) -> FormulaError:
    with pytest.raises(FormulaError) as refused:
        evaluate(parse(text, "indicators.x.formula"), zero_lookup, "indicators.x.formula")
    return refused.value


def test_arithmetic_is_decimal_with_28_digits_and_precedence() -> None:
    assert value("1 + 2 * 3 - -4") == 11
    assert value("(1 + 2) * 3") == 9
    assert value("1 / 3") == Decimal("0.3333333333333333333333333333")
    assert value("0.1 + 0.2") == Decimal("0.3")


def test_comparisons_and_logic_give_one_or_zero_and_short_circuit() -> None:
    assert value("a > 1 and b <= 2", a="2", b="2") == 1
    assert value("not (a == 1) or a != 1", a="1") == 0
    # `and` and `if` evaluate only what they need: no division by zero here.
    assert value("a > 0 and 1 / a > 0", a="0") == 0
    assert value("if(target > 0, actual / target, 0)", target="0", actual="5") == 0


def test_the_functions_of_section_11() -> None:
    assert value("min(3, 1, 2) + max(3, 1, 2)") == 4
    assert value("clamp(500, 0, 400)") == 400
    assert value("round(2.345, 2)") == Decimal("2.35")  # half-up
    assert value("round(-2.5, 0)") == Decimal("-3")
    table = "[[0.01, 200], [0.02, 150], [0.03, 100]]"
    assert value(f"band(x, {table}, 0)", x="0.015") == 150
    assert value(f"band(x, {table}, 0)", x="0.01") == 200
    assert value(f"band(x, {table}, 0)", x="0.5") == 0


def test_an_unguarded_division_names_the_indicator_and_the_position() -> None:
    failed = refusal("1 + actual / target")
    assert (failed.where, failed.position) == ("indicators.x.formula", 12)
    assert "division by zero" in failed.expected


@pytest.mark.parametrize(("text", "position", "expected"), [
    ("1 +", 4, "expected"),
    ("foo(1)", 1, "unknown function 'foo'"),
    ("a.b", 2, "unexpected character '.'"),
    ("[1, 2]", 1, "a list is only band's second argument"),
    ("min(1)", 1, "at least 2 arguments"),
    ("if(1, 2)", 1, "3 arguments"),
    ("band(1, 2, 3)", 9, "band's table"),
    ("band(1, [[1, 2, 3]], 3)", 10, "a pair"),
    ("a < b < c", 7, "found '<'"),
    ("__import__('os')", 12, "unexpected character"),
    ("round(1, 0.5)", 1, "whole number"),
])
def test_what_the_language_refuses_and_where(text: str, position: int, expected: str) -> None:
    failed = refusal(text)
    assert failed.position == position, failed
    assert expected in failed.expected, failed


def test_nesting_and_length_are_bounded() -> None:
    assert "deeper" in refusal("(" * 70 + "1" + ")" * 70).expected
    assert "deeper" in refusal("-" * 200 + "1").expected
    assert "characters" in refusal("1 + " * 600 + "1").expected


# --- properties ------------------------------------------------------------------------

NAMES = st.sampled_from(["a", "b", "target", "actual", "qual_teamwork"])
NUMBERS = st.decimals(min_value=0, max_value=Decimal("1e9"), places=3, allow_nan=False,
                      allow_infinity=False).map(lambda d: Number(d.normalize() if d else d))
LEAVES: st.SearchStrategy[Node] = st.one_of(NUMBERS, NAMES.map(Name))
BINARY_OPS = st.sampled_from(["+", "-", "*", "/", "<", "<=", ">", ">=", "==", "!=", "and",
                              "or"])


def _trees(children: st.SearchStrategy[Node]) -> st.SearchStrategy[Node]:
    pairs = st.lists(st.builds(lambda t, v: Listing((t, v)), children, children),
                     min_size=1, max_size=3)
    return st.one_of(
        st.builds(Unary, st.sampled_from(["-", "not"]), children),
        st.builds(Binary, BINARY_OPS, children, children),
        st.builds(lambda xs: Call("min", tuple(xs)), st.lists(children, min_size=2,
                                                                max_size=3)),
        st.builds(lambda xs: Call("max", tuple(xs)), st.lists(children, min_size=2,
                                                                max_size=3)),
        st.builds(lambda x, lo, hi: Call("clamp", (x, lo, hi)), children, children, children),
        st.builds(lambda c, a, b: Call("if", (c, a, b)), children, children, children),
        st.builds(lambda x, n: Call("round", (x, n)), children, children),
        st.builds(lambda x, t, o: Call("band", (x, Listing(tuple(t)), o)), children, pairs,
                  children),
    )


TREES = st.recursive(LEAVES, _trees, max_leaves=12)
VALUES = st.dictionaries(NAMES, st.decimals(allow_nan=False, allow_infinity=False,
                                            min_value=Decimal("-1e30"),
                                            max_value=Decimal("1e30")))


@settings(max_examples=300, deadline=None)
@given(TREES)
def test_a_printed_formula_parses_back_to_the_same_tree(tree: Node) -> None:
    assert parse(to_text(tree)) == tree


@settings(max_examples=300, deadline=None)
@given(TREES, VALUES)
def test_evaluation_raises_nothing_but_a_formula_error(
    tree: Node, values: dict[str, Decimal]
) -> None:
    try:
        result = evaluate(tree, lookup_in(values, "test"), "test")
    except FormulaError:
        return
    assert isinstance(result, Decimal)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="ab01+-*/<>=!(),[]. andortifminx_", max_size=40))
def test_any_text_parses_or_is_refused_with_a_formula_error(text: str) -> None:
    try:
        tree = parse(text)
    except FormulaError as refused:
        assert refused.expected
        return
    try:
        evaluate(tree, zero_lookup)
    except FormulaError:
        pass


def test_the_language_has_exactly_the_functions_of_section_11() -> None:
    assert set(FUNCTIONS) == {"min", "max", "clamp", "if", "round", "band"}

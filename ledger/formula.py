"""The score-formula language of DESIGN §11: parsed by lark into our own AST, walked here.

A formula is decimal literals, names, `+ - * /`, unary minus, parentheses, comparisons,
`and or not`, and the calls `min max clamp if round band`; a list literal exists only as
`band`'s second argument. Nothing else parses, and nothing is ever handed to `eval` or to
Python's own `ast`: lark turns the text into the dataclasses below, and `evaluate` walks them.

Every value is a `Decimal` (28 digits, unrounded until the caller rounds). A comparison or
`and`/`or`/`not` gives 1 (true) or 0 (false), and a condition is true when it is not 0, so
evaluation never meets a value of the wrong type. `if`, `and` and `or` evaluate only the
operand they need, which is what lets `if(target > 0, actual / target, 0)` guard a division.
Every failure, parsing or evaluating, is a `FormulaError` naming where it happened.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import (
    ROUND_HALF_EVEN,
    ROUND_HALF_UP,
    Context,
    Decimal,
    DecimalException,
    DivisionByZero,
    InvalidOperation,
    Overflow,
    localcontext,
)
from functools import cache
from typing import Any

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from ledger.errors import FormulaError

MAX_FORMULA_CHARS = 2_000
MAX_DEPTH = 64
"""Nesting bound (TB): evaluation walks the tree recursively, so its depth is bounded."""
MAX_ROUND_PLACES = 28
MAX_BANDS = 50

DIGITS = Context(prec=28, rounding=ROUND_HALF_EVEN, Emax=999_999, Emin=-999_999,
                 traps=[InvalidOperation, DivisionByZero, Overflow])
"""28 significant digits; every exceptional condition (÷0, overflow, invalid) traps."""

ONE, ZERO = Decimal(1), Decimal(0)

# Each function: (least, most) arguments; `None` most = any number.
FUNCTIONS: dict[str, tuple[int, int | None]] = {
    "min": (2, None), "max": (2, None), "clamp": (3, 3), "if": (3, 3), "round": (2, 2),
    "band": (3, 3),
}
KEYWORDS = frozenset({"and", "or", "not"})
COMPARISONS = ("<=", ">=", "==", "!=", "<", ">")
NAME_PATTERN = r"[a-z_][a-z0-9_]*"

GRAMMAR = rf"""
?start: disjunction
?disjunction: conjunction | disjunction OR conjunction -> binary
?conjunction: negation | conjunction AND negation -> binary
?negation: comparison | NOT negation -> unary
?comparison: sum | sum COMPARE sum -> binary
?sum: product | sum PLUS product -> binary | sum MINUS product -> binary
?product: signed | product MUL signed -> binary
?signed: atom | MINUS signed -> unary
?atom: NUMBER -> number
     | NAME LPAR [arguments] RPAR -> call
     | NAME -> name
     | LPAR disjunction RPAR -> group
     | LSQB [arguments] RSQB -> listing
arguments: disjunction (COMMA disjunction)*
OR.2: "or"
AND.2: "and"
NOT.2: "not"
COMPARE: "<=" | ">=" | "==" | "!=" | "<" | ">"
PLUS: "+"
MINUS: "-"
MUL: "*" | "/"
LPAR: "("
RPAR: ")"
LSQB: "["
RSQB: "]"
COMMA: ","
NAME: /{NAME_PATTERN}/
NUMBER: /[0-9]+(\.[0-9]+)?/
%ignore /[ \t\r\n]+/
"""

READABLE = {
    "NUMBER": "a number", "NAME": "a name", "LPAR": "'('", "RPAR": "')'", "LSQB": "'['",
    "RSQB": "']'", "COMMA": "','", "PLUS": "'+'", "MINUS": "'-'", "MUL": "'*' or '/'",
    "COMPARE": "a comparison", "OR": "'or'", "AND": "'and'", "NOT": "'not'",
    "$END": "the end of the formula",
}


# --- the tree ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Node:
    """A node of the tree; `at` is its 1-based character position in the formula (not part
    of equality, so a printed and re-parsed formula equals the original)."""

    at: int = field(compare=False, kw_only=True, default=0)
    depth: int = field(compare=False, kw_only=True, default=1)


@dataclass(frozen=True)
class Number(Node):
    value: Decimal


@dataclass(frozen=True)
class Name(Node):
    name: str


@dataclass(frozen=True)
class Unary(Node):
    op: str  # "-" or "not"
    operand: Node


@dataclass(frozen=True)
class Binary(Node):
    op: str  # + - * / < <= > >= == != and or
    left: Node
    right: Node


@dataclass(frozen=True)
class Call(Node):
    function: str
    arguments: tuple[Node, ...]


@dataclass(frozen=True)
class Listing(Node):
    items: tuple[Node, ...]


def _deepest(*children: Node) -> int:
    return 1 + max((c.depth for c in children), default=0)


def _at(token: Token) -> int:
    return int(token.start_pos or 0) + 1


@v_args(inline=True)
class _ToTree(Transformer[Token, Node]):
    """Builds our nodes while lark's LALR parser reduces, so no recursion walks lark's tree."""

    def number(self, token: Token) -> Node:
        return Number(Decimal(str(token)), at=_at(token))

    def name(self, token: Token) -> Node:
        return Name(str(token), at=_at(token))

    def group(self, _open: Token, inner: Node, _close: Token) -> Node:
        return inner

    def unary(self, op: Token, operand: Node) -> Node:
        return Unary(str(op), operand, at=_at(op), depth=_deepest(operand))

    def binary(self, left: Node, op: Token, right: Node) -> Node:
        return Binary(str(op), left, right, at=_at(op), depth=_deepest(left, right))

    def arguments(self, *items: Any) -> tuple[Node, ...]:
        return tuple(item for item in items if isinstance(item, Node))

    def call(self, name: Token, _open: Token, arguments: tuple[Node, ...] | None,
             _close: Token) -> Node:
        found = arguments or ()
        return Call(str(name), found, at=_at(name), depth=_deepest(*found))

    def listing(self, _open: Token, items: tuple[Node, ...] | None, _close: Token) -> Node:
        found = items or ()
        return Listing(found, at=_at(_open), depth=_deepest(*found))


@cache
def _parser() -> Lark:
    return Lark(GRAMMAR, parser="lalr", transformer=_ToTree(), maybe_placeholders=True)


# --- parsing ------------------------------------------------------------------------------


def parse(text: str, where: str = "formula") -> Node:
    """The formula's tree; a FormulaError names `where`, the position and what was expected."""
    if not isinstance(text, str) or not text.strip():
        raise FormulaError(where, None, "expected a formula (a non-empty string)")
    if len(text) > MAX_FORMULA_CHARS:
        raise FormulaError(where, None, f"must be at most {MAX_FORMULA_CHARS} characters")
    _check_nesting(text, where)
    try:
        tree = _parser().parse(text)
    except UnexpectedInput as refused:
        raise _syntax_error(text, refused, where) from None
    if not isinstance(tree, Node):
        raise FormulaError(where, 1, "expected an expression")
    if tree.depth > MAX_DEPTH:
        raise FormulaError(where, tree.at, f"nests deeper than {MAX_DEPTH} levels")
    check_shape(tree, where)
    return tree


def _check_nesting(text: str, where: str) -> None:
    # The language has no strings, so brackets counted in the text are brackets in the tree.
    depth = 0
    for index, char in enumerate(text):
        depth += char in "(["
        depth -= char in ")]"
        if depth > MAX_DEPTH:
            raise FormulaError(where, index + 1, f"nests deeper than {MAX_DEPTH} levels")


def _syntax_error(text: str, refused: UnexpectedInput, where: str) -> FormulaError:
    position = int(getattr(refused, "pos_in_stream", None) or 0) + 1
    if isinstance(refused, UnexpectedCharacters):
        found = repr(text[position - 1]) if position <= len(text) else "the end"
        return FormulaError(where, position, f"unexpected character {found}")
    if isinstance(refused, UnexpectedEOF):
        expected = _expected(refused.expected)
        return FormulaError(where, len(text) + 1, f"expected {expected} (the formula ended)")
    if isinstance(refused, UnexpectedToken):
        token = refused.token
        if token.type == "$END":
            return FormulaError(where, len(text) + 1,
                                f"expected {_expected(refused.expected)} (the formula ended)")
        position = int(token.start_pos or 0) + 1
        return FormulaError(where, position,
                            f"expected {_expected(refused.expected)}, found {str(token)!r}")
    return FormulaError(where, position, "cannot be read")


def _expected(terminals: Any) -> str:
    names = sorted({READABLE.get(str(t), str(t)) for t in terminals or ()})
    if not names:
        return "something else"
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


def check_shape(tree: Node, where: str) -> None:
    """Calls name a function of the language with its number of arguments; lists appear
    only as `band`'s table of [threshold, value] pairs."""
    tables: set[int] = set()  # band tables and their pairs, by identity
    for node in walk(tree):
        if isinstance(node, Call):
            _check_call(node, where)
            if node.function == "band":
                table = node.arguments[1]
                tables.add(id(table))
                tables.update(id(pair) for pair in children(table))
    for node in walk(tree):
        if isinstance(node, Listing) and id(node) not in tables:
            raise FormulaError(where, node.at, "expected no list here: a list is only "
                                               "band's second argument")


def _check_call(node: Call, where: str) -> None:
    if node.function not in FUNCTIONS:
        known = ", ".join(sorted(FUNCTIONS))
        raise FormulaError(where, node.at,
                           f"unknown function {node.function!r}; expected one of {known}")
    least, most = FUNCTIONS[node.function]
    count = len(node.arguments)
    if count < least or (most is not None and count > most):
        wanted = str(least) if least == most else f"at least {least}"
        raise FormulaError(where, node.at,
                           f"{node.function} expects {wanted} arguments, not {count}")
    if node.function == "band":
        _check_band_table(node.arguments[1], where)


def _check_band_table(table: Node, where: str) -> None:
    if not isinstance(table, Listing) or not table.items:
        raise FormulaError(where, table.at, "expected band's table: [[threshold, value], …]")
    if len(table.items) > MAX_BANDS:
        raise FormulaError(where, table.at, f"band holds at most {MAX_BANDS} pairs")
    for pair in table.items:
        if not isinstance(pair, Listing) or len(pair.items) != 2:
            raise FormulaError(where, pair.at, "expected a pair [threshold, value]")
        for item in pair.items:
            if isinstance(item, Listing):
                raise FormulaError(where, item.at, "expected a number or a name, not a list")


def walk(tree: Node) -> Iterator[Node]:
    """Every node of the tree, parents before children (iterative: no recursion limit)."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        stack.extend(reversed(children(node)))


def children(node: Node) -> tuple[Node, ...]:
    if isinstance(node, Unary):
        return (node.operand,)
    if isinstance(node, Binary):
        return (node.left, node.right)
    if isinstance(node, Call):
        return node.arguments
    if isinstance(node, Listing):
        return node.items
    return ()


def names_in(tree: Node) -> list[Name]:
    """Every name the formula uses, in reading order (with repeats)."""
    return [node for node in walk(tree) if isinstance(node, Name)]


# --- printing -------------------------------------------------------------------------------


def to_text(node: Node) -> str:
    """The formula as text that parses back to an equal tree (binary and unary operations
    fully parenthesised, so no precedence is left to the reader)."""
    if isinstance(node, Number):
        return format(node.value, "f")
    if isinstance(node, Name):
        return node.name
    if isinstance(node, Unary):
        space = " " if node.op == "not" else ""
        return f"({node.op}{space}{to_text(node.operand)})"
    if isinstance(node, Binary):
        return f"({to_text(node.left)} {node.op} {to_text(node.right)})"
    if isinstance(node, Call):
        return f"{node.function}({', '.join(to_text(a) for a in node.arguments)})"
    if isinstance(node, Listing):
        return f"[{', '.join(to_text(i) for i in node.items)}]"
    raise TypeError(f"not a formula node: {node!r}")


# --- evaluation -----------------------------------------------------------------------------

Lookup = Callable[[str], Decimal]
"""Gives the value of a name; raises FormulaError for a name it does not know."""


def evaluate(tree: Node, lookup: Lookup, where: str = "formula") -> Decimal:
    """The formula's exact value (28 digits); raises only FormulaError."""
    try:
        with localcontext(DIGITS):
            return _Evaluation(lookup, where).value(tree)
    except FormulaError:
        raise
    except (DecimalException, ArithmeticError, RecursionError) as failed:
        raise FormulaError(where, tree.at, f"cannot be computed ({type(failed).__name__})") \
            from None


def truth(value: Decimal) -> Decimal:
    return ONE if value != ZERO else ZERO


class _Evaluation:
    def __init__(self, lookup: Lookup, where: str) -> None:
        self.lookup = lookup
        self.where = where

    def fail(self, node: Node, message: str) -> FormulaError:
        return FormulaError(self.where, node.at, message)

    def value(self, node: Node) -> Decimal:
        if isinstance(node, Number):
            return node.value
        if isinstance(node, Name):
            return self.lookup(node.name)
        if isinstance(node, Unary):
            operand = self.value(node.operand)
            return -operand if node.op == "-" else ONE - truth(operand)
        if isinstance(node, Binary):
            return self.binary(node)
        if isinstance(node, Call):
            return self.call(node)
        raise self.fail(node, "expected a number, found a list")

    def binary(self, node: Binary) -> Decimal:
        left = self.value(node.left)
        if node.op == "and":
            return truth(self.value(node.right)) if left != ZERO else ZERO
        if node.op == "or":
            return ONE if left != ZERO else truth(self.value(node.right))
        right = self.value(node.right)
        return self.arithmetic(node, left, right)

    def arithmetic(self, node: Binary, left: Decimal, right: Decimal) -> Decimal:
        try:
            return _OPERATIONS[node.op](left, right)
        except DecimalException as failed:
            if node.op == "/" and right == ZERO:
                raise self.fail(node, "division by zero; guard it, e.g. "
                                      "if(x > 0, y / x, 0)") from None
            raise self.fail(node, f"cannot be computed ({type(failed).__name__})") from None

    def call(self, node: Call) -> Decimal:
        args = node.arguments
        if node.function == "if":
            return self.value(args[1]) if self.value(args[0]) != ZERO else self.value(args[2])
        if node.function == "band":
            return self.band(node)
        values = [self.value(a) for a in args]
        if node.function == "min":
            return min(values)
        if node.function == "max":
            return max(values)
        if node.function == "clamp":
            x, low, high = values
            return min(max(x, low), high)
        return self.round(node, values[0], values[1])

    def round(self, node: Node, x: Decimal, places: Decimal) -> Decimal:
        if places != places.to_integral_value() or abs(places) > MAX_ROUND_PLACES:
            raise self.fail(node, f"round's places must be a whole number in "
                                  f"[-{MAX_ROUND_PLACES}, {MAX_ROUND_PLACES}]")
        try:
            return x.quantize(Decimal(1).scaleb(-int(places)), rounding=ROUND_HALF_UP)
        except DecimalException:
            raise self.fail(node, "round's result has more than 28 digits") from None

    def band(self, node: Call) -> Decimal:
        x = self.value(node.arguments[0])
        table = node.arguments[1]
        if not isinstance(table, Listing):
            raise self.fail(table, "expected band's table")
        for pair in table.items:
            if not isinstance(pair, Listing) or len(pair.items) != 2:
                raise self.fail(pair, "expected a pair [threshold, value]")
            if self.value(pair.items[0]) >= x:
                return self.value(pair.items[1])
        return self.value(node.arguments[2])


def _compare(op: str) -> Callable[[Decimal, Decimal], Decimal]:
    tests: dict[str, Callable[[Decimal, Decimal], bool]] = {
        "<": lambda a, b: a < b, "<=": lambda a, b: a <= b, ">": lambda a, b: a > b,
        ">=": lambda a, b: a >= b, "==": lambda a, b: a == b, "!=": lambda a, b: a != b,
    }
    test = tests[op]
    return lambda a, b: ONE if test(a, b) else ZERO


_OPERATIONS: dict[str, Callable[[Decimal, Decimal], Decimal]] = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "/": lambda a, b: a / b,
    **{op: _compare(op) for op in COMPARISONS},
}


def zero_lookup(_: str) -> Decimal:
    """Every name is 0: the values a draft's formulas must survive (DESIGN §11)."""
    return ZERO


def lookup_in(values: Mapping[str, Decimal], where: str) -> Lookup:
    """A lookup over known values; an unknown name is a FormulaError."""
    def lookup(name: str) -> Decimal:
        try:
            return values[name]
        except KeyError:
            raise FormulaError(where, None, f"unknown name {name!r}") from None
    return lookup

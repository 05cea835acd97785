"""A rule set's scorecard (DESIGN §11): `parameters`, `indicators` and `score.formula`, as
validated data. Validation lists every problem at once, by JSON path, so an operator fixes a
draft in one pass: unknown names, cycles, syntax, unknown functions, raw indicators without a
default, and formulas that fail when every name is 0 (an unguarded division)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from types import MappingProxyType
from typing import Any

from ledger.errors import FormulaError
from ledger.formula import FUNCTIONS, KEYWORDS, Node, evaluate, names_in, parse, zero_lookup

KINDS = ("raw", "computed", "score")
PART_ONE_NAMES = ("base", "points_to_score", "error_points", "adjustment_points", "actual",
                  "stock_task", "incremental_task", "target", "customers_held")
"""The figures of part one a formula may use, exact and unrounded."""
QUALITATIVE_PREFIX = "qual_"
"""Reserved for the qualitative results of DESIGN §12 (`qual_teamwork`)."""
MAX_PARAMETERS = 200
MAX_INDICATORS = 200
MAX_TEXT_CHARS = 200

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_QUALITATIVE = re.compile(r"^qual_[a-z][a-z0-9_]{0,57}$")
_DECIMAL = re.compile(r"^-?[0-9]{1,15}(\.[0-9]{1,12})?$")
_INDICATOR_KEYS = ("kind", "title", "unit", "default", "formula")
SCORE_FORMULA = "score.formula"

Problems = dict[str, list[str]]


@dataclass(frozen=True)
class Parameter:
    """A number, or one number per manager grade."""

    name: str
    value: Decimal | None = None
    by_grade: Mapping[str, Decimal] | None = field(default=None, hash=False)

    def value_for(self, grade: str) -> Decimal:
        if self.by_grade is not None:
            return self.by_grade[grade]
        return self.value if self.value is not None else Decimal(0)


@dataclass(frozen=True)
class Indicator:
    name: str
    kind: str
    title: str | None = None
    unit: str | None = None
    default: Decimal | None = None
    formula_text: str | None = None
    formula: Node | None = None


@dataclass(frozen=True)
class Scorecard:
    """Empty in a rule set without the sections (2026.1): then part one's score holds."""

    parameters: Mapping[str, Parameter] = field(default_factory=dict, hash=False)
    indicators: Mapping[str, Indicator] = field(default_factory=dict, hash=False)
    score_formula_text: str | None = None
    score_formula: Node | None = None
    order: tuple[str, ...] = ()
    """Computed and score indicators, each after every indicator its formula uses."""

    @property
    def is_empty(self) -> bool:
        return not self.parameters and not self.indicators and self.score_formula is None

    def raw_indicators(self) -> list[str]:
        return [name for name, i in self.indicators.items() if i.kind == "raw"]

    def declares_raw(self, name: str) -> bool:
        found = self.indicators.get(name)
        return found is not None and found.kind == "raw"


def is_qualitative(name: str) -> bool:
    return bool(_QUALITATIVE.match(name))


# --- validation -------------------------------------------------------------------------


def parse_scorecard(
    parameters: object, indicators: object, formula: object, grades: tuple[str, ...]
) -> tuple[Scorecard | None, Problems]:
    """The scorecard and every problem found (by JSON path); None when there are problems."""
    problems: Problems = {}
    found_parameters = _parameters(parameters, grades, problems)
    found_indicators = _indicators(indicators, set(found_parameters), problems)
    score_formula = _formula(formula, SCORE_FORMULA, problems) if formula is not None else None
    # Declared names count as known even when their entry has a problem of its own, so one
    # mistake is reported once, not again at every formula that uses the name.
    known = _declared(parameters) | _declared(indicators) | set(PART_ONE_NAMES)
    formulas = {f"indicators.{n}.formula": i.formula for n, i in found_indicators.items()
                if i.formula is not None}
    if score_formula is not None:
        formulas[SCORE_FORMULA] = score_formula
    for path, tree in formulas.items():
        _check_names(tree, known, path, problems)
        _check_zero(tree, path, problems)
    order = _order(found_indicators, problems)
    if problems:
        return None, problems
    text = formula if isinstance(formula, str) else None
    return Scorecard(MappingProxyType(found_parameters), MappingProxyType(found_indicators),
                     text, score_formula, order), problems


def _declared(raw: object) -> set[str]:
    if not isinstance(raw, Mapping):
        return set()
    return {name for name in raw if _name_problem(name) is None}


def _add(problems: Problems, path: str, message: str) -> None:
    problems.setdefault(path, []).append(message)


def _name_problem(name: object) -> str | None:
    if not isinstance(name, str) or not _NAME.match(name):
        return "a name is a lower-case letter, then letters, digits or '_' (at most 63)"
    if name.startswith(QUALITATIVE_PREFIX):
        return "the prefix qual_ is reserved for qualitative results (DESIGN §12)"
    if name in PART_ONE_NAMES:
        return f"{name} is a figure of part one and cannot be redefined"
    if name in FUNCTIONS or name in KEYWORDS:
        return f"{name} is a word of the formula language"
    return None


def _decimal(value: object, path: str, problems: Problems) -> Decimal | None:
    # As elsewhere in a rule set: decimal strings (or whole numbers), never binary floats.
    if type(value) is int:
        return Decimal(value)
    if isinstance(value, str) and _DECIMAL.match(value):
        return Decimal(value)
    _add(problems, path, 'must be a decimal string such as "0.02"')
    return None


def _parameters(raw: object, grades: tuple[str, ...], problems: Problems) -> dict[str, Parameter]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping) or len(raw) > MAX_PARAMETERS:
        _add(problems, "parameters", f"must be an object of at most {MAX_PARAMETERS} entries")
        return {}
    found: dict[str, Parameter] = {}
    for name, value in raw.items():
        path = f"parameters.{name}"
        wrong = _name_problem(name)
        if wrong:
            _add(problems, path, wrong)
            continue
        parameter = _parameter(str(name), value, path, grades, problems)
        if parameter is not None:
            found[name] = parameter
    return found


def _parameter(
    name: str, value: object, path: str, grades: tuple[str, ...], problems: Problems
) -> Parameter | None:
    if not isinstance(value, Mapping):
        number = _decimal(value, path, problems)
        return None if number is None else Parameter(name, value=number)
    if set(value) != set(grades):
        _add(problems, path, f"a map by grade must name exactly the grades {', '.join(grades)}")
        return None
    numbers = {g: _decimal(value[g], f"{path}.{g}", problems) for g in grades}
    if any(n is None for n in numbers.values()):
        return None
    return Parameter(name, by_grade=MappingProxyType(
        {g: n for g, n in numbers.items() if n is not None}))


def _indicators(raw: object, parameters: set[str], problems: Problems) -> dict[str, Indicator]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping) or len(raw) > MAX_INDICATORS:
        _add(problems, "indicators", f"must be an object of at most {MAX_INDICATORS} entries")
        return {}
    found: dict[str, Indicator] = {}
    for name, entry in raw.items():
        path = f"indicators.{name}"
        wrong = _name_problem(name)
        if wrong is None and name in parameters:
            wrong = "is also a parameter: a name means one thing"
        if wrong:
            _add(problems, path, wrong)
            continue
        indicator = _indicator(str(name), entry, path, problems)
        if indicator is not None:
            found[name] = indicator
    return found


def _indicator(name: str, entry: object, path: str, problems: Problems) -> Indicator | None:
    if not isinstance(entry, Mapping):
        _add(problems, path, "must be an object")
        return None
    for key in entry:
        if key not in _INDICATOR_KEYS:
            _add(problems, f"{path}.{key}", "unknown key")
    kind = entry.get("kind")
    if kind not in KINDS:
        _add(problems, f"{path}.kind", f"must be one of {', '.join(KINDS)}")
        return None
    title = _text(entry.get("title"), f"{path}.title", problems)
    unit = _text(entry.get("unit"), f"{path}.unit", problems)
    if kind == "raw":
        return _raw(name, entry, path, title, unit, problems)
    if "default" in entry:
        _add(problems, f"{path}.default", f"only a raw indicator has a default, not a {kind} one")
    tree = _formula(entry.get("formula"), f"{path}.formula", problems)
    text = entry.get("formula")
    if tree is None or not isinstance(text, str):
        return None
    return Indicator(name, str(kind), title, unit, None, text, tree)


def _raw(
    name: str, entry: Mapping[str, Any], path: str, title: str | None, unit: str | None,
    problems: Problems,
) -> Indicator | None:
    if "formula" in entry:
        _add(problems, f"{path}.formula", "a raw indicator is reported, not computed")
    if "default" not in entry:
        _add(problems, f"{path}.default",
             "a raw indicator needs a default (its value while no report counts)")
        return None
    default = _decimal(entry["default"], f"{path}.default", problems)
    return None if default is None else Indicator(name, "raw", title, unit, default)


def _text(value: object, path: str, problems: Problems) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_TEXT_CHARS:
        _add(problems, path, f"must be a non-empty string of at most {MAX_TEXT_CHARS} characters")
        return None
    return value


def _formula(text: object, path: str, problems: Problems) -> Node | None:
    if not isinstance(text, str):
        _add(problems, path, "expected a formula (a string)")
        return None
    try:
        return parse(text, path)
    except FormulaError as refused:
        _add(problems, path, refused.message())
        return None


def _check_names(tree: Node, known: set[str], path: str, problems: Problems) -> None:
    for node in names_in(tree):
        if node.name not in known and not is_qualitative(node.name):
            _add(problems, path, f"at character {node.at}: unknown name {node.name!r}; "
                                 "expected an indicator, a parameter, a figure of part one "
                                 "or qual_<dimension>")


def _check_zero(tree: Node, path: str, problems: Problems) -> None:
    try:
        evaluate(tree, zero_lookup, path)
    except FormulaError as failed:
        _add(problems, path, f"fails when every name is 0: {failed.message()}")


def _order(indicators: Mapping[str, Indicator], problems: Problems) -> tuple[str, ...]:
    """Computed and score indicators in dependency order; every cycle is a problem."""
    formulas = {name: i.formula for name, i in indicators.items() if i.formula is not None}
    uses = {name: sorted({n.name for n in names_in(tree)} & set(formulas))
            for name, tree in formulas.items()}
    order: list[str] = []
    state: dict[str, str] = {}
    for start in sorted(uses):
        _visit(start, uses, state, order, problems)
    return tuple(order)


def _visit(
    start: str, uses: Mapping[str, list[str]], state: dict[str, str], order: list[str],
    problems: Problems,
) -> None:
    # Iterative depth-first search: an indicator is placed after everything it uses.
    stack: list[tuple[str, int]] = [(start, 0)]
    path: list[str] = []
    while stack:
        name, index = stack.pop()
        if index == 0:
            if state.get(name) == "done":
                continue
            if state.get(name) == "open":
                cycle = path[path.index(name):] + [name]
                _add(problems, f"indicators.{name}.formula", "cycle: " + " → ".join(cycle))
                continue
            state[name] = "open"
            path.append(name)
        following = uses.get(name, [])
        if index < len(following):
            stack.append((name, index + 1))
            stack.append((following[index], 0))
            continue
        state[name] = "done"
        path.pop()
        order.append(name)


# --- serialising ------------------------------------------------------------------------------


def parameters_document(card: Scorecard) -> dict[str, Any]:
    return {name: (format(p.value or 0, "f") if p.by_grade is None
                   else {g: format(v, "f") for g, v in p.by_grade.items()})
            for name, p in card.parameters.items()}


def indicators_document(card: Scorecard) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for name, indicator in card.indicators.items():
        entry: dict[str, Any] = {"kind": indicator.kind}
        for key in ("title", "unit", "formula_text"):
            value = getattr(indicator, key)
            if value is not None:
                entry[key.removesuffix("_text")] = value
        if indicator.default is not None:
            entry["default"] = format(indicator.default, "f")
        found[name] = entry
    return found


def scorecard_parameters(card: Scorecard) -> dict[str, Decimal | str]:
    """Every number and formula of the scorecard, keyed by its JSON path (for diffs)."""
    found: dict[str, Decimal | str] = {}
    for name, p in card.parameters.items():
        if p.by_grade is None:
            found[f"parameters.{name}"] = p.value_for("")
        else:
            found.update({f"parameters.{name}.{g}": v for g, v in p.by_grade.items()})
    for name, indicator in card.indicators.items():
        if indicator.default is not None:
            found[f"indicators.{name}.default"] = indicator.default
        if indicator.formula_text is not None:
            found[f"indicators.{name}.formula"] = indicator.formula_text
    if card.score_formula_text is not None:
        found[SCORE_FORMULA] = card.score_formula_text
    return found

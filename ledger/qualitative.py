"""A rule set's qualitative items and consequences (DESIGN §12–§13), as validated data.

`qualitative_items` are what assessors score (a dimension, a title, a maximum and the
standard to score by); `consequences` say how many excellent quarters in a row bring the
standing flags. Both sections are optional: without items nothing is assessed, and without
`consequences` the defaults hold, so the shipped 2026.1 has standings too.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

Problems = dict[str, list[str]]

DEFAULT_EXCELLENT_STREAK = 2
"""Seed 001: two excellent quarters in a row bring priority and candidacy."""
MAX_STREAK = 8
MAX_ITEMS = 200
MAX_ITEM_SCORE = Decimal(1000)
MAX_TITLE_CHARS = 200
MAX_STANDARD_CHARS = 2000
_CODE = re.compile(r"^[A-Z][A-Z0-9_]{0,15}$")
_DIMENSION = re.compile(r"^[a-z][a-z0-9_]{0,57}$")
_ONE_PLACE = re.compile(r"^[0-9]{1,4}(\.[0-9])?$")
_ITEM_KEYS = ("dimension", "title", "max", "standard")


@dataclass(frozen=True)
class QualitativeItem:
    """One thing assessors score, from 0 to `max` with at most one decimal place."""

    code: str
    dimension: str
    title: str
    max: Decimal
    standard: str | None = None


@dataclass(frozen=True)
class Consequences:
    """How many excellent quarters in a row bring premium priority and candidacy."""

    excellent_streak: int = DEFAULT_EXCELLENT_STREAK


def parse_items(raw: object, problems: Problems) -> dict[str, QualitativeItem]:
    """The items of `qualitative_items` (absent: none); problems are recorded by path."""
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        _add(problems, "qualitative_items", "must be an object")
        return {}
    if len(raw) > MAX_ITEMS:
        _add(problems, "qualitative_items", f"at most {MAX_ITEMS} items")
    found = {}
    for code, entry in raw.items():
        item = _item(code, entry, f"qualitative_items.{code}", problems)
        if item is not None:
            found[code] = item
    return found


def _item(code: object, entry: object, path: str, problems: Problems) -> QualitativeItem | None:
    before = sum(len(v) for v in problems.values())
    if not isinstance(code, str) or not _CODE.match(code):
        _add(problems, path, "an item code is upper case letters and digits, such as Q1")
    if not isinstance(entry, Mapping):
        _add(problems, path, "must be an object")
        return None
    for key in entry:
        if key not in _ITEM_KEYS:
            _add(problems, f"{path}.{key}", "unknown key")
    dimension = entry.get("dimension")
    if not isinstance(dimension, str) or not _DIMENSION.match(dimension):
        _add(problems, f"{path}.dimension", "must be lower case, such as teamwork")
    title = _text(entry.get("title"), f"{path}.title", MAX_TITLE_CHARS, problems, required=True)
    standard = _text(entry.get("standard"), f"{path}.standard", MAX_STANDARD_CHARS, problems)
    maximum = _maximum(entry.get("max"), f"{path}.max", problems)
    if sum(len(v) for v in problems.values()) > before or maximum is None:
        return None
    return QualitativeItem(str(code), str(dimension), str(title), maximum, standard)


def _maximum(value: object, path: str, problems: Problems) -> Decimal | None:
    # A whole number or a decimal with one place (the API reads JSON numbers as Decimal).
    if isinstance(value, bool) or not isinstance(value, (int, str, Decimal)) \
            or not _ONE_PLACE.match(str(value)):
        _add(problems, path, 'must be a number such as 10 or "7.5" (one decimal place)')
        return None
    found = Decimal(str(value))
    if not Decimal(0) < found <= MAX_ITEM_SCORE:
        _add(problems, path, f"must be above 0 and at most {MAX_ITEM_SCORE}")
        return None
    return found


def _text(value: object, path: str, limit: int, problems: Problems,
          required: bool = False) -> str | None:
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        _add(problems, path, f"must be text of 1 to {limit} characters")
        return None
    return value


def parse_consequences(raw: object, problems: Problems) -> Consequences:
    """`consequences` (absent: the defaults of DESIGN §13)."""
    if raw is None:
        return Consequences()
    if not isinstance(raw, Mapping):
        _add(problems, "consequences", "must be an object")
        return Consequences()
    for key in raw:
        if key != "excellent_streak":
            _add(problems, f"consequences.{key}", "unknown key")
    streak = raw.get("excellent_streak", DEFAULT_EXCELLENT_STREAK)
    if isinstance(streak, bool) or not isinstance(streak, int) or not 1 <= streak <= MAX_STREAK:
        _add(problems, "consequences.excellent_streak",
             f"must be a whole number from 1 to {MAX_STREAK}")
        return Consequences()
    return Consequences(streak)


def items_document(items: Mapping[str, QualitativeItem]) -> dict[str, Any]:
    """The JSON shape of `qualitative_items`, as parse_items reads it."""
    document: dict[str, Any] = {}
    for code, item in items.items():
        entry: dict[str, Any] = {"dimension": item.dimension, "title": item.title,
                                 "max": format(item.max, "f")}
        if item.standard is not None:
            entry["standard"] = item.standard
        document[code] = entry
    return document


def _add(problems: Problems, path: str, message: str) -> None:
    problems.setdefault(path, []).append(message)

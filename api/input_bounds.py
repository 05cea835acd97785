"""What no request may bring in, checked before any field is read: the bounds on raw input.

A JSON body is bounded in depth before it is parsed (Python's parser would otherwise recurse
until it fails), integers too long to be a field's value are kept as Decimal so the field
refuses them by name instead of the parser doing arithmetic on them, and no text anywhere
in a request - body, query or path - may hold a NUL or a lone surrogate: PostgreSQL cannot
store the one, UTF-8 cannot encode the other, and either would fail far from its cause.
What text the ledger can store, and which years it reckons with, are the core's rules
(ledger.rules); this module applies them to the raw request.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from ledger.rules import unstorable_text

MAX_JSON_DEPTH = 32
"""Deepest nesting of arrays and objects a body may have (ours need 4)."""

MAX_INT_DIGITS = 30
"""Longer integer literals are read as Decimal: no integer field admits them anyway."""

_STRINGS = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKETS = bytes(range(256)).translate(None, b"[]{}")


class PoisonedInput(ValueError):
    """A body that cannot be read safely (too deep); the caller turns it into a 400."""


def json_depth(data: bytes) -> int:
    """How deeply arrays and objects nest in a JSON text, without parsing it."""
    depth = deepest = 0
    for bracket in _STRINGS.sub(b'""', data).translate(None, _BRACKETS):
        depth += 1 if bracket in b"[{" else -1
        deepest = max(deepest, depth)
    return deepest


def parse_json(data: bytes) -> Any:
    """The body as JSON: numbers as Decimal (never float), bounded depth and integers."""
    if json_depth(data) > MAX_JSON_DEPTH:
        raise PoisonedInput(f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
    return json.loads(data.decode("utf-8"), parse_float=Decimal, parse_int=_integer,
                      parse_constant=_no_constant)


def _integer(text: str) -> int | Decimal:
    return int(text) if len(text.lstrip("-")) <= MAX_INT_DIGITS else Decimal(text)


def _no_constant(name: str) -> Any:
    raise json.JSONDecodeError(f"{name} is not a number", name, 0)


def unstorable_texts(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """(field path, problem) for every key or string in a parsed body that cannot be stored."""
    if isinstance(value, str):
        problem = unstorable_text(value)
        if problem is not None:
            yield path or "body", problem
    elif isinstance(value, dict):
        for key, item in value.items():
            here = f"{path}.{key}" if path else str(key)
            problem = unstorable_text(str(key))
            if problem is not None:
                yield here, f"the name {problem}"
            yield from unstorable_texts(item, here)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from unstorable_texts(item, f"{path}.{index}" if path else str(index))

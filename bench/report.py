"""What every section of the run hands back: printable rows, named metrics and goals."""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Goal:
    """A target from the issue, judged on one measured value (a ratio where possible)."""

    name: str
    measured: float | None
    target: float
    unit: str
    at_most: bool = False
    note: str = ""

    @property
    def met(self) -> bool | None:
        if self.measured is None:
            return None
        if self.at_most:
            return self.measured <= self.target
        return self.measured >= self.target

    @property
    def verdict(self) -> str:
        return {True: "met", False: "NOT MET", None: "not measured"}[self.met]

    def as_dict(self) -> dict[str, Any]:
        return {"measured": self.measured, "target": self.target, "unit": self.unit,
                "comparison": "<=" if self.at_most else ">=", "met": self.met}


@dataclass
class Section:
    """One part of the run: a title, a table, flat metrics and the goals it judges."""

    name: str
    title: str
    header: tuple[str, ...] = ()
    rows: list[tuple[Any, ...]] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)
    goals: list[Goal] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0


def percentile(values: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile (no interpolation): a value that was really observed."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    if not numerator or not denominator:
        return None
    return round(numerator / denominator, 3)


def fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if math.isnan(value):
            return "-"
        if abs(value) >= 1000:
            return f"{value:,.0f}"
        if abs(value) >= 10:
            return f"{value:.1f}"
        return f"{value:.3g}" if abs(value) < 1 else f"{value:.2f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [list(header)] + [[fmt(v) for v in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]

    def line(row: Sequence[str]) -> str:
        # The first column is a name (left-aligned); the rest are figures (right-aligned).
        return "  ".join(
            cell.ljust(widths[i]) if i == 0 else cell.rjust(widths[i])
            for i, cell in enumerate(row)
        ).rstrip()

    return "\n".join([line(cells[0]), line(["-" * w for w in widths])]
                     + [line(row) for row in cells[1:]])


def goals_table(goals: Sequence[Goal]) -> str:
    rows = [
        (g.name, g.measured, ("<= " if g.at_most else ">= ") + fmt(float(g.target)), g.unit,
         g.verdict)
        for g in goals
    ]
    return table(("goal", "measured", "target", "unit", "verdict"), rows)


def say(message: str) -> None:
    """Progress on stderr, so stdout holds only the tables and the JSON line."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


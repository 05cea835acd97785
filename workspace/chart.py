"""The score chart as server-rendered SVG geometry: one step per timeline event.

Pure arithmetic on the timeline the read side answers (no Flask, no templates), so the
chart can be tested alone; `templates/macros.html` draws it. The score starts at the
level before the first event and moves only at events, so it is drawn as a staircase.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

WIDTH = 720
HEIGHT = 260
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 16, 36
MAX_STEPS = 500
"""A quarter with more score-moving events than this is drawn to its first MAX_STEPS."""


@dataclass(frozen=True)
class Step:
    """One event on the chart: where it sits, what it did, where its trail is."""

    x: float
    y: float
    band_x: float
    band_width: float
    score_after: int
    effect: int
    label: str
    href: str | None


@dataclass(frozen=True)
class Chart:
    path: str
    steps: tuple[Step, ...]
    ticks: tuple[tuple[float, int], ...]
    start_score: int
    width: int = WIDTH
    height: int = HEIGHT
    plot_left: int = LEFT
    plot_right: int = WIDTH - RIGHT
    plot_bottom: int = HEIGHT - BOTTOM


def score_chart(items: Sequence[dict[str, Any]], links: Sequence[str | None],
                labels: Sequence[str], score: int) -> Chart:
    """The staircase of `items` (timeline steps with `effect` and `score_after`), each step
    linking to `links[i]` and titled `labels[i]`; `score`, the figure, is the flat line of
    a quarter that no event moved."""
    shown = list(items)[:MAX_STEPS]
    start = int(shown[0]["score_after"]) - int(shown[0]["effect"]) if shown else score
    levels = [start, *(int(item["score_after"]) for item in shown)]
    low, high = _range(levels)
    band = (WIDTH - LEFT - RIGHT) / (len(shown) + 1)

    def y(score: int) -> float:
        return round(TOP + (high - score) * (HEIGHT - TOP - BOTTOM) / (high - low), 1)

    path = [f"M{LEFT},{y(start)}"]
    steps = []
    for index, item in enumerate(shown):
        x = round(LEFT + band * (index + 1), 1)
        path.append(f"H{x}V{y(int(item['score_after']))}")
        steps.append(Step(x=x, y=y(int(item["score_after"])), band_x=round(x - band / 2, 1),
                          band_width=round(band, 1), score_after=int(item["score_after"]),
                          effect=int(item["effect"]), label=labels[index], href=links[index]))
    path.append(f"H{WIDTH - RIGHT}")
    ticks = tuple((y(level), level) for level in _ticks(low, high))
    return Chart(path="".join(path), steps=tuple(steps), ticks=ticks, start_score=start)


def _range(levels: list[int]) -> tuple[int, int]:
    """The vertical range: whole hundreds around every level, never flat."""
    low = (min(levels) // 100) * 100
    high = -(-max(levels) // 100) * 100
    return (low, high) if high > low else (low - 100, high + 100 if high == low else high)


def _ticks(low: int, high: int) -> list[int]:
    span = high - low
    every = 100 if span <= 500 else 200 if span <= 1000 else -(-span // 500) * 100
    return list(range(low, high + 1, every))

"""The score chart's geometry alone (workspace/chart.py): a staircase, one step per event."""

from __future__ import annotations

from typing import Any

from workspace.chart import HEIGHT, WIDTH, score_chart


def steps(*moves: tuple[int, int]) -> list[dict[str, Any]]:
    return [{"effect": effect, "score_after": after} for effect, after in moves]


def test_each_event_is_one_step_from_the_level_before_it() -> None:
    chart = score_chart(steps((-10, 990), (-50, 940), (-200, 740)),
                        ["/a", "/b", None], ["B1", "C7", "S3"], 740)
    assert chart.start_score == 1000
    assert [s.score_after for s in chart.steps] == [990, 940, 740]
    assert [s.href for s in chart.steps] == ["/a", "/b", None]
    assert [s.label for s in chart.steps] == ["B1", "C7", "S3"]
    xs = [s.x for s in chart.steps]
    assert xs == sorted(xs) and 0 < xs[0] and xs[-1] < WIDTH
    ys = [s.y for s in chart.steps]
    assert ys == sorted(ys)  # a falling score goes down the picture
    # The path: a level, then for each step across and down, then on to the right edge.
    assert chart.path.count("H") == 4 and chart.path.count("V") == 3
    assert [level for _, level in chart.ticks] == [700, 800, 900, 1000]


def test_a_rising_step_after_a_decision_goes_back_up() -> None:
    chart = score_chart(steps((-260, 740), (200, 940)), [None, None], ["", ""], 940)
    assert chart.steps[1].y < chart.steps[0].y and chart.steps[1].effect == 200


def test_a_quarter_no_event_moved_is_one_flat_line_at_the_score() -> None:
    chart = score_chart([], [], [], 1000)
    assert chart.steps == () and chart.start_score == 1000
    assert chart.path.startswith("M") and "V" not in chart.path
    assert all(0 <= y <= HEIGHT for y, _ in chart.ticks)


def test_a_disqualification_to_zero_stays_inside_the_picture() -> None:
    chart = score_chart(steps((-1000, 0)), [None], [""], 0)
    assert all(0 <= s.y <= HEIGHT for s in chart.steps)
    assert chart.ticks[0][1] == 0 and chart.ticks[-1][1] == 1000

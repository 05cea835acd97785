"""A score computed by a formula of 10 indicators against today's score query (issue 13).

On the loaded store, the same managers and business dates are asked twice, both "now"
(no `known_at`): first under 2026.1 (part one's score: deductions and adjustments), then
after a rule set with 10 indicators (6 raw, reported for every sampled manager; 3 computed;
1 score) and a score formula is published from the period's first day. The formula uses
`actual` and `target`, so the second query also loads the period's postings: that is the
cost being measured. Issue 13 asks for at most 2× today's query.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import Any

from bench.report import Goal, Section, percentile, say
from ledger.application import LedgerApplication
from ledger.audit import AuditContext, acting_as
from ledger.ruleset_document import default_document
from projections.read_side import ReadSide

VERSION = "2026.9"
PERIOD = "2026Q1"
RAW = ("deposits", "loans", "npl_ratio", "new_customers", "complaints", "cross_sales")
BENCH = AuditContext(actor="bench", role="operator", request_id="bench-formula")
REPORTS_PER_BATCH = 1_000


def scorecard() -> dict[str, Any]:
    """2026.1 with 10 indicators and a score formula that uses all of them."""
    document = default_document()
    document["version"] = VERSION
    document["parameters"] = {"deposit_goal": {"A": "60000000", "B": "40000000",
                                               "C": "20000000"}}
    indicators: dict[str, Any] = {name: {"kind": "raw", "default": "0"} for name in RAW}
    indicators.update({
        "deposit_rate": {"kind": "computed",
                         "formula": "if(deposit_goal > 0, deposits / deposit_goal, 0)"},
        "profit_rate": {"kind": "computed", "formula": "if(target > 0, actual / target, 0)"},
        "risk_band": {"kind": "computed",
                      "formula": "band(npl_ratio, [[0.01, 200], [0.02, 150], [0.03, 100]], 0)"},
        "points": {"kind": "score", "formula": (
            "clamp(240 * profit_rate + 120 * deposit_rate, 0, 400) + risk_band"
            " + min(new_customers * 10, 100) + min(cross_sales, 50) - complaints * 5"
            " + round(loans / 1000000, 0)")},
    })
    document["indicators"] = indicators
    document["score"]["formula"] = ("points + 200 - error_points * points_to_score"
                                    " + adjustment_points")
    return document


def _scores(figures: ReadSide, drawn: Sequence[tuple[str, date]]) -> list[float]:
    latencies = []
    for manager, as_of in drawn:
        started = time.perf_counter()
        figures.score(manager, PERIOD, as_of=as_of)
        latencies.append((time.perf_counter() - started) * 1000)
    return latencies


def _publish_and_report(app: LedgerApplication, managers: Sequence[str]) -> None:
    items = [dict(indicator=name, manager_id=m, period=PERIOD, measured_on=date(2026, 1, 15),
                  value=Decimal(1000 + n), source_system="BENCH", external_id=f"{m}-{name}")
             for m in sorted(set(managers)) for n, name in enumerate(RAW)]
    with acting_as(BENCH):
        app.draft_ruleset(scorecard())
        app.publish_ruleset(VERSION)
        for start in range(0, len(items), REPORTS_PER_BATCH):
            app.report_indicators(items[start:start + REPORTS_PER_BATCH])


def measure(
    app: LedgerApplication, figures: ReadSide, drawn: Sequence[tuple[str, date]],
    section: Section,
) -> None:
    """Adds the two score queries, their ratio and the issue's goal to `section`.

    It appends a rule set and reports to the store, so it runs after every other query."""
    say(f"queries: {len(drawn)} score queries now, before and after a 10-indicator formula")
    today = _scores(figures, drawn)
    _publish_and_report(app, [manager for manager, _ in drawn])
    figures.catch_up(timeout=600)
    _scores(figures, drawn[:5])  # warm the parsed rule set and its statement cache
    formula = _scores(figures, drawn)
    for name, values in (("score now, 2026.1", today),
                         (f"score now, {VERSION}: 10 indicators + formula", formula)):
        p50, p95, p99 = (round(percentile(values, f), 2) for f in (0.5, 0.95, 0.99))
        section.rows.append((name, len(values), p50, p95, p99, round(max(values), 2),
                             round(1000 * len(values) / sum(values), 1)))
    ratio = round(percentile(formula, 0.5) / percentile(today, 0.5), 2)
    ratio_p95 = round(percentile(formula, 0.95) / percentile(today, 0.95), 2)
    section.metrics.update({"formula_score.ratio_p50": ratio,
                            "formula_score.ratio_p95": ratio_p95})
    section.goals.append(Goal("formula score (10 indicators) / today's score, p50", ratio, 2,
                              "×", at_most=True))

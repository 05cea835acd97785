"""Score and pay at an `as_of` date and a `known_at` instant, on the loaded log.

After the rebuild the facts are at the head, so each query is what the API's figure
endpoints run (projections/queries.py `ReadSide.score` / `ReadSide.pay`, in process, without
HTTP): the `known_at` instant becomes a log position (an index lookup on recorded_at), the
tracking position is checked (read your writes), the manager's facts up to that position
are loaded and the figure is computed. Managers, dates and instants are drawn at random
(seeded) over the whole log, so most answers are about the past, as an auditor's are.
The read models are ANALYZEd first (see `Store.analyze`).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from datetime import date, datetime, timedelta

import psycopg2

from bench import formula_scores
from bench.query_baseline import Baseline
from bench.report import Goal, Section, percentile, ratio, say
from bench.store import Store
from ledger.application import LedgerApplication
from persistence.url import environment_for
from projections.read_side import ReadSide

PERIOD = "2026Q1"
FIRST_DAY = date(2026, 1, 1)
DAYS = 90
WARM_UP = 20
AS_OF_GOAL_EVENTS = 1_000_000
OVER_BASELINE_GOAL = 5.0
"""Issue 18: a figure takes at most 5x the one prepared SELECT of its fact rows (p50)."""


def samples(store: Store, count: int, seed: int = 11) -> list[tuple[str, date, datetime]]:
    rng = random.Random(seed)
    span = (store.last_recorded - store.first_recorded).total_seconds()
    return [
        (f"M{rng.randrange(store.managers):05d}",
         FIRST_DAY + timedelta(days=rng.randrange(DAYS)),
         store.first_recorded + timedelta(seconds=rng.uniform(0, span)))
        for _ in range(count)
    ]


def run(store: Store, count: int) -> Section:
    section = Section("query", f"ReadSide at as_of/known_at, {store.events:,} events in the "
                      f"store ({count} of each, in process)",
                      ("query", "count", "p50 ms", "p95 ms", "p99 ms", "max ms", "queries/s"))
    store.analyze()
    app = LedgerApplication(env=environment_for(store.url))
    conn = psycopg2.connect(store.url)
    try:
        figures = ReadSide(app)
        baseline = Baseline(conn)
        first, last = FIRST_DAY, FIRST_DAY + timedelta(days=DAYS - 1)
        queries: dict[str, Callable[[str, date, datetime], object]] = {
            "score": lambda m, d, k: figures.score(m, PERIOD, as_of=d, known_at=k),
            "score_baseline": lambda m, d, k: baseline.score(m, k),
            "pay": lambda m, d, k: figures.pay(m, PERIOD, as_of=d, known_at=k),
            "pay_baseline": lambda m, d, k: baseline.pay(m, k, first, last),
        }
        say(f"queries: {count} score and {count} pay queries at random as_of/known_at, "
            "each beside its baseline (one prepared SELECT of the same fact rows)")
        drawn = samples(store, WARM_UP + count)
        for manager, as_of, known_at in drawn[:WARM_UP]:
            for query in queries.values():
                query(manager, as_of, known_at)
        latencies: dict[str, list[float]] = {name: [] for name in queries}
        for manager, as_of, known_at in drawn[WARM_UP:]:
            for name, query in queries.items():  # taking turns: the same noise for each
                started = time.perf_counter()
                query(manager, as_of, known_at)
                latencies[name].append((time.perf_counter() - started) * 1000)
        # Last: it publishes a rule set and reports indicators into the store.
        formula_scores.measure(app, figures, [(m, d) for m, d, _ in drawn[WARM_UP:]], section)
    finally:
        conn.close()
        app.close()
    for name, values in latencies.items():
        p50, p95, p99 = (round(percentile(values, f), 2) for f in (0.5, 0.95, 0.99))
        label = (f"{name}(manager, {PERIOD}, as_of, known_at)" if "_" not in name else
                 "  its baseline: one prepared SELECT")
        section.rows.append((label, len(values), p50,
                             p95, p99, round(max(values), 2),
                             round(1000 * len(values) / sum(values), 1)))
        section.metrics.update({f"{name}.p50_ms": p50, f"{name}.p95_ms": p95,
                                f"{name}.p99_ms": p99, f"{name}.count": len(values)})
        if name.endswith("_baseline"):
            continue
        at = "" if store.events >= AS_OF_GOAL_EVENTS else f" (at {store.events:,} events, not 1M)"
        section.goals.append(Goal(f"as-of {name} p99{at}", p99, 20, "ms", at_most=True))
        over = ratio(p50, percentile(latencies[f"{name}_baseline"], 0.5))
        section.metrics[f"{name}.over_baseline"] = over
        section.metrics[f"{name}.p99_over_baseline_p99"] = ratio(
            p99, percentile(latencies[f"{name}_baseline"], 0.99))
        section.goals.append(Goal(f"query.{name}.over_baseline", over, OVER_BASELINE_GOAL,
                                  "x (p50)", at_most=True))
    section.metrics["events"] = store.events
    section.notes.append(
        "after ANALYZE: the rebuild leaves the read models' planner statistics stale (until "
        "autovacuum gets to them), which makes the same queries slower right after a rebuild."
    )
    return section

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
from datetime import date, datetime, timedelta

from bench import formula_scores
from bench.report import Goal, Section, percentile, say
from bench.store import Store
from ledger.application import LedgerApplication
from persistence.url import environment_for
from projections.read_side import ReadSide

PERIOD = "2026Q1"
FIRST_DAY = date(2026, 1, 1)
DAYS = 90
WARM_UP = 20
AS_OF_GOAL_EVENTS = 1_000_000


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
    try:
        figures = ReadSide(app)
        say(f"queries: {count} score and {count} pay queries at random as_of/known_at")
        drawn = samples(store, WARM_UP + count)
        for manager, as_of, known_at in drawn[:WARM_UP]:
            figures.score(manager, PERIOD, as_of=as_of, known_at=known_at)
            figures.pay(manager, PERIOD, as_of=as_of, known_at=known_at)
        latencies: dict[str, list[float]] = {"score": [], "pay": []}
        for manager, as_of, known_at in drawn[WARM_UP:]:
            for name, query in (("score", figures.score), ("pay", figures.pay)):
                started = time.perf_counter()
                query(manager, PERIOD, as_of=as_of, known_at=known_at)
                latencies[name].append((time.perf_counter() - started) * 1000)
        # Last: it publishes a rule set and reports indicators into the store.
        formula_scores.measure(app, figures, [(m, d) for m, d, _ in drawn[WARM_UP:]], section)
    finally:
        app.close()
    for name, values in latencies.items():
        p50, p95, p99 = (round(percentile(values, f), 2) for f in (0.5, 0.95, 0.99))
        section.rows.append((f"{name}(manager, {PERIOD}, as_of, known_at)", len(values), p50,
                             p95, p99, round(max(values), 2),
                             round(1000 * len(values) / sum(values), 1)))
        section.metrics.update({f"{name}.p50_ms": p50, f"{name}.p95_ms": p95,
                                f"{name}.p99_ms": p99, f"{name}.count": len(values)})
        at = "" if store.events >= AS_OF_GOAL_EVENTS else f" (at {store.events:,} events, not 1M)"
        section.goals.append(Goal(f"as-of {name} p99{at}", p99, 20, "ms", at_most=True))
    section.metrics["events"] = store.events
    section.notes.append(
        "after ANALYZE: the rebuild leaves the read models' planner statistics stale (until "
        "autovacuum gets to them), which makes the same queries slower right after a rebuild."
    )
    return section

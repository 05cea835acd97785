"""`ledger verify` over the loaded log, beside a raw scan of what it reads.

On the bench's log of real events (their states are a ledger's, not a filler's), verify
recomputes every link; the raw scan reads the same pages (`select_chain_inputs`, the state
digested in the database), one at a time, and computes nothing. Verify reads
`read_ahead_pages` at once where the recorder allows it (PostgreSQL), so it may outrun
the scan.
"""

from __future__ import annotations

import time
from typing import Any

from bench.report import Goal, Section, say
from bench.store import Store
from ledger.application import LedgerApplication
from persistence.url import environment_for
from persistence.verify import PAGE_SIZE, verify


def raw_scan(recorder: Any) -> int:
    """Reads every page verify reads, one page at a time; returns the events read."""
    after, count = 0, 0
    while rows := recorder.select_chain_inputs(after, PAGE_SIZE):
        count += len(rows)
        after = rows[-1].position
    return count


def measure_recorder(recorder: Any, events: int) -> dict[str, float]:
    """Verify a log of `events` events, then scan it raw; their rates and ratio."""
    started = time.perf_counter()
    result = verify(recorder)
    verify_seconds = time.perf_counter() - started
    if not (result.ok and result.checked == events):
        raise RuntimeError(f"verify of {events} events: {result}")
    started = time.perf_counter()
    scanned = raw_scan(recorder)
    scan_seconds = time.perf_counter() - started
    if scanned != events:
        raise RuntimeError(f"raw scan read {scanned} of {events} events")
    return {
        "verify_events_per_s": round(events / verify_seconds),
        "raw_scan_events_per_s": round(events / scan_seconds),
        "verify_over_raw_scan": round(scan_seconds / verify_seconds, 3),
    }


def run(store: Store) -> Section:
    section = Section("verify", f"ledger verify over {store.events:,} events (PostgreSQL)",
                      ("what", "events", "events/s", "verify/raw"))
    say(f"verify: the chain of {store.events:,} events, then a raw scan of the same pages")
    app = LedgerApplication(env=environment_for(store.url))
    try:
        # The whole log as it stands: the queries part appends a formula's rule set and
        # indicator reports after the load.
        events = int(app.recorder.max_notification_id() or 0)
        rates = measure_recorder(app.recorder, events)
    finally:
        app.close()
    section.rows += [
        (f"raw scan (select_chain_inputs pages of {PAGE_SIZE:,})", events,
         rates["raw_scan_events_per_s"], None),
        ("verify (recompute every link)", events, rates["verify_events_per_s"],
         rates["verify_over_raw_scan"]),
    ]
    section.metrics.update(rates)
    section.metrics["events"] = events
    section.goals.append(Goal("verify.verify_over_raw_scan", rates["verify_over_raw_scan"],
                              0.90, "x"))
    section.goals.append(Goal("verify rate", rates["verify_events_per_s"], 100_000,
                              "events/s"))
    return section

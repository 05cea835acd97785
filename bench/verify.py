"""`ledger verify` over the loaded log, beside a raw scan of what it reads.

persistence/verify_rate.py's measurement, on the bench's log of real events (their states
are a ledger's, not a filler's): verify recomputes every link; the raw scan reads the same
pages (`select_chain_inputs`, the state digested in the database), one at a time, and
computes nothing; verify reads two pages at once on PostgreSQL, so it may outrun the scan.
"""

from __future__ import annotations

from bench.report import Goal, Section, say
from bench.store import Store
from ledger.application import LedgerApplication
from persistence.url import environment_for
from persistence.verify import PAGE_SIZE
from persistence.verify_rate import measure_recorder


def run(store: Store) -> Section:
    section = Section("verify", f"ledger verify over {store.events:,} events (PostgreSQL)",
                      ("what", "events", "events/s", "verify/raw"))
    say(f"verify: the chain of {store.events:,} events, then a raw scan of the same pages")
    app = LedgerApplication(env=environment_for(store.url))
    try:
        rates = measure_recorder(app.recorder, store.events)
    finally:
        app.close()
    section.rows += [
        (f"raw scan (select_chain_inputs pages of {PAGE_SIZE:,})", store.events,
         rates["raw_scan_events_per_s"], None),
        ("verify (recompute every link)", store.events, rates["verify_events_per_s"],
         rates["verify_over_raw_scan"]),
    ]
    section.metrics.update(rates)
    section.metrics["events"] = store.events
    section.goals.append(Goal("verify rate", rates["verify_events_per_s"], 100_000,
                              "events/s"))
    return section

"""Measures `verify` over N events on SQLite and PostgreSQL, beside a raw scan of the log.

The raw scan reads the same pages verify reads, one at a time, without computing a link;
verify reads `read_ahead_pages` at once where the recorder allows it (PostgreSQL), so it
can outrun the scan.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import StoredEvent

from persistence.measure import scratch_database, with_database
from persistence.schema import upgrade
from persistence.url import environment_for
from persistence.verify import PAGE_SIZE, verify

BATCH = 1000


def fill(recorder: Any, events: int) -> None:
    """Append `events` small events in batches (the state size of a typical ledger event)."""
    state = b'{"actor":"sup-1","role":"supervisor","request_id":"r","name":"Manager"}' * 4
    for _ in range(events // BATCH):
        originator = uuid.uuid4()
        recorder.insert_events(
            [StoredEvent(originator, v, "ledger.manager:Manager.Registered", state)
             for v in range(1, BATCH + 1)]
        )


def raw_scan(recorder: Any) -> int:
    after, count = 0, 0
    while rows := recorder.select_chain_inputs(after, PAGE_SIZE):
        count += len(rows)
        after = rows[-1].position
    return count


def measure(url: str, events: int) -> dict[str, float]:
    from ledger.application import LedgerApplication  # noqa: PLC0415

    app = LedgerApplication(env=environment_for(url))
    try:
        fill(app.recorder, events)
        return measure_recorder(app.recorder, events)
    finally:
        app.close()


def measure_recorder(recorder: Any, events: int) -> dict[str, float]:
    """Verify a filled log of `events` events, then scan it raw; rates and their ratio."""
    started = time.perf_counter()
    result = verify(recorder)
    verify_seconds = time.perf_counter() - started
    if not (result.ok and result.checked == events):
        raise RuntimeError(f"verify of {events} events: {result}")
    started = time.perf_counter()
    raw_scan(recorder)
    scan_seconds = time.perf_counter() - started
    return {
        "verify_events_per_s": round(events / verify_seconds),
        "raw_scan_events_per_s": round(events / scan_seconds),
        "verify_over_raw_scan": round(scan_seconds / verify_seconds, 3),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--admin-url", default=os.environ.get(
        "LEDGER_TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"))
    args = parser.parse_args(argv)
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/verify.db"
        upgrade(url)
        results["sqlite"] = measure(url, args.events)
    with scratch_database(args.admin_url) as dbname:
        admin = with_database(args.admin_url, dbname)
        upgrade(admin)
        results["postgres"] = measure(with_database(args.admin_url, dbname, "ledger_service"),
                                      args.events)
    for backend, figures in results.items():
        print(f"{backend:9} " + "  ".join(f"{k}={v}" for k, v in figures.items()))
    print(json.dumps({"events": args.events, "verify": results}, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())

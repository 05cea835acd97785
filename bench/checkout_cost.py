"""What checking a pooled connection before use costs one single-event append.

Three ways to check a connection at checkout, on one datastore and one scratch database
(as the service role), in interleaved rounds so that a noisy neighbour slows all three:

- none: hand out whatever the pool holds (the datastore before connections healed);
- ours: PgConnectionPool's check (flags, a zero-timeout poll of the socket; a ping only
  when in doubt or after a long idle);
- ping: a `SELECT 1` round trip at every checkout (the library's `pre_ping`).

`python -m bench.checkout_cost [--appends N] [--rounds R]` prints the median microseconds
per append of each, and the difference from `none`; and, since on a busy machine that
difference drowns in the noise of the appends themselves, the median of each check alone
on an idle pooled connection.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable
from uuid import uuid4

from eventsourcing.persistence import StoredEvent

from persistence.postgres import PgApplicationRecorder, PgConnection, PgDatastore
from persistence.schema import upgrade
from persistence.scratch import scratch_database, with_database
from persistence.url import libpq_dsn

TOPIC = "bench.checkout:Appended"


def _ping(conn: PgConnection) -> bool:
    with conn.raw.cursor() as curs:
        curs.execute("SELECT 1")
    return True


def _rate(recorder: PgApplicationRecorder, appends: int) -> list[float]:
    """Microseconds of each of `appends` single-event appends."""
    times = []
    for _ in range(appends):
        event = [StoredEvent(uuid4(), 1, TOPIC, b"{}")]
        started = time.perf_counter()
        recorder.insert_events(event)
        times.append((time.perf_counter() - started) * 1e6)
    return times


def _check_alone(check: Callable[[PgConnection], bool], conn: PgConnection) -> float:
    """Median microseconds of one check of an idle, healthy connection."""
    times = []
    for _ in range(2000):
        started = time.perf_counter()
        check(conn)
        times.append((time.perf_counter() - started) * 1e6)
    return statistics.median(times)


def measure(service_url: str, appends: int, rounds: int) -> dict[str, dict[str, float]]:
    datastore = PgDatastore(libpq_dsn(service_url), pool_size=1, max_overflow=0)
    recorder = PgApplicationRecorder(datastore)
    pool = datastore.pool
    ours = pool._usable
    checks: dict[str, Callable[[PgConnection], bool]] = {
        "none": lambda conn: True, "ours": ours, "ping": _ping}
    samples: dict[str, list[float]] = {name: [] for name in checks}
    try:
        _rate(recorder, 50)  # warm up: the connection and its prepared statements
        for n in range(rounds):
            names = list(checks)[n % 3:] + list(checks)[:n % 3]
            for name in names:
                setattr(pool, "_usable", checks[name])  # noqa: B010 - swapped per round
                samples[name] += _rate(recorder, appends)
        setattr(pool, "_usable", ours)  # noqa: B010
        with datastore.connection() as conn:
            alone = {name: _check_alone(check, conn) for name, check in checks.items()}
    finally:
        datastore.close()
    return {"append": {name: statistics.median(v) for name, v in samples.items()},
            "check": alone}


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m bench.checkout_cost")
    p.add_argument("--appends", type=int, default=1000, help="per contender and round")
    p.add_argument("--rounds", type=int, default=6)
    p.add_argument("--admin-url", default=os.environ.get(
        "LEDGER_MEASURE_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"))
    p.add_argument("--service-role", default=os.environ.get("LEDGER_SERVICE_ROLE",
                                                            "ledger_service"))
    args = p.parse_args()
    with scratch_database(args.admin_url, "ledger_bench_checkout") as dbname:
        upgrade(with_database(args.admin_url, dbname))
        medians = measure(with_database(args.admin_url, dbname, user=args.service_role),
                          args.appends, args.rounds)
    appended, checked = medians["append"], medians["check"]
    print(json.dumps({
        "median_us_per_append": {k: round(v, 1) for k, v in appended.items()},
        "over_none_us": {k: round(v - appended["none"], 1) for k, v in appended.items()},
        "median_us_per_check_alone": {k: round(v, 2) for k, v in checked.items()},
    }))


if __name__ == "__main__":
    main()

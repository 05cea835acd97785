"""`scripts/bench`: every measurement in one run, a table per part, the goals, one JSON line.

Parts, in order (`--only` picks some, `--skip-*` leaves some out):
1. appends: ours vs the bare driver vs the library's recorder, SQLite and PostgreSQL;
2. http: gunicorn + wrk, /healthz beside POST /deductions and POST /contributions/batch;
3. a log of --events events loaded fast into scratch PostgreSQL, then on it:
   rebuild (vs a raw scan, with memory), as_of/known_at queries, and verify.
Progress goes to stderr; stdout holds the tables and, last, one line of JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from bench.report import Goal, Section, goals_table, say, table

DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
BUDGET_SECONDS = 15 * 60
PARTS = ("appends", "http", "rebuild", "queries", "verify")
STORE_PARTS = ("rebuild", "queries", "verify")
"""The parts that run on the loaded log (--skip-store leaves all three out)."""


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="scripts/bench", description=__doc__.splitlines()[0])
    size = p.add_argument_group("sizes")
    size.add_argument("--events", type=int, default=1_000_000,
                      help="events in the log for rebuild, queries and verify (default 1M)")
    size.add_argument("--append-events", type=int, default=3_000,
                      help="single-event saves per path and back end (default 3000)")
    size.add_argument("--append-batch-events", type=int, default=30_000,
                      help="events saved 100 per commit, per path and back end (default 30000)")
    size.add_argument("--rounds", type=int, default=10,
                      help="interleaved rounds the append paths take turns in (default 10)")
    size.add_argument("--queries", type=int, default=300,
                      help="score and pay queries each (default 300)")
    size.add_argument("--page", type=int, default=2000, help="rebuild page size (default 2000)")
    web = p.add_argument_group("http")
    web.add_argument("--http-seconds", type=int, default=10, help="per scenario (default 10)")
    web.add_argument("--http-connections", type=int, default=4, help="wrk -c (default 4)")
    web.add_argument("--http-threads", type=int, default=1, help="wrk -t (default 1)")
    web.add_argument("--workers", type=int, default=2, help="gunicorn workers (default 2)")
    web.add_argument("--http-batch", type=int, default=100,
                     help="postings per POST /contributions/batch (default 100)")
    where = p.add_argument_group("where")
    where.add_argument("--admin-url", default=os.environ.get("LEDGER_MEASURE_PG_ADMIN_URL",
                                                             DEFAULT_ADMIN_URL),
                       help="a PostgreSQL role that may CREATE DATABASE; scratch databases "
                       "are created and dropped (env LEDGER_MEASURE_PG_ADMIN_URL)")
    where.add_argument("--service-role",
                       default=os.environ.get("LEDGER_SERVICE_ROLE", "ledger_service"))
    chosen = p.add_argument_group("parts")
    chosen.add_argument("--only", action="append", choices=PARTS, metavar="PART",
                        help=f"run only this part (repeatable; one of {', '.join(PARTS)}); "
                        "queries run on the rebuilt read models, so they bring the rebuild")
    for part, what in (("appends", "appends"), ("http", "http"),
                       ("store", "the log's parts (rebuild, queries, verify)")):
        chosen.add_argument(f"--skip-{part}", action="store_true", help=f"leave out {what}")
    chosen.add_argument("--list-parts", action="store_true",
                        help="print the parts these arguments select, one a line, and exit")
    return p


def selected(args: argparse.Namespace) -> list[str]:
    """The parts to run, in run order: --only's (all when absent), less the skipped ones."""
    wanted = set(args.only or PARTS)
    if "queries" in wanted:
        wanted.add("rebuild")
    skipped = {part for part in ("appends", "http") if getattr(args, f"skip_{part}")}
    if args.skip_store:
        skipped.update(STORE_PARTS)
    return [part for part in PARTS if part in wanted and part not in skipped]


def check(args: argparse.Namespace, p: argparse.ArgumentParser) -> None:
    from bench.appends import BATCH

    if args.append_batch_events % BATCH or args.append_batch_events < BATCH * args.rounds:
        p.error(f"--append-batch-events must be a multiple of {BATCH}, at least "
                f"{BATCH} x --rounds")
    if args.append_events < args.rounds or args.rounds < 1:
        p.error("--append-events must be at least --rounds, and --rounds at least 1")
    if not 10_000 <= args.events <= 10_000_000:
        p.error("--events must be between 10,000 and 10,000,000")
    if not 1 <= args.http_batch <= 1000:
        p.error("--http-batch must be between 1 and 1000")
    if not selected(args):
        p.error("--only and --skip-* leave no part to run")


def machine() -> dict[str, Any]:
    return {"cpus": os.cpu_count(), "load_average": [round(x, 2) for x in os.getloadavg()],
            "python": platform.python_version(), "platform": platform.platform()}


def timed(run: Callable[[], Section]) -> Section:
    started = time.perf_counter()
    section = run()
    section.seconds = round(time.perf_counter() - started, 1)
    return section


def parts(args: argparse.Namespace) -> list[tuple[str, Callable[[], list[Section]]]]:
    from bench import appends, queries, rebuild, store, verify, web

    chosen = selected(args)

    def append_part() -> list[Section]:
        return [timed(lambda: appends.run(args.admin_url, args.service_role,
                                          args.append_events, args.append_batch_events,
                                          args.rounds))]

    def http_part() -> list[Section]:
        load = web.Load(args.http_seconds, args.http_connections, args.http_threads,
                        args.workers, args.http_batch)
        return [timed(lambda: web.run(args.admin_url, args.service_role, load))]

    def store_part() -> list[Section]:
        with store.loaded(args.admin_url, args.service_role, args.events) as loaded:
            found: list[Section] = []
            if "rebuild" in chosen:
                found.append(timed(lambda: rebuild.run(loaded, args.page)))
            if "queries" in chosen:
                found.append(timed(lambda: queries.run(loaded, args.queries)))
            if "verify" in chosen:
                found.append(timed(lambda: verify.run(loaded)))
        describe_load(found[0], loaded.events, loaded.load_seconds, store.LOAD_BATCH)
        return found

    runs = [("appends", append_part), ("http", http_part), ("store", store_part)]
    wanted = {"store" if part in STORE_PARTS else part for part in chosen}
    return [(name, run) for name, run in runs if name in wanted]


def describe_load(section: Section, events: int, seconds: float, batch: int) -> None:
    """The log's loading, told with the first part that ran on it."""
    section.metrics["load_seconds"] = seconds
    section.metrics["load_events_per_s"] = round(events / seconds)
    section.notes.append(
        f"the log was loaded in {seconds} s ({section.metrics['load_events_per_s']:,} "
        f"events/s: real encoded events, our recorder's insert_events, {batch:,} per append)")


def report(sections: Sequence[Section], started: float, info: dict[str, Any]) -> dict[str, Any]:
    goals: list[Goal] = [g for s in sections for g in s.goals]
    metrics: dict[str, Any] = {}
    for section in sections:
        print(f"\n== {section.title}  [{section.seconds} s]")
        print(table(section.header, section.rows))
        for note in section.notes:
            print(f"   {note}")
        for key, value in section.metrics.items():
            metrics[f"{section.name}.{key}"] = value
    print("\n== Goals")
    print(goals_table(goals))
    total = round(time.perf_counter() - started, 1)
    print(f"\ntotal {total} s (budget {BUDGET_SECONDS} s); load average before "
          f"{info['machine']['load_average']}, after {machine()['load_average']}")
    return {
        **info, "total_seconds": total,
        "section_seconds": {s.name: s.seconds for s in sections},
        "metrics": metrics,
        "goals": {g.name: g.as_dict() for g in goals},
        "goals_met": sum(1 for g in goals if g.met), "goals_total": len(goals),
    }


def main(argv: Sequence[str] | None = None) -> int:
    p = parser()
    args = p.parse_args(argv)
    check(args, p)
    if args.list_parts:
        print("\n".join(selected(args)))
        return 0
    started = time.perf_counter()
    host = machine()
    info: dict[str, Any] = {
        "bench": "ledger", "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": host, "parts": selected(args),
        "sizes": {"events": args.events, "append_events": args.append_events,
                  "append_batch_events": args.append_batch_events, "rounds": args.rounds,
                  "queries": args.queries, "http_seconds": args.http_seconds},
    }
    print(f"ledger bench {info['when']}: {host['cpus']} CPUs, load average "
          f"{host['load_average']}, Python {host['python']}")
    sections: list[Section] = []
    for name, run in parts(args):
        say(f"--- {name}")
        sections += run()
    summary = report(sections, started, info)
    print(json.dumps(summary, sort_keys=True, default=str))
    sys.stdout.flush()
    return 0


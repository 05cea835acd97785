"""HTTP rates through gunicorn on loopback, driven by wrk (a real load generator, in C).

One gunicorn (sync workers, `api:create_app()`, the service role on a scratch PostgreSQL
database prepared by `prepare` below: rule set, manager M1, customers C0..C99, tokens)
serves three scenarios of a fixed duration each:

- GET /healthz: no database, no auth: the ceiling of this server on this machine;
- POST /api/v1/deductions: one deduction per request, one event;
- POST /api/v1/contributions/batch: BATCH postings per request, appended in one transaction.

wrk runs bench/wrk_requests.lua: every POST carries its own Idempotency-Key and every posting
its own external id (per-thread Lua counters), so each accepted request appends. wrk's own
latency histogram gives p50/p95/p99; the log's head before and after proves the appends.
wrk runs on the same two cores as gunicorn and PostgreSQL, as any loopback test does.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg2
import psycopg2.extras

from bench.appends import POSTGRES_RAW_TABLE, RAW_COLUMNS
from bench.report import Goal, Section, ratio, say
from ledger.application import LedgerApplication
from ledger.audit import AuditContext, acting_as
from persistence.schema import upgrade
from persistence.scratch import admin_execute, scratch_database, with_database
from persistence.tokens import TokenStore
from persistence.url import environment_for

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = Path(__file__).with_name("wrk_requests.lua")
WARM_UP_SECONDS = 2
READY_SECONDS = 30
CUSTOMERS = 100
"""Customers C0..C99: the batch postings of bench/wrk_requests.lua go to them in turn."""
SCRATCH_PREFIX = "ledger_bench_http"
RAW_BATCHES = 200
"""Commits of the raw batch baseline: the batch scenario's own rows, re-inserted raw."""
DEDUCTIONS_OVER_HEALTHZ_GOAL = 0.40
BATCH_OVER_RAW_GOAL = 0.50
SETUP = AuditContext(actor="bench-http", role="operator", request_id="bench-http-setup")


@dataclass(frozen=True)
class Load:
    """How hard and how long wrk pushes."""

    seconds: int
    connections: int
    threads: int
    workers: int
    batch: int


def prepare(service_url: str) -> dict[str, str]:
    """Rule set, one manager and CUSTOMERS customers; returns a token per role used."""
    app = LedgerApplication(env=environment_for(service_url))
    try:
        app.ensure_rulebook()
        with acting_as(SETUP):
            app.register_manager(business_id="M1", name="Measured", grade="B", unit="U")
            for n in range(CUSTOMERS):
                app.register_customer(
                    business_id=f"C{n}", name=f"C{n}", customer_class="good", industry="x",
                    chain=None, group=None, last_year_contribution=Decimal(1000))
        store = TokenStore.of(app)
        return {role: store.create(role=role, subject=f"bench-{role}")
                for role in ("supervisor", "integrator")}
    finally:
        app.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def gunicorn(service_url: str, workers: int) -> Iterator[int]:
    """`api:create_app()` under gunicorn on a free loopback port, until the block ends."""
    port = free_port()
    env = dict(os.environ, LEDGER_DATABASE_URL=service_url)
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers",
         str(workers), "--log-level", "warning", "api:create_app()"],
        env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until_ready(port, process)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=30)


def wait_until_ready(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + READY_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("gunicorn exited before it was ready")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"gunicorn did not become ready within {READY_SECONDS} s")


def wrk_path() -> str:
    found = shutil.which("wrk")
    if found is None:
        raise RuntimeError("wrk is not installed: `apt-get install -y wrk` (scripts/bench does "
                           "this itself when run as root), or pass --skip-http")
    return found


def run_wrk(port: int, mode: str, token: str, load: Load, seconds: int) -> dict[str, Any]:
    tag = f"{mode}-{uuid.uuid4().hex[:10]}"
    command = [wrk_path(), "-t", str(load.threads), "-c", str(load.connections),
               "-d", f"{seconds}s", "--timeout", "10s", "-s", str(SCRIPT),
               f"http://127.0.0.1:{port}", "--", mode, token, tag, str(load.batch)]
    done = subprocess.run(command, capture_output=True, text=True, check=True,
                          timeout=seconds + 60)
    for line in done.stdout.splitlines():
        if line.startswith("WRK_JSON "):
            summary: dict[str, Any] = json.loads(line.removeprefix("WRK_JSON "))
            return summary
    raise RuntimeError(f"wrk printed no summary: {done.stdout}\n{done.stderr}")


def head(service_url: str) -> int:
    conn = psycopg2.connect(service_url)
    try:
        with conn.cursor() as curs:
            curs.execute("SELECT coalesce(max(position), 0) FROM events")
            return int(curs.fetchone()[0])
    finally:
        conn.close()


def scenario(port: int, service_url: str, mode: str, token: str, load: Load,
             per_request: int) -> dict[str, Any]:
    run_wrk(port, mode, token, load, WARM_UP_SECONDS)
    time.sleep(0.5)  # requests in flight when the warm-up stopped finish before we count
    before = head(service_url)
    summary = run_wrk(port, mode, token, load, load.seconds)
    time.sleep(0.5)
    appended = head(service_url) - before
    seconds = summary["duration_us"] / 1e6
    ok = summary["requests"] - summary["not_ok"]
    result = {
        "requests": summary["requests"], "refused": summary["not_ok"],
        "socket_errors": sum(summary["errors"].values()) - summary["errors"]["status"],
        "seconds": round(seconds, 2),
        "requests_per_s": round(ok / seconds, 1),
        "p50_ms": summary["p50_us"] / 1000, "p95_ms": summary["p95_us"] / 1000,
        "p99_ms": summary["p99_us"] / 1000, "max_ms": summary["max_us"] / 1000,
    }
    if per_request:
        # Requests still in flight when wrk stopped may append after it counted: at least.
        if appended < ok * per_request:
            raise RuntimeError(f"{mode}: {ok} requests answered 2xx but the log grew by only "
                               f"{appended} events (expected {ok * per_request})")
        result["events_per_s"] = round(ok * per_request / seconds, 1)
        result["events_appended"] = appended
    return result


def run(admin_url: str, role: str, load: Load) -> Section:
    section = Section("http", f"HTTP through gunicorn ({load.workers} sync workers), wrk "
                      f"-t{load.threads} -c{load.connections}, {load.seconds} s per scenario",
                      ("scenario", "req/s", "events/s", "p50 ms", "p95 ms", "p99 ms", "max ms",
                       "non-2xx", "vs healthz"))
    with scratch_database(admin_url, SCRATCH_PREFIX) as dbname:
        upgrade(with_database(admin_url, dbname))
        service_url = with_database(admin_url, dbname, user=role)
        say("http: preparing the ledger and starting gunicorn")
        tokens = prepare(service_url)
        results = {}
        with gunicorn(service_url, load.workers) as port:
            for name, mode, token, per_request in (
                ("GET /healthz", "healthz", "", 0),
                ("POST /deductions", "deductions", tokens["supervisor"], 1),
                (f"POST /contributions/batch ({load.batch})", "batch", tokens["integrator"],
                 load.batch),
            ):
                say(f"http: {name} for {load.seconds} s")
                results[mode] = scenario(port, service_url, mode, token, load, per_request)
                describe(section, name, mode, results)
        say(f"http: the raw batch baseline ({RAW_BATCHES} commits of {load.batch} rows)")
        admin_execute(with_database(admin_url, dbname), POSTGRES_RAW_TABLE,
                      f"GRANT SELECT, INSERT ON raw_events TO {role}")
        raw = raw_batch_rate(service_url, load.batch)
    section.rows.append((f"raw batch insert ({load.batch} rows, execute_values)", None,
                         round(raw, 1), None, None, None, None, None, None))
    section.metrics["raw_batch.events_per_s"] = round(raw, 1)
    section.metrics["batch.over_raw"] = ratio(results["batch"]["events_per_s"], raw)
    judge(section, results)
    section.metrics["settings"] = {"workers": load.workers, "connections": load.connections,
                                   "wrk_threads": load.threads, "seconds": load.seconds,
                                   "batch": load.batch}
    return section


def describe(section: Section, name: str, mode: str, results: dict[str, Any]) -> None:
    r = results[mode]
    ceiling = results["healthz"]["requests_per_s"]
    vs = ratio(r["requests_per_s"], ceiling) if mode != "healthz" else None
    section.rows.append((name, r["requests_per_s"], r.get("events_per_s"), r["p50_ms"],
                         r["p95_ms"], r["p99_ms"], r["max_ms"], r["refused"], vs))
    for key, value in r.items():
        section.metrics[f"{mode}.{key}"] = value
    if vs is not None:
        section.metrics[f"{mode}.over_healthz"] = vs


def raw_batch_rate(service_url: str, batch: int) -> float:
    """Events/s of the bare driver inserting the batch scenario's own rows (the log's
    latest), `batch` per commit with execute_values, into a plain table of the same columns,
    primary key and unique constraint (bench/appends.py): what a batch request may approach."""
    conn = psycopg2.connect(service_url)
    try:
        with conn.cursor() as curs:
            curs.execute("SELECT originator_id, originator_version, topic, state, recorded_at "
                         "FROM events ORDER BY position DESC LIMIT %s", (batch * RAW_BATCHES,))
            rows = [(n, *row) for n, row in enumerate(curs.fetchall(), 1)]
        conn.commit()
        batches = [rows[i:i + batch] for i in range(0, len(rows), batch)]
        insert = f"INSERT INTO raw_events {RAW_COLUMNS} VALUES %s"
        with conn.cursor() as curs:
            started = time.perf_counter()
            for rows_of_one in batches:
                psycopg2.extras.execute_values(curs, insert, rows_of_one, page_size=batch)
                conn.commit()
            seconds = time.perf_counter() - started
        return len(rows) / seconds
    finally:
        conn.close()


def judge(section: Section, results: dict[str, Any]) -> None:
    single = results["deductions"]
    section.goals.append(Goal("http.deductions.over_healthz",
                              section.metrics.get("deductions.over_healthz"),
                              DEDUCTIONS_OVER_HEALTHZ_GOAL, "x"))
    section.goals.append(Goal("http.batch.over_raw", section.metrics.get("batch.over_raw"),
                              BATCH_OVER_RAW_GOAL, "x"))
    section.goals.append(Goal("HTTP POST /deductions throughput", single["requests_per_s"],
                              500, "req/s"))
    section.goals.append(Goal("HTTP POST /deductions p99", single["p99_ms"], 50, "ms",
                              at_most=True))
    for mode, r in results.items():
        if r["refused"] or r["socket_errors"]:
            section.notes.append(f"{mode}: {r['refused']} non-2xx answers, "
                                 f"{r['socket_errors']} socket errors")

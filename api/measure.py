"""Request rates of the HTTP API through real gunicorn workers on PostgreSQL, in one run.

In a scratch database (created, migrated and dropped here; the API runs as the service
role) this measures, with concurrent clients on loopback:

- single deductions: POST /api/v1/deductions, one event per request;
- contribution batches: POST /api/v1/contributions/batch, BATCH postings per request,
  all appended in one transaction.

Each request carries its own Idempotency-Key, as a careful integrator's would, so the
idempotency record is written too. Results are requests/s and events/s, with latency
percentiles; the client runs on the same machine, so it competes for the same cores.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from api.ledger_app import ApiLedgerApplication
from api.tokens import TokenStore
from ledger.audit import AuditContext, acting_as
from persistence.measure import DEFAULT_ADMIN_URL, scratch_database, with_database
from persistence.schema import upgrade
from persistence.url import environment_for

ROOT = Path(__file__).resolve().parents[1]
CUSTOMERS = 100
SETUP = AuditContext(actor="api-rates", role="operator", request_id="measure-api-rates")


@dataclass(frozen=True)
class Rate:
    name: str
    requests: int
    events: int
    seconds: float
    latencies: tuple[float, ...]

    def as_dict(self) -> dict[str, Any]:
        ordered = sorted(self.latencies)
        return {
            "requests": self.requests, "events": self.events, "seconds": round(self.seconds, 2),
            "requests_per_second": round(self.requests / self.seconds, 1),
            "events_per_second": round(self.events / self.seconds, 1),
            "p50_ms": round(1000 * ordered[len(ordered) // 2], 1),
            "p95_ms": round(1000 * ordered[int(len(ordered) * 0.95)], 1),
        }


class Client:
    """POSTs JSON to the server; one short connection per request (gunicorn sync workers)."""

    def __init__(self, port: int, token: str) -> None:
        self.port = port
        self.token = token

    def post(self, path: str, body: Any) -> dict[str, Any]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            connection.request("POST", path, json.dumps(body), {
                "Authorization": f"Bearer {self.token}", "Content-Type": "application/json",
                "Idempotency-Key": uuid.uuid4().hex})
            response = connection.getresponse()
            answer: dict[str, Any] = json.loads(response.read())
        finally:
            connection.close()
        if response.status not in (200, 201):
            raise RuntimeError(f"{path} answered {response.status}: {answer}")
        return answer


def prepare(service_url: str) -> dict[str, str]:
    """Rule set, one manager and CUSTOMERS customers; returns tokens by role."""
    app = ApiLedgerApplication(env=environment_for(service_url))
    try:
        app.ensure_rulebook()
        with acting_as(SETUP):
            app.register_manager(business_id="M1", name="Measured", grade="B", unit="U")
            for n in range(CUSTOMERS):
                app.register_customer(
                    business_id=f"C{n}", name=f"C{n}", customer_class="good", industry="x",
                    chain=None, group=None, last_year_contribution=Decimal(1000))
        store = TokenStore(app.recorder)
        return {role: store.create(role=role, subject=f"rates-{role}")
                for role in ("supervisor", "integrator")}
    finally:
        app.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def gunicorn(service_url: str, workers: int) -> Iterator[int]:
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


def wait_until_ready(port: int, process: subprocess.Popen[bytes], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("gunicorn exited before it was ready")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"gunicorn did not become ready within {seconds} s")


def run_concurrently(
    name: str, calls: Sequence[Callable[[], int]], clients: int
) -> Rate:
    """Runs the calls on `clients` threads; each call returns the events it appended."""
    latencies: list[float] = []
    events = [0]
    lock = threading.Lock()
    pending = iter(calls)

    def worker() -> None:
        while True:
            with lock:
                call = next(pending, None)
            if call is None:
                return
            started = time.perf_counter()
            appended = call()
            with lock:
                latencies.append(time.perf_counter() - started)
                events[0] += appended

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return Rate(name, len(calls), events[0], time.perf_counter() - started, tuple(latencies))


def deduction_calls(client: Client, count: int) -> list[Callable[[], int]]:
    body = {"manager_id": "M1", "rule_code": "B1", "occurrences": 1, "aggravated": False,
            "effective_on": date(2026, 2, 1).isoformat(), "description": "measured"}
    return [lambda: len(client.post("/api/v1/deductions", body)["events"])] * count


def batch_calls(client: Client, count: int, size: int) -> list[Callable[[], int]]:
    def call(first: int) -> Callable[[], int]:
        items = [{"customer_id": f"C{n % CUSTOMERS}", "booked_on": "2026-02-15",
                  "interest_income": "100.00", "deposit_earnings": "0", "fee_income": "0",
                  "source_system": "RATES", "external_id": f"R{first + n}"}
                 for n in range(size)]
        return lambda: int(client.post("/api/v1/contributions/batch",
                                       {"items": items})["counts"]["created"])

    return [call(i * size) for i in range(count)]


def measure(args: argparse.Namespace) -> dict[str, Any]:
    with scratch_database(args.admin_url) as dbname:
        upgrade(with_database(args.admin_url, dbname))
        service_url = with_database(args.admin_url, dbname, user=args.service_role)
        tokens = prepare(service_url)
        with gunicorn(service_url, args.workers) as port:
            deductions = Client(port, tokens["supervisor"])
            integrator = Client(port, tokens["integrator"])
            run_concurrently("warm-up", deduction_calls(deductions, 4 * args.workers),
                             args.clients)
            single = run_concurrently("POST /deductions",
                                      deduction_calls(deductions, args.requests), args.clients)
            batches = run_concurrently("POST /contributions/batch",
                                       batch_calls(integrator, args.batches, args.batch_size),
                                       args.clients)
    return {"workers": args.workers, "clients": args.clients, "batch_size": args.batch_size,
            "cpu_count": os.cpu_count(), "deductions": single.as_dict(),
            "batches": batches.as_dict()}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="api_rates", description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=2000, help="single deductions")
    parser.add_argument("--batches", type=int, default=40, help="batch requests")
    parser.add_argument("--batch-size", type=int, default=500, help="postings per batch (≤1000)")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers")
    parser.add_argument("--clients", type=int, default=8, help="concurrent client threads")
    parser.add_argument("--admin-url", default=os.environ.get("LEDGER_MEASURE_PG_ADMIN_URL",
                                                              DEFAULT_ADMIN_URL))
    parser.add_argument("--service-role",
                        default=os.environ.get("LEDGER_SERVICE_ROLE", "ledger_service"))
    args = parser.parse_args(argv)
    if not 1 <= args.batch_size <= 1000:
        parser.error("--batch-size must be between 1 and 1000")
    result = measure(args)
    for name in ("deductions", "batches"):
        rate = result[name]
        print(f"{name:>10}: {rate['requests_per_second']:>8} req/s "
              f"{rate['events_per_second']:>9} events/s  p50 {rate['p50_ms']} ms "
              f"p95 {rate['p95_ms']} ms")
    print(json.dumps(result, sort_keys=True))
    return 0

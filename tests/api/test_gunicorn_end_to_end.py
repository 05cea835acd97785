"""End to end: real gunicorn workers on loopback run the worked example of DESIGN §4."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from served import free_port, wait_until_ready

ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-c", "from ledger_cli.main import main; main()"]
TOKEN_CLI = [sys.executable, "-c", "from ledger_cli.tokens import token; token()"]
PRINCIPALS = {"supervisor": ["--role", "supervisor", "--subject", "sup-1"],
              "reviewer": ["--role", "supervisor", "--subject", "sup-2"],
              "integrator": ["--role", "integrator", "--subject", "credit"],
              "m1": ["--role", "manager", "--subject", "m1-user", "--manager-id", "M1"],
              "approver": ["--role", "approver", "--subject", "appr-1"],
              "auditor": ["--role", "auditor", "--subject", "aud-1"]}


@dataclass
class Server:
    base: str
    tokens: dict[str, str]

    def call(self, method: str, path: str, who: str, body: Any = None,
             **headers: str) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base + path, data=data, method=method, headers={
            "Authorization": f"Bearer {self.tokens[who]}", "Content-Type": "application/json",
            **headers})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as refused:
            return refused.code, json.loads(refused.read())




@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    env = dict(os.environ, LEDGER_DATABASE_URL=f"sqlite:///{tmp_path}/ledger.db")
    subprocess.run([*CLI, "db", "upgrade"], env=env, cwd=ROOT, check=True, capture_output=True)
    tokens = {name: subprocess.run([*TOKEN_CLI, "create", *args], env=env, cwd=ROOT, check=True,
                                   capture_output=True, text=True).stdout.strip()
              for name, args in PRINCIPALS.items()}
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", "2",
         "api:create_app()"], env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL)
    try:
        wait_until_ready(f"http://127.0.0.1:{port}/readyz", process)
        yield Server(f"http://127.0.0.1:{port}", tokens)
    finally:
        process.terminate()
        process.wait(timeout=20)


def test_the_worked_example_over_http_through_gunicorn(server: Server) -> None:
    def ok(status: int, expected: int = 200) -> None:
        assert status == expected

    # The supervisor registers M1 (grade B) and its three customers, all quarter.
    status, _ = server.call("POST", "/api/v1/managers", "supervisor",
                            {"id": "M1", "name": "Li Wei", "grade": "B", "unit": "Branch 1"})
    ok(status, 201)
    for cid, last_year in (("C1", "400000"), ("C2", "200000"), ("C3", "150000")):
        ok(server.call("POST", "/api/v1/customers", "supervisor", {
            "id": cid, "name": cid, "class": "good", "industry": "retail",
            "last_year_contribution": last_year})[0], 201)
        ok(server.call("POST", f"/api/v1/customers/{cid}/assignments", "supervisor", {
            "manager_id": "M1", "effective_on": "2026-01-01", "reason": "opening"})[0])
    ok(server.call("PUT", "/api/v1/managers/M1/targets/2026Q1", "supervisor",
                   {"incremental": "50000", "reason": "plan"})[0])
    # The credit system posts Q1 in one batch, and retries it with the same key.
    items = [{"customer_id": c, "booked_on": "2026-02-15", "interest_income": a,
              "deposit_earnings": "0", "fee_income": "0", "source_system": "CREDIT",
              "external_id": f"P{n}"}
             for n, (c, a) in enumerate((("C1", "120000"), ("C2", "60000"), ("C3", "70000")))]
    first = server.call("POST", "/api/v1/contributions/batch", "integrator", {"items": items},
                        **{"Idempotency-Key": "q1-batch"})
    again = server.call("POST", "/api/v1/contributions/batch", "integrator", {"items": items},
                        **{"Idempotency-Key": "q1-batch"})
    assert first == again and first[1]["counts"]["created"] == 3
    # B1, C7 and S3 are recorded; M1 disputes S3; another supervisor upholds it.
    ids = {}
    for code in ("B1", "C7", "S3"):
        status, body = server.call("POST", "/api/v1/deductions", "supervisor", {
            "manager_id": "M1", "rule_code": code, "occurrences": 1, "aggravated": False,
            "effective_on": "2026-02-01", "description": f"{code} found"})
        ok(status, 201)
        ids[code] = body["id"]
    status, filed = server.call("POST", f"/api/v1/deductions/{ids['S3']}/disputes", "m1",
                                {"reason": "the complaint was about a colleague"})
    ok(status, 201)
    ok(server.call("POST", f"/api/v1/disputes/{filed['id']}/decision", "reviewer",
                   {"outcome": "upheld", "reason": "records agree"})[0])
    status, trail = server.call("GET", f"/api/v1/disputes/{filed['id']}", "m1")
    # Recorded, Filed, Disputed, Decided, Voided: the deduction's trail and the dispute's.
    assert [s["actor"] for s in trail["trail"]] == ["sup-1", "m1-user", "m1-user", "sup-2",
                                                    "sup-2"]
    if importlib.util.find_spec("projections.read_side") is not None:
        _assert_figures(server, filed["recorded_at"])


def _assert_figures(server: Server, before_decision: str) -> None:
    cut = "period=2026Q1&as_of=2026-03-31"
    _, score = server.call("GET", f"/api/v1/managers/M1/score?{cut}", "auditor")
    _, pay = server.call("GET", f"/api/v1/managers/M1/pay?{cut}", "m1")
    assert (score["score"], pay["performance_pay"], pay["actual_pay"]) == (940, "7250.00",
                                                                           "33815.00")
    known = urllib.request.quote(before_decision)
    _, score = server.call("GET", f"/api/v1/managers/M1/score?{cut}&known_at={known}", "auditor")
    _, pay = server.call("GET", f"/api/v1/managers/M1/pay?{cut}&known_at={known}", "approver")
    assert (score["score"], pay["actual_pay"]) == (740, "32365.00")

"""Under real gunicorn workers, as `ledger serve` runs them (issue 20): one metrics truth
across workers, and logs that are JSON lines with the request id, one line per request."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from served import free_port

ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-c", "from ledger_cli.main import main; main()"]
COUNTER = re.compile(
    r'^ledger_http_requests_total\{method="GET",route="/healthz",status="200"\} (\S+)$', re.M)

pytestmark = pytest.mark.slow


@dataclass
class Served:
    base: str
    process: subprocess.Popen[bytes]
    stderr: Path
    env: dict[str, str]

    def get(self, path: str, **headers: str) -> tuple[int, dict[str, str], bytes]:
        request = urllib.request.Request(self.base + path, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as refused:
            return refused.code, dict(refused.headers), refused.read()

    def stop(self) -> list[str]:
        """Stops the server gracefully; its stderr, line by line."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=30)
        return self.stderr.read_text().splitlines()




def _environment(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ, LEDGER_DATABASE_URL=f"sqlite:///{tmp_path}/ledger.db")
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    subprocess.run([*CLI, "db", "upgrade"], env=env, cwd=ROOT, check=True, capture_output=True)
    return env


def _start(tmp_path: Path, env: dict[str, str], command: list[str], port: int) -> Served:
    stderr = tmp_path / "stderr.log"
    process = subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                               stderr=stderr.open("wb"))
    served = Served(f"http://127.0.0.1:{port}", process, stderr, env)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, stderr.read_text()
        try:
            served.get("/healthz")
            return served
        except OSError:
            time.sleep(0.2)
    served.stop()
    pytest.fail("the server did not answer within 30 s")


@pytest.fixture
def ledger_serve(tmp_path: Path) -> Iterator[Served]:
    """`ledger serve` itself, with three workers."""
    env = _environment(tmp_path)
    token = subprocess.run([*CLI, "token", "create", "--role", "operator", "--subject", "ops"],
                           env=env, cwd=ROOT, check=True, capture_output=True,
                           text=True).stdout.strip()
    env["TEST_OPERATOR_TOKEN"] = token
    port = free_port()
    served = _start(tmp_path, env, [*CLI, "serve", "--workers", "3", "--port", str(port)], port)
    try:
        yield served
    finally:
        served.stop()


def test_a_counter_read_through_six_scrapes_under_three_workers_never_goes_down(
    ledger_serve: Served,
) -> None:
    operator = {"Authorization": f"Bearer {ledger_serve.env['TEST_OPERATOR_TOKEN']}"}
    asked, seen = 1, []  # the fixture's readiness probe was one
    for _ in range(6):
        for _ in range(7):
            status, headers, _ = ledger_serve.get("/healthz", Connection="close")
            assert status == 200
            asked += 1
        status, headers, body = ledger_serve.get("/metrics", **operator)
        assert status == 200
        assert headers["Content-Type"].count("charset") == 1, headers["Content-Type"]
        found = COUNTER.search(body.decode())
        assert found, body.decode()[:2000]
        seen.append(float(found.group(1)))
    assert seen == sorted(seen), f"a total went down: {seen}"
    # Every worker's requests are in every scrape, whichever worker answers it.
    assert seen[-1] == asked, (seen, asked)
    text = ledger_serve.get("/metrics", **operator)[2].decode()
    for metric in ("ledger_projection_lag_events", "ledger_append_seconds_bucket",
                   "ledger_db_connections_capacity"):
        assert metric in text, metric


def test_ledger_serve_makes_the_metrics_directory_and_removes_it(ledger_serve: Served) -> None:
    directory = Path(_metrics_directory(ledger_serve.stderr.read_text().splitlines()))
    assert list(directory.glob("counter_*.db")), "the workers wrote no samples there"
    lines = ledger_serve.stop()
    assert not directory.exists(), "the metrics directory outlived the server"
    assert _metrics_directory(lines) == str(directory)


def _metrics_directory(lines: list[str]) -> str:
    named = [json.loads(line)["msg"].rsplit(" ", 1)[-1] for line in lines
             if "metrics of every worker in" in line]
    assert len(named) == 1, lines
    return named[0]


def test_every_log_line_is_json_and_a_500_is_one_line_with_its_traceback(
    tmp_path: Path,
) -> None:
    env = _environment(tmp_path)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "tests" / "api"), str(ROOT)])
    port = free_port()
    served = _start(tmp_path, env, [sys.executable, "-m", "gunicorn", "--config",
                                    "python:ledger_cli.serving", "--workers", "2", "--bind",
                                    f"127.0.0.1:{port}", "crashing_app:create_app()"], port)
    try:
        failed = served.get("/boom", **{"X-Request-ID": "boom-1"})
        fine = served.get("/healthz", **{"X-Request-ID": "fine-1"})
    finally:
        lines = served.stop()
    assert failed[0] == 500
    assert json.loads(failed[2])["request_id"] == "boom-1"
    assert fine[0] == 200
    records = [json.loads(line) for line in lines]  # every line, gunicorn's too, is JSON
    assert any(r["logger"] == "gunicorn.error" for r in records)
    boom = [r for r in records if r.get("request_id") == "boom-1"]
    assert len(boom) == 1, boom
    assert boom[0]["level"] == "ERROR" and boom[0]["status"] == 500
    assert "Traceback" in boom[0]["exc_info"]
    assert "RuntimeError: forced failure for the log test" in boom[0]["exc_info"]
    assert not any("Traceback" in line for line in lines if "boom-1" not in line)
    # Exactly one access line per request: gunicorn's own access log stays silent.
    assert [r["status"] for r in records if r.get("request_id") == "fine-1"] == [200]
    assert not any(r["logger"] == "gunicorn.access" for r in records)

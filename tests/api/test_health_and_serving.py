"""The app factory and real gunicorn on loopback: /healthz answers."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from dbsupport import fresh_sqlite_url
from served import free_port

from api import LEDGER, create_app
from ledger.application import LedgerApplication
from persistence.url import environment_for

ROOT = Path(__file__).resolve().parents[2]


def test_the_app_factory_builds_one_ledger_application_and_answers_healthz() -> None:
    app = create_app({"LEDGER_ENV": environment_for(fresh_sqlite_url())})
    assert isinstance(app.extensions[LEDGER], LedgerApplication)
    response = app.test_client().get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}




def _wait_for(url: str, process: subprocess.Popen[bytes], seconds: float = 20) -> bytes:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output = process.stdout.read().decode() if process.stdout else ""
            pytest.fail(f"server exited: {output}")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                return bytes(response.read())
        except OSError:
            time.sleep(0.2)
    pytest.fail(f"{url} did not answer within {seconds} s")


def test_ledger_serve_runs_gunicorn_workers_that_answer_healthz(tmp_path: Path) -> None:
    port = free_port()
    env = dict(os.environ, LEDGER_DATABASE_URL=f"sqlite:///{tmp_path}/ledger.db")
    ledger = [sys.executable, "-c", "from ledger_cli.main import main; main()"]
    subprocess.run([*ledger, "db", "upgrade"], env=env, cwd=ROOT, check=True)
    server = subprocess.Popen(
        [*ledger, "serve", "--port", str(port), "--workers", "2"],
        env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    try:
        body = _wait_for(f"http://127.0.0.1:{port}/healthz", server)
        assert b'"status":"ok"' in body
    finally:
        server.terminate()
        server.wait(timeout=20)

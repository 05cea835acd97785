"""A real gunicorn on loopback, and writers that remember what it acknowledged.

The crash trials (bench/crash_trials.py) and the database-outage tests share this: each
writer records deductions with an Idempotency-Key, one request at a time, and keeps every
answer, so that afterwards the log can be held against what the service promised.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ledger.application import LedgerApplication
from ledger.audit import AuditContext, acting_as
from persistence.tokens import TokenStore
from persistence.url import environment_for

ROOT = Path(__file__).resolve().parents[1]
READY_SECONDS = 30.0
REQUEST_SECONDS = 10.0
MANAGER = "M1"
DEDUCTION_TOPIC = "ledger.deduction:Deduction.Recorded"
SETUP = AuditContext(actor="crash-trials", role="operator", request_id="crash-trials-setup")


@dataclass(frozen=True)
class Answer:
    """One HTTP answer; status 0 when none came (the connection failed or was cut)."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str]
    at: float
    """time.monotonic() when the answer (or the failure) arrived."""


def call(base: str, method: str, path: str, token: str | None = None, body: Any = None,
         headers: dict[str, str] | None = None, timeout: float = REQUEST_SECONDS) -> Answer:
    data = None if body is None else json.dumps(body).encode()
    sent = {"Content-Type": "application/json", **(headers or {})}
    if token:
        sent["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(base + path, data=data, method=method, headers=sent)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return _answer(response.status, response.read(), dict(response.headers))
    except urllib.error.HTTPError as refused:
        return _answer(refused.code, refused.read(), dict(refused.headers))
    except (OSError, ValueError, http.client.HTTPException):  # refused, reset, cut short
        return Answer(0, {}, {}, time.monotonic())


def _answer(status: int, raw: bytes, headers: dict[str, str]) -> Answer:
    try:
        body = json.loads(raw) if raw else {}
    except ValueError:
        body = {"unparsed": raw[:200].decode(errors="replace")}
    return Answer(status, body if isinstance(body, dict) else {"body": body}, headers,
                  time.monotonic())


def prepare(database_url: str) -> str:
    """The rule set, manager M1, and a supervisor's token (returned), as `database_url`."""
    app = LedgerApplication(env=environment_for(database_url))
    try:
        app.ensure_rulebook()
        with acting_as(SETUP):
            app.register_manager(business_id=MANAGER, name="Trial", grade="B", unit="U")
        return TokenStore.of(app).create(role="supervisor", subject="crash-trials")
    finally:
        app.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Gunicorn:
    """`api:create_app()` under gunicorn, in a process group of its own so that one
    SIGKILL takes the master and every worker at once, as a crash of the host would."""

    def __init__(self, database_url: str, workers: int = 2, log: Path | None = None) -> None:
        self.database_url = database_url
        self.workers = workers
        self.log = log
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = dict(os.environ, LEDGER_DATABASE_URL=self.database_url)
        out = self.log.open("ab") if self.log else subprocess.DEVNULL
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{self.port}",
                 "--workers", str(self.workers), "--log-level", "warning", "api:create_app()"],
                env=env, cwd=ROOT, stdout=out, stderr=out, start_new_session=True)
        finally:
            if self.log:
                out.close()  # type: ignore[union-attr]
        self._wait_until_up()

    def _wait_until_up(self) -> None:
        deadline = time.monotonic() + READY_SECONDS
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited early with {self.process.returncode}")
            if call(self.base, "GET", "/healthz", timeout=1).status == 200:
                return
            time.sleep(0.1)
        raise RuntimeError(f"gunicorn did not answer /healthz within {READY_SECONDS} s")

    def kill(self) -> None:
        """SIGKILL to the master and its workers: nothing gets to finish or clean up."""
        self._signal(signal.SIGKILL)

    def stop(self) -> None:
        self._signal(signal.SIGTERM)

    def _signal(self, signum: int) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        try:
            os.killpg(process.pid, signum)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def deduction(key: str) -> dict[str, Any]:
    """The body each writer sends: its idempotency key is also the description."""
    return {"manager_id": MANAGER, "rule_code": "B1", "occurrences": 1, "aggravated": False,
            "effective_on": "2026-02-01", "description": key}


@dataclass
class Sent:
    """One command and the last answer it got (resends keep the same key and body)."""

    key: str
    answer: Answer

    @property
    def acknowledged(self) -> bool:
        return self.answer.status == 201

    def events(self) -> list[tuple[int, str, int]]:
        """(position, originator id, version) of each event the answer reported."""
        return [(e["position"], e["originator_id"], e["originator_version"])
                for e in self.answer.body.get("events", [])]


@dataclass
class Writers:
    """`count` threads, each sending one deduction at a time until stopped."""

    base: str
    token: str
    count: int
    prefix: str
    pause: float = 0.0
    sent: list[Sent] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> None:
        self._threads = [threading.Thread(target=self._write, args=(n,), daemon=True)
                         for n in range(self.count)]
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=REQUEST_SECONDS + 5)

    def _write(self, writer: int) -> None:
        n = 0
        while not self._stop.is_set():
            key = f"{self.prefix}-w{writer}-{n}"
            answer = send(self.base, self.token, key)
            with self._lock:
                self.sent.append(Sent(key, answer))
            n += 1
            if self.pause:
                time.sleep(self.pause)

    def answers(self) -> list[Sent]:
        with self._lock:
            return list(self.sent)


def send(base: str, token: str, key: str) -> Answer:
    return call(base, "POST", "/api/v1/deductions", token, deduction(key),
                {"Idempotency-Key": key})

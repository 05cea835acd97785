"""Slow clients cannot starve `ledger serve`: /healthz and a score query answer under attack.

A real gunicorn through `ledger serve` (2 workers, the machine's cores) on a SQLite file
with the demo bank; 64 sockets send a request head a byte a second and never finish it,
as in bench/slow_clients.py, which measures the same for 20 s against sync workers too.
With sync workers (`GUNICORN_CMD_ARGS="--worker-class sync --threads 1"`) every probe
below times out, because each worker blocks on one half-sent head.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.slow_clients import LEDGER, SCORE_PATH, SETTLE_SECONDS, SlowSockets, probe, served
from ledger_cli.serving import HEAD_BYTES, Arrival

ROOT = Path(__file__).resolve().parents[2]
SOCKETS = 64
ATTACK_SECONDS = 8.0
BOUND_SECONDS = 3.0
"""Generous: each answer takes milliseconds, but CI shares two cores with other suites."""



def arrived(*pieces: bytes) -> list[str]:
    """The state of one request after each piece of it has arrived."""
    arrival = Arrival(deadline=0.0)
    states = []
    for piece in pieces:
        arrival.data += piece
        states.append(arrival.state())
    return states


def test_a_request_is_whole_only_once_its_head_has_ended() -> None:
    head = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
    assert arrived(*(head[i:i + 1] for i in range(len(head))))[-2:] == ["partial", "whole"]
    # Empty lines before the request line do not end a head.
    assert arrived(b"\r\n\r\n", b"GET / HTTP/1.1\r\n", b"\r\n") == ["partial", "partial",
                                                                      "whole"]


def test_a_body_of_announced_length_is_waited_for() -> None:
    head = b"POST /api/v1/x HTTP/1.1\r\nContent-Length: 10\r\n\r\n"
    assert arrived(head, b"12345", b"67890") == ["partial", "partial", "whole"]


def test_a_client_that_expects_100_continue_is_owed_it_before_its_body() -> None:
    arrival = Arrival(deadline=0.0, data=bytearray(
        b"POST /x HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n"))
    assert (arrival.state(), arrival.continue_owed) == ("partial", True)


def test_a_chunked_body_is_waited_for_up_to_its_last_chunk_and_trailers() -> None:
    head = b"POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
    assert arrived(head, b"5\r\nhel", b"lo\r\n0\r\n", b"X-T: 1\r\n", b"\r\n") == [
        "partial", "partial", "partial", "partial", "whole"]
    # A malformed chunk size is handed to gunicorn's parser, which refuses it.
    assert arrived(head, b"zz\r\n") == ["partial", "whole"]


def test_a_head_longer_than_the_bound_is_too_large() -> None:
    assert arrived(b"GET / HTTP/1.1\r\nX: " + b"a" * HEAD_BYTES) == ["too large"]


@pytest.fixture
def served_demo(tmp_path: Path) -> Iterator[tuple[int, str]]:
    """(port, auditor token) of `ledger serve` on a migrated SQLite file with the demo bank."""
    url = f"sqlite:///{tmp_path}/ledger.db"
    env = dict(os.environ, LEDGER_DATABASE_URL=url)
    for command in (["db", "upgrade"], ["demo"]):
        subprocess.run([*LEDGER, *command], env=env, cwd=ROOT, check=True, capture_output=True)
    token = subprocess.run([*LEDGER, "token", "create", "--role", "auditor", "--subject", "a"],
                           env=env, cwd=ROOT, check=True, capture_output=True,
                           text=True).stdout.strip().splitlines()[-1]
    model = os.environ.get("LEDGER_TEST_SERVING_MODEL", "buffered")
    with served(url, model, workers=2) as port:
        yield port, token


@pytest.mark.slow
def test_healthz_and_a_score_answer_while_64_slow_sockets_hold_their_connections(
        served_demo: tuple[int, str]) -> None:
    port, token = served_demo
    base = f"http://127.0.0.1:{port}"
    start = time.monotonic()
    slow = SlowSockets(port, SOCKETS, start + ATTACK_SECONDS).start()
    try:
        # Every slow socket has been accepted and has sent its first bytes by now.
        time.sleep(SETTLE_SECONDS)
        answers = []
        while time.monotonic() < start + ATTACK_SECONDS - BOUND_SECONDS:
            for path in ("/healthz", SCORE_PATH):
                answers.append((path, *probe(base, path, token, timeout=2 * BOUND_SECONDS)))
    finally:
        slow.stop()
    assert {path for path, _, _ in answers} == {"/healthz", SCORE_PATH}
    refused = [(path, round(s, 2)) for path, s, ok in answers if not ok or s >= BOUND_SECONDS]
    assert not refused, f"{len(refused)} of {len(answers)} probes slow or failed: {refused}"


def test_ledger_serve_prints_its_database_url_without_the_password() -> None:
    # Issue 12: `ledger serve` echoes the URL it serves; a password must not reach the log.
    # (Here beside the serving test because that is the file of this change; tests/cli is
    # its natural room.)
    from ledger_cli.main import _without_password  # noqa: PLC0415

    assert _without_password("postgresql://svc:s3cret@db:5432/ledger?password=x&a=1") == (
        "postgresql://svc:***@db:5432/ledger?password=***&a=1")
    assert _without_password("sqlite:////var/lib/ledger/ledger.db") == (
        "sqlite:////var/lib/ledger/ledger.db")

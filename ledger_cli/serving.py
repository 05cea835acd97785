"""Gunicorn settings for `ledger serve`, and the worker that lets no slow client hold a thread.

`ledger serve` runs `gunicorn -c python:ledger_cli.serving`; gunicorn reads the lower-case
names below that are its settings and ignores the rest. The worker is gunicorn's `gthread`
worker, except for one thing: a thread takes a connection only once its request has
arrived whole (the head, and a body of announced length or a chunked one, up to
BODY_BYTES). Until then the worker's main loop reads the bytes without blocking, beside
every other connection (answering `Expect: 100-continue` itself), and drops a client that
has not finished within REQUEST_SECONDS. This is what a buffering
reverse proxy does in front of sync workers, kept inside the process so that `ledger serve`
alone is safe: a sync worker, or a plain gthread thread, blocks on a half-sent request for
as long as the client likes, so as many slow sockets as threads stop the service
(issue 11; `scripts/slow_clients` measures it).

It depends on gunicorn's ThreadWorker internals (`enqueue_req`, `handle`, `TConn`,
`murder_pending`), written against gunicorn 27; tests/api/test_slow_clients.py fails if an
upgrade changes them. Plain HTTP/1.1 only: TLS and cleartext HTTP/2 read the socket before
the parser does, so they are refused; terminate TLS in front.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import selectors
import shutil
import socket
import tempfile
import time
from collections import deque
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from gunicorn.workers.gthread import ThreadWorker  # type: ignore[import-untyped]

REQUEST_SECONDS = 10.0
"""How long a client has to send a whole request, from the connection's opening (or, on a
kept-alive connection, from the first byte of the next request). An honest client sends an
API request in milliseconds; a client sending a byte a second is dropped after ten."""

HEAD_BYTES = 32 * 1024
"""The largest request head accepted (our clients send a token and a few headers); a
larger one is answered 431 and closed, so one connection buffers a bounded amount."""

BODY_BYTES = 512 * 1024
"""Bodies, of announced length or chunked, are buffered up to this much (a full batch of
1000 postings is about 300 KB); the rest of a larger one is read by the thread, as in plain
gthread (the app refuses more than 2 MiB, LEDGER_MAX_BODY_BYTES)."""

# Gunicorn's settings (https://docs.gunicorn.org/en/stable/settings.html).
worker_class = "ledger_cli.serving.BufferingWorker"
threads = 4
"""Per worker: at most 4 requests run at once, within the read side's SQLAlchemy pool (2 + 4
overflow per process, persistence/engines.py) and the recorder's (5 + 10,
POSTGRES_POOL_SIZE / POSTGRES_MAX_OVERFLOW), so no thread waits for a connection. Slow
clients do not need more: they never hold a thread."""
worker_connections = 500
"""Connections one worker holds open (arriving, running or kept alive); with HEAD_BYTES and
BODY_BYTES this bounds the buffered bytes to about 270 MB per worker in the worst case."""
keepalive = 5
timeout = 30
graceful_timeout = 20
limit_request_line = 4094
limit_request_fields = 50
limit_request_field_size = 8190
control_socket_disable = True
"""Gunicorn 25+ opens a control socket at $HOME/.gunicorn/gunicorn.ctl by default, one path
shared by every instance of the user (a second server takes it from the first); nothing
here uses it, and a service should not offer runtime control it does not need."""


logconfig_dict: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    # Named, not imported, like the app itself: gunicorn loads them, the CLI never imports api.
    "filters": {"request_id": {"()": "api.logs.RequestIdFilter"}},
    "formatters": {"json": {"()": "api.logs.JsonFormatter"}},
    "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "json",
                            "filters": ["request_id"], "stream": "ext://sys.stderr"}},
    "root": {"level": "INFO", "handlers": ["stderr"]},
    "loggers": {
        "gunicorn.error": {"level": "INFO", "handlers": ["stderr"], "propagate": False},
        # The app's access line (api.ops) is the one line per request.
        "gunicorn.access": {"level": "CRITICAL", "handlers": [], "propagate": False},
    },
}
"""Everything as JSON lines on stderr, gunicorn's error log included; the app writes the one
access line per request (api/logs.py)."""

METRICS_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"
_OWNED_METRICS_DIR = "LEDGER_OWNED_METRICS_DIR"
"""Set when on_starting made the metrics directory, so on_exit removes it."""


def on_starting(server: Any) -> None:
    """Gunicorn's start hook: no service without its statement key (DESIGN §10). On SQLite
    a missing key is generated here, once, before any worker could race to; with PostgreSQL
    the master stops with the message naming LEDGER_STATEMENT_KEY. Then the metrics
    directory every worker writes to."""
    from persistence.config import application_environment  # noqa: PLC0415
    from persistence.session_secret import SessionSecretMissing, session_secret  # noqa: PLC0415
    from persistence.statement_key import StatementKeyMissing, statement_key  # noqa: PLC0415

    try:
        statement_key(application_environment())
        session_secret(application_environment())  # the workspace's cookies (§10, §15)
    except (StatementKeyMissing, SessionSecretMissing, ValueError) as error:
        raise SystemExit(f"ledger serve: {error}") from error
    server.log.info("metrics of every worker in %s", prepare_metrics_dir())


def prepare_metrics_dir() -> Path:
    """prometheus_client's multiprocess mode: each worker writes its samples to files in
    one directory and /metrics sums them, so every scrape sees every worker. Set before any
    worker starts (they inherit the environment and read it when they import the client);
    a directory given by the operator is emptied, since samples of a past run would count."""
    given = os.environ.get(METRICS_DIR_ENV)
    if given:
        directory = Path(given)
        directory.mkdir(parents=True, exist_ok=True)
        for stale in directory.glob("*.db"):
            stale.unlink()
        return directory
    directory = Path(tempfile.mkdtemp(prefix="ledger-metrics-"))
    os.environ[METRICS_DIR_ENV] = os.environ[_OWNED_METRICS_DIR] = str(directory)
    return directory


def child_exit(server: Any, worker: Any) -> None:
    """A worker ended: its live gauges (connections in use) stop counting; its counters
    stay, so no total ever goes down."""
    if os.environ.get(METRICS_DIR_ENV):
        from prometheus_client import multiprocess  # noqa: PLC0415

        multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]


def on_exit(server: Any) -> None:
    """The server stops: the metrics directory it made goes with it."""
    owned = os.environ.get(_OWNED_METRICS_DIR)
    if owned and owned == os.environ.get(METRICS_DIR_ENV):
        shutil.rmtree(owned, ignore_errors=True)

_TOO_LARGE = b"HTTP/1.1 431 Request Header Fields Too Large\r\nConnection: close\r\n\r\n"
_TOO_SLOW = b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n\r\n"
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


@dataclass
class Arrival:
    """The bytes of one request received so far, and when the client's time is up.

    It only decides when a request is handed to a thread: gunicorn's parser still reads and
    judges the request itself, so a wrong guess here costs at most a thread waiting for
    bytes (as in plain gthread), never a misread request.
    """

    deadline: float
    data: bytearray = field(default_factory=bytearray)
    body_at: int | None = None
    """Where the body starts, once the head has ended."""
    wanted: int | None = None
    """How many bytes to hold before a thread takes the request, once that is known."""
    chunk_at: int = 0
    """Of a chunked body: where the next chunk-size line starts."""
    searched: int = 0
    continue_owed: bool = False
    """The head asked for `100 Continue`: such a client sends its body only after it."""

    def state(self) -> str:
        """'whole' when a thread can serve it without waiting, 'too large', or 'partial'."""
        if self.body_at is None:
            self.body_at = self._head_end()
            if self.body_at is None:
                return "too large" if len(self.data) > HEAD_BYTES else "partial"
            self._read_head(bytes(self.data[:self.body_at]), self.body_at)
        if self.wanted is None:
            self._scan_chunks(self.body_at)
        return "whole" if self.wanted is not None and len(self.data) >= self.wanted else "partial"

    def _head_end(self) -> int | None:
        # Empty lines before a request line are allowed (RFC 9112 §2.2), so they do not end
        # a head; the search resumes where the previous one stopped.
        lead = len(self.data) - len(self.data.lstrip(b"\r\n"))
        end = self.data.find(b"\r\n\r\n", max(lead, self.searched - 3))
        self.searched = len(self.data)
        return None if end < 0 or end > HEAD_BYTES else end + 4

    def _read_head(self, head: bytes, body_at: int) -> None:
        fields = _fields(head)
        self.continue_owed = fields.get(b"expect", b"").lower() == b"100-continue"
        if b"chunked" in fields.get(b"transfer-encoding", b"").lower():
            self.chunk_at = body_at
            return
        length = fields.get(b"content-length", b"0")
        self.wanted = body_at + min(int(length) if length.isdigit() else 0, BODY_BYTES)

    def _scan_chunks(self, body_at: int) -> None:
        """Walks the chunk-size lines received so far, from where it stopped, to the last
        chunk and its trailers; a chunked body longer than BODY_BYTES is handed over."""
        while self.wanted is None:
            line_end = self.data.find(b"\r\n", self.chunk_at)
            if line_end < 0:
                break
            size = _chunk_size(bytes(self.data[self.chunk_at:line_end]))
            if size is None:
                self.wanted = len(self.data)  # malformed: gunicorn answers it with a 400
            elif size > 0:
                self.chunk_at = line_end + 2 + size + 2
            elif (end := self.data.find(b"\r\n\r\n", line_end)) >= 0:
                self.wanted = end + 4
            else:
                break
        if self.wanted is None and len(self.data) - body_at > BODY_BYTES:
            self.wanted = len(self.data)


_CHUNK_SIZE = re.compile(rb"[0-9A-Fa-f]{1,16}")


def _chunk_size(line: bytes) -> int | None:
    size = line.split(b";", 1)[0].strip()
    return int(size, 16) if _CHUNK_SIZE.fullmatch(size) else None


def _fields(head: bytes) -> dict[bytes, bytes]:
    """Header names (lower case) and values of a request head; the last of a name wins."""
    fields = {}
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        fields[name.strip().lower()] = value.strip()
    return fields


class BufferingWorker(ThreadWorker):  # type: ignore[misc]
    """gthread whose threads only ever see requests that have arrived whole."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Connections still arriving, oldest first: every deadline is now + REQUEST_SECONDS
        # when appended, so the deque stays sorted by deadline.
        self.arriving: deque[Any] = deque()

    @classmethod
    def check_config(cls, cfg: Any, log: Any) -> None:
        super().check_config(cfg, log)
        if cfg.is_ssl or cfg.http2_cleartext != "off":
            raise RuntimeError("BufferingWorker serves plain HTTP/1.1: terminate TLS in front")

    def enqueue_req(self, conn: Any) -> None:
        """Called for a new connection, a kept-alive one that became readable, and one with
        read-ahead bytes: its request is collected first, unless it is whole already."""
        held = conn.parser.unreader.take_buffered() if conn.parser is not None else b""
        conn.arrival = Arrival(time.monotonic() + REQUEST_SECONDS, bytearray(held))
        if conn.arrival.state() == "whole":
            self._hand_over(conn)
            return
        conn.sock.setblocking(False)
        self._continue_if_owed(conn)
        self.arriving.append(conn)
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._on_bytes, conn))

    def _on_bytes(self, conn: Any, _sock: socket.socket) -> None:
        """The main loop reads what the client sent so far; never blocks."""
        try:
            chunk = conn.sock.recv(64 * 1024)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        conn.arrival.data += chunk
        state = conn.arrival.state()
        if not chunk or state == "too large":
            self._drop(conn, _TOO_LARGE if chunk else b"")
        elif state == "whole":
            self._stop_watching(conn)
            self._hand_over(conn)
        else:
            self._continue_if_owed(conn)

    def _continue_if_owed(self, conn: Any) -> None:
        """Asks for the body of a head that waits for `100 Continue`. Gunicorn sends its own
        once the request is parsed; a client reads any number of 1xx answers (RFC 9110
        §15.2), and a send that fails is the client's loss, seen at the next read."""
        if conn.arrival.continue_owed:
            conn.arrival.continue_owed = False
            with contextlib.suppress(OSError):
                conn.sock.send(_CONTINUE)

    def _hand_over(self, conn: Any) -> None:
        # data_ready tells ThreadWorker.handle not to wait for the first byte again.
        conn.data_ready = True
        super().enqueue_req(conn)

    def handle(self, conn: Any) -> Any:
        """In a thread: give the collected bytes to the connection's parser, then serve."""
        data = bytes(conn.arrival.data)
        conn.arrival = None
        conn.sock.setblocking(True)
        conn.init()
        conn.parser.unreader.unread(data)
        return super().handle(conn)

    def murder_pending(self) -> None:
        """Runs on every turn of the main loop (at least once a second)."""
        super().murder_pending()
        now = time.monotonic()
        while self.arriving and self.arriving[0].arrival.deadline <= now:
            self._drop(self.arriving[0], _TOO_SLOW)

    def _stop_watching(self, conn: Any) -> None:
        self.arriving.remove(conn)
        try:
            self.poller.unregister(conn.sock)
        except (KeyError, ValueError, OSError):
            pass  # already gone with its socket

    def _drop(self, conn: Any, answer: bytes) -> None:
        self._stop_watching(conn)
        self.nr_conns -= 1
        try:
            if answer:
                conn.sock.send(answer)
        except OSError as refused:
            if refused.errno not in (errno.EAGAIN, errno.EPIPE, errno.ECONNRESET):
                self.log.debug("answering a dropped client: %s", refused)
        conn.close()

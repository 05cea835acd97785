"""Slow clients against `ledger serve`: do /healthz and a score query still answer?

`python -m bench.slow_clients` (or `scripts/slow_clients`) migrates a scratch database (a
PostgreSQL one made and dropped here, or `--sqlite`), loads `ledger demo` into it, creates an
auditor token, and for each serving model starts a real gunicorn through `ledger serve` on a
free loopback port. Against each it opens SOCKETS connections that send the bytes of a
request head one a second and never finish it (a client that reconnects when the server
drops it), and meanwhile asks GET /healthz and GET /api/v1/managers/M1/score?period=2026Q1
in turn, each with a PROBE timeout, before and during the attack. The models differ only in
GUNICORN_CMD_ARGS, which gunicorn reads over `ledger serve`'s own settings:

- sync: gunicorn's sync workers (what `ledger serve` ran before issue 11);
- gthread: gunicorn's threaded workers with the same threads per worker as buffered;
- buffered: `ledger serve` as it is (ledger_cli/serving.py: gthread whose threads only take
  requests that have arrived whole);
- gthread-64 (on request): plain gthread with 64 threads per worker.

A probe that fails or times out counts as its timeout (--probe-timeout), so a ratio over a
model whose probes failed is a lower bound: such a model would have answered only once the
attack stopped.

Everything goes to 127.0.0.1; every loop ends by its own deadline. Timings on a shared
two-core machine are noisy, so each model runs ROUNDS times and the medians are reported;
the figure to read is the ratio of sync's latency under attack to the chosen model's.
"""

from __future__ import annotations

import argparse
import json
import os
import select
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from bench.report import percentile, ratio, say, table
from persistence.schema import upgrade
from persistence.scratch import scratch_database, with_database

ROOT = Path(__file__).resolve().parents[1]
LEDGER = [sys.executable, "-c", "from ledger_cli.main import main; main()"]
MODELS = {
    "sync": "--worker-class sync --threads 1",
    "gthread": "--worker-class gthread",
    "buffered": "",
    # Not run by default: plain gthread with a thread per slow socket (and more), to show
    # what it costs that the buffered worker does not (try --sockets 200).
    "gthread-64": "--worker-class gthread --threads 64",
}
DEFAULT_MODELS = ("sync", "gthread", "buffered")
SCORE_PATH = "/api/v1/managers/M1/score?period=2026Q1"
SLOW_HEAD = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 4000
"""What each slow socket sends, a byte a second; it never gets to the blank line."""
READY_SECONDS = 30
SETTLE_SECONDS = 2.0
"""Probes start this long after the attack has opened its sockets, so that every slow
socket has been accepted and is holding whatever it can hold."""
MAX_SOCKETS = 1000
MAX_SECONDS = 600


@dataclass(frozen=True)
class Attack:
    sockets: int
    seconds: float
    probe_timeout: float


@dataclass
class Probes:
    """Latencies in seconds per path; a probe that failed or timed out counts as failed."""

    latencies: dict[str, list[float]] = field(default_factory=dict)
    failed: dict[str, int] = field(default_factory=dict)

    def add(self, path: str, seconds: float, ok: bool) -> None:
        self.latencies.setdefault(path, []).append(seconds)
        self.failed[path] = self.failed.get(path, 0) + (0 if ok else 1)


def probe(base: str, path: str, token: str, timeout: float) -> tuple[float, bool]:
    """One GET on a fresh connection: (seconds to the whole answer, answered 200)."""
    request = urllib.request.Request(base + path, headers={"Authorization": f"Bearer {token}"})
    start = time.monotonic()
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            response.read()
            ok = response.status == 200
    except (OSError, urllib.error.URLError):
        ok = False
    return time.monotonic() - start, ok


def probe_until(base: str, token: str, deadline: float, timeout: float) -> Probes:
    """/healthz then the score query, in turn, until `deadline`."""
    probes = Probes()
    while time.monotonic() < deadline:
        for path in ("/healthz", SCORE_PATH):
            seconds, ok = probe(base, path, token, timeout)
            probes.add(path, seconds, ok)
        time.sleep(0.2)
    return probes


class SlowSockets:
    """`count` connections that each send one byte of SLOW_HEAD a second, reopened when the
    server closes them, until `stop()` or their deadline."""

    def __init__(self, port: int, count: int, deadline: float) -> None:
        self.port, self.deadline = port, deadline
        self.sockets = [self._open() for _ in range(count)]
        self.sent = [0] * count
        self.reopened = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _open(self) -> socket.socket:
        # A bounded connect: with every worker stuck, the kernel's backlog still accepts.
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        sock.setblocking(False)
        return sock

    def start(self) -> SlowSockets:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        for sock in self.sockets:
            sock.close()

    def _run(self) -> None:
        while not self._stop.is_set() and time.monotonic() < self.deadline:
            for i in range(len(self.sockets)):
                self._tick(i)
            self._stop.wait(1.0)

    def _tick(self, i: int) -> None:
        """Sends socket i its next byte; reopens it if the server has closed it."""
        sock = self.sockets[i]
        try:
            if select.select([sock], [], [], 0)[0] and not sock.recv(4096):
                raise ConnectionResetError("closed by the server")
            sock.send(SLOW_HEAD[self.sent[i]:self.sent[i] + 1])
            self.sent[i] = (self.sent[i] + 1) % len(SLOW_HEAD)
        except OSError:
            # The server answered (408) or closed: a slowloris client comes straight back.
            sock.close()
            self.sockets[i], self.sent[i] = self._open(), 0
            self.reopened += 1


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def served(database_url: str, model: str, workers: int) -> Iterator[int]:
    """`ledger serve` with the model's GUNICORN_CMD_ARGS on a free port, until the block ends."""
    port = free_port()
    env = dict(os.environ, LEDGER_DATABASE_URL=database_url, GUNICORN_CMD_ARGS=MODELS[model])
    process = subprocess.Popen(
        [*LEDGER, "serve", "--host", "127.0.0.1", "--port", str(port), "--workers",
         str(workers)], env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until_ready(port, process)
        yield port
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def wait_until_ready(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + READY_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("ledger serve exited before it was ready")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"ledger serve did not answer within {READY_SECONDS} s")


@dataclass(frozen=True)
class Outcome:
    """One model's probes before and during one attack."""

    idle: Probes
    attacked: Probes
    reopened: int


def under_attack(port: int, token: str, attack: Attack) -> Outcome:
    """Probes for a few seconds unattacked, then while `attack.sockets` slow sockets run."""
    base = f"http://127.0.0.1:{port}"
    idle = probe_until(base, token, time.monotonic() + 3, attack.probe_timeout)
    start = time.monotonic()
    slow = SlowSockets(port, attack.sockets, start + attack.seconds).start()
    try:
        time.sleep(SETTLE_SECONDS)
        # The last probe may start just before the end and last up to its timeout.
        attacked = probe_until(base, token, start + attack.seconds, attack.probe_timeout)
    finally:
        slow.stop()
    return Outcome(idle, attacked, slow.reopened)


def prepare(database_url: str) -> str:
    """`ledger demo` into the migrated database; returns a new auditor token."""
    env = dict(os.environ, LEDGER_DATABASE_URL=database_url)
    subprocess.run([*LEDGER, "demo"], env=env, cwd=ROOT, check=True, capture_output=True)
    made = subprocess.run([*LEDGER, "token", "create", "--role", "auditor", "--subject",
                           "slow-clients"], env=env, cwd=ROOT, check=True, capture_output=True,
                          text=True)
    return made.stdout.strip().splitlines()[-1]


@contextmanager
def scratch(args: argparse.Namespace) -> Iterator[str]:
    """The service's URL on a migrated scratch database, dropped or removed afterwards."""
    with ExitStack() as stack:
        if args.sqlite:
            folder = stack.enter_context(tempfile.TemporaryDirectory(prefix="slow-clients-"))
            url = f"sqlite:///{folder}/ledger.db"
            upgrade(url)
            yield url
            return
        dbname = stack.enter_context(scratch_database(args.admin_url, "ledger_bench_slow"))
        upgrade(with_database(args.admin_url, dbname))
        yield with_database(args.admin_url, dbname, user=args.role)


def summary(outcomes: Sequence[Outcome]) -> dict[str, float | int]:
    """Medians over rounds of each round's p50 and max, per path, in milliseconds."""
    figures: dict[str, float | int] = {}
    for path, name in (("/healthz", "healthz"), (SCORE_PATH, "score")):
        for phase in ("idle", "attacked"):
            runs = [getattr(o, phase).latencies.get(path, []) for o in outcomes]
            figures[f"{name}_{phase}_p50_ms"] = _median_ms([percentile(r, 0.5) for r in runs])
            figures[f"{name}_{phase}_max_ms"] = _median_ms([max(r, default=0) for r in runs])
        figures[f"{name}_attacked_failed"] = sum(o.attacked.failed.get(path, 0)
                                                 for o in outcomes)
        figures[f"{name}_attacked_probes"] = sum(len(o.attacked.latencies.get(path, []))
                                                 for o in outcomes)
    figures["reopened_sockets"] = sum(o.reopened for o in outcomes)
    return figures


def _median_ms(values: Sequence[float]) -> float:
    return round(statistics.median(values) * 1000, 1)


def report(results: dict[str, dict[str, float | int]], chosen: str) -> dict[str, object]:
    header = ("model", "healthz p50", "healthz max", "score p50", "score max", "failed",
              "idle score p50", "reopened")
    rows = [(model, f["healthz_attacked_p50_ms"], f["healthz_attacked_max_ms"],
             f["score_attacked_p50_ms"], f["score_attacked_max_ms"],
             f"{int(f['healthz_attacked_failed']) + int(f['score_attacked_failed'])}/"
             f"{int(f['healthz_attacked_probes']) + int(f['score_attacked_probes'])}",
             f["score_idle_p50_ms"], f["reopened_sockets"]) for model, f in results.items()]
    print(table(header, rows))
    print("(milliseconds, medians over rounds of each round's p50 and max under attack; a "
          "failed probe counts as its timeout, so a ratio over failures is a lower bound)")
    ratios = {f"{model}_over_{chosen}_{name}_max": ratio(float(f[f"{name}_attacked_max_ms"]),
                                                         float(results[chosen]
                                                               [f"{name}_attacked_max_ms"]))
              for model, f in results.items() if model != chosen
              for name in ("healthz", "score")}
    line = {"results": results, "ratios": ratios}
    print(json.dumps(line, sort_keys=True))
    return line


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="scripts/slow_clients", description=__doc__.splitlines()[0])
    p.add_argument("--sockets", type=int, default=64)
    p.add_argument("--seconds", type=float, default=20.0, help="attack length per round")
    p.add_argument("--rounds", type=int, default=3, help="rounds per model; medians reported")
    p.add_argument("--workers", type=int, default=2, help="gunicorn workers (the machine's cores)")
    p.add_argument("--models", default=",".join(DEFAULT_MODELS),
                   help=f"comma-separated, from {','.join(MODELS)}")
    p.add_argument("--probe-timeout", type=float, default=5.0)
    p.add_argument("--sqlite", action="store_true", help="a SQLite file, not PostgreSQL")
    p.add_argument("--admin-url", default=os.environ.get(
        "LEDGER_MEASURE_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"))
    p.add_argument("--role", default=os.environ.get("LEDGER_SERVICE_ROLE", "ledger_service"))
    return p


def main(argv: Sequence[str] | None = None) -> int:
    p = parser()
    args = p.parse_args(argv)
    models = args.models.split(",")
    if not set(models) <= set(MODELS) or not 0 < args.sockets <= MAX_SOCKETS \
            or not SETTLE_SECONDS < args.seconds <= MAX_SECONDS or args.rounds < 1:
        p.error(f"models from {sorted(MODELS)}, 1..{MAX_SOCKETS} sockets, "
                f"{SETTLE_SECONDS}..{MAX_SECONDS} s, at least one round")
    attack = Attack(args.sockets, args.seconds, args.probe_timeout)
    outcomes: dict[str, list[Outcome]] = {model: [] for model in models}
    with scratch(args) as url:
        token = prepare(url)
        for n in range(args.rounds):
            for model in models:
                say(f"slow clients: round {n + 1}, {model}: {args.sockets} sockets, "
                    f"{args.seconds:g} s")
                with served(url, model, args.workers) as port:
                    outcomes[model].append(under_attack(port, token, attack))
    chosen = "buffered" if "buffered" in models else models[-1]
    report({model: summary(runs) for model, runs in outcomes.items()}, chosen)
    return 0


if __name__ == "__main__":
    sys.exit(main())

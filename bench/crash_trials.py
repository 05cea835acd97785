"""Crash trials: gunicorn under concurrent writers, SIGKILLed, restarted, and held to account.

One trial: start gunicorn, let `writers` threads record deductions (each with its own
Idempotency-Key) for a random while, SIGKILL the master and every worker at once, start it
again, and resend each request that got no answer (or a 5xx) with the same key and body.
Then the log must hold every acknowledged request's events at the positions it was told,
each exactly once: as many `Deduction.Recorded` events as keys ever sent, no two keys
sharing an event, and positions 1..N without a gap.

`python -m bench.crash_trials` (or `scripts/crash_trials`) runs trials on PostgreSQL (a
scratch database, as the service role) and on SQLite until `--trials` or `--seconds` runs
out; tests/api/test_crash_kill9.py runs one short trial of each in the suite.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from bench.live import DEDUCTION_TOPIC, Gunicorn, Sent, Writers, prepare, send
from ledger.application import LedgerApplication
from persistence.schema import upgrade
from persistence.scratch import scratch_database, with_database
from persistence.url import environment_for

RESEND_ATTEMPTS = 20
RESEND_PAUSE_SECONDS = 0.25
LOG_PAGE = 1000
MAX_TRIALS = 1000
MAX_SECONDS = 3600.0


@dataclass(frozen=True)
class Verdict:
    """What one trial found. A sound service has lost == duplicated == gaps == 0."""

    backend: str
    trial: int
    sent: int
    acknowledged_before_kill: int
    in_doubt: int
    lost: int
    duplicated: int
    gaps: int
    unresolved: int
    statuses: dict[str, int]
    """The first answers, by status (0: none came), before anything was resent."""

    @property
    def sound(self) -> bool:
        return self.lost == self.duplicated == self.gaps == self.unresolved == 0


@dataclass(frozen=True)
class Target:
    """Where a trial runs: the URL gunicorn serves from, and one allowed to set up."""

    backend: str
    service_url: str
    setup_url: str


def run_trial(target: Target, token: str, trial: int, *, writers: int, kill_after: float,
              history: list[Sent], log: Path | None = None) -> Verdict:
    """One kill and restart; `history` carries every key sent in earlier trials."""
    service = Gunicorn(target.service_url, log=log)
    service.start()
    load = Writers(service.base, token, writers, prefix=f"t{trial}-{os.getpid()}")
    try:
        load.start()
        time.sleep(kill_after)
        service.kill()
        load.stop()
        sent = load.answers()
        in_doubt = sum(1 for item in sent if not item.acknowledged)
        statuses = dict(Counter(str(item.answer.status) for item in sent))
        service.start()
        unresolved = resend_in_doubt(service.base, token, sent)
    finally:
        load.stop()
        service.stop()
    history.extend(sent)
    verdict = _judge(target, trial, history, len(sent), in_doubt, unresolved)
    return replace(verdict, statuses=statuses)


def resend_in_doubt(base: str, token: str, sent: list[Sent]) -> int:
    """Resends each unanswered request until it is acknowledged; how many never were."""
    unresolved = 0
    for item in sent:
        if item.acknowledged:
            continue
        for _ in range(RESEND_ATTEMPTS):
            item.answer = send(base, token, item.key)
            if item.acknowledged:
                break
            time.sleep(RESEND_PAUSE_SECONDS)
        unresolved += 0 if item.acknowledged else 1
    return unresolved


def _judge(target: Target, trial: int, history: list[Sent], sent: int, in_doubt: int,
           unresolved: int) -> Verdict:
    books = account(target.setup_url, history)
    return Verdict(
        backend=target.backend, trial=trial, sent=sent,
        acknowledged_before_kill=sent - in_doubt, in_doubt=in_doubt, lost=books.lost,
        duplicated=books.duplicated, gaps=books.gaps, unresolved=unresolved, statuses={})


@dataclass(frozen=True)
class Account:
    lost: int
    """Events an acknowledgement reported that are not at their position in the log."""
    duplicated: int
    """Deductions beyond one per key sent, and events reported to more than one key."""
    gaps: int
    """Positions missing from 1..N."""


def account(url: str, history: list[Sent]) -> Account:
    """Holds the log at `url` against every request ever sent to it (all deductions)."""
    log = read_log(url)
    lost = sum(1 for item in history for event in item.events() if log.get(event[0]) !=
               (event[1], event[2], DEDUCTION_TOPIC))
    recorded = sum(1 for _, _, topic in log.values() if topic == DEDUCTION_TOPIC)
    owners = Counter(event for item in history for event in item.events())
    shared = sum(count - 1 for count in owners.values())
    return Account(lost=lost, duplicated=max(recorded - len(history), 0) + shared,
                   gaps=_gaps(sorted(log)))


def _gaps(positions: list[int]) -> int:
    return sum(1 for n, position in enumerate(positions, start=1) if position != n)


def read_log(url: str) -> dict[int, tuple[str, int, str]]:
    """position -> (originator id, version, topic) of every event in the log."""
    app = LedgerApplication(env=environment_for(url))
    try:
        log: dict[int, tuple[str, int, str]] = {}
        start = 1
        while True:
            page = app.recorder.select_notifications(start=start, limit=LOG_PAGE)
            for n in page:
                log[n.id] = (str(n.originator_id), n.originator_version, n.topic)
            if len(page) < LOG_PAGE:
                return log
            start = page[-1].id + 1
    finally:
        app.close()


@contextmanager
def postgres_target(admin_url: str, service_role: str) -> Iterator[Target]:
    """A scratch database, migrated; gunicorn connects as the service role."""
    with scratch_database(admin_url, "ledger_crash_trials") as dbname:
        owner = with_database(admin_url, dbname)
        upgrade(owner)
        yield Target("postgresql", with_database(admin_url, dbname, user=service_role), owner)


@contextmanager
def sqlite_target() -> Iterator[Target]:
    with tempfile.TemporaryDirectory(prefix="ledger-crash-trials-") as directory:
        url = f"sqlite:///{directory}/ledger.db"
        upgrade(url)
        yield Target("sqlite", url, url)


def trials(target: Target, *, count: int, seconds: float, writers: int,
           kill_window: tuple[float, float], rng: random.Random,
           log: Path | None = None) -> list[Verdict]:
    """Up to `count` trials on one target, none started after `seconds` have passed."""
    token = prepare(target.setup_url)
    history: list[Sent] = []
    verdicts: list[Verdict] = []
    deadline = time.monotonic() + seconds
    for trial in range(1, min(count, MAX_TRIALS) + 1):
        if time.monotonic() >= deadline:
            break
        verdict = run_trial(target, token, trial, writers=writers,
                            kill_after=rng.uniform(*kill_window), history=history, log=log)
        print(json.dumps(asdict(verdict)), flush=True)
        verdicts.append(verdict)
    return verdicts


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="scripts/crash_trials", description=__doc__.splitlines()[0])
    p.add_argument("--backend", choices=("postgresql", "sqlite", "both"), default="both")
    p.add_argument("--trials", type=int, default=20, help="per back end (default 20)")
    p.add_argument("--seconds", type=float, default=600.0,
                   help="per back end: no trial starts after this (default 600)")
    p.add_argument("--writers", type=int, default=6, help="concurrent writers (default 6)")
    p.add_argument("--kill-after", type=float, nargs=2, default=(1.0, 4.0),
                   metavar=("MIN", "MAX"), help="seconds of load before the kill (1 4)")
    p.add_argument("--seed", type=int, default=None, help="for the kill times (printed)")
    p.add_argument("--admin-url", default=os.environ.get(
        "LEDGER_MEASURE_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"))
    p.add_argument("--service-role", default=os.environ.get("LEDGER_SERVICE_ROLE",
                                                            "ledger_service"))
    p.add_argument("--gunicorn-log", type=Path, default=None)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**32)
    print(f"crash trials: seed {seed}", file=sys.stderr)
    rng = random.Random(seed)
    seconds = min(args.seconds, MAX_SECONDS)
    verdicts: list[Verdict] = []
    backends = ("postgresql", "sqlite") if args.backend == "both" else (args.backend,)
    window = (args.kill_after[0], args.kill_after[1])
    for backend in backends:
        target = (postgres_target(args.admin_url, args.service_role)
                  if backend == "postgresql" else sqlite_target())
        with target as where:
            verdicts += trials(where, count=args.trials, seconds=seconds, writers=args.writers,
                               kill_window=window, rng=rng, log=args.gunicorn_log)
    return _summarise(verdicts, seed)


def _summarise(verdicts: list[Verdict], seed: int) -> int:
    summary = {
        "seed": seed, "trials": len(verdicts),
        "acknowledged": sum(v.acknowledged_before_kill for v in verdicts),
        "in_doubt_resent": sum(v.in_doubt for v in verdicts),
        "lost": sum(v.lost for v in verdicts),
        "duplicated": sum(v.duplicated for v in verdicts),
        "gaps": sum(v.gaps for v in verdicts),
        "unresolved": sum(v.unresolved for v in verdicts),
    }
    print(json.dumps({"summary": summary}), flush=True)
    return 0 if all(v.sound for v in verdicts) else 1


if __name__ == "__main__":
    sys.exit(main())

"""A rebuild killed with SIGKILL at random points resumes when rerun and ends identical to a
clean rebuild (every read-model table compared by checksum), on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.seed import seed
from ledger.application import LedgerApplication
from projections import runner
from projections.database import database_url, engine_for, reading, tracked

ROOT = Path(__file__).resolve().parents[2]
EVENTS = 2_500
PAGE = 25
KILLS = 3
DEADLINE_SECONDS = 20


def _start_rebuild(url: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "LEDGER_DATABASE_URL": url}
    command = [sys.executable, "-m", "ledger_cli.projections", "rebuild", "--page", str(PAGE)]
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)


def _progress(app: LedgerApplication) -> int:
    """How far the rebuild got: the facts' tracking position."""
    with reading(engine_for(app)) as conn:
        return tracked(conn, runner.FACTS) or 0


def _kill_at(process: subprocess.Popen[bytes], app: LedgerApplication, point: int) -> list[int]:
    """SIGKILLs the process once the facts reach `point`; returns the positions seen on the way.

    An empty list means the process finished before reaching the point.
    """
    seen: list[int] = []
    deadline = time.monotonic() + DEADLINE_SECONDS
    while process.poll() is None and time.monotonic() < deadline:
        seen.append(_progress(app))
        if seen[-1] >= point:
            process.send_signal(signal.SIGKILL)
            process.wait()
            return seen
        time.sleep(0.005)
    process.wait()
    return []


def _run_to_end(url: str) -> None:
    process = _start_rebuild(url)
    _, err = process.communicate(timeout=DEADLINE_SECONDS * 3)
    assert process.returncode == 0, err.decode()


def _interrupted_rebuilds_resume(app: LedgerApplication, rng: random.Random) -> None:
    url = database_url(app)
    head = int(app.recorder.max_notification_id() or 0)
    killed_at = 0
    # Kill at random facts positions, each further along than the last.
    for point in sorted(rng.sample(range(PAGE, head - PAGE), KILLS)):
        seen = _kill_at(_start_rebuild(url), app, point)
        if not seen:
            continue
        # A rerun resumes: it never goes back below where the killed run had got to.
        assert min(seen) >= killed_at, (seen, killed_at)
        killed_at = seen[-1]
        assert {s.name: s.rebuilding for s in runner.status(app)}[runner.FACTS]
    assert killed_at > 0
    _run_to_end(url)
    assert not any(s.rebuilding for s in runner.status(app))


def _check(app: LedgerApplication, seed_value: int) -> None:
    seed(app, EVENTS)
    rng = random.Random(seed_value)
    _interrupted_rebuilds_resume(app, rng)
    resumed = runner.checksums(app)
    # A clean rebuild from scratch (no mark left, so it empties everything first).
    _run_to_end(database_url(app))
    assert runner.checksums(app) == resumed, f"random seed {seed_value}"
    assert int(resumed["rm_figures.rows"]) > 0


def test_a_killed_sqlite_rebuild_resumes_and_equals_a_clean_one(
    sqlite_ledger: LedgerApplication,
) -> None:
    _check(sqlite_ledger, random.randrange(1_000_000))


@pytest.mark.postgres
def test_a_killed_postgres_rebuild_resumes_and_equals_a_clean_one(
    postgres_ledger: LedgerApplication,
) -> None:
    _check(postgres_ledger, random.randrange(1_000_000))

"""A rebuild killed with SIGKILL at random points resumes when rerun and ends identical to a
clean rebuild (every read-model table compared by checksum), on SQLite and PostgreSQL.

One fixed seed draws both the seeded events and the kill points; it is printed with the
kill points and named in every assertion message, so
`LEDGER_TEST_SEED=<seed> pytest tests/projections/test_rebuild_survives_kill.py` replays a
failure with the same log and the same kill points (where a kill lands past its point still
depends on timing; the killed-at positions are printed too).
"""

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
SEED = int(os.environ.get("LEDGER_TEST_SEED", "20261201"))


def _start_rebuild(url: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "LEDGER_DATABASE_URL": url}
    command = [sys.executable, "-m", "ledger_cli.projections", "rebuild", "--page", str(PAGE)]
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)


def _progress(app: LedgerApplication) -> int:
    """How far the rebuild got: the facts' tracking position."""
    with reading(engine_for(app)) as conn:
        return tracked(conn, runner.FACTS) or 0


def _kill_at(process: subprocess.Popen[bytes], app: LedgerApplication, point: int,
             run: str) -> list[int]:
    """SIGKILLs the process once the facts reach `point`; returns the positions seen on the way.

    An empty list means the process finished (successfully) before reaching the point.
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
    _, err = process.communicate()
    assert process.returncode == 0, f"{run}: before kill point {point}: {err.decode()}"
    return []


def _run_to_end(url: str) -> None:
    process = _start_rebuild(url)
    _, err = process.communicate(timeout=DEADLINE_SECONDS * 3)
    assert process.returncode == 0, err.decode()


def kill_points(seed_value: int, head: int) -> list[int]:
    """KILLS facts positions strictly inside the log, ascending, drawn from `seed_value`."""
    return sorted(random.Random(seed_value).sample(range(PAGE, head - PAGE), KILLS))


def _interrupted_rebuilds_resume(app: LedgerApplication, points: list[int], run: str) -> None:
    url = database_url(app)
    killed_at = 0
    # Kill at each point in turn, each further along than the last.
    for point in points:
        seen = _kill_at(_start_rebuild(url), app, point, run)
        print(f"kill point {point}: killed at {seen[-1] if seen else 'none, finished first'}")
        if not seen:
            continue
        # A rerun resumes: it never goes back below where the killed run had got to.
        assert min(seen) >= killed_at, f"{run}: resumed below {killed_at}: {seen}"
        killed_at = seen[-1]
        facts = {s.name: s.rebuilding for s in runner.status(app)}[runner.FACTS]
        assert facts, f"{run}: killed at {killed_at}, the facts are not marked rebuilding"
    assert killed_at > 0, f"{run}: every rebuild finished before its kill point"
    _run_to_end(url)
    assert not any(s.rebuilding for s in runner.status(app)), f"{run}: still marked rebuilding"


def _check(app: LedgerApplication, seed_value: int) -> None:
    seed(app, EVENTS, rng_seed=seed_value)
    head = int(app.recorder.max_notification_id() or 0)
    points = kill_points(seed_value, head)
    run = f"LEDGER_TEST_SEED={seed_value} (kill points {points} of {head} events)"
    print(run)
    _interrupted_rebuilds_resume(app, points, run)
    resumed = runner.checksums(app)
    # A clean rebuild from scratch (no mark left, so it empties everything first).
    _run_to_end(database_url(app))
    assert runner.checksums(app) == resumed, f"{run}: the resumed rebuild differs from a clean one"
    assert int(resumed["rm_figures.rows"]) > 0, f"{run}: no figures"


def test_a_killed_sqlite_rebuild_resumes_and_equals_a_clean_one(
    sqlite_ledger: LedgerApplication,
) -> None:
    _check(sqlite_ledger, SEED)


@pytest.mark.postgres
def test_a_killed_postgres_rebuild_resumes_and_equals_a_clean_one(
    postgres_ledger: LedgerApplication,
) -> None:
    _check(postgres_ledger, SEED)

"""kill -9 of the whole service under concurrent writers loses and duplicates nothing.

One crash trial per back end (bench/crash_trials.py; `scripts/crash_trials` runs many):
gunicorn's master and workers are SIGKILLed at once while writers record deductions, the
service is started again, each unanswered request is resent with its Idempotency-Key, and
then every acknowledged request's events must be in the log at the positions it was told,
exactly once, with no gap.
"""

from __future__ import annotations

import pytest
from pgcluster import own_database

from bench.crash_trials import Target, Verdict, run_trial, sqlite_target
from bench.live import Sent, prepare

WRITERS = 6
KILL_AFTER_SECONDS = 2.0


def one_trial(target: Target) -> Verdict:
    history: list[Sent] = []
    verdict = run_trial(target, prepare(target.setup_url), 1, writers=WRITERS,
                        kill_after=KILL_AFTER_SECONDS, history=history)
    print(verdict)
    return verdict


def assert_sound(verdict: Verdict) -> None:
    assert verdict.acknowledged_before_kill > 0, "nothing was written before the kill"
    assert (verdict.lost, verdict.duplicated, verdict.gaps, verdict.unresolved) == (0, 0, 0, 0)
    # Before the kill the service answered every command (0: no answer, at the kill).
    assert set(verdict.statuses) <= {"201", "0"}, verdict.statuses


@pytest.mark.postgres
def test_kill_9_under_concurrent_writers_on_postgresql_loses_nothing() -> None:
    with own_database() as (_, owner, service):
        assert_sound(one_trial(Target("postgresql", service, owner)))


def test_kill_9_under_concurrent_writers_on_sqlite_loses_nothing() -> None:
    with sqlite_target() as target:
        assert_sound(one_trial(target))

"""The database goes away under load and comes back: through a real gunicorn, over HTTP.

Two outages: the service role's sessions terminated (on the shared server, in a database
of the test's own), and a restart of PostgreSQL itself (a private cluster, stopped with
`pg_ctl stop -m fast` and started again). In both the service must answer again within
RECOVERY_SECONDS without being restarted; meanwhile it may refuse with 503 and
Retry-After, never with a 500 or by not answering; and afterwards every acknowledged
request's events are in the log, each exactly once.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from pgcluster import Cluster, own_database, private_cluster, terminate_service_backends

from bench.crash_trials import account, resend_in_doubt
from bench.live import Answer, Gunicorn, Sent, Writers, call, prepare, send

pytestmark = pytest.mark.postgres

RECOVERY_SECONDS = 5.0
WRITERS = 4
LOAD_AFTER_SECONDS = RECOVERY_SECONDS + 1.0
"""How long the writers go on after the outage ends: long enough to see the recovery."""


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    with private_cluster() as cluster:
        yield cluster


def serve(database_url: str) -> Gunicorn:
    service = Gunicorn(database_url, workers=2)
    service.start()
    assert call(service.base, "GET", "/readyz").status == 200
    return service


def assert_only_201_or_503(sent: list[Sent]) -> None:
    """Every answer came, and each refusal was a 503 problem with Retry-After."""
    statuses = {item.answer.status for item in sent}
    assert statuses <= {201, 503}, f"answers other than 201/503: {statuses}"
    for item in sent:
        if item.answer.status == 503:
            assert_unavailable(item.answer)


def assert_unavailable(answer: Answer) -> None:
    assert answer.status == 503, answer
    assert answer.headers.get("Retry-After", "").isdigit(), answer.headers
    assert answer.body.get("type") in ("/problems/database-unavailable",
                                       "/problems/projections-lagging"), answer.body


def last_failure_after(sent: list[Sent], instant: float) -> float:
    """Seconds from `instant` to the last answer after it that was not a 201 (0 if none)."""
    failed = [item.answer.at for item in sent
              if item.answer.at >= instant and item.answer.status != 201]
    return max(failed, default=instant) - instant


def first_success_after(sent: list[Sent], instant: float) -> float:
    """Seconds from `instant` to the first acknowledgement after it."""
    return min((item.answer.at for item in sent
                if item.answer.at >= instant and item.acknowledged), default=instant) - instant


def assert_nothing_acknowledged_lost(base: str, token: str, url: str,
                                     sent: list[Sent]) -> None:
    # A 503 may hide a commit (the connection was lost at COMMIT): the same key settles it.
    assert resend_in_doubt(base, token, sent) == 0
    books = account(url, sent)
    assert (books.lost, books.duplicated, books.gaps) == (0, 0, 0), books


def test_terminated_sessions_are_replaced_within_five_seconds_and_nothing_is_lost() -> None:
    with own_database() as (dbname, owner, service_url):
        token = prepare(owner)
        service = serve(service_url)
        load = Writers(service.base, token, WRITERS, prefix="terminated")
        try:
            load.start()
            time.sleep(1.5)
            killed_at = time.monotonic()
            assert terminate_service_backends(dbname) >= 2  # both workers had sessions
            time.sleep(LOAD_AFTER_SECONDS)
            load.stop()
            sent = load.answers()
            recovered = last_failure_after(sent, killed_at)
            print(f"terminated sessions: {sum(1 for s in sent if s.answer.status == 503)} "
                  f"503s of {len(sent)} answers; first 201 "
                  f"{first_success_after(sent, killed_at):.3f} s and last failure "
                  f"{recovered:.3f} s after the termination")
            assert_only_201_or_503(sent)
            assert recovered < RECOVERY_SECONDS
            assert any(s.answer.at > killed_at + recovered and s.acknowledged for s in sent)
            assert call(service.base, "GET", "/readyz").status == 200
            assert_nothing_acknowledged_lost(service.base, token, owner, sent)
        finally:
            load.stop()
            service.stop()


def test_a_restart_of_postgresql_is_survived_without_restarting_the_service(
    cluster: Cluster,
) -> None:
    token = prepare(cluster.url())
    service = serve(cluster.service_url())
    load = Writers(service.base, token, WRITERS, prefix="restart", pause=0.02)
    try:
        load.start()
        time.sleep(1.0)
        cluster.stop("fast")
        # While it is down: not ready (503, not 500), and commands are refused with 503.
        for _ in range(3):
            ready = call(service.base, "GET", "/readyz")
            assert ready.status == 503, ready
            assert ready.body["checks"]["database"] is False
            assert_unavailable(send(service.base, token, f"while-down-{time.monotonic()}"))
            time.sleep(0.3)
        cluster.start()
        up_at = time.monotonic()
        time.sleep(LOAD_AFTER_SECONDS)
        load.stop()
        sent = load.answers()
        recovered = last_failure_after(sent, up_at)
        print(f"restart: {sum(1 for s in sent if s.answer.status == 503)} 503s of "
              f"{len(sent)} answers; first 201 {first_success_after(sent, up_at):.3f} s and "
              f"last failure {recovered:.3f} s after the server was up again")
        assert_only_201_or_503(sent)
        assert recovered < RECOVERY_SECONDS
        assert any(s.answer.at > up_at + recovered and s.acknowledged for s in sent)
        assert call(service.base, "GET", "/readyz").status == 200
        assert_nothing_acknowledged_lost(service.base, token, cluster.url(), sent)
    finally:
        load.stop()
        service.stop()
